"""Refunds (原路退回): money going back to where it came from, and sending it there.

Each refund is one `Refund` row, idempotent on its request number (`out_request_no`), so a
provider call can be repeated safely. There are three kinds, by who asks:
- the order's one automatic refund, R1 (`record_automatic_refund`, `return_payment`): money
  that arrived for an order that is no longer active, or that 对账 decides to give back;
- a 退费申请 approved by staff (`request_refund`), of a settled order, up to its total;
- what the provider collected beyond the order's total (`request_excess_refund`, X…), which
  leaves the order settled.
`complete_refunds` sends them (with no write transaction open while the provider answers) and
marks each done once the money is back; housekeeping retries what is left.

Refunds build on the order state machine (`orders.transition`); orders.py imports this module
where it needs it, inside the functions, so the two load in either order.
"""

import datetime as dt
import logging

from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import Order, Refund, RefundItem
from sbweb.models.base import utcnow
from sbweb.models.order import ACTIVE_STATES, OPEN_REFUND_STATES
from sbweb.payments import ProviderError
from sbweb.payments.order_states import PaymentError, TransitionNotAllowed, provider_for, release_dues, transition
from sbweb.services.refund_items import money_back

log = logging.getLogger(__name__)
REFUND_ALARM_AFTER = 10  # failed tries after which each further failure is logged as an error


# -- recording a refund ---------------------------------------------------------------------


def automatic_request_no(order: Order) -> str:
    """The request number of the order's one automatic refund (R1)."""
    return f"{order.order_no}R1"


def record_automatic_refund(order: Order, reason: str) -> None:
    """One automatic refund per order; its request number makes the provider call idempotent."""
    if any(r.out_request_no == automatic_request_no(order) for r in order.refunds):
        return
    db.session.add(
        Refund(order_id=order.id, out_request_no=automatic_request_no(order), amount_fen=order.total_fen, reason=reason)
    )
    db.session.flush()


def request_refund(order: Order, out_request_no: str, amount_fen: int, reason: str) -> Refund:
    """A refund of a settled order asked for by staff (退费申请 审核通过), sent by
    complete_refunds; one per request number, never more than the order's total."""
    existing = db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no))
    if existing is not None:
        return existing
    already = sum(r.amount_fen for r in order.refunds if not is_excess(r))
    if amount_fen <= 0 or already + amount_fen > order.total_fen:
        raise PaymentError("退费金额超过已缴金额")
    refund = Refund(order_id=order.id, out_request_no=out_request_no, amount_fen=amount_fen, reason=reason[:100])
    db.session.add(refund)
    db.session.flush()
    return refund


def excess_request_no(order: Order, key: int | str) -> str:
    return f"{order.order_no}X{key}"


def is_excess(refund: Refund) -> bool:
    """A refund of money the provider took beyond the order's total (对账: 金额不一致): it
    leaves the order as it is, paid dues and all."""
    return refund.out_request_no.startswith(f"{refund.order.order_no}X")


def request_excess_refund(order: Order, key: int | str, amount_fen: int, reason: str) -> Refund:
    """Record the return of what the provider collected beyond the order's total; sent by
    complete_refunds like any refund (idempotent on its request number), but the order stays
    settled. Call inside a write transaction."""
    out_request_no = excess_request_no(order, key)
    existing = db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no))
    if existing is not None:
        return existing
    if amount_fen <= 0:
        raise PaymentError("没有多收的金额可退")
    refund = Refund(order_id=order.id, out_request_no=out_request_no, amount_fen=amount_fen, reason=reason[:100])
    db.session.add(refund)
    db.session.flush()
    return refund


def return_payment(order: Order, cause: str, reason: str, amount_fen: int | None = None) -> Refund:
    """Money the provider holds for an order we will not settle goes back to its source
    (原路退回, as staff decide in 对账): an active order is closed first, releasing its dues; the
    order's one automatic refund (R1) is recorded, for complete_refunds to send. Call inside a
    write transaction holding the order's row lock. A settled order is refunded by a 退费申请."""
    if order.state == "settled":
        raise TransitionNotAllowed(f"{order.order_no}: settled orders are refunded by application")
    if order.state in ACTIVE_STATES:
        release_dues(order)
        transition(order, "closed", cause)
    out_request_no = automatic_request_no(order)
    existing = db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no))
    if existing is not None:
        return existing
    refund = Refund(
        order_id=order.id, out_request_no=out_request_no, amount_fen=amount_fen or order.total_fen, reason=reason[:200]
    )
    db.session.add(refund)
    db.session.flush()
    return refund


# -- sending it -----------------------------------------------------------------------------


