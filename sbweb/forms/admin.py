"""Back-office forms that are about the staff account itself."""
from wtforms import PasswordField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from sbweb.forms.base import Form


class PasswordForm(Form):
    current = PasswordField("当前密码", validators=[DataRequired("请输入当前密码"), Length(max=200)])
    new = PasswordField("新密码（至少10位）", validators=[DataRequired("请输入新密码"),
                                                 Length(min=10, max=200, message="新密码为10至200位")])
    again = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码"),
                                                EqualTo("new", message="两次输入的新密码不一致")])
    submit = SubmitField("修改密码")


class ConfirmForm(Form):
    submit = SubmitField("确定")
