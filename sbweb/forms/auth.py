"""Forms of the 授权 journey, with the messages a resident sees beside each field."""

from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from sbweb import id_numbers
from sbweb.forms.base import Form, Select, options


def _name_field(autocomplete: str):
    return StringField(
        "姓名",
        validators=[DataRequired("请输入姓名"), Length(max=40, message="姓名不能超过40个字")],
        render_kw={"autocomplete": autocomplete},
    )


class ManualIdentityForm(Form):
    """The resident's own 证件类型 + 证件号码 + 姓名 (the browser may offer her own name)."""

    id_type = Select(
        "证件类型",
        choices=options((t.code, t.label) for t in id_numbers.ID_TYPES),
        default=id_numbers.RESIDENT_CARD,
        validators=[InputRequired("请选择证件类型")],
    )
    id_number = StringField(
        "证件号码",
        validators=[DataRequired("请输入证件号码"), Length(max=40, message="证件号码格式不正确")],
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    name = _name_field("name")
    next = HiddenField(validators=[Length(max=300)])
    submit = SubmitField("确定")

    def validate_id_number(self, field):
        if self.id_type.errors:
            return
        try:
            field.data = id_numbers.validate(self.id_type.data, field.data)
        except id_numbers.InvalidIdNumber:
            raise ValidationError("证件号码格式不正确") from None


class ConsentForm(Form):
    """同意授权. In the host-app sandbox the tester also says who is signed in to the host."""

    person = Select("宿主应用当前登录用户（沙箱）", coerce=int)
    host = Select("宿主应用（沙箱）")
    next = HiddenField(validators=[Length(max=300)])
    submit = SubmitField("同意授权")


class OtherPersonForm(ManualIdentityForm):
    """Someone else's 证件 + 姓名 (a 被代缴人, the holder of a 代缴 certificate): the browser must not
    offer the resident's own name there."""

    name = _name_field("off")


class PayeeForm(OtherPersonForm):
    """添加被代缴人: the payee's 证件类型 + 证件号码 + 姓名, checked like the payer's own."""

    next = None
    submit = SubmitField("添加")


class OnceForm(OtherPersonForm):
    """代他人缴费 once: the 被代缴人's 证件类型 + 证件号码 + 姓名, checked like adding a payee."""

    next = None
    submit = SubmitField("下一步")


class KeepPayeeForm(Form):
    """加入被代缴人列表 after paying for someone once: which of the order's people."""

    order_no = HiddenField(validators=[InputRequired(), Length(max=32)])
    person = HiddenField(validators=[InputRequired(), Length(max=12)])
    submit = SubmitField("加入被代缴人列表")


class ConfirmRemoveForm(Form):
    submit = SubmitField("确认删除")


class AutoPayForm(Form):
    auto_pay = HiddenField(validators=[InputRequired()])
