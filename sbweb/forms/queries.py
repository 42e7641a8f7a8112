"""Forms of 涉费查询 (GET forms: a query changes nothing, so no CSRF token is needed)."""

from wtforms import StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from sbweb import id_numbers
from sbweb.forms.base import Form, Select, options


class QueryForm(Form):
    class Meta:
        csrf = False
        locales = ["zh"]


class PaidQueryForm(QueryForm):
    year = Select("费款所属期", coerce=int, validators=[Optional()])


class ProxyPaidQueryForm(QueryForm):
    id_type = Select(
        "证件类型",
        choices=options((t.code, t.label) for t in id_numbers.ID_TYPES),
        default=id_numbers.RESIDENT_CARD,
        validators=[InputRequired("请选择证件类型")],
    )
    id_number = StringField(
        "被代缴人证件号码",
        validators=[DataRequired("请输入证件号码"), Length(max=40, message="证件号码格式不正确")],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    name = StringField(
        "被代缴人姓名",
        validators=[DataRequired("请输入姓名"), Length(max=40, message="姓名不能超过40个字")],
        render_kw={"autocomplete": "off"},
    )  # someone else's name: not the resident's own offered
    year = Select("费款所属期", coerce=int, validators=[Optional()])

    def validate_id_number(self, field):
        if self.id_type.errors:
            return
        try:
            field.data = id_numbers.validate(self.id_type.data, field.data)
        except id_numbers.InvalidIdNumber:
            raise ValidationError("证件号码格式不正确") from None
