"""Forms of 退费申请: finding a payment (by 缴费起止日期 or 凭证号码), then applying for it."""
from wtforms import StringField, SubmitField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from sbweb.forms.base import DayField, Form, Select, options
from sbweb.services import refund_applications as service


class SearchForm(Form):
    class Meta:
        csrf = False  # a GET query changes nothing
        locales = ["zh"]

    date_from = DayField("缴费起始日期", validators=[Optional()])
    date_to = DayField("缴费终止日期", validators=[Optional()])
    ticket_no = StringField("凭证号码", validators=[Optional(), Regexp(r"^\d{18}$", message="凭证号码应为18位数字")],
                            render_kw={"inputmode": "numeric", "autocomplete": "off"})

    def validate_date_to(self, field):
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("缴费终止日期不能早于缴费起始日期")


class ApplyForm(Form):
    money_type = Select("退费金类型 *", choices=options([("", "请选择")] + [(t, t) for t in service.MONEY_TYPES]),
                        validators=[InputRequired("请选择退费金类型")])
    reason = Select("退费原因类型 *", choices=options([("", "请选择")] + [(r, r) for r in service.REASONS]),
                    validators=[InputRequired("请选择退费原因类型")])
    account = Select("银行账号 *", coerce=int, validators=[InputRequired("请选择银行账号")])
    account_name = StringField("账号名称 *", validators=[DataRequired("请输入账号名称"), Length(max=40)])
    submit = SubmitField("提交")
