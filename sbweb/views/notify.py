"""Async notifications from payment providers: verify, apply, and only then say `success`."""

import logging

from flask import Blueprint, Response, abort, current_app, request

from sbweb import metrics
from sbweb.extensions import csrf
from sbweb.payments import InvalidNotice, Notification, orders

bp = Blueprint("notify", __name__)
log = logging.getLogger(__name__)


@bp.post("/notify/<provider>")
@csrf.exempt  # server to server; the provider's signature is the check
def receive(provider):
    client = current_app.extensions["sbweb.providers"].get(provider)
    if client is None:
        abort(404)

    def answer(accepted: bool):
        said = client.notify_answer(accepted)
        return Response(said.body, status=said.status, mimetype=said.mimetype)

    # The raw body first (some providers sign it byte for byte); the form is parsed from it.
    body = request.get_data(cache=True)
    notification = Notification(headers=request.headers, body=body, form=request.form)
    try:
        state = client.verify_notify(notification)
    except InvalidNotice as exc:
        log.warning("notify from %s refused: %s", provider, exc)
        metrics.notify_refused(provider, "invalid")
        return answer(False)
    try:
        outcome = orders.apply_trade_state(state, provider=provider, source=f"{provider}异步通知")
    except orders.UnknownOrder:
        log.warning("notify from %s for an unknown order %s", provider, state.out_trade_no)
        metrics.notify_refused(provider, "unknown_order")
        return answer(False)
    except orders.AmountMismatch:
        log.error("notify from %s with a wrong amount for %s", provider, state.out_trade_no)
        metrics.notify_refused(provider, "amount_mismatch")
        return answer(False)
    except Exception:
        # Nothing was written (the transaction rolled back): the provider's retry must be taken.
        if forget := getattr(client, "notification_not_applied", None):
            forget(notification)
        raise
    if outcome.refund_needed:
        # The refund is recorded (durable) already; sending it may fail and is retried.
        orders.complete_refunds(outcome.order.id)
    return answer(True)
