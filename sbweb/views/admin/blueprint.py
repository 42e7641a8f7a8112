"""The back office's one blueprint (/admin): every area of sbweb.views.admin adds its routes to
it, so each endpoint keeps its name (admin.refund, admin.standards, …) wherever it is used
(sbweb.access, sbweb.limits, templates, tests)."""

from flask import Blueprint

from sbweb import staff_auth

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.context_processor
def staff_context():
    return {"staff": staff_auth.current_staff()}
