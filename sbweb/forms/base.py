"""The base of every form: WTForms' own Chinese messages, and choice fields whose refusals
say something a resident understands (a tampered value gets the same words)."""
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError


def options(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class Form(FlaskForm):
    class Meta:
        locales = ["zh"]


class ChoiceMessage:
    invalid_message = "所选内容无效，请重新选择"

    def process_formdata(self, valuelist):
        # A value the field cannot coerce (person=abc) is a tampered choice too.
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(self.invalid_message) from None

    def pre_validate(self, form):
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(self.invalid_message) from None


class Select(ChoiceMessage, SelectField):
    pass


class Radio(ChoiceMessage, RadioField):
    pass


class MultiCheckbox(ChoiceMessage, SelectMultipleField):
    def process_formdata(self, valuelist):
        try:
            super().process_formdata(valuelist)
        except ValueError:
            self.data = []  # nothing half-coerced survives a tampered list
            raise
