"""Forms of 涉费查询 (GET forms: a query changes nothing, so no CSRF token is needed)."""

from wtforms.validators import Optional

from sbweb.forms.base import Form, IdDocumentFields, Select, id_number_field, name_field


class QueryForm(Form):
    class Meta:
        csrf = False
        locales = ["zh"]


class PaidQueryForm(QueryForm):
    year = Select("费款所属期", coerce=int, validators=[Optional()])


class ProxyPaidQueryForm(IdDocumentFields, QueryForm):
    id_number = id_number_field("被代缴人证件号码")
    name = name_field("被代缴人姓名")  # someone else's name: not the resident's own offered
    year = Select("费款所属期", coerce=int, validators=[Optional()])
