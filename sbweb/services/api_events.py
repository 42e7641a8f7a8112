"""The event feed of the machine API (GET /api/v1/events), as a transactional outbox.

The transaction that settles an order writes one `api_events` row per ticket
(`tickets_settled`), and the one that completes an item's refund one per item
(`refund_done`): the event exists exactly when the money moved. Those rows have no position
yet: PostgreSQL hands out ids in the order transactions *start*, not the order they commit, so a
reader paging by id could pass an id whose transaction commits a moment later and never see it.
The sequencer (`sequence`) numbers rows in the order it finds them committed, one holder of a
lock at a time (PostgreSQL: a transaction advisory lock; SQLite: the write lock every write
transaction takes), continuing from the highest position: a row committed late simply gets a
later position. The payload is frozen at the same time, so a page read again is the same page.
The payment path pays one INSERT for this; the numbering runs when the feed is read and in
housekeeping. See docs/api.md."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text

from sbweb.db import db, write_transaction
from sbweb.models import (
    Agency,
    ApiEvent,
    Due,
    Enrollment,
    Order,
    OrderItem,
    RefundApplication,
    RefundItem,
    TaxOffice,
    Ticket,
)
from sbweb.models.base import utcnow
from sbweb.services import record_events, webhooks

ADVISORY_LOCK = 0x5B_AE_17  # PostgreSQL advisory lock id of the sequencer (any constant of ours)
SEQUENCE_BATCH = 1000


# -- written with the money (one statement each, inside the caller's write transaction) ---------


def tickets_settled(tickets: list[Ticket]) -> None:
    """payment.settled, one per ticket of an order that has just settled."""
    if tickets:
        db.session.execute(
            insert(ApiEvent),
            [
                {
                    "kind": "payment.settled",
                    "key": f"payment.settled:{t.ticket_no}",
                    "ticket_id": t.id,
                    "tax_office_id": t.tax_office_id,
                }
                for t in tickets
            ],
        )


def refund_done(refund_item: RefundItem, item: OrderItem) -> None:
    """refund.completed for one item of a 退费申请 whose money is back with the payer."""
    ticket = item.ticket
    db.session.add(
        ApiEvent(
            kind="refund.completed",
            key=f"refund.completed:{refund_item.id}",
            ticket_id=ticket.id,
            tax_office_id=ticket.tax_office_id,
            refund_item_id=refund_item.id,
        )
    )


# -- the sequencer --------------------------------------------------------------------------


def _lock() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("select pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK})


def sequence(limit: int = SEQUENCE_BATCH) -> int:
    """Give the next positions to committed rows that have none, in id order; how many."""
    if db.session.scalar(select(ApiEvent.id).where(ApiEvent.position.is_(None)).limit(1)) is None:
        return 0
    with write_transaction():
        _lock()
        last = db.session.scalar(select(func.max(ApiEvent.position))) or 0
        rows = db.session.scalars(
            select(ApiEvent).where(ApiEvent.position.is_(None)).order_by(ApiEvent.id).limit(limit)
        ).all()
        payloads = _settled_payloads([r.ticket_id for r in rows if r.kind == "payment.settled"])
        payloads.update(_refund_payloads([r.refund_item_id for r in rows if r.kind == "refund.completed"]))
        about_records = record_events.payloads(rows)  # due.*, declaration.*, document.voided
        now = utcnow()
        for position, row in enumerate(rows, start=last + 1):
            row.position, row.sequenced_at = position, now
            if row.id in about_records:
                row.payload = about_records[row.id]
            else:
                row.payload = payloads[row.refund_item_id if row.kind == "refund.completed" else row.ticket_id]
        # Each webhook endpoint's delivery of each event, in the same commit as its position.
        deliveries = webhooks.fan_out(rows)
    webhooks.enqueue(deliveries)
    return len(rows)


def sequence_all() -> int:
    done = total = sequence()
    while done == SEQUENCE_BATCH:
        done = sequence()
        total += done
    return total


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def _item_rows(where):
    return db.session.execute(
        select(OrderItem, Due, Enrollment, Agency.code.label("agency_code"))
        .join(Due, Due.id == OrderItem.due_id)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
        .where(where)
        .order_by(OrderItem.id)
    ).all()


def item_payload(item: OrderItem, due: Due, enrollment: Enrollment, agency_code: str) -> dict:
    """An order item as the feed describes it (the settlement files list the same fields)."""
    return {
        "item_id": item.id,
        "due_id": due.id,
        "enrollment_no": enrollment.enrollment_no,
        "agency_code": agency_code,
        "category": enrollment.category,
        "insurance": enrollment.insurance,
        "due_kind": due.kind,
        "period_start": due.period_start,
        "period_end": due.period_end,
        "amount_fen": item.amount_fen,
    }


def _settled_payloads(ticket_ids: list[int]) -> dict[int, dict]:
    if not ticket_ids:
        return {}
    payloads = {}
    for ticket, order, office in db.session.execute(
        select(Ticket, Order, TaxOffice)
        .join(Order, Order.id == Ticket.order_id)
        .join(TaxOffice, TaxOffice.id == Ticket.tax_office_id)
        .where(Ticket.id.in_(ticket_ids))
    ):
        payloads[ticket.id] = {
            "ticket_no": ticket.ticket_no,
            "order_no": order.order_no,
            "tax_office": {"code": office.code, "name": office.name},
            "channel": order.channel,
            "settled_at": _iso(order.settled_at),
            "total_fen": 0,
            "items": [],
        }
    for item, due, enrollment, agency_code in _item_rows(OrderItem.ticket_id.in_(ticket_ids)):
        payload = payloads[item.ticket_id]
        payload["items"].append(item_payload(item, due, enrollment, agency_code))
        payload["total_fen"] += item.amount_fen
    return payloads


def _refund_payloads(refund_item_ids: list[int]) -> dict[int, dict]:
    if not refund_item_ids:
        return {}
    refunds = {
        r.id: (r, application_no, reason)
        for r, application_no, reason in db.session.execute(
            select(RefundItem, RefundApplication.application_no, RefundApplication.reason)
            .join(RefundApplication, RefundApplication.id == RefundItem.application_id)
            .where(RefundItem.id.in_(refund_item_ids))
        )
    }
    item_ids = {r.item_id for r, _, _ in refunds.values()}
    items = {
        item.id: (item.ticket.ticket_no, item.order.order_no, item_payload(item, due, enrollment, agency_code))
        for item, due, enrollment, agency_code in _item_rows(OrderItem.id.in_(item_ids))
    }
    payloads = {}
    for refund_item, application_no, reason in refunds.values():
        ticket_no, order_no, item = items[refund_item.item_id]
        payloads[refund_item.id] = {
            "ticket_no": ticket_no,
            "order_no": order_no,
            "refund_item_id": refund_item.id,
            "application_no": application_no,
            "reason": reason,
            "effect": refund_item.effect,
            "refunded_fen": refund_item.amount_fen,
            "completed_at": _iso(refund_item.done_at),
            "item": item,
        }
    return payloads


# -- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    events: list[ApiEvent]
    next_cursor: int
    has_more: bool


def page(after: int, limit: int, tax_office_id: int | None = None) -> Page:
    """The events after position `after` (of one tax office when given), at most `limit`."""
    query = select(ApiEvent).where(ApiEvent.position > after).order_by(ApiEvent.position).limit(limit + 1)
    if tax_office_id is not None:
        query = query.where(ApiEvent.tax_office_id == tax_office_id)
    rows = db.session.scalars(query).all()
    shown = rows[:limit]
    return Page(shown, shown[-1].position if shown else after, len(rows) > limit)


def ticket_now(ticket_no: str, tax_office_id: int | None = None) -> dict | None:
    """A settled ticket as it stands (its settled payload, each item's refunded_fen now), or None
    when there is none (of this tax office, when given)."""
    found = db.session.execute(
        select(Ticket.id, Ticket.tax_office_id, Order.settled_at)
        .join(Order, Order.id == Ticket.order_id)
        .where(Ticket.ticket_no == ticket_no[:18])
    ).first()
    if found is None or found.settled_at is None or tax_office_id not in (None, found.tax_office_id):
        return None
    payload = _settled_payloads([found.id])[found.id]
    refunded = dict(
        db.session.execute(select(OrderItem.id, OrderItem.refunded_fen).where(OrderItem.ticket_id == found.id)).all()
    )
    for item in payload["items"]:
        item["refunded_fen"] = refunded[item["item_id"]]
    payload["refunded_fen"] = sum(refunded.values())
    return payload


def order_now(order_no: str, tax_office_id: int | None = None) -> dict | None:
    """A settled order as it stands: its tickets (of this tax office, when given) as `ticket_now`
    gives them; None when there is none to show."""
    found = db.session.execute(
        select(Order.id, Order.state, Order.channel, Order.settled_at).where(Order.order_no == order_no[:32])
    ).first()
    if found is None or found.settled_at is None:
        return None
    numbers = db.session.scalars(select(Ticket.ticket_no).where(Ticket.order_id == found.id).order_by(Ticket.id))
    tickets = [t for t in (ticket_now(n, tax_office_id) for n in numbers) if t is not None]
    if not tickets:
        return None
    return {
        "order_no": order_no[:32],
        "state": found.state,
        "channel": found.channel,
        "settled_at": _iso(found.settled_at),
        "total_fen": sum(t["total_fen"] for t in tickets),
        "refunded_fen": sum(t["refunded_fen"] for t in tickets),
        "tickets": tickets,
    }
