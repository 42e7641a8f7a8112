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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager
from sqlalchemy.orm.attributes import set_committed_value

from sbweb.clock import shanghai_now
from sbweb.db import db, hold_after_commit, write_transaction
from sbweb.models import (
    Agency,
    Due,
    Enrollment,
    Order,
    OrderItem,
    TaxOffice,
    Ticket,
)
from sbweb.models.base import utcnow
from sbweb.models.order import ACTIVE_STATES, RETURNED_BY_PROVIDER
from sbweb.payments import PayerUnknown, PaymentStart, PayRequest, ProviderError, TradeState, refunds
from sbweb.payments.order_states import (  # noqa: F401 (PaymentError, provider_for: the module's surface)
    PaymentError,
    TransitionNotAllowed,
    provider_for,
    providers,
    record_event,
    release_dues,
    transition,
)
from sbweb.services import api_events
from sbweb.services.numbers import issue_number

log = logging.getLogger(__name__)


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


# -- numbers (the state machine is sbweb.payments.order_states) ------------------------------


def new_order_no() -> str:
    return f"SB{shanghai_now():%Y%m%d}{issue_number('order'):010d}"


def new_ticket_no(office: TaxOffice) -> str:
    """18 digits, like the tax bureau's 电子税票号码: 4 + the office's region + year + sequence."""
    return f"4{office.region_code}{shanghai_now():%y}{issue_number('ticket'):09d}"


class IssuedTicket(NamedTuple):
    """A ticket as issue_tickets wrote it (Core: no ORM object to flush)."""

    id: int
    ticket_no: str
    tax_office_id: int


def issue_tickets(order: Order, offices: dict[int, TaxOffice]) -> list[IssuedTicket]:
    """One 票证号码 per 主管税务机关 of the order's items (the tax office of each due's agency,
    `offices` by item id), each item pointing at its own: one payment, as many tickets as tax
    offices. Called in the transaction that settles the order."""
    tickets: dict[int, IssuedTicket] = {}  # by office id
    for item in order.items:
        office = offices[item.id]
        if office.id not in tickets:
            values = {"ticket_no": new_ticket_no(office), "order_id": order.id, "tax_office_id": office.id}
            ticket_id = db.session.execute(_TICKET, {**values, "issued_at": utcnow()}).inserted_primary_key[0]
            tickets[office.id] = IssuedTicket(ticket_id, values["ticket_no"], office.id)
        set_committed_value(item, "ticket_id", tickets[office.id].id)  # as the UPDATE below writes it
    if order.items:
        db.session.execute(_ITEM_TICKET, [{"w_id": item.id, "v_ticket_id": item.ticket_id} for item in order.items])
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
    return list(db.session.scalars(_LOAD_DUES, {"ids": sorted(ids), "people": sorted(person_ids)}))


# Every step from 缴费信息确认 to 去支付 runs it (去支付 twice): built once, with bind parameters.
# With each due's enrollment (already joined) and agency: every caller names the item
# (describe) or asks the region's reconciliation window (payment_pause).
_LOAD_DUES = (
    select(Due)
    .join(Enrollment)
    .where(Due.id.in_(bindparam("ids", expanding=True)), Enrollment.person_id.in_(bindparam("people", expanding=True)))
    .options(contains_eager(Due.enrollment).joinedload(Enrollment.agency))
    .order_by(Due.period_start, Due.id)
)


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
    also: object = None  # what create_order's `also` returned (committed with the order)


