"""Back-office forms: the staff account itself, the agency's 退费原因类型, and each 主管税务机关's
name and phone."""

from wtforms import BooleanField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from sbweb.forms.base import Form, Radio


class PasswordForm(Form):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"), Length(max=200)])
    new = PasswordField(
        "新密码（至少10位）",
        validators=[DataRequired("请输入新密码"), Length(min=10, max=200, message="新密码为10至200位")],
    )
    again = PasswordField(
        "再次输入新密码",
        validators=[DataRequired("请再次输入新密码"), EqualTo("new", message="两次输入的新密码不一致")],
    )
    submit = SubmitField("修改密码")


class ConfirmForm(Form):
    submit = SubmitField("确定")


class ReasonForm(Form):
    """退费原因类型: what a refund for this reason does to the period it paid (and whether residents
    may choose it). Its choices are the service's EFFECTS."""

    reason = StringField("退费原因类型", validators=[Optional(), Length(max=30, message="退费原因类型不超过30个字")])
    effect = Radio("退费后费款", choices=[], validators=[InputRequired("请选择退费后费款的处理方式")])
    active = BooleanField("可供缴费人选择", default=True)
    submit = SubmitField("保存")


class TaxOfficeForm(Form):
    """A 主管税务机关 as residents see it in every page's footer: its name, phone and hours (the
    service checks the phone's shape and says how it should look)."""

    name = StringField(
        "税务机关名称",
        validators=[DataRequired("请输入税务机关名称"), Length(max=60, message="税务机关名称不超过60个字")],
    )
    phone = StringField(
        "联系电话",
        validators=[Optional(), Length(max=20, message="联系电话格式不正确，如 0851-55501020 或 12366")],
        render_kw={"inputmode": "tel", "autocomplete": "off"},
    )
    hours = StringField("服务时间", validators=[Optional(), Length(max=40, message="服务时间不超过40个字")])
    submit = SubmitField("保存")
