"""对账 (reconciliation): reviewers and admins read the runs and their differences; only admins
run a day or resolve a difference."""

import datetime as dt

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select

from sbweb import staff_auth
from sbweb.clock import shanghai_today
from sbweb.db import db
from sbweb.forms.admin import ReconRunForm, ResolveForm
from sbweb.forms.base import options
from sbweb.htmx import render_step
from sbweb.models import Order, ReconDifference, ReconRun
from sbweb.payments import ProviderError
from sbweb.services import reconciliation as recon
from sbweb.views.admin.blueprint import bp


@bp.route("/reconciliation", methods=["GET", "POST"])
def reconciliation():
    form = ReconRunForm(data={"day": (shanghai_today() - dt.timedelta(days=1)).isoformat()})
    if request.method == "POST":
        staff_auth.require_admin()
        if form.validate_on_submit() and (run := _run_day(form)) is not None:
            return redirect(url_for("admin.reconciliation_run", run_id=run.id), 303)
    return render_step(
        "admin/reconciliation.html",
        form=form,
        rows=recon.recent_runs(),
        providers=recon.PROVIDER_LABELS,
        status=422 if form.is_submitted() else 200,
    )


def _run_day(form: ReconRunForm) -> ReconRun | None:
    """立即对账: the form's day reconciled now (its run), or None with the reason on the form."""
    try:
        day = dt.date.fromisoformat(form.day.data.strip())
    except ValueError:
        form.day.errors.append("请输入正确的日期，如 2026-11-22")
        return None
    try:
        run = recon.reconcile(day, staff_id=staff_auth.current_staff().id)
    except recon.ReconError as exc:
        (form.day.errors if exc.field == "day" else form.form_errors).append(exc.message)
        return None
    except ProviderError:
        form.form_errors.append("暂时无法从支付机构获取账单，请稍后重试")
        return None
    flash(f"已完成 {day.isoformat()} 的对账：匹配 {run.matched} 笔，差异 {run.differences} 笔")
    return run


def _resolve_form(difference, formdata=None) -> ResolveForm:
    form = ResolveForm(prefix=f"d{difference.id}", formdata=formdata)
    form.action.choices = options([("", "请选择")] + recon.actions_for(difference))
    return form


def _our_orders(run: ReconRun, differences) -> dict:
    """Our orders behind the differences, by order number."""
    numbers = {d.out_trade_no for d in differences}
    if not numbers:
        return {}
    query = select(Order).where(Order.provider == run.provider, Order.order_no.in_(numbers))
    return {o.order_no: o for o in db.session.scalars(query)}


def _resolve_forms(differences, failed: ResolveForm | None, failed_id: int | None) -> dict:
    """An admin's form for each open difference (the one that failed as it was sent)."""
    if not staff_auth.is_admin():
        return {}
    return {
        d.id: failed if failed is not None and d.id == failed_id else _resolve_form(d)
        for d in differences
        if d.state == "open"
    }


def _render_run(run_id: int, failed: ResolveForm | None = None, failed_id: int | None = None, status: int = 200):
    run = db.session.get(ReconRun, run_id)
    if run is None:
        abort(404)
    differences = list(run.items)
    return render_step(
        "admin/reconciliation_run.html",
        run=run,
        differences=differences,
        orders=_our_orders(run, differences),
        forms=_resolve_forms(differences, failed, failed_id),
        failed=failed,
        names=recon.staff_names(differences),
        resolution_labels=recon.RESOLUTION_LABELS,
        providers=recon.PROVIDER_LABELS,
        is_refund=recon.is_refund,
        status=status,
    )


@bp.get("/reconciliation/<int:run_id>")
def reconciliation_run(run_id):
    return _render_run(run_id)


@bp.post("/reconciliation/<int:run_id>/differences/<int:difference_id>")
def reconciliation_resolve(run_id, difference_id):
    difference = db.session.get(ReconDifference, difference_id)
    if difference is None or difference.run_id != run_id:
        abort(404)
    form = _resolve_form(difference, formdata=request.form)
    if form.validate_on_submit():
        try:
            result = recon.resolve(staff_auth.current_staff().id, difference_id, form.action.data, form.note.data)
        except recon.ReconError as exc:
            target = {"action": form.action, "note": form.note}.get(exc.field)
            (target.errors if target is not None else form.form_errors).append(exc.message)
        else:
            flash(f"{difference.out_trade_no}：{result.message}")
            return redirect(url_for("admin.reconciliation_run", run_id=run_id), 303)
    return _render_run(run_id, failed=form, failed_id=difference_id, status=422)
