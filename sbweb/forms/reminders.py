"""Forms of 缴费提醒: subscribe an address to reminders about oneself or a payee, and cancel one."""

from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from sbweb.forms.base import Form, Select


class ReminderForm(Form):
    person = Select("提醒谁的缴费", coerce=int, validators=[InputRequired("请选择")])
    email = StringField(
        "电子邮箱",
        validators=[DataRequired("请输入电子邮箱地址"), Length(max=254, message="请输入正确的电子邮箱地址")],
        render_kw={"autocomplete": "email", "inputmode": "email", "spellcheck": "false"},
    )
    submit = SubmitField("订阅提醒")


class CancelForm(Form):
    submit = SubmitField("取消")
