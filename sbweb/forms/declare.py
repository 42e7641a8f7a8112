"""Forms of 缴费申报: the agency, then what the flow asks for (基数 and months, 档次, or just
the year). Choices are filled per request from the standards in force; whether a year or
grade is allowed is the declarations service's to say (its message names the reason)."""

from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from sbweb.clock import FIRST_DAY, LAST_DAY
from sbweb.forms.base import DayField, Form, KnownValue, Radio, Select, options
from sbweb.models.enrollment import CATEGORY_LABELS

PAY_TYPES = options([("normal", "正常缴费"), ("backpay", "补缴")])
# 缴费基数是否允许用于批扣 (the Qingdao seed): no unless the resident says yes.
WITHHOLDING_CHOICES = options([("yes", "允许"), ("no", "不允许")])


class _Unchecked:
    """A choice the service checks (a closed year, a grade the region lacks) so the resident
    reads why, not just "无效"; a value that is not a number is still refused here."""

    def pre_validate(self, form):
        pass


class YearSelect(_Unchecked, Select):
    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_DAY.year <= self.data <= LAST_DAY.year:
            self.data = None
            raise ValueError(self.invalid_message)


class GradeRadio(_Unchecked, Radio):
    pass


class AgencyForm(Form):
    city = Select("所在地市", validators=[Optional()])
    agency = Radio("社保经办机构", validators=[InputRequired("请选择社保经办机构")])
    submit = SubmitField("下一步")


class FlexibleForm(AgencyForm):
    pay_type = Radio("缴费类型", choices=PAY_TYPES, default="normal", validators=[InputRequired("请选择缴费类型")])
    year = YearSelect("缴费年份", coerce=int, validators=[Optional()])
    month_from = Select("费款所属期（起）", coerce=int, validators=[Optional()])
    month_to = Select("费款所属期（止）", coerce=int, validators=[Optional()])
    base = StringField("缴费基数（元/月）", validators=[Optional(), Length(max=16, message="缴费基数过长")])
    allow_withholding = Radio(
        "缴费基数是否允许用于批扣",
        choices=WITHHOLDING_CHOICES,
        default="no",
        validators=[InputRequired("请选择缴费基数是否允许用于批扣")],
    )


class GradeForm(AgencyForm):
    pay_type = Radio("缴费类型", choices=PAY_TYPES, default="normal", validators=[InputRequired("请选择缴费类型")])
    year = YearSelect("缴费年份", coerce=int, validators=[Optional()])
    grade = GradeRadio("缴费档次（元/年）", coerce=int, validators=[Optional()])


class MedicalForm(AgencyForm):
    year = YearSelect("缴费年份", coerce=int, validators=[Optional()])


class BackpayForm(Form):
    # What the page showed (orders.fingerprint of its dues): the confirmation is of those figures.
    shown = HiddenField(validators=[InputRequired("页面已过期，请核对补缴明细后再确认"), Length(max=64)])
    submit = SubmitField("下一步")


class VoidForm(Form):
    submit = SubmitField("确认作废")


class HistoryFilterForm(Form):
    """申报查询 / 选档记录查询's filters: 有效状态, 缴费人类型, which records (kind=choice: 选档记录
    only) and 申报日期 (起/止, either may be empty). A GET query, so no CSRF token."""

    class Meta:
        csrf = False
        locales = ["zh"]

    state = KnownValue(known=("valid", "void"), default="")
    kind = KnownValue(known=("choice",), default="")
    category = KnownValue(known=tuple(CATEGORY_LABELS), default="")
    declared_from = DayField("申报日期起", validators=[Optional()])
    declared_to = DayField("申报日期止", validators=[Optional()])

    def validate_declared_to(self, field):
        if field.data and self.declared_from.data and field.data < self.declared_from.data:
            raise ValidationError("申报日期止不能早于申报日期起")