def create_order(
    *,
    payer_id: int,
    person_ids: set[int],
    due_ids: list[int],
    shown: str,
    channel: str,
    idempotency_key: str,
    paying_from: tuple[str, str | None] | None = None,
    also: Callable[[Order], object] | None = None,
) -> NewOrder:
    """Make the order for what the payer confirmed, or return the one this key already made.

    `paying_from` (host, payer_subject): the browser goes to the provider next (去支付), so the
    order moves to 支付中 in the transaction that makes it (the same transition, event and
    version as `start_payment` would write in a transaction of its own) — unless the provider
    must first know who pays there, when it stays 待支付 as `start_payment` leaves it. `also(order)`
    writes what belongs with the new order (the login session's list of its orders) in that same
    transaction. The new order is not read again after the commit.

    Raises StaleSelection when the dues differ from what was shown, DueUnavailable when one
    is paid or held by another order."""
    provider = _provider_of(channel)
    try:
        with write_transaction():
            existing = _order_of_key(payer_id, idempotency_key)
            if existing is not None:
                return NewOrder(existing, created=False)
            dues = _confirmed_dues(payer_id, person_ids, due_ids, shown)
            now = utcnow()
            order = Order(
                order_no=new_order_no(),
                payer_id=payer_id,
                idempotency_key=idempotency_key,
                channel=channel,
                provider=provider,
                state="created",
                total_fen=sum(d.amount_fen for d in dues),
                subject=f"社会保险费-{describe(dues)}",
                created_at=now,
                expires_at=now + current_app.config["ORDER_TIMEOUT"],
            )
            db.session.add(order)
            db.session.flush()
            _hold_dues(order, dues)
            if paying_from is not None and not providers()[provider].payer_needed(*paying_from):
                transition(order, "paying", _to_provider(order))
            noted = also(order) if also is not None else None
            hold_after_commit(order)
        return NewOrder(order, created=True, also=noted)
    except DueUnavailable as exc:
        # The same key may have won the dues between our read of the key and of the dues (a
        # double tap, read committed): that order is this confirmation's, not someone else's.
        existing = _order_of_key(payer_id, idempotency_key)
        if existing is not None:
            return NewOrder(existing, created=False)
        if exc.held_by is None:
            # Lost the race for the dues after reading them: the winner is committed now.
            exc.held_by = _active_order_of(payer_id, load_dues(due_ids, person_ids))
        raise
    except IntegrityError:
        # The same key raced in from another tab or a double tap: return that order.
        db.session.rollback()
        existing = _order_of_key(payer_id, idempotency_key)
        if existing is None:
            raise
        return NewOrder(existing, created=False)


def _provider_of(channel: str) -> str:
    """The provider that takes payments of a 缴款方式 (bank: the 批扣 provider, if any)."""
    channels = dict(current_app.config["PAYMENT_CHANNELS"])
    if current_app.config["WITHHOLD_PROVIDER"]:
        channels["bank"] = current_app.config["WITHHOLD_PROVIDER"]
    if channel not in channels:
        raise PaymentError("请选择缴款方式")
    return channels[channel]


def _order_of_key(payer_id: int, idempotency_key: str) -> Order | None:
    return db.session.scalar(_OF_KEY, {"payer_id": payer_id, "key": idempotency_key})


_OF_KEY = select(Order).where(Order.payer_id == bindparam("payer_id"), Order.idempotency_key == bindparam("key"))


def _confirmed_dues(payer_id: int, person_ids: set[int], due_ids: list[int], shown: str) -> list[Due]:
    """The dues the payer confirmed, if each is still theirs, payable, and as it was shown."""
    dues = load_dues(due_ids, person_ids)
    if len(dues) != len(set(due_ids)) or not dues:
        raise DueUnavailable()
    if not all(d.payable for d in dues):
        raise DueUnavailable(held_by=_active_order_of(payer_id, dues))
    if fingerprint(dues) != shown:
        raise StaleSelection()
    return dues


def _hold_dues(order: Order, dues: list[Due]) -> None:
    """The new order's items, and its dues taken with one conditional UPDATE: of two orders
    racing for a due exactly one gets it."""
    db.session.execute(
        _ITEMS, [{"order_id": order.id, "due_id": d.id, "amount_fen": d.amount_fen, "refunded_fen": 0} for d in dues]
    )
    taken = db.session.execute(_TAKE, {"v_order_id": order.id, "ids": [d.id for d in dues]}).rowcount
    if taken != len(dues):
        raise DueUnavailable()  # rolls back the order too: nothing half-written
    record_event(order.id, "", "created", f"缴费人确认 {len(dues)} 笔费款")


