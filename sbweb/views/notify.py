"""Async notifications from payment providers: verify, apply, and only then say `success`."""
import logging

from flask import Blueprint, Response, abort, current_app, request

from sbweb import csrf
from sbweb.payments import InvalidNotice, orders

bp = Blueprint("notify", __name__)
log = logging.getLogger(__name__)


@bp.post("/notify/<provider>")
@csrf.exempt  # server to server; the provider's RSA2 signature is the check
def receive(provider):
    client = current_app.extensions["sbweb.providers"].get(provider)
    if client is None:
        abort(404)

    def answer(text):
        return Response(text, mimetype="text/plain")

    try:
        state = client.verify_notify(request.form)
    except InvalidNotice as exc:
        log.warning("notify from %s refused: %s", provider, exc)
        return answer(client.notify_nack)
    try:
        outcome = orders.apply_trade_state(state, provider=provider, source=f"{provider}异步通知")
    except orders.UnknownOrder:
        log.warning("notify from %s for an unknown order %s", provider, state.out_trade_no)
        return answer(client.notify_nack)
    except orders.AmountMismatch:
        log.error("notify from %s with a wrong amount for %s", provider, state.out_trade_no)
        return answer(client.notify_nack)
    if outcome.refund_needed:
        # The refund is recorded (durable) already; sending it may fail and is retried.
        orders.complete_refunds(outcome.order.id)
    return answer(client.notify_ack)
