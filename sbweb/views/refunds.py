"""退费申请 正常/特殊 and 退费申请记录 (own person, verified session)."""

from flask import Blueprint, abort, flash, redirect, request, session, url_for

from sbweb import identity
from sbweb.forms.base import options
from sbweb.forms.refunds import AMOUNT_FIELD, ApplyForm, SearchForm, amounts
from sbweb.htmx import render_step
from sbweb.models.refund_application import APPLICATION_KIND_LABELS
from sbweb.services import bank, refund_reasons
from sbweb.services import refund_applications as service

bp = Blueprint("refunds", __name__, url_prefix="/refunds")


def _kind(kind: str) -> str:
    if kind not in APPLICATION_KIND_LABELS:
        abort(404)
    return kind


@bp.get("/")
def index():
    return render_step("refunds/index.html")


def _search(form, kind: str):
    """The payments the query finds; None, and the form's errors, when it is refused."""
    if not form.validate():
        return None
    try:
        return service.refundable(
            identity.person_id(),
            kind,
            date_from=form.date_from.data,
            date_to=form.date_to.data,
            ticket_no=form.ticket_no.data or None,
        )
    except service.ApplicationError as exc:
        form.form_errors.append(exc.message)
        return None


@bp.get("/<kind>/")
def search(kind):
    """查询: 缴费起止日期 or 凭证号码 (not both empty)."""
    kind = _kind(kind)
    form = SearchForm(request.args)
    found = _search(form, kind) if request.args else None
    refused = bool(request.args) and bool(form.errors or form.form_errors)
    return render_step(
        "refunds/search.html",
        form=form,
        kind=kind,
        title=APPLICATION_KIND_LABELS[kind] + "申请",
        found=found,
        status=422 if refused else 200,
    )


DRAFT = "refund_draft"
DRAFT_FIELDS = ("items", "money_type", "reason", "account_name")


def _refused(form, exc: service.ApplicationError) -> None:
    if exc.field and exc.field in form:
        form[exc.field].errors.append(exc.message)
    else:
        form.form_errors.append(exc.message)


def _apply_form(kind: str, order_no: str, items, accounts) -> ApplyForm:
    """The application form; shown again after 报告银行账户 as the resident left it."""
    draft = session.get(DRAFT)
    use_draft = request.method == "GET" and isinstance(draft, dict) and draft.get("at") == [kind, order_no]
    form = ApplyForm(data=draft.get("data") if use_draft else None)
    form.items.choices = options((i.id, str(i.id)) for i in items)
    form.reason.choices = options([("", "请选择")] + [(r, r) for r in service.reasons()])
    form.account.choices = options((a.id, f"{a.bank_name} {a.masked_no}") for a in accounts)
    if not form.is_submitted():
        if not use_draft:
            form.items.data = [i.id for i in items]
            form.account_name.data = identity.current_person().name
        elif accounts:
            form.account.data = accounts[-1].id  # the account just reported
    form.typed_amounts = (draft.get("amounts") or {}) if use_draft else dict(request.form)
    return form


def _keep_draft(kind: str, order_no: str):
    """报告银行账户 from the application: what was chosen waits in the session, and saving the
    account comes back here."""
    data = {
        "items": [int(i) for i in request.form.getlist("items") if i.isdigit()][:50],
        **{k: (request.form.get(k) or "")[:40] for k in DRAFT_FIELDS if k != "items"},
    }
    amounts = {k: v[:16] for k, v in request.form.items() if k.startswith("amount-") and len(k) < 24}
    session[DRAFT] = {"at": [kind, order_no], "data": data, "amounts": amounts}
    here = url_for("refunds.apply", kind=kind, order_no=order_no)
    return redirect(url_for("bank.account", next=here), 303)


def _submit(form, person, order_no: str, kind: str):
    """The application as posted; None when refused, the message beside its field."""
    try:
        service.apply(
            person,
            order_no,
            kind,
            items=amounts(request.form, form.items.data),
            money_type=form.money_type.data,
            reason=form.reason.data,
            account_id=form.account.data,
            account_name=form.account_name.data,
        )
    except service.ApplicationError as exc:
        _refused(form, exc)
        return None
    except ValueError as exc:  # an amount that is none
        form.items.errors.append(str(exc))
        return None
    session.pop(DRAFT, None)
    flash("保存成功！审核通过后，所选费款将原路退回您的付款账户")
    return redirect(url_for("refunds.records"), 303)


@bp.route("/<kind>/<order_no>/apply", methods=["GET", "POST"])
def apply(kind, order_no):
    """退费申请: which items of the payment (part of one for 多缴费款), why, and to which account."""
    kind = _kind(kind)
    person = identity.current_person()
    order = service.refundable_order(person.id, kind, order_no)
    if order is None:
        abort(404)
    if request.method == "POST" and request.form.get("report_account"):
        return _keep_draft(kind, order.order_no)
    items = service.refundable_items(order, kind)
    accounts = bank.accounts_of(person.id)
    form = _apply_form(kind, order.order_no, items, accounts)
    if form.validate_on_submit() and (done := _submit(form, person, order.order_no, kind)) is not None:
        return done
    return render_step(
        "refunds/apply.html",
        form=form,
        order=order,
        kind=kind,
        accounts=accounts,
        items=items,
        amount_field=AMOUNT_FIELD,
        overpaid=refund_reasons.OVERPAID,
        title=APPLICATION_KIND_LABELS[kind] + "申请",
        status=422 if form.is_submitted() else 200,
    )


@bp.get("/records")
def records():
    """退费申请记录: each application and where it stands."""
    return render_step("refunds/records.html", rows=service.applications_of(identity.person_id()))
