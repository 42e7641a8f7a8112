"""An order's state machine: the one way an order moves (`transition`), along the edges of
ORDER_TRANSITIONS, recorded with when and why. The payment core (sbweb.payments.orders) and the
refunds of 退费申请 (sbweb.services.refund_items) both move orders, so it lives below both;
with it what both stand on: the refusal a resident reads (PaymentError), the provider of an
order, and releasing an order's dues when it ends.
"""

from flask import current_app
from sqlalchemy import update

from sbweb import metrics
from sbweb.db import db, written
from sbweb.models import Due, Order, OrderEvent
from sbweb.models.order import ORDER_TRANSITIONS


class PaymentError(Exception):
    """A reason to refuse, in words a resident can act on."""

    message = "支付暂时无法完成，请稍后重试"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message


def providers():
    return current_app.extensions["sbweb.providers"]


def provider_for(order: Order):
    return providers()[order.provider]


def release_dues(order: Order) -> None:
    db.session.execute(
        update(Due)
        .where(Due.order_id == order.id, Due.state == "open")
        .values(order_id=None)
        .execution_options(synchronize_session=False)
    )


class TransitionNotAllowed(Exception):
    pass


class ConcurrentChange(Exception):
    """Someone else moved the order first; reload and look again."""


def transition(order: Order, to_state: str, cause: str, **fields) -> None:
    """Move `order` along one allowed edge, recording when and why. Call inside a write
    transaction. Applies only if the order is still in the state and version we read."""
    edge, version = (order.state, to_state), order.version
    if edge not in ORDER_TRANSITIONS:
        raise TransitionNotAllowed(f"{order.order_no}: {edge[0]} → {edge[1]}")
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.state == order.state, Order.version == version)
        .values(state=to_state, version=Order.version + 1, **fields)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ConcurrentChange(order.order_no)
    db.session.add(OrderEvent(order_id=order.id, from_state=edge[0], to_state=to_state, cause=cause[:200]))
    metrics.order_moved(db.session(), order.provider, to_state)
    db.session.flush()
    # The row as the UPDATE above left it (it matched our version, under our transaction), not
    # read back; its relationships (items, refunds) stay loaded: the UPDATE changed none of them.
    written(order, {"state": to_state, "version": version + 1}, fields)