# The payment path's writes, built once (Core: an ORM flush or UPDATE costs several times the
# statement itself).
_ITEMS = insert(OrderItem.__table__)
_TAKE = (
    update(Due.__table__)
    .where(
        Due.__table__.c.id.in_(bindparam("ids", expanding=True)),
        Due.__table__.c.state == "open",
        Due.__table__.c.order_id.is_(None),
    )
    .values(order_id=bindparam("v_order_id"))
)
_TICKET = insert(Ticket.__table__)
_ITEM_TICKET = (
    update(OrderItem.__table__)
    .where(OrderItem.__table__.c.id == bindparam("w_id"))
    .values(ticket_id=bindparam("v_ticket_id"))
)


def _to_provider(order: Order) -> str:
    return f"转至{order.channel_label}支付页面"


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
                transition(order, "paying", _to_provider(order))
            hold_after_commit(order)  # as the locked row and the transition left it
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
        outcome = apply_trade_state_within(state, provider=provider, source=source, from_query=from_query)
        hold_after_commit(outcome.order)  # the locked row as its transitions left it: not read again
        return outcome


def apply_trade_state_within(state: TradeState, *, provider: str, source: str, from_query: bool = False) -> Outcome:
    """`apply_trade_state` inside a write transaction the caller holds, so that what the caller
    records with it (对账's resolution and audit entry) commits with it or not at all."""
    order = db.session.scalar(_LOCKED, {"order_no": state.out_trade_no})
    if order is None or order.provider != provider:
        raise UnknownOrder(state.out_trade_no)
    if state.amount_fen is not None and state.amount_fen != order.total_fen:
        raise AmountMismatch(state.out_trade_no)
    fields = {"last_queried_at": utcnow()} if from_query else {}
    if state.status == "success":
        return _apply_success(order, state, source, fields)
    if state.status == "refunded" and order.state in ACTIVE_STATES:
        # Paid and partly or wholly returned by someone else (the merchant platform): what is
        # left of the money is not known here, so nothing is settled; 对账 finds the rest.
        log.error("order %s: the provider has refunded a trade sbweb never settled", order.order_no)
        release_dues(order)
        transition(
            order,
            "failed" if order.state == "paying" else "closed",
            f"{source}: {RETURNED_BY_PROVIDER}（非本系统发起），不予入账，请对账核实",
            **fields,
        )
        return Outcome(order)
    if state.status == "closed" and order.state == "paying":
        release_dues(order)
        transition(order, "failed", f"{source}: 支付未完成，交易关闭", **fields)
        return Outcome(order)
    if fields:
        db.session.execute(update(Order).where(Order.id == order.id).values(**fields))
    return Outcome(order)


_LOCKED = select(Order).where(Order.order_no == bindparam("order_no")).with_for_update()


def _apply_success(order: Order, state: TradeState, source: str, fields: dict) -> Outcome:
    """The provider says the money arrived: settle an active order (its dues paid, its tickets
    issued), or send the money back when the order can no longer take it."""

    if order.state in ("failed", "closed"):
        refunds.record_automatic_refund(order, "订单已关闭后收到付款，原路退回")
        return Outcome(order, refund_needed=True)
    if order.state not in ACTIVE_STATES:
        return Outcome(order)  # settled or refunded already: a repeat
    if order.state == "created":
        transition(order, "paying", f"{source}: 已付款")
    offices = _take_dues(order)
    if offices is not None:
        transition(
            order,
            "settled",
            f"{source}: 支付成功",
            settled_at=state.paid_at or utcnow(),
            provider_trade_no=state.trade_no,
            **fields,
        )
        tickets = issue_tickets(order, offices)
        api_events.tickets_settled(tickets)  # the API feed's outbox: one INSERT, same transaction (issue 17)
        return Outcome(order)
    # Cannot happen while dues are held by their order; if it ever does, the money must not
    # be kept.
    release_dues(order)
    transition(order, "closed", f"{source}: 费款已不可缴，转退款", **fields)
    refunds.record_automatic_refund(order, "费款已缴纳，原路退回")
    return Outcome(order, refund_needed=True)


