"""Back office: the yearly standards per region (缴费标准) — listed, and edited or added with
the same validation as `flask standards set`; every change audited (before/after) and the
open dues it priced re-priced."""

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.forms.admin import StandardForm
from sbweb.htmx import render_step
from sbweb.models import Standard
from sbweb.models.enrollment import CATEGORY_LABELS
from sbweb.money import fen_to_yuan
from sbweb.services import standards as service
from sbweb.services.provisional import Settlement, outstanding
from sbweb.services.staff import audit
from sbweb.staff_auth import current_staff
from sbweb.views.admin.blueprint import bp


def _values(standard: Standard) -> dict:
    return {
        "region": standard.region_code,
        "year": str(standard.year),
        "category": standard.category,
        "base_min": fen_to_yuan(standard.base_min_fen) if standard.base_min_fen else "",
        "base_max": fen_to_yuan(standard.base_max_fen) if standard.base_max_fen else "",
        "pension_rate": service.percent(standard.pension_rate_bp) if standard.pension_rate_bp else "",
        "medical_rate": service.percent(standard.medical_rate_bp) if standard.medical_rate_bp else "",
        "grades": ",".join(fen_to_yuan(g) for g in standard.grades_fen or []),
        "medical": fen_to_yuan(standard.medical_fen) if standard.medical_fen else "",
        "late_fee": service.percent(standard.late_fee_bp_per_day),
        "opens": standard.opens.isoformat(),
        "closes": standard.closes.isoformat(),
    }


@bp.get("/standards")
def standards():
    rows = list(
        db.session.scalars(select(Standard).order_by(Standard.region_code, Standard.year.desc(), Standard.category))
    )
    return render_step(
        "admin/standards.html",
        rows=rows,
        terms=service.terms,
        regions=service.region_names(),
        categories=CATEGORY_LABELS,
        provisional=outstanding(),
    )


@bp.route("/standards/new", methods=["GET", "POST"])
@bp.route("/standards/<int:standard_id>", methods=["GET", "POST"])
def standard(standard_id=None):
    existing = db.session.get(Standard, standard_id) if standard_id else None
    if standard_id and existing is None:
        abort(404)
    form = _standard_form(existing)
    if form.validate_on_submit():
        try:
            changed, settled = _save(form, existing)
        except service.StandardError as exc:
            form.form_errors.extend(exc.problems)
        else:
            flash("；".join(filter(None, ["缴费标准已保存" if changed else "缴费标准没有变化", settled.message])))
            return redirect(url_for("admin.standards"), 303)
    return render_step(
        "admin/standard.html",
        form=form,
        existing=existing,
        regions=service.region_names(),
        categories=CATEGORY_LABELS,
        status=422 if form.is_submitted() else 200,
    )


def _standard_form(existing: Standard | None) -> StandardForm:
    form = StandardForm(data=_values(existing) if existing and request.method == "GET" else None)
    if existing:  # the key of a standard stays; a new year is a new row
        del form.region, form.year, form.category
    return form


def _save(form: StandardForm, existing: Standard | None) -> tuple[bool, Settlement]:
    """The form's standard saved (with the open dues it priced re-priced) and, if anything changed,
    audited with its values before and after: (changed, what was settled)."""
    spec = {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", "submit")}
    if existing:
        spec.update(region=existing.region_code, year=existing.year, category=existing.category)
    settled = Settlement()
    values = service.parse_standard(spec)
    with write_transaction():
        current = db.session.scalar(
            select(Standard).filter_by(
                region_code=values["region_code"], year=values["year"], category=values["category"]
            )
        )
        before = _values(current) if current else None
        saved, changed = service.save_standard(values, settled)
        if changed or settled.total:
            after = {**_values(saved), "provisional": settled.counts()}
            audit(current_staff().id, "standard.save", f"standard:{saved.id}", before, after)
    return changed, settled
