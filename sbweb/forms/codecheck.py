"""Forms of 身份验证: the 证件信息 that say who the resident is, and the one-time code."""

import unicodedata

from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from sbweb.forms.auth import ManualIdentityForm
from sbweb.forms.base import Form


def _digits(value):
    """Full-width digits from a Chinese input method, and stray spaces, are still the code."""
    return "".join(unicodedata.normalize("NFKC", value).split()) if isinstance(value, str) else value


class IdentityForm(ManualIdentityForm):
    submit = SubmitField("下一步")


class SendCodeForm(Form):
    next = HiddenField(validators=[Length(max=300)])
    submit = SubmitField("获取验证码")


class CodeForm(Form):
    code = StringField(
        "验证码",
        filters=[_digits],
        validators=[DataRequired("请输入验证码"), Regexp(r"^[0-9]{6}$", message="验证码为6位数字")],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "6"},
    )
    next = HiddenField(validators=[Length(max=300)])
    submit = SubmitField("确定")
