"""Async notifications from payment providers: verify, apply, and only then say `success`."""

import logging

from flask import Blueprint, Response, abort, current_app, request

from sbweb import metrics
from sbweb.extensions import csrf
from sbweb.payments import InvalidNotice, Notification, orders, refunds

bp = Blueprint("notify", __name__)
log = logging.getLogger(__name__)


@bp.post("/notify/<provider>")
@csrf.exempt  # server to server; the provider's signature is the check
def receive(provider):
    client = current_app.extensions["sbweb.providers"].get(provider)
    if client is None:
        abort(404)
    # The raw body first (some providers sign it byte for byte); the form is parsed from it.
    body = request.get_data(cache=True)
    notification = Notification(headers=request.headers, body=body, form=request.form)
    if getattr(client, "is_refund_notification", None) and client.is_refund_notification(notification):
        return _answer(client, _refund_notice(client, provider, notification))
    try:
        state = client.verify_notify(notification)
    except InvalidNotice as exc:
        log.warning("notify from %s refused: %s", provider, exc)
        metrics.notify_refused(provider, "invalid")
        return _answer(client, False)
    outcome = _apply(client, provider, notification, state)
    if outcome is None:
        return _answer(client, False)
    if outcome.refund_needed:
        # The refund is recorded (durable) already; sending it may fail and is retried.
        refunds.complete_refunds(outcome.order.id)
    return _answer(client, True)


def _answer(client, accepted: bool) -> Response:
    said = client.notify_answer(accepted)
    return Response(said.body, status=said.status, mimetype=said.mimetype)


def _apply(client, provider: str, notification: Notification, state):
    """The verified trade state applied to its order; None when it names no order of ours or
    the wrong amount (refused, so the provider keeps it for a person to look at)."""
    try:
        return orders.apply_trade_state(state, provider=provider, source=f"{provider}异步通知")
    except orders.UnknownOrder:
        log.warning("notify from %s for an unknown order %s", provider, state.out_trade_no)
        metrics.notify_refused(provider, "unknown_order")
    except orders.AmountMismatch:
        log.error("notify from %s with a wrong amount for %s", provider, state.out_trade_no)
        metrics.notify_refused(provider, "amount_mismatch")
    except Exception:
        # Nothing was written (the transaction rolled back): the provider's retry must be taken.
        if forget := getattr(client, "notification_not_applied", None):
            forget(notification)
        raise
    return None


def _refund_notice(client, provider: str, notification: Notification) -> bool:
    """A refund's own notification (UnionPay's 退货 / 撤销): verified, then recorded durably;
    True (answered as received) only then. A database failure is a 500: the provider retries."""
    try:
        notice = client.verify_refund_notify(notification)
        refunds.apply_refund_notice(provider, notice.out_request_no, notice.status, notice.amount_fen)
    except (InvalidNotice, refunds.UnknownRefund) as exc:
        log.warning("refund notify from %s refused: %s", provider, exc)
        metrics.notify_refused(provider, "invalid")
        return False
    return True
