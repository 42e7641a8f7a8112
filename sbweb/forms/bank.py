"""Forms of 存款账户账号报告 and 银行缴费协议 (fields marked * are required, as in the seeds)."""

import unicodedata

from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, StopValidation

from sbweb.forms.base import Form, Radio, Select, options
from sbweb.models.bank import DEFAULT_LIMIT_FEN
from sbweb.money import fen_to_yuan, yuan_to_fen
from sbweb.services.bank import BANKS, BankError, check_limit


class AccountForm(Form):
    bank_name = Select(
        "开户银行 *",
        choices=options([("", "请选择")] + [(b, b) for b in BANKS]),
        validators=[InputRequired("请选择开户银行")],
    )
    kind = Radio(
        "账户类型 *",
        choices=options([("card", "银行卡"), ("account", "存折/账户")]),
        default="card",
        validators=[InputRequired("请选择账户类型")],
    )
    account_no = StringField(
        "账号 *",
        validators=[DataRequired("请输入账号"), Length(max=40, message="账号过长")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    account_name = StringField(
        "账户名称 *", validators=[DataRequired("请输入账户名称"), Length(max=40, message="账户名称不能超过40个字")]
    )
    submit = SubmitField("保存")


class LimitField(StringField):
    """单笔扣款限额, typed in 元 (a ¥ or 元 and thousands commas are fine); once it reads as an
    allowed amount, `fen` holds it."""

    fen: int | None = None

    def pre_validate(self, form):
        text = unicodedata.normalize("NFKC", self.data or "").strip()
        text = text.removeprefix("¥").removesuffix("元").replace(",", "").strip()
        if not text:
            raise StopValidation("请输入单笔扣款限额")
        if len(text) > 16:
            raise StopValidation("单笔扣款限额应为金额，如 2000 或 2000.00")
        try:
            self.fen = check_limit(yuan_to_fen(text))
        except ValueError as exc:
            raise StopValidation(
                exc.message if isinstance(exc, BankError) else "单笔扣款限额应为金额，如 2000 或 2000.00"
            ) from None


def _limit():
    return LimitField(
        "单笔扣款限额（元）*",
        default=fen_to_yuan(DEFAULT_LIMIT_FEN),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )


def _withhold_backpay():
    return BooleanField("补缴费款也自动扣款", default=False)


class AgreementForm(Form):
    enrollment = Select("参保信息 *", validators=[InputRequired("请选择参保信息")])
    account = Select("扣款账户 *", coerce=int, validators=[InputRequired("请选择扣款账户")])
    kind = Radio(
        "协议类型 *",
        choices=options([("tripartite", "三方协议（税务、银行、缴费人）"), ("bipartite", "两方协议（银行、缴费人）")]),
        default="tripartite",
        validators=[InputRequired("请选择协议类型")],
    )
    limit = _limit()
    withhold_backpay = _withhold_backpay()
    submit = SubmitField("签约")


class AgreementSettingsForm(Form):
    """修改扣款设置: the holder's own choices on an active agreement."""

    limit = _limit()
    withhold_backpay = _withhold_backpay()
    submit = SubmitField("保存")


class ConfirmForm(Form):
    submit = SubmitField("确认")
