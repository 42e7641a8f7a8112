"""The payment core: orders as a state machine, and the one-charge-per-due guarantee.

How a due can never be charged twice:
- an order takes its dues with one conditional UPDATE (`order_id IS NULL AND state='open'`),
  so of two orders racing for a due exactly one gets it, on SQLite and PostgreSQL alike;
- a confirmed selection carries an idempotency key (posted by the 选择缴款方式 page), so a
  double tap or a reload returns the order it already made instead of making another;
- a settlement marks the held dues paid in the same transaction that moves the order to
  settled, and only from an active state: notifies and queries can repeat in any order;
- money that arrives for an order that is no longer active (closed, failed) is refunded to
  its source (原路退回), never kept and never applied to the dues.
Provider calls are made with no write transaction open (on SQLite the in-process sandbox
must be able to write while we wait for it).
"""

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from sbweb.clock import shanghai_now
from sbweb.db import db, write_transaction
from sbweb.models import (
    Agency,
    Due,
    Enrollment,
    Order,
    OrderEvent,
    OrderItem,
    Refund,
    RefundItem,
    TaxOffice,
    Ticket,
)
from sbweb.models.base import utcnow
from sbweb.models.order import ACTIVE_STATES, OPEN_REFUND_STATES, RETURNED_BY_PROVIDER
from sbweb.payments import PayerUnknown, PaymentStart, PayRequest, ProviderError, TradeState
from sbweb.payments.order_states import TransitionNotAllowed, transition
from sbweb.services.numbers import issue_number

log = logging.getLogger(__name__)
REFUND_ALARM_AFTER = 10  # failed tries after which each further failure is logged as an error


