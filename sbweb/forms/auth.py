"""Forms of the 授权 journey, with the messages a resident sees beside each field."""

from wtforms import HiddenField, SubmitField
from wtforms.validators import Length

from sbweb.forms.base import Form, IdDocumentFields, Select, name_field


class ManualIdentityForm(IdDocumentFields, Form):
    """The resident's own 证件类型 + 证件号码 + 姓名 (the browser may offer her own name)."""

    name = name_field(autocomplete="name")
    next = HiddenField(validators=[Length(max=300)])
    submit = SubmitField("确定")


class ConsentForm(Form):
    """同意授权. In the host-app sandbox the tester also says who is signed in to the host."""

    person = Select("宿主应用当前登录用户（沙箱）", coerce=int)
    host = Select("宿主应用（沙箱）")
    next = HiddenField(validators=[Length(max=300)])
    submit = SubmitField("同意授权")


class OtherPersonForm(ManualIdentityForm):
    """Someone else's 证件 + 姓名 (a 被代缴人, the holder of a 代缴 certificate): the browser must not
    offer the resident's own name there."""

    name = name_field()
