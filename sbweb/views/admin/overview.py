"""The back office's home, 运行状态 (what /readyz and /metrics say, in words) and the audit log."""

from sqlalchemy.exc import SQLAlchemyError

from sbweb import ops
from sbweb.db import db
from sbweb.htmx import render_step
from sbweb.services import audit_words, refund_applications
from sbweb.services import staff as staff_service
from sbweb.views.admin.blueprint import bp


@bp.get("/")
def index():
    return render_step("admin/index.html", pending=len(refund_applications.pending()))


@bp.get("/status")
def status():
    """运行状态: what /readyz and /metrics say, in words with their thresholds."""
    checks = ops.readiness()
    try:
        figures = ops.figures()
    except SQLAlchemyError:
        db.session.rollback()
        figures = None
    return render_step("admin/status.html", ready=ops.ready(checks), rows=ops.status_rows(checks, figures))


@bp.get("/audit")
def audit():
    return render_step(
        "admin/audit.html",
        rows=audit_words.lines(staff_service.audit_log()),
        movements=staff_service.money_movements(),
        cause_words=audit_words.cause_words,
    )
