"""Forms of 存款账户账号报告 and 银行缴费协议 (fields marked * are required, as in the seeds)."""
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from sbweb.forms.base import Form, Radio, Select, options
from sbweb.services.bank import BANKS


class AccountForm(Form):
    bank_name = Select("开户银行 *", choices=options([("", "请选择开户银行")] + [(b, b) for b in BANKS]),
                       validators=[InputRequired("请选择开户银行")])
    kind = Radio("账户类型 *", choices=options([("card", "银行卡"), ("account", "存折/账户")]), default="card",
                 validators=[InputRequired("请选择账户类型")])
    account_no = StringField("账号 *", validators=[DataRequired("请输入账号"), Length(max=40, message="账号过长")],
                             render_kw={"inputmode": "numeric", "autocomplete": "off"})
    account_name = StringField("账户名称 *", validators=[DataRequired("请输入账户名称"),
                                                      Length(max=40, message="账户名称不能超过40个字")])
    submit = SubmitField("保存")


class AgreementForm(Form):
    enrollment = Select("参保信息 *", validators=[InputRequired("请选择参保信息")])
    account = Select("扣款账户 *", coerce=int, validators=[InputRequired("请选择扣款账户")])
    kind = Radio("协议类型 *", choices=options([("tripartite", "三方协议（税务、银行、缴费人）"),
                                              ("bipartite", "两方协议（银行、缴费人）")]),
                 default="tripartite", validators=[InputRequired("请选择协议类型")])
    submit = SubmitField("签约")


class ConfirmForm(Form):
    submit = SubmitField("确认")