def _take_dues(order: Order) -> dict[int, TaxOffice] | None:
    """Mark the order's dues paid, all or none: only if each is still held by this order, open,
    and owed at the amount the order charged. (Caller holds the order's row lock.) Returns the
    tax office of each item (by item id), for its ticket; None when a due is no longer intact."""
    # One query: the items, their dues read afresh (populate_existing: not what an earlier read
    # in this session left) and each due's tax office (due → enrollment → agency → office, all
    # required), instead of the intact dues, the items and the offices one query each.
    rows = db.session.execute(
        select(OrderItem, Due, TaxOffice)
        .join(Due, Due.id == OrderItem.due_id)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
        .join(TaxOffice, TaxOffice.id == Agency.tax_office_id)
        .where(OrderItem.order_id == order.id)
        .order_by(OrderItem.id)
        .execution_options(populate_existing=True)
    ).all()
    set_committed_value(order, "items", [item for item, _due, _office in rows])  # item.due: the row above
    if not all(d.order_id == order.id and d.state == "open" and d.amount_fen == i.amount_fen for i, d, _ in rows):
        return None
    from sbweb.services import dues

    for _item, due, _office in rows:
        dues.transition(due, "paid", f"订单 {order.order_no} 缴费成功", expect_order=order.id)
    return {item.id: office for item, _due, office in rows}


# -- asking the provider --------------------------------------------------------------------


class _Asked(NamedTuple):
    """What a trade query needs of its order once the commit before it has expired the row."""

    order_id: int
    order_no: str
    provider: str
    state: TradeState | None


def _ask(order: Order) -> _Asked:
    """The provider's answer to a trade query, asked with no transaction open; its state None if
    it could not be reached (the next look will try again)."""
    provider, asked = provider_for(order), _Asked(order.id, order.order_no, order.provider, None)
    db.session.commit()
    try:
        return asked._replace(state=provider.query(asked.order_no))
    except ProviderError as exc:
        log.warning("query %s failed: %s", asked.order_no, exc)
        return asked


def _apply_answer(asked: _Asked) -> Order:
    try:
        outcome = apply_trade_state(asked.state, provider=asked.provider, source="交易查询", from_query=True)
    except (AmountMismatch, UnknownOrder):
        # The provider's record disagrees with ours: leave the order for staff to see.
        log.error("trade query for %s disagrees with the order; left as it is", asked.order_no)
        return db.session.get(Order, asked.order_id)
    if outcome.refund_needed:
        refunds.complete_refunds(asked.order_id)
    # The row apply_trade_state locked and moved (held after its commit: no SELECT here), unless
    # the refunds' own transactions have expired it since.
    return db.session.get(Order, asked.order_id)


def refresh(order: Order, *, min_interval: dt.timedelta | None = None) -> Order:
    """Ask the provider how an active order stands and apply the answer (the 支付中 page and
    the stuck-order job). Closes it when it has expired unpaid."""
    if not order.active:
        return order
    now = utcnow()
    if min_interval and order.last_queried_at and now - order.last_queried_at < min_interval:
        return order
    asked = _ask(order)
    if asked.state is None:
        return order
    if asked.state.status in ("success", "refunded", "closed"):
        return _apply_answer(asked)
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
            release_dues(order)
            transition(order, "closed", cause)
    return order


def recheck_ended(order: Order) -> Order:
    """Ask again about an order that ended unpaid: money can still arrive (a buyer on an old
    page, a provider's own retry) and its notify can be lost. Money found goes back."""
    asked = _ask(order)
    return order if asked.state is None else _apply_answer(asked)


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
    return {"resolved": resolved, "errors": errors + more_errors, "refunds": refunds.complete_refunds()}


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
