"""涉费查询 (as in the Guizhou mini-program): 申报查询 and 选档记录查询 (the declarations),
已缴费查询 (own paid items by 费款所属期), 代缴已缴费查询 (what this payer paid for a person
named by 证件号码 + 姓名 — only this payer's payments, whoever else paid for them)."""

from flask import Blueprint, request

from sbweb import identity
from sbweb.forms.base import options
from sbweb.forms.queries import PaidQueryForm, ProxyPaidQueryForm
from sbweb.htmx import render_step
from sbweb.identity import throttled_lookup
from sbweb.services import records

bp = Blueprint("queries", __name__, url_prefix="/queries")


def _years(form, payer: int):
    form.year.choices = options([(0, "全部年度")] + [(y, f"{y}年") for y in records.record_years(payer)])


@bp.get("/")
def index():
    return render_step("queries/index.html")


@bp.get("/paid")
def paid():
    """已缴费查询: the person's own paid items for a 费款所属期 year."""
    payer = identity.person_id()
    form = PaidQueryForm(request.args)
    _years(form, payer)
    result = None
    if "year" in request.args and form.validate():
        result = records.records_page(payer, year=form.year.data or None, states=("settled",), per_page=100)
    return render_step("queries/paid.html", form=form, result=result, proxy=False, status=422 if form.errors else 200)


@bp.get("/proxy-paid")
def proxy_paid():
    """代缴已缴费查询: by the payee's 证件号码 + 姓名; throttled like any lookup by number."""
    payer = identity.person_id()
    form = ProxyPaidQueryForm(request.args)
    _years(form, payer)
    result, status = _proxy_paid(form, payer) if "id_number" in request.args else (None, 200)
    return render_step("queries/paid.html", form=form, result=result, proxy=True, status=status)


def _proxy_paid(form, payer: int):
    """The payee's paid items this payer paid, and the page's status; (None, status) when the
    query is refused (a bad form, the lookup's limits, or the payer's own number)."""
    if not form.validate():
        return None, 422
    person, status = throttled_lookup(form)
    if person is None:
        return None, status
    if person.id == payer:
        form.form_errors.append("查询本人的缴费请使用“已缴费查询”")
        return None, 422
    result = records.records_page(
        payer,
        others=True,
        person_id=person.id,
        year=form.year.data or None,
        states=("settled",),
        per_page=100,
    )
    return result, status
