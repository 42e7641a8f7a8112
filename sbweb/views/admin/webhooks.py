"""事件推送: webhook deliveries not yet received — failed after their last attempt, or still
waiting for the next one — with 重新发送 for admins (sbweb.services.webhooks)."""

from flask import flash, redirect, url_for

from sbweb import staff_auth
from sbweb.clock import SHANGHAI
from sbweb.htmx import render_step
from sbweb.services import webhooks
from sbweb.views.admin.blueprint import bp


@bp.get("/webhooks")
def webhook_deliveries():
    """事件推送: what has not reached the agencies' systems yet."""
    return render_step(
        "admin/webhooks.html", rows=webhooks.unsent(), may_resend=staff_auth.is_admin(), shanghai=SHANGHAI
    )


@bp.post("/webhooks/<int:delivery_id>/resend")
def resend_webhook(delivery_id):
    try:
        row = webhooks.resend(staff_auth.current_staff().id, delivery_id)
    except webhooks.ResendError as exc:
        flash(exc.message, "error")
    else:
        flash(f"已重新发送事件 {row.event.key}（{row.state_label}）")
    return redirect(url_for("admin.webhook_deliveries"), 303)