class PaymentError(Exception):
    """A reason to refuse, in words a resident can act on."""

    message = "支付暂时无法完成，请稍后重试"

    def __init__(self, message: str | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message


class StaleSelection(PaymentError):
    message = "缴费信息已发生变化，请核对最新的缴费信息后再支付"


class DueUnavailable(PaymentError):
    message = "所选费款已缴纳或正在支付中，请返回查看最新的应缴信息"

    def __init__(self, message: str | None = None, held_by: str | None = None):
        super().__init__(message)
        self.held_by = held_by  # order number of the payer's own active order holding a due


class UnknownOrder(Exception):
    pass


class AmountMismatch(Exception):
    pass


def providers():
    return current_app.extensions["sbweb.providers"]


def provider_for(order: Order):
    return providers()[order.provider]


# -- numbers (the state machine is sbweb.payments.order_states) ------------------------------


def new_order_no() -> str:
    return f"SB{shanghai_now():%Y%m%d}{issue_number('order'):010d}"


def new_ticket_no(office: TaxOffice) -> str:
    """18 digits, like the tax bureau's 电子税票号码: 4 + the office's region + year + sequence."""
    return f"4{office.region_code}{shanghai_now():%y}{issue_number('ticket'):09d}"


def issue_tickets(order: Order) -> list[Ticket]:
    """One 票证号码 per 主管税务机关 of the order's items (the tax office of each due's agency),
    each item pointing at its own: one payment, as many tickets as tax offices. Called in the
    transaction that settles the order."""
    tickets: dict[int, Ticket] = {}
    # Each item's office in one query, not due → enrollment → agency → office loaded item by item.
    offices = dict(
        db.session.execute(
            select(OrderItem.id, TaxOffice)
            .join(Due, Due.id == OrderItem.due_id)
            .join(Enrollment, Enrollment.id == Due.enrollment_id)
            .join(Agency, Agency.id == Enrollment.agency_id)
            .join(TaxOffice, TaxOffice.id == Agency.tax_office_id)
            .where(OrderItem.order_id == order.id)
        ).all()
    )
    for item in order.items:
        office = offices[item.id]
        if office.id not in tickets:
            tickets[office.id] = Ticket(ticket_no=new_ticket_no(office), order_id=order.id, tax_office_id=office.id)
            db.session.add(tickets[office.id])
            db.session.flush()
        item.ticket_id = tickets[office.id].id
    db.session.flush()
    return list(tickets.values())


# -- choosing and confirming dues -----------------------------------------------------------


def fingerprint(dues: Iterable[Due]) -> str:
    """What the resident was shown: a stale page posts a fingerprint that no longer matches."""
    parts = sorted(f"{d.id}:{d.revision}:{d.amount_fen}:{d.state}:{d.order_id or ''}" for d in dues)
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def load_dues(due_ids: Iterable[int], person_ids: set[int]) -> list[Due]:
    """The dues with these ids that belong to these people (others' dues are simply absent)."""
    ids = {int(i) for i in due_ids}
    if not ids:
        return []
    # With each due's enrollment (already joined) and agency: every caller names the item
    # (describe) or asks the region's reconciliation window (payment_pause).
    query = (
        select(Due)
        .join(Enrollment)
        .where(Due.id.in_(ids), Enrollment.person_id.in_(person_ids))
        .options(contains_eager(Due.enrollment).joinedload(Enrollment.agency))
        .order_by(Due.period_start, Due.id)
    )
    return list(db.session.scalars(query))


def regions_of(order: Order) -> set[str]:
    """The region codes of the agencies an order pays (a reconciliation window may pause them)."""
    return set(
        db.session.scalars(
            select(Agency.region_code)
            .join(Enrollment, Enrollment.agency_id == Agency.id)
            .join(Due, Due.enrollment_id == Enrollment.id)
            .join(OrderItem, OrderItem.due_id == Due.id)
            .where(OrderItem.order_id == order.id)
        )
    )


def describe(dues: list[Due]) -> str:
    labels = sorted({d.enrollment.item_label for d in dues})
    return ("、".join(labels) if len(labels) <= 2 else f"{labels[0]}等{len(labels)}项")[:100]


def _active_order_of(payer_id: int, dues: list[Due]) -> str | None:
    held = {d.order_id for d in dues if d.order_id and d.state == "open"}
    if not held:
        return None
    return db.session.scalar(
        select(Order.order_no)
        .where(Order.id.in_(held), Order.payer_id == payer_id, Order.state.in_(ACTIVE_STATES))
        .limit(1)
    )


@dataclass
class NewOrder:
    order: Order
    created: bool


def create_order(
    *, payer_id: int, person_ids: set[int], due_ids: list[int], shown: str, channel: str, idempotency_key: str
) -> NewOrder:
    """Make the order for what the payer confirmed, or return the one this key already made.

    Raises StaleSelection when the dues differ from what was shown, DueUnavailable when one
    is paid or held by another order."""
    channels = dict(current_app.config["PAYMENT_CHANNELS"])
    if current_app.config["WITHHOLD_PROVIDER"]:
        channels["bank"] = current_app.config["WITHHOLD_PROVIDER"]
    if channel not in channels:
        raise PaymentError("请选择缴款方式")
    try:
        with write_transaction():
            existing = db.session.scalar(select(Order).filter_by(payer_id=payer_id, idempotency_key=idempotency_key))
            if existing is not None:
                return NewOrder(existing, created=False)
            dues = load_dues(due_ids, person_ids)
            if len(dues) != len(set(due_ids)) or not dues:
                raise DueUnavailable()
            if not all(d.payable for d in dues):
                raise DueUnavailable(held_by=_active_order_of(payer_id, dues))
            if fingerprint(dues) != shown:
                raise StaleSelection()
            now = utcnow()
            order = Order(
                order_no=new_order_no(),
                payer_id=payer_id,
                idempotency_key=idempotency_key,
                channel=channel,
                provider=channels[channel],
                state="created",
                total_fen=sum(d.amount_fen for d in dues),
                subject=f"社会保险费-{describe(dues)}",
                created_at=now,
                expires_at=now + current_app.config["ORDER_TIMEOUT"],
            )
            db.session.add(order)
            db.session.flush()
            for due in dues:
                db.session.add(OrderItem(order_id=order.id, due_id=due.id, amount_fen=due.amount_fen))
            taken = db.session.execute(
                update(Due)
                .where(Due.id.in_([d.id for d in dues]), Due.state == "open", Due.order_id.is_(None))
                .values(order_id=order.id)
                .execution_options(synchronize_session=False)
            ).rowcount
            if taken != len(dues):
                raise DueUnavailable()  # rolls back the order too: nothing half-written
            db.session.add(
                OrderEvent(order_id=order.id, from_state="", to_state="created", cause=f"缴费人确认 {len(dues)} 笔费款")
            )
        return NewOrder(order, created=True)
    except DueUnavailable as exc:
        # The same key may have won the dues between our read of the key and of the dues (a
        # double tap, read committed): that order is this confirmation's, not someone else's.
        existing = db.session.scalar(select(Order).filter_by(payer_id=payer_id, idempotency_key=idempotency_key))
        if existing is not None:
            return NewOrder(existing, created=False)
        if exc.held_by is None:
            # Lost the race for the dues after reading them: the winner is committed now.
            exc.held_by = _active_order_of(payer_id, load_dues(due_ids, person_ids))
        raise
    except IntegrityError:
        # The same key raced in from another tab or a double tap: return that order.
        db.session.rollback()
        existing = db.session.scalar(select(Order).filter_by(payer_id=payer_id, idempotency_key=idempotency_key))
        if existing is None:
            raise
        return NewOrder(existing, created=False)


def start_payment(
    order: Order,
    *,
    notify_url: str,
    return_url: str,
    quit_url: str,
    host: str = "browser",
    payer_subject: str | None = None,
    client_ip: str | None = None,
) -> PaymentStart:
    """Where to send the browser to pay this order (marks it 支付中 on first use). Raises
    PayerUnknown, the order left as it was, when the provider must first know who pays."""
    if host_first := provider_for(order).payer_needed(host, payer_subject):
        raise PayerUnknown(host_first)
    if order.state == "created":
        order_id = order.id  # read before the commit below expires it (no reload just for the id)
        with write_transaction():
            # Locked: of many taps racing here, one moves the order and the rest see it moved.
            order = db.session.get(Order, order_id, with_for_update=True, populate_existing=True)
            if order.state == "created":
                transition(order, "paying", f"转至{order.channel_label}支付页面")
    if order.state == "paying" and utcnow() > order.expires_at:
        order = refresh(order)
        if order.state == "paying":
            raise PaymentError("订单已超时，正在关闭，请稍后重新缴费")
    if order.state != "paying":
        raise PaymentError("该订单已结束，无法继续支付")
    request = PayRequest(
        out_trade_no=order.order_no,
        amount_fen=order.total_fen,
        subject=order.subject,
        expires_at=order.expires_at,
        notify_url=notify_url,
        return_url=return_url,
        quit_url=quit_url,
        channel=order.channel,
        host=host,
        payer_subject=payer_subject,
        client_ip=client_ip,
    )
    try:
        return provider_for(order).start(request)
    except ProviderError as exc:  # a provider that must be asked first (a prepay) may be down
        log.warning("could not start payment of %s: %s", order.order_no, exc)
        raise PaymentError("暂时无法连接支付机构，请稍后重试") from None


# -- what the provider tells us -------------------------------------------------------------


@dataclass
class Outcome:
    order: Order
    refund_needed: bool = False


def apply_trade_state(state: TradeState, *, provider: str, source: str, from_query: bool = False) -> Outcome:
    """Apply a verified notify or a query answer. Safe to repeat and to reorder.

    Raises UnknownOrder / AmountMismatch (and changes nothing) for what is not ours."""
    with write_transaction():
        return apply_trade_state_within(state, provider=provider, source=source, from_query=from_query)


def apply_trade_state_within(state: TradeState, *, provider: str, source: str, from_query: bool = False) -> Outcome:
    """`apply_trade_state` inside a write transaction the caller holds, so that what the caller
    records with it (对账's resolution and audit entry) commits with it or not at all."""
    order = db.session.scalar(select(Order).filter_by(order_no=state.out_trade_no).with_for_update())
    if order is None or order.provider != provider:
        raise UnknownOrder(state.out_trade_no)
    if state.amount_fen is not None and state.amount_fen != order.total_fen:
        raise AmountMismatch(state.out_trade_no)
    fields = {"last_queried_at": utcnow()} if from_query else {}
    if state.status == "success":
        if order.state in ACTIVE_STATES:
            if order.state == "created":
                transition(order, "paying", f"{source}: 已付款")
            if _take_dues(order):
                transition(
                    order,
                    "settled",
                    f"{source}: 支付成功",
                    settled_at=state.paid_at or utcnow(),
                    provider_trade_no=state.trade_no,
                    **fields,
                )
                issue_tickets(order)
                return Outcome(order)
            # Cannot happen while dues are held by their order; if it ever does, the
            # money must not be kept.
            _release_dues(order)
            transition(order, "closed", f"{source}: 费款已不可缴，转退款", **fields)
            _record_refund(order, "费款已缴纳，原路退回")
            return Outcome(order, refund_needed=True)
        if order.state in ("failed", "closed"):
            _record_refund(order, "订单已关闭后收到付款，原路退回")
            return Outcome(order, refund_needed=True)
        return Outcome(order)  # settled or refunded already: a repeat
    if state.status == "refunded" and order.state in ACTIVE_STATES:
        # Paid and partly or wholly returned by someone else (the merchant platform): what is
        # left of the money is not known here, so nothing is settled; 对账 finds the rest.
        log.error("order %s: the provider has refunded a trade sbweb never settled", order.order_no)
        _release_dues(order)
        transition(
            order,
            "failed" if order.state == "paying" else "closed",
            f"{source}: {RETURNED_BY_PROVIDER}（非本系统发起），不予入账，请对账核实",
            **fields,
        )
        return Outcome(order)
    if state.status == "closed" and order.state == "paying":
        _release_dues(order)
        transition(order, "failed", f"{source}: 支付未完成，交易关闭", **fields)
        return Outcome(order)
    if fields:
        db.session.execute(update(Order).where(Order.id == order.id).values(**fields))
    return Outcome(order)


def _take_dues(order: Order) -> bool:
    """Mark the order's dues paid, all or none: only if each is still held by this order, open,
    and owed at the amount the order charged. (Caller holds the order's row lock.)"""
    # The intact dues themselves rather than their count: loaded here, item.due below needs no
    # query of its own.
    intact = db.session.scalars(
        select(Due)
        .join(OrderItem, OrderItem.due_id == Due.id)
        .where(
            OrderItem.order_id == order.id,
            Due.order_id == order.id,
            Due.state == "open",
            Due.amount_fen == OrderItem.amount_fen,
        )
    ).all()
    if len(intact) != len(order.items):
        return False
    from sbweb.services import dues

    for item in order.items:
        dues.transition(item.due, "paid", f"订单 {order.order_no} 缴费成功", expect_order=order.id)
    return True


def _release_dues(order: Order) -> None:
    db.session.execute(
        update(Due)
        .where(Due.order_id == order.id, Due.state == "open")
        .values(order_id=None)
        .execution_options(synchronize_session=False)
    )


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
        _release_dues(order)
        transition(order, "closed", cause)
    out_request_no = f"{order.order_no}R1"
    existing = db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no))
    if existing is not None:
        return existing
    refund = Refund(
        order_id=order.id, out_request_no=out_request_no, amount_fen=amount_fen or order.total_fen, reason=reason[:200]
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def _record_refund(order: Order, reason: str) -> None:
    """One automatic refund per order; its request number makes the provider call idempotent."""
    if any(r.out_request_no == f"{order.order_no}R1" for r in order.refunds):
        return
    db.session.add(
        Refund(order_id=order.id, out_request_no=f"{order.order_no}R1", amount_fen=order.total_fen, reason=reason)
    )
    db.session.flush()


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
        order = refund.order
        provider = provider_for(order)
        try:
            if refund.state == "pending":
                outcome = provider.refund(
                    order.order_no, refund.amount_fen, refund.out_request_no, refund.reason, total_fen=order.total_fen
                )
            else:
                outcome = provider.refund_state(order.order_no, refund.out_request_no)
        except ProviderError as exc:
            with write_transaction():
                row = db.session.get(Refund, refund.id, with_for_update=True, populate_existing=True)
                row.attempts += 1
                row.last_error = str(exc)[:200]
                attempts = row.attempts
            level = logging.ERROR if attempts >= REFUND_ALARM_AFTER else logging.WARNING
            log.log(level, "refund %s not sent (attempt %s): %s", refund.out_request_no, attempts, exc)
            continue
        if outcome != "succeeded":
            with write_transaction():
                row = db.session.get(Refund, refund.id, with_for_update=True, populate_existing=True)
                if row.state in OPEN_REFUND_STATES:
                    row.state = "pending" if outcome == "missing" else outcome
                    if outcome == "failed":
                        row.last_error = "退款异常：款项未能原路退回，请在支付机构商户平台处理"
            if outcome == "failed":
                log.error(
                    "refund %s: the provider could not return the money (ABNORMAL/CLOSED); "
                    "it waits for the merchant platform",
                    refund.out_request_no,
                )
            continue
        with write_transaction():
            refund = db.session.get(Refund, refund.id, with_for_update=True, populate_existing=True)
            order = db.session.get(Order, refund.order_id, with_for_update=True, populate_existing=True)
            if refund.state not in OPEN_REFUND_STATES:
                continue
            refund.state, refund.completed_at = "succeeded", utcnow()
            cause = f"原路退回 {refund.out_request_no}: {refund.reason}"
            carried = list(db.session.scalars(select(RefundItem).where(RefundItem.refund_id == refund.id)))
            if carried:  # a 退费申请's items: each item, its due and the order follow
                from sbweb.services.refund_items import money_back

                money_back(carried, refund.completed_at, cause)
            elif order.state != "refunded" and not is_excess(refund):
                transition(order, "refunded", cause, refunded_at=refund.completed_at)
            done += 1
    return done


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


# -- asking the provider --------------------------------------------------------------------


def _ask(order: Order) -> TradeState | None:
    """The provider's answer to a trade query, asked with no transaction open; None if it
    could not be reached (the next look will try again)."""
    provider, order_no = provider_for(order), order.order_no
    db.session.commit()
    try:
        return provider.query(order_no)
    except ProviderError as exc:
        log.warning("query %s failed: %s", order_no, exc)
        return None


def _apply_answer(order: Order, state: TradeState) -> Order:
    try:
        outcome = apply_trade_state(state, provider=order.provider, source="交易查询", from_query=True)
    except (AmountMismatch, UnknownOrder):
        # The provider's record disagrees with ours: leave the order for staff to see.
        log.error("trade query for %s disagrees with the order; left as it is", order.order_no)
        return db.session.get(Order, order.id)
    if outcome.refund_needed:
        complete_refunds(order.id)
    return db.session.get(Order, order.id)


def refresh(order: Order, *, min_interval: dt.timedelta | None = None) -> Order:
    """Ask the provider how an active order stands and apply the answer (the 支付中 page and
    the stuck-order job). Closes it when it has expired unpaid."""
    if not order.active:
        return order
    now = utcnow()
    if min_interval and order.last_queried_at and now - order.last_queried_at < min_interval:
        return order
    state = _ask(order)
    if state is None:
        return order
    if state.status in ("success", "refunded", "closed"):
        return _apply_answer(order, state)
    with write_transaction():
        db.session.execute(update(Order).where(Order.id == order.id).values(last_queried_at=now))
    if now > order.expires_at:
        close(order, "超时未支付，订单关闭")
    return db.session.get(Order, order.id)


def close(order: Order, cause: str) -> Order:
    """Close an unpaid order at the provider, then here, releasing its dues."""
    provider, order_no = provider_for(order), order.order_no
    db.session.commit()
    try:
        provider.close(order_no)
    except ProviderError as exc:
        # Typically: paid meanwhile. The next query settles it.
        log.info("close %s refused: %s", order_no, exc)
        return order
    with write_transaction():
        order = db.session.get(Order, order.id, with_for_update=True, populate_existing=True)
        if order.state in ACTIVE_STATES:
            _release_dues(order)
            transition(order, "closed", cause)
    return order


def recheck_ended(order: Order) -> Order:
    """Ask again about an order that ended unpaid: money can still arrive (a buyer on an old
    page, a provider's own retry) and its notify can be lost. Money found goes back."""
    state = _ask(order)
    return order if state is None else _apply_answer(order, state)


def housekeeping(now: dt.datetime | None = None) -> dict[str, int]:
    """The periodic job: resolve orders stuck in 支付中, expire unpaid ones, look again at
    orders that ended unpaid in the last day, retry refunds."""
    now = now or utcnow()
    stuck = select(Order).where(
        Order.state.in_(ACTIVE_STATES), Order.created_at < now - current_app.config["STUCK_ORDER_AFTER"]
    )
    ended = select(Order).where(
        Order.state.in_(("closed", "failed")),
        Order.created_at > now - dt.timedelta(days=1),
        Order.last_queried_at.is_(None) | (Order.last_queried_at < now - dt.timedelta(minutes=10)),
    )
    resolved, errors = _each(stuck, refresh)
    _, more_errors = _each(ended, recheck_ended)
    return {"resolved": resolved, "errors": errors + more_errors, "refunds": complete_refunds()}


def _each(query, look) -> tuple[int, int]:
    """Apply `look` to each order found (200 at most); one odd order must not stop the others,
    nor the refunds after them. Returns (orders no longer active, orders that failed)."""
    settled = failed = 0
    for order in list(db.session.scalars(query.order_by(Order.id).limit(200))):
        try:
            if look(order).state not in ACTIVE_STATES:
                settled += 1
        except Exception:
            db.session.rollback()
            failed += 1
            log.exception("housekeeping could not look at order %s", order.order_no)
    return settled, failed
