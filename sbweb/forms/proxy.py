"""Forms of 我帮他人缴 (代缴): adding a 被代缴人, paying for someone once, keeping them on the
list afterwards, removing one, 自动缴. The dues and 补缴 steps reuse selfpay's and declare's."""

from wtforms import HiddenField, SubmitField
from wtforms.validators import InputRequired, Length

from sbweb.forms.auth import OtherPersonForm
from sbweb.forms.base import Form


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
