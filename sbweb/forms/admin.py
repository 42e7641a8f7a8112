"""Back-office forms: staff sign-in and the account itself, the agency's 退费原因类型, each
主管税务机关's name and phone, the import file, 对账 (a day run, a difference resolved), and the
yearly standards per region (缴费标准)."""

from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Optional

from sbweb.forms.base import Form, Radio, Select, options
from sbweb.models.enrollment import CATEGORY_LABELS


class LoginForm(Form):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=40)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码"), Length(max=200)])
    submit = SubmitField("登录")


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


class ImportForm(Form):
    file = FileField("导入文件（CSV 或 XLSX）", validators=[FileRequired("请选择要导入的文件")])
    submit = SubmitField("试运行")


class ReconRunForm(Form):
    day = StringField("对账日期", validators=[DataRequired("请输入对账日期"), Length(max=10)])
    submit = SubmitField("立即对账")


class ResolveForm(Form):
    action = Select("处理方式", choices=[], validators=[DataRequired("请选择处理方式")])
    note = TextAreaField("说明", validators=[Length(max=200, message="不超过200字")])
    submit = SubmitField("提交")


class StandardForm(Form):
    region = StringField("地区代码", validators=[Length(max=6)])
    year = StringField("年度", validators=[Length(max=4)])
    category = Select("人员类别", choices=options(CATEGORY_LABELS.items()))
    base_min = StringField("缴费基数下限（元）", validators=[Length(max=12)])
    base_max = StringField("缴费基数上限（元）", validators=[Length(max=12)])
    pension_rate = StringField("养老保险费率（%）", validators=[Length(max=8)])
    medical_rate = StringField("医疗保险费率（%）", validators=[Length(max=8)])
    grades = StringField("缴费档次（元，逗号分隔）", validators=[Length(max=300)])
    medical = StringField("城乡居民医疗保险（元）", validators=[Length(max=12)])
    late_fee = StringField("滞纳金（%/日，0 为不收）", validators=[Length(max=8)])
    opens = StringField("征收期开始（YYYY-MM-DD）", validators=[Length(max=10)])
    closes = StringField("征收期结束（YYYY-MM-DD）", validators=[Length(max=10)])
    submit = SubmitField("保存")
