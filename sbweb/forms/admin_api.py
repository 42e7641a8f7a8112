"""Back-office forms of the machine API: a new API client (name, scopes, the agency it speaks
for), revoking one, and the day of the settlement files shown."""

from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from sbweb.forms.base import DayField, Form, MultiCheckbox, Select, options
from sbweb.models.api import API_SCOPES

SCOPE_LABELS = {
    "events:read": "events:read 读取事件流、票证与结算文件",
    "dues:write": "dues:write 推送应缴记录",
    "enrollments:write": "enrollments:write 推送参保登记",
    "standards:write": "standards:write 推送缴费标准",
}


class ApiClientForm(Form):
    name = StringField(
        "客户端名称",
        validators=[DataRequired("请填写客户端名称"), Length(max=100, message="客户端名称不超过100个字")],
    )
    scopes = MultiCheckbox(
        "权限范围",
        choices=options((s, SCOPE_LABELS.get(s, s)) for s in API_SCOPES),
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
        validators=[DataRequired("请至少选择一项权限范围")],
    )
    agency = Select("代表的社保经办机构", validators=[Optional()])
    submit = SubmitField("创建客户端")


class RevokeForm(Form):
    submit = SubmitField("停用")


class SettlementDayForm(Form):
    class Meta:
        csrf = False  # a GET search: nothing changes

    day = DayField("结算日（北京时间）", validators=[Optional()])
