"""Forms of 退费申请: finding a payment (by 缴费起止日期 or 凭证号码), then applying for it."""

import unicodedata

from wtforms import StringField, SubmitField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from sbweb.forms.base import DayField, Form, MultiCheckbox, Radio, Select, options
from sbweb.money import yuan_to_fen
from sbweb.services import refund_applications as service


class SearchForm(Form):
    class Meta:
        csrf = False  # a GET query changes nothing
        locales = ["zh"]

    date_from = DayField("缴费起始日期", validators=[Optional()])
    date_to = DayField("缴费终止日期", validators=[Optional()])
    ticket_no = StringField(
        "凭证号码",
        validators=[Optional(), Regexp(r"^\d{18}$", message="凭证号码应为18位数字")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("缴费终止日期不能早于缴费起始日期")


class ApplyForm(Form):
    items = MultiCheckbox(
        "退费的费款 *",
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[InputRequired(service.NO_ITEMS)],
    )
    money_type = Select(
        "退费金类型 *",
        choices=options([("", "请选择")] + [(t, t) for t in service.MONEY_TYPES]),
        validators=[InputRequired("请选择退费金类型")],
    )
    reason = Select("退费原因类型 *", choices=[], validators=[InputRequired("请选择退费原因类型")])
    account = Select("银行账号 *", coerce=int, validators=[InputRequired("请选择银行账号")])
    account_name = StringField("账号名称 *", validators=[DataRequired("请输入账号名称"), Length(max=40)])
    submit = SubmitField("提交")


AMOUNT_FIELD = "amount-{}"
BAD_AMOUNT = "退费金额应为金额，如 100 或 100.00"


def amounts(formdata, item_ids) -> dict[int, int | None]:
    """Item id → the part to refund in fen (多缴费款; typed per item in 元), or None for all of it.
    Raises ValueError with the message for the items field."""
    found = {}
    for item_id in item_ids:
        text = unicodedata.normalize("NFKC", formdata.get(AMOUNT_FIELD.format(item_id), "") or "").strip()
        text = text.removeprefix("¥").removesuffix("元").replace(",", "").strip()
        if not text:
            found[item_id] = None
            continue
        if len(text) > 12:
            raise ValueError(BAD_AMOUNT)
        try:
            found[item_id] = yuan_to_fen(text)
        except ValueError:
            raise ValueError(BAD_AMOUNT) from None
    return found


class ReviewForm(Form):
    """Staff's decision, item by item, then a confirmation of what goes back and where."""

    approve = MultiCheckbox(
        "同意退费的费款",
        coerce=int,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[Optional()],
    )
    # Checked by the service (refund_applications.plan): 确认已转账 posts no method at all.
    method = Radio(
        "退费方式",
        choices=options([("original", "原路退回"), ("bank", "退至申请人银行账户")]),
        default="original",
        validate_choice=False,
        validators=[Optional()],
    )
    note = TextAreaField("不通过原因", validators=[Length(max=200, message="不超过200字")])
    submit = SubmitField("下一步")
