"""Back office: the yearly standards per region (缴费标准) — listed, and edited or added with
the same validation as `flask standards set`; every change audited (before/after) and the
open dues it priced re-priced."""

from flask import abort, flash, redirect, request, url_for
from sqlalchemy import select
from wtforms import StringField, SubmitField
from wtforms.validators import Length

from sbweb.db import db, write_transaction
from sbweb.forms.base import Form, Select, options
from sbweb.htmx import render_step
from sbweb.models import Standard
from sbweb.models.enrollment import CATEGORY_LABELS
from sbweb.money import fen_to_yuan
from sbweb.services import standards as service
from sbweb.services.provisional import Settlement, outstanding
from sbweb.services.staff import audit
from sbweb.staff_auth import current_staff
from sbweb.views.admin import bp


class StandardForm(Form):
    region = StringField("地区代码", validators=[Length(max=6)])
    year = StringField("年度", validators=[Length(max=4)])
    category = Select("人员类别", choices=options(CATEGORY_LABELS.items()))
    base_min = StringField("缴费基数下限（元）", validators=[Length(max=12)])
    base_max = StringField("缴费基数上限（元）", validators=[Length(max=12)])
    pension_rate = StringField("养老保险费率（%）", validators=[Length(max=8)])
    medical_rate = StringField("医疗保险费率（%）", validators=[Length(max=8)])
    grades = StringField("缴费档次（元，逗号分隔）", validators=[Length(max=300)])
    medical = StringField("城乡居民医疗保险（元）", validators=[Length(max=12)])
    late_fee = StringField("滞纳金（%/日，0 为不收）", validators=[Length(max=8)])
    opens = StringField("征收期开始（YYYY-MM-DD）", validators=[Length(max=10)])
    closes = StringField("征收期结束（YYYY-MM-DD）", validators=[Length(max=10)])
    submit = SubmitField("保存")


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
    form = StandardForm(data=_values(existing) if existing and request.method == "GET" else None)
    if existing:  # the key of a standard stays; a new year is a new row
        del form.region, form.year, form.category
    if form.validate_on_submit():
        spec = {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", "submit")}
        if existing:
            spec.update(region=existing.region_code, year=existing.year, category=existing.category)
        settled = Settlement()
        try:
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
                    audit(
                        current_staff().id,
                        "standard.save",
                        f"standard:{saved.id}",
                        before,
                        {**_values(saved), "provisional": settled.counts()},
                    )
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