def complete_refunds(order_id: int | None = None) -> int:
    """Send pending refunds to the provider and ask after those it is still processing; mark
    each done once the money is back (retried by housekeeping). Returns how many were done."""
    query = select(Refund).where(Refund.state.in_(OPEN_REFUND_STATES))
    if order_id is not None:
        query = query.filter_by(order_id=order_id)
    pending = list(db.session.scalars(query.order_by(Refund.id)))
    db.session.commit()
    done = 0
    for refund in pending:
        outcome = _ask_provider(refund)
        if outcome is None:
            continue
        if outcome != "succeeded":
            _note_unfinished(refund, outcome)
        elif _money_back(refund.id):
            done += 1
    return done


def _ask_provider(refund: Refund) -> str | None:
    """Send a pending refund, or ask after one being processed: the provider's outcome, or None
    when it could not be reached (the try is counted on the refund)."""
    order = refund.order
    provider = provider_for(order)
    try:
        if refund.state == "pending":
            return provider.refund(
                order.order_no, refund.amount_fen, refund.out_request_no, refund.reason, total_fen=order.total_fen
            )
        return provider.refund_state(order.order_no, refund.out_request_no)
    except ProviderError as exc:
        with write_transaction():
            row = db.session.get(Refund, refund.id, with_for_update=True, populate_existing=True)
            row.attempts += 1
            row.last_error = str(exc)[:200]
            attempts = row.attempts
        level = logging.ERROR if attempts >= REFUND_ALARM_AFTER else logging.WARNING
        log.log(level, "refund %s not sent (attempt %s): %s", refund.out_request_no, attempts, exc)
        return None


def _note_unfinished(refund: Refund, outcome: str) -> None:
    """Record an outcome other than success: still processing, failed, or unknown to the
    provider (sent again next time)."""
    with write_transaction():
        row = db.session.get(Refund, refund.id, with_for_update=True, populate_existing=True)
        if row.state in OPEN_REFUND_STATES:
            row.state = "pending" if outcome == "missing" else outcome
            if outcome == "failed":
                row.last_error = "退款异常：款项未能原路退回，请在支付机构商户平台处理"
    if outcome == "failed":
        log.error(
            "refund %s: the provider could not return the money (ABNORMAL/CLOSED); it waits for the merchant platform",
            refund.out_request_no,
        )


def _money_back(refund_id: int) -> bool:
    """The provider has returned the money: mark the refund done and move what it carried (a
    退费申请's items, or the order). False if someone else marked it first."""
    with write_transaction():
        refund = db.session.get(Refund, refund_id, with_for_update=True, populate_existing=True)
        order = db.session.get(Order, refund.order_id, with_for_update=True, populate_existing=True)
        if refund.state not in OPEN_REFUND_STATES:
            return False
        refund.state, refund.completed_at = "succeeded", utcnow()
        cause = f"原路退回 {refund.out_request_no}: {refund.reason}"
        carried = list(db.session.scalars(select(RefundItem).where(RefundItem.refund_id == refund.id)))
        if carried:  # a 退费申请's items: each item, its due and the order follow
            money_back(carried, refund.completed_at, cause)
        elif order.state != "refunded" and not is_excess(refund):
            transition(order, "refunded", cause, refunded_at=refund.completed_at)
    return True


def unfinished_refunds(now: dt.datetime | None = None) -> list[Refund]:
    """For staff: refunds that need a look — failed (to settle on the merchant platform), not
    sent after a try, or still processing after a day."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(Refund)
            .where(
                (Refund.state == "failed")
                | ((Refund.state == "pending") & (Refund.attempts > 0))
                | ((Refund.state == "processing") & (Refund.created_at < now - dt.timedelta(days=1)))
            )
            .order_by(Refund.created_at)
            .limit(200)
        )
    )


# -- a provider's word on a refund, in its own notification ----------------------------------


class UnknownRefund(Exception):
    """A refund notification about no refund of ours with that provider (or another amount)."""


def apply_refund_notice(provider: str, out_request_no: str, status: str, amount_fen: int) -> None:
    """A verified notification of one refund's outcome (UnionPay's 退货 / 撤销 backUrl): the
    refund moves as it would on a query — "succeeded": done, with what it carries (a 退费申请's
    items, or the order); "failed" / "processing": recorded. Durable when this returns; safe to
    repeat and to come before or after the query's answer (a refund done already stays done)."""
    refund = db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no))
    if refund is None or refund.order.provider != provider or refund.amount_fen != amount_fen:
        db.session.rollback()
        raise UnknownRefund(out_request_no)
    db.session.commit()
    if status == "succeeded":
        _money_back(refund.id)
    elif status in ("failed", "processing"):
        _note_unfinished(refund, status)
