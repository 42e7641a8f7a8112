"""退费申请 正常/特殊 and 退费申请记录 (own person, verified session)."""
from flask import Blueprint, abort, flash, redirect, request, url_for

from sbweb import auth
from sbweb.forms.base import options
from sbweb.forms.refunds import ApplyForm, SearchForm
from sbweb.htmx import render_step
from sbweb.models.refund_application import APPLICATION_KIND_LABELS
from sbweb.services import bank
from sbweb.services import refund_applications as service

bp = Blueprint("refunds", __name__, url_prefix="/refunds")


def _kind(kind: str) -> str:
    if kind not in APPLICATION_KIND_LABELS:
        abort(404)
    return kind


@bp.get("/")
def index():
    return render_step("refunds/index.html")


@bp.get("/<kind>/")
def search(kind):
    """查询: 缴费起止日期 or 凭证号码 (not both empty)."""
    kind = _kind(kind)
    form = SearchForm(request.args)
    found, status = None, 200
    if request.args:
        if form.validate():
            try:
                found = service.refundable(auth.person_id(), kind, date_from=form.date_from.data,
                                           date_to=form.date_to.data, ticket_no=form.ticket_no.data or None)
            except service.ApplicationError as exc:
                form.form_errors.append(exc.message)
        if form.errors or form.form_errors:
            status = 422
    return render_step("refunds/search.html", form=form, kind=kind, title=APPLICATION_KIND_LABELS[kind] + "申请",
                       found=found, status=status)


@bp.route("/<kind>/<order_no>/apply", methods=["GET", "POST"])
def apply(kind, order_no):
    kind = _kind(kind)
    person = auth.current_person()
    order = service.refundable_order(person.id, kind, order_no)
    if order is None:
        abort(404)
    accounts = bank.accounts_of(person.id)
    form = ApplyForm()
    form.account.choices = options((a.id, f"{a.bank_name} {a.masked_no}") for a in accounts)
    if not form.is_submitted():
        form.account_name.data = person.name
    if form.validate_on_submit():
        try:
            service.apply(person, order.order_no, kind, money_type=form.money_type.data, reason=form.reason.data,
                          account_id=form.account.data, account_name=form.account_name.data)
        except service.ApplicationError as exc:
            if exc.field:
                form[exc.field].errors.append(exc.message)
            else:
                form.form_errors.append(exc.message)
        else:
            flash("保存成功！审核通过后，费款将原路退回您的付款账户")
            return redirect(url_for("refunds.records"), 303)
    return render_step("refunds/apply.html", form=form, order=order, kind=kind, accounts=accounts,
                       title=APPLICATION_KIND_LABELS[kind] + "申请", status=422 if form.is_submitted() else 200)


@bp.get("/records")
def records():
    """退费申请记录: each application and where it stands."""
    return render_step("refunds/records.html", rows=service.applications_of(auth.person_id()))
