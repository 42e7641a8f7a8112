"""The base of every form: WTForms' own Chinese messages, and choice fields whose refusals
say something a resident understands (a tampered value gets the same words)."""

import datetime as dt
import re

from flask import request
from flask_wtf import FlaskForm
from flask_wtf.form import _Auto
from wtforms import DateField, Field, RadioField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from sbweb import id_numbers, typed
from sbweb.clock import FIRST_DAY, LAST_DAY, in_calendar


def options(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class Form(FlaskForm):
    class Meta:
        locales = ["zh"]

        def wrap_formdata(self, form, formdata):
            # Back from the 大字 switch (no JavaScript): the form shows what was typed (sbweb.typed).
            # A search form reads the address: only a bare one (nothing searched yet) is filled.
            fresh = formdata is _Auto or (formdata is request.args and not request.args)
            if fresh and request.method == "GET" and (kept := typed.take()) is not None:
                return kept
            return super().wrap_formdata(form, formdata)


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


class DayField(DateField):
    """A day as the browser's date picker sends it, YYYY-MM-DD. One the calendar lacks
    (2024-02-30, 1900-02-29) or outside the days the app deals in (0001-01-01, 9999-12-31) is
    refused beside the field, in words."""

    invalid_message = "请输入正确的日期，如 2026-01-31"
    range_message = f"请输入{FIRST_DAY.year}年至{LAST_DAY.year}年之间的日期"

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format="%Y-%m-%d", **kwargs)

    def process_formdata(self, valuelist):
        self.data = None
        text = valuelist[0].strip() if valuelist else ""
        if not text:
            return
        try:
            day = dt.date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
        except ValueError:
            day = None
        if day is None:
            raise ValueError(self.invalid_message)
        if not in_calendar(day):
            raise ValueError(self.range_message)
        self.data = day


def name_field(label: str = "姓名", autocomplete: str = "off"):
    """A person's 姓名; autocomplete="name" only where it is the resident's own (the browser
    must not offer her name for someone else)."""
    return StringField(
        label,
        validators=[DataRequired("请输入姓名"), Length(max=40, message="姓名不能超过40个字")],
        render_kw={"autocomplete": autocomplete},
    )


def id_number_field(label: str = "证件号码"):
    return StringField(
        label,
        validators=[DataRequired("请输入证件号码"), Length(max=40, message="证件号码格式不正确")],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )


class IdDocumentFields:
    """证件类型 + 证件号码, the number checked against its type (sbweb.id_numbers) and kept in its
    normal form: the one check every form that names a person uses."""

    id_type = Select(
        "证件类型",
        choices=options((t.code, t.label) for t in id_numbers.ID_TYPES),
        default=id_numbers.RESIDENT_CARD,
        validators=[InputRequired("请选择证件类型")],
    )
    id_number = id_number_field()

    def validate_id_number(self, field):
        if self.id_type.errors:
            return
        try:
            field.data = id_numbers.validate(self.id_type.data, field.data)
        except id_numbers.InvalidIdNumber:
            raise ValidationError("证件号码格式不正确") from None


class KnownValue(Field):
    """A filter read from the address (a link, a GET form): one of the values it knows, else its
    default. An unknown value — a stale link, one typed in — lists as if unfiltered; it is not
    an error to tell."""

    def __init__(self, label=None, known=(), default=None, **kwargs):
        super().__init__(label, default=default, **kwargs)
        self.known = tuple(known)

    def process_formdata(self, valuelist):
        value = valuelist[0] if valuelist else ""
        self.data = value if value in self.known else self.default


class AddressNumber(Field):
    """A number read from the address, low..high; anything else (abc, -1, huge) is the default,
    not an error to tell."""

    def __init__(self, label=None, low: int = 1, high: int = 10_000, default=None, **kwargs):
        super().__init__(label, default=default, **kwargs)
        self.low, self.high = low, high

    def process_formdata(self, valuelist):
        value = valuelist[0] if valuelist else ""
        fits = value.isascii() and value.isdigit() and len(value) <= 6 and self.low <= int(value) <= self.high
        self.data = int(value) if fits else self.default
