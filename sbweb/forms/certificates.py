"""Forms of 证明开具: what to issue, the 验证码, and 发送至邮箱."""
import re

from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from sbweb.forms.auth import ManualIdentityForm
from sbweb.forms.base import Form, Radio, Select, options

PERIOD = r"\A(19|20)[0-9]{2}-(0[1-9]|1[0-2])\Z"


class CaptchaMixin:
    captcha = StringField("验证码", validators=[DataRequired("请输入验证码"), Length(max=8, message="验证码不正确")],
                          render_kw={"autocomplete": "off", "inputmode": "numeric"})


class PaymentCertForm(CaptchaMixin, Form):
    year = Select("缴费年度", coerce=int, validators=[InputRequired("请选择缴费年度")])
    submit = SubmitField("开具")


class TaxCertForm(CaptchaMixin, Form):
    issue = Radio("开具类型", choices=options([("first", "首开"), ("reissue", "补开")]), default="first",
                  validators=[InputRequired("请选择开具类型")])
    ticket_no = StringField("票证号码", validators=[Optional(), Regexp(r"^\d{18}$", message="票证号码应为18位数字")],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})
    period_from = StringField("费款所属期起", validators=[Optional(), Regexp(PERIOD, message="请按“2026-01”的格式填写")],
                              render_kw={"placeholder": "如 2026-01", "autocomplete": "off"})
    period_to = StringField("费款所属期止", validators=[Optional(), Regexp(PERIOD, message="请按“2026-12”的格式填写")],
                            render_kw={"placeholder": "如 2026-12", "autocomplete": "off"})
    submit = SubmitField("开具")

    def validate_ticket_no(self, field):
        if not field.data and not (self.period_from.data or self.period_to.data):
            raise ValidationError("票证号码和费款所属期不能同时为空")

    def validate_period_to(self, field):
        if not self.ticket_no.data and bool(self.period_from.data) != bool(field.data):
            raise ValidationError("请同时填写费款所属期起和止")


class ProxyCertForm(CaptchaMixin, ManualIdentityForm):
    """代缴 variants: the payee's 证件类型 + 证件号码 + 姓名, what to issue and for which year."""
    next = None
    kind = Radio("证明类型", choices=options([("payment", "缴费证明"), ("tax", "完税证明")]), default="payment",
                 validators=[InputRequired("请选择证明类型")])
    year = Select("缴费年度", coerce=int, validators=[InputRequired("请选择缴费年度")])
    submit = SubmitField("开具")


class MailForm(Form):
    email = StringField("电子邮箱", validators=[DataRequired("请输入电子邮箱地址"), Length(max=254, message="请输入正确的电子邮箱地址")],
                        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"})
    submit = SubmitField("发送至邮箱")

    def validate_email(self, field):
        field.data = field.data.strip()
        if not re.fullmatch(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", field.data):
            raise ValidationError("请输入正确的电子邮箱地址")


class PlainForm(Form):
    submit = SubmitField("重试")
