"""Forms of 证明开具: what to issue, the 验证码, and 发送至邮箱."""

import re

from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError

from sbweb.forms.auth import OtherPersonForm
from sbweb.forms.base import DayField, Form, Radio, Select

PERIOD = r"\A(19|20)[0-9]{2}-(0[1-9]|1[0-2])\Z"


class CaptchaMixin:
    captcha = StringField(
        "验证码",
        validators=[DataRequired("请输入验证码"), Length(max=8, message="验证码不正确")],
        render_kw={"autocomplete": "off", "inputmode": "numeric"},
    )


class PaymentCertForm(CaptchaMixin, Form):
    year = Select("缴费年度", coerce=int, validators=[InputRequired("请选择缴费年度")])
    submit = SubmitField("开具")


class TaxQueryForm(Form):
    """完税证明 证明查询信息: which tickets to list (every field may stay empty: all of them).
    开具日期 is asked only for 补开 (a ticket first issued then)."""

    ticket_no = StringField(
        "票证号码",
        validators=[Optional(), Regexp(r"^\d{18}$", message="票证号码应为18位数字")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    period_from = StringField(
        "费款所属期起",
        validators=[Optional(), Regexp(PERIOD, message="请按“2026-01”的格式填写")],
        render_kw={"placeholder": "如 2026-01", "autocomplete": "off"},
    )
    period_to = StringField(
        "费款所属期止",
        validators=[Optional(), Regexp(PERIOD, message="请按“2026-12”的格式填写")],
        render_kw={"placeholder": "如 2026-12", "autocomplete": "off"},
    )
    paid_from = DayField("缴费日期起", validators=[Optional()])
    paid_to = DayField("缴费日期止", validators=[Optional()])
    tax_office = Select("主管税务机关", validators=[Optional()])
    issued_from = DayField("开具日期起", validators=[Optional()])
    issued_to = DayField("开具日期止", validators=[Optional()])
    submit = SubmitField("查询")

    def validate_period_to(self, field):
        if field.data and self.period_from.data and field.data < self.period_from.data:
            raise ValidationError("费款所属期止不能早于起")

    def validate_paid_to(self, field):
        if field.data and self.paid_from.data and field.data < self.paid_from.data:
            raise ValidationError("缴费日期止不能早于起")

    def validate_issued_to(self, field):
        if field.data and self.issued_from.data and field.data < self.issued_from.data:
            raise ValidationError("开具日期止不能早于起")

    def criteria(self) -> dict:
        """What to search for, as the session keeps it between 查询 and 证明信息列表."""
        day = lambda f: f.data.isoformat() if f.data else None  # noqa: E731
        return {
            "ticket_no": self.ticket_no.data or None,
            "period_from": self.period_from.data or None,
            "period_to": self.period_to.data or None,
            "paid_from": day(self.paid_from),
            "paid_to": day(self.paid_to),
            "tax_office": self.tax_office.data or None,
            "issued_from": day(self.issued_from),
            "issued_to": day(self.issued_to),
        }


class ProxyTaxQueryForm(OtherPersonForm, TaxQueryForm):
    """首开 / 补开完税证明（代缴）: the payee's 证件类型 + 证件号码 + 姓名, then what to search for."""

    next = None
    submit = SubmitField("查询")


class TaxPickForm(CaptchaMixin, Form):
    """证明信息列表: the one ticket to issue a 完税证明 for (one certificate covers one ticket)."""

    ticket = Radio("证明信息", validators=[InputRequired("请选择要开具的票证")])
    submit = SubmitField("开具")


class ProxyCertForm(CaptchaMixin, OtherPersonForm):
    """缴费证明（代缴）: the payee's 证件类型 + 证件号码 + 姓名 and the year (完税证明（代缴） has
    the 查询 → 证明信息列表 → 开具 steps of one's own, ProxyTaxQueryForm)."""

    next = None
    year = Select("缴费年度", coerce=int, validators=[InputRequired("请选择缴费年度")])
    submit = SubmitField("开具")


class MailForm(Form):
    email = StringField(
        "电子邮箱",
        validators=[DataRequired("请输入电子邮箱地址"), Length(max=254, message="请输入正确的电子邮箱地址")],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )
    submit = SubmitField("发送至邮箱")

    def validate_email(self, field):
        field.data = field.data.strip()
        if not re.fullmatch(r"[^@\s]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", field.data):
            raise ValidationError("请输入正确的电子邮箱地址")


class PlainForm(Form):
    submit = SubmitField("重试")
