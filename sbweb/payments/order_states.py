"""An order's state machine: the one way an order moves (`transition`), along the edges of
ORDER_TRANSITIONS, recorded with when and why. The payment core (sbweb.payments.orders) and the
refunds of 退费申请 (sbweb.services.refund_items) both move orders, so it lives below both;
with it what both stand on: the refusal a resident reads (PaymentError), the provider of an
order, and releasing an order's dues when it ends.
"""

from functools import lru_cache

from flask import current_app
from sqlalchemy import bindparam, insert, update

from sbweb import metrics
from sbweb.db import db, written
from sbweb.models import Due, Order, OrderEvent
from sbweb.models.base import utcnow
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
    db.session.flush()  # what the ORM holds pending goes first, as an autoflush would send it
    result = db.session.execute(
        _moved(tuple(sorted(fields))),
        {
            "w_id": order.id,
            "w_state": order.state,
            "w_version": version,
            "v_state": to_state,
            **{f"v_{key}": value for key, value in fields.items()},
        },
    )
    if result.rowcount != 1:
        raise ConcurrentChange(order.order_no)
    record_event(order.id, edge[0], to_state, cause)
    metrics.order_moved(db.session(), order.provider, to_state)
    # The row as the UPDATE above left it (it matched our version, under our transaction), not
    # read back; its relationships (items, refunds) stay loaded: the UPDATE changed none of them.
    written(order, {"state": to_state, "version": version + 1}, fields)


# The payment path's statements, built once with bind parameters (Core: an ORM UPDATE or a
# flushed event cost several times the statement itself). The same conditional UPDATE as ever:
# only the row still in the state and version that was read.
_ORDERS = Order.__table__


@lru_cache(maxsize=32)
def _moved(fields: tuple[str, ...]):
    return (
        update(_ORDERS)
        .where(
            _ORDERS.c.id == bindparam("w_id"),
            _ORDERS.c.state == bindparam("w_state"),
            _ORDERS.c.version == bindparam("w_version"),
        )
        .values(
            state=bindparam("v_state"),
            version=_ORDERS.c.version + 1,
            **{key: bindparam(f"v_{key}", type_=_ORDERS.c[key].type) for key in fields},
        )
    )


_EVENT = insert(OrderEvent.__table__)


def record_event(order_id: int, from_state: str, to_state: str, cause: str) -> None:
    """The order's history (audit) row for a move, in the caller's transaction."""
    db.session.execute(
        _EVENT,
        {"order_id": order_id, "from_state": from_state, "to_state": to_state, "cause": cause[:200], "at": utcnow()},
    )
