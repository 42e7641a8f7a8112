"""退费审核: the refund applications waiting for a reviewer, each reviewed item by item; and the
agency's 退费原因类型 (what a refund for each reason does to the period it paid)."""

from flask import abort, flash, redirect, request, url_for

from sbweb import staff_auth
from sbweb.db import db
from sbweb.forms.admin import ReasonForm
from sbweb.forms.base import options
from sbweb.forms.refunds import ReviewForm
from sbweb.htmx import render_step
from sbweb.models import RefundApplication, RefundReason
from sbweb.payments import refunds as payment_refunds
from sbweb.services import refund_applications, refund_reasons
from sbweb.views.admin.blueprint import bp


@bp.get("/refunds")
def refunds():
    return render_step(
        "admin/refunds.html",
        rows=refund_applications.pending(),
        transfers=refund_applications.awaiting_transfer(),
        unfinished=payment_refunds.unfinished_refunds(),
    )


@bp.route("/refunds/<int:application_id>", methods=["GET", "POST"])
def refund(application_id):
    """退费审核 item by item: 下一步 shows what will go back and where (nothing moves yet), 确认退费
    sends it; or 全部不通过 with a reason; for a bank-account refund, 确认已转账 once made."""
    application = db.session.get(RefundApplication, application_id)
    if application is None:
        abort(404)
    form, plan = _review_form(application), None
    if form.validate_on_submit():
        try:
            if request.form.get("decision") == "review":
                plan = _plan(application_id, form)
            else:
                return _decide(application, form)
        except refund_applications.ApplicationError as exc:
            (form[exc.field].errors if exc.field in ("note", "method") else form.form_errors).append(exc.message)
    return _render_refund(application_id, form, plan)


def _review_form(application: RefundApplication) -> ReviewForm:
    form = ReviewForm()
    form.approve.choices = options((i.id, str(i.id)) for i in application.items)
    if application.account is None:  # made by the system (多退 on a new standard): 原路退回 only
        form.method.choices = [c for c in form.method.choices if c.value != "bank"]
    return form


def _plan(application_id: int, form: ReviewForm):
    """下一步: what would go back and where, or None when items are turned down without a reason."""
    plan = refund_applications.plan(application_id, set(form.approve.data or []), form.method.data)
    if plan.turned_down and not (form.note.data or "").strip():
        form.note.errors.append("请填写不同意退费的原因")
        return None
    return plan


def _decide(application: RefundApplication, form: ReviewForm):
    """确认退费, 确认已转账 or 全部不通过, carried out; back to the list."""
    decision, me = request.form.get("decision"), staff_auth.current_staff().id
    if decision == "approve":
        refund_applications.approve(me, application.id, set(form.approve.data or []), form.method.data, form.note.data)
        flash(f"已审核通过 {application.application_no}，退费已发起")
    elif decision == "transferred":
        refund_applications.confirm_bank_transfer(me, application.id)
        flash(f"已确认 {application.application_no} 退至银行账户")
    elif decision == "reject":
        refund_applications.reject(me, application.id, form.note.data)
        flash(f"已审核不通过 {application.application_no}")
    else:
        abort(400)
    return redirect(url_for("admin.refunds"), 303)


def _render_refund(application_id: int, form: ReviewForm, plan):
    application = db.session.get(RefundApplication, application_id)
    effect = refund_reasons.effect_of(application.reason, application.money_type)
    return render_step(
        "admin/refund.html",
        application=application,
        form=form,
        plan=plan,
        effect_words=refund_reasons.EFFECTS[effect],
        status=422 if form.is_submitted() and plan is None else 200,
    )


# -- 退费原因类型 ----------------------------------------------------------------------------------


def _reason_form(row=None, formdata=None) -> ReasonForm:
    form = ReasonForm(
        formdata=formdata,
        prefix=f"r{row.id}" if row is not None else "new",
        data={"effect": row.effect, "active": row.active} if row is not None and formdata is None else None,
    )
    form.effect.choices = options(refund_reasons.EFFECTS.items())
    return form


def _render_reasons(failed: ReasonForm | None = None, failed_id: int | None = None, status: int = 200):
    rows = [
        (r, failed if failed is not None and failed_id == r.id else _reason_form(r)) for r in refund_reasons.reasons()
    ]
    new = failed if failed is not None and failed_id is None else _reason_form()
    return render_step(
        "admin/refund_reasons.html",
        rows=rows,
        new=new,
        failed_id=failed_id,
        may_edit=staff_auth.is_admin(),
        effects=refund_reasons.EFFECTS,
        status=status,
    )


@bp.get("/refund-reasons")
def refund_reasons_page():
    """退费原因类型: what a refund for each reason does to the period it paid — owed again, not
    owed, or still paid at what was kept; changes apply to applications approved afterwards."""
    return _render_reasons()


@bp.post("/refund-reasons")
def add_refund_reason():
    form = _reason_form(formdata=request.form)
    if form.validate_on_submit():
        try:
            row = refund_reasons.add(
                staff_auth.current_staff().id, form.reason.data, form.effect.data, form.active.data
            )
        except refund_reasons.ReasonError as exc:
            form.reason.errors.append(exc.message)
        else:
            flash(f"已添加退费原因类型「{row.reason}」")
            return redirect(url_for("admin.refund_reasons_page"), 303)
    return _render_reasons(form, None, status=422)


@bp.post("/refund-reasons/<int:reason_id>")
def set_refund_reason(reason_id):
    row = db.get_or_404(RefundReason, reason_id)
    form = _reason_form(row, formdata=request.form)
    if form.validate_on_submit():
        try:
            refund_reasons.set_effect(staff_auth.current_staff().id, reason_id, form.effect.data, form.active.data)
        except refund_reasons.ReasonError as exc:
            form.effect.errors.append(exc.message)
        else:
            flash(f"已保存「{row.reason}」")
            return redirect(url_for("admin.refund_reasons_page"), 303)
    return _render_reasons(form, reason_id, status=422)
