"""The ledger check (`flask ledger check`): the books balance after any path money or a document
took. It reads everything and writes nothing; each violation names what is wrong and where.

- every due: the money its settled items took minus what went back equals what the due says was
  paid (its amount when paid; nothing when open or void);
- every item: what went back is between nothing and what it took, and is the sum of its refunds
  that are done; an order is 原路退回 exactly when all its items are;
- every provider refund that carries items gives back their sum, and they are done once it is;
- a refund sent as UnionPay's 消费撤销 gives back its order's whole total, and no other refund of
  that order moved money (UnionPay cancels a trade whole and once);
- every due's history ends where the due is (its last event's state and amount);
- every settled item has exactly one 票证号码, of its own order and of the 主管税务机关 of its due's
  agency; an order has one ticket per tax office, each covering some of its items; an item never
  settled has none;
- the API's event feed: every ticket of a settled order has exactly one payment.settled event, every
  item refund done exactly one refund.completed, and no event stands for money that did not move;
- every daily settlement file kept (sbweb.services.settlement_files) says, in its stored totals and
  in its CSV's total rows, what the books say of its tax office and Asia/Shanghai day: the tickets
  settled, their items and amount, the item refunds done and their amount;
- no valid certificate lists an item at more than the item still holds (its money went back), and
  every document's totals are the sum of its stored lines.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from sbweb.db import db
from sbweb.models import (
    Agency,
    ApiEvent,
    Declaration,
    Document,
    DocumentItem,
    Due,
    DueEvent,
    Enrollment,
    Order,
    OrderItem,
    Refund,
    RefundItem,
    SettlementFile,
    Ticket,
)


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}: {self.detail}"


def check() -> list[Violation]:
    found: list[Violation] = []
    found += _dues_balance()
    found += _items_and_orders()
    found += _refunds_carry_their_items()
    found += _cancellations()
    found += _due_histories()
    found += _tickets()
    found += _feed_events()
    found += _record_events()
    found += _settlement_files()
    found += _certificates()
    found += _document_totals()
    db.session.rollback()
    return found


def _dues_balance() -> list[Violation]:
    """Money in minus money back per due, against what the due says was paid."""
    net = defaultdict(int)
    rows = db.session.execute(
        select(OrderItem.due_id, OrderItem.amount_fen - OrderItem.refunded_fen)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.settled_at.is_not(None))
    )
    for due_id, kept in rows:
        net[due_id] += kept
    found = []
    for due_id, state, amount in db.session.execute(select(Due.id, Due.state, Due.amount_fen)):
        expected = amount if state == "paid" else 0
        if net.get(due_id, 0) != expected:
            found.append(
                Violation(
                    "due-balance",
                    f"due {due_id}",
                    f"kept {net.get(due_id, 0)} fen but the due is {state} at {amount} fen",
                )
            )
    return found


def _items_and_orders() -> list[Violation]:
    found = []
    done = defaultdict(int)
    for item_id, amount in db.session.execute(
        select(RefundItem.item_id, RefundItem.amount_fen).where(RefundItem.done_at.is_not(None))
    ):
        done[item_id] += amount
    fully = defaultdict(lambda: True)
    items_total = defaultdict(int)
    for item_id, order_id, amount, refunded in db.session.execute(
        select(OrderItem.id, OrderItem.order_id, OrderItem.amount_fen, OrderItem.refunded_fen)
    ):
        items_total[order_id] += amount
        if not 0 <= refunded <= amount:
            found.append(Violation("item-refund", f"item {item_id}", f"refunded {refunded} of {amount} fen"))
        if refunded != done[item_id]:
            found.append(
                Violation(
                    "item-refund",
                    f"item {item_id}",
                    f"refunded {refunded} fen but its done refunds come to {done[item_id]}",
                )
            )
        fully[order_id] = fully[order_id] and refunded >= amount
    for order_no, order_id, state, total, settled_at in db.session.execute(
        select(Order.order_no, Order.id, Order.state, Order.total_fen, Order.settled_at)
    ):
        if items_total[order_id] != total:
            found.append(Violation("order-total", order_no, f"total {total} fen, items {items_total[order_id]}"))
        if settled_at is None:
            continue
        if state == "refunded" and not fully[order_id]:
            found.append(Violation("order-state", order_no, "原路退回 but some items kept their money"))
        if state == "settled" and fully[order_id]:
            found.append(Violation("order-state", order_no, "every item's money went back but it is still settled"))
    return found


def _refunds_carry_their_items() -> list[Violation]:
    found = []
    carried = defaultdict(list)
    for refund_id, amount, done_at in db.session.execute(
        select(RefundItem.refund_id, RefundItem.amount_fen, RefundItem.done_at).where(
            RefundItem.refund_id.is_not(None), RefundItem.decision == "approved"
        )
    ):
        carried[refund_id].append((amount, done_at))
    for refund_id, number, amount, state in db.session.execute(
        select(Refund.id, Refund.out_request_no, Refund.amount_fen, Refund.state)
    ):
        items = carried.get(refund_id)
        if not items:
            continue
        if sum(a for a, _ in items) != amount:
            found.append(
                Violation("refund-items", number, f"refund of {amount} fen carries items of {sum(a for a, _ in items)}")
            )
        if (state == "succeeded") != all(d is not None for _, d in items):
            found.append(
                Violation(
                    "refund-items",
                    number,
                    f"refund {state} but its items are {'not all ' if state == 'succeeded' else ''}done",
                )
            )
    return found


def _cancellations() -> list[Violation]:
    """A 撤销 (Refund.sent_as "cancel") returns the whole trade and is the only money back of it."""
    found = []
    cancelled = db.session.execute(
        select(Refund.id, Refund.out_request_no, Refund.order_id, Refund.amount_fen, Order.total_fen)
        .join(Order, Order.id == Refund.order_id)
        .where(Refund.sent_as == "cancel", Refund.state != "failed")
    ).all()
    for refund_id, number, order_id, amount, total in cancelled:
        if amount != total:
            found.append(Violation("cancel", number, f"撤销 of {amount} fen, but the trade was {total} fen"))
        others = db.session.scalars(
            select(Refund.out_request_no).where(
                Refund.order_id == order_id, Refund.id != refund_id, Refund.state.in_(("succeeded", "processing"))
            )
        ).all()
        if others:
            found.append(Violation("cancel", number, f"撤销 beside other refunds of the trade: {', '.join(others)}"))
    return found


def _due_histories() -> list[Violation]:
    last = {}
    for due_id, to_state, amount_after in db.session.execute(
        select(DueEvent.due_id, DueEvent.to_state, DueEvent.amount_after).order_by(DueEvent.id)
    ):
        last[due_id] = (to_state, amount_after)
    found = []
    for due_id, state, amount in db.session.execute(select(Due.id, Due.state, Due.amount_fen)):
        if last.get(due_id) != (state, amount):
            found.append(
                Violation(
                    "due-history",
                    f"due {due_id}",
                    f"is {state} at {amount} fen but its last event says {last.get(due_id)}",
                )
            )
    return found


def _tickets() -> list[Violation]:
    found, used = [], set()
    for row in _item_tickets():
        fault = _item_ticket_fault(row)
        if fault:
            found.append(Violation("ticket", row.order_no, fault))
        if row.settled_at is not None:
            used.add(row.ticket_id)
    return found + _ticket_faults(used)


def _item_tickets():
    """Each order item with its order, its 票证号码 (if any) and the tax office of its due's agency."""
    return db.session.execute(
        select(
            OrderItem.id.label("item_id"),
            Order.order_no,
            Order.settled_at,
            OrderItem.ticket_id,
            Ticket.ticket_no,
            Ticket.order_id.label("ticket_order_id"),
            OrderItem.order_id,
            Ticket.tax_office_id,
            Agency.tax_office_id.label("due_tax_office_id"),
        )
        .join(Order, Order.id == OrderItem.order_id)
        .join(Due, Due.id == OrderItem.due_id)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
        .outerjoin(Ticket, Ticket.id == OrderItem.ticket_id)
    )


def _item_ticket_fault(row) -> str | None:
    """What is wrong with one item's 票证号码, or None."""
    item_id, number, office, due_office = row.item_id, row.ticket_no, row.tax_office_id, row.due_tax_office_id
    if row.settled_at is None:
        return f"item {item_id} has 票证号码 {number} but was never settled" if row.ticket_id is not None else None
    if row.ticket_id is None:
        return f"item {item_id} settled without a 票证号码"
    if row.ticket_order_id != row.order_id:
        return f"item {item_id} has 票证号码 {number} of another order"
    if office != due_office:
        return (
            f"item {item_id} has 票证号码 {number} of tax office {office}, but its due's agency is under {due_office}"
        )
    return None


def _ticket_faults(used: set) -> list[Violation]:
    """Tickets that cover no settled item, then orders with more than one ticket of one tax office."""
    found = []
    offices = defaultdict(list)
    for ticket_id, number, order_id, office in db.session.execute(
        select(Ticket.id, Ticket.ticket_no, Ticket.order_id, Ticket.tax_office_id)
    ):
        offices[(order_id, office)].append(number)
        if ticket_id not in used:
            found.append(Violation("ticket", number, "票证号码 covers no settled item"))
    for numbers in offices.values():
        if len(numbers) > 1:
            found.append(
                Violation(
                    "ticket",
                    numbers[0],
                    f"one order has {len(numbers)} tickets of one tax office: " + ", ".join(numbers),
                )
            )
    return found


def _feed_events() -> list[Violation]:
    """The feed (sbweb.services.api_events) follows the money: one payment.settled per settled
    ticket, one refund.completed per item refund done, none for anything else."""
    found = []
    settled = defaultdict(int)
    refunded = defaultdict(int)
    for kind, ticket_id, refund_item_id in db.session.execute(
        select(ApiEvent.kind, ApiEvent.ticket_id, ApiEvent.refund_item_id)
    ):
        if kind == "payment.settled":
            settled[ticket_id] += 1
        elif kind == "refund.completed":
            refunded[refund_item_id] += 1
    settled_tickets = dict(
        db.session.execute(
            select(Ticket.id, Ticket.ticket_no)
            .join(Order, Order.id == Ticket.order_id)
            .where(Order.settled_at.is_not(None))
        ).all()
    )
    for ticket_id, number in settled_tickets.items():
        if settled.get(ticket_id, 0) != 1:
            found.append(Violation("feed", number, f"{settled.get(ticket_id, 0)} payment.settled events, not 1"))
    for ticket_id in set(settled) - set(settled_tickets):
        found.append(Violation("feed", f"ticket {ticket_id}", "payment.settled event for a ticket never settled"))
    done = set(
        db.session.scalars(
            select(RefundItem.id).where(RefundItem.done_at.is_not(None), RefundItem.decision == "approved")
        )
    )
    for refund_item_id in done | set(refunded):
        count = refunded.get(refund_item_id, 0)
        if count != (1 if refund_item_id in done else 0):
            found.append(Violation("feed", f"refund item {refund_item_id}", f"{count} refund.completed events"))
    return found


def _record_events() -> list[Violation]:
    """The feed follows the records too (sbweb.services.record_events): one due.voided /
    due.reopened per such move of a due, one declaration.created per declaration and one
    declaration.voided per void one, and for each void document one document.voided per tax
    office its lines were paid to — none for anything else."""
    from sbweb.services.record_events import due_event_kind

    found = []
    events = defaultdict(list)
    for kind, due_event_id, declaration_id, document_id, office in db.session.execute(
        select(
            ApiEvent.kind, ApiEvent.due_event_id, ApiEvent.declaration_id, ApiEvent.document_id, ApiEvent.tax_office_id
        ).where(ApiEvent.ticket_id.is_(None))
    ):
        events[kind].append(due_event_id or declaration_id or (document_id, office))
    wanted = defaultdict(list)
    for move_id, from_state, to_state in db.session.execute(
        select(DueEvent.id, DueEvent.from_state, DueEvent.to_state).where(
            or_(DueEvent.to_state == "void", and_(DueEvent.from_state == "paid", DueEvent.to_state == "open"))
        )
    ):
        if kind := due_event_kind(from_state, to_state):
            wanted[kind].append(move_id)
    for declaration_id, state in db.session.execute(select(Declaration.id, Declaration.state)):
        wanted["declaration.created"].append(declaration_id)
        if state == "void":
            wanted["declaration.voided"].append(declaration_id)
    wanted["document.voided"] = [
        tuple(row)
        for row in db.session.execute(
            select(DocumentItem.document_id, Ticket.tax_office_id)
            .distinct()
            .join(Document, Document.id == DocumentItem.document_id)
            .join(OrderItem, OrderItem.id == DocumentItem.item_id)
            .join(Ticket, Ticket.id == OrderItem.ticket_id)
            .where(Document.state == "void")
        )
    ]
    for kind in set(events) | set(wanted):
        have, want = Counter(events[kind]), Counter(wanted[kind])
        for subject in sorted(set(have) | set(want), key=str):
            if have[subject] != want[subject]:
                found.append(Violation("feed", f"{kind} {subject}", f"{have[subject]} events, not {want[subject]}"))
    return found


def _settlement_day_figures() -> dict[tuple[int, object], list[int]]:
    """The books' figures per (tax office, Shanghai day): [tickets, items, paid fen, refunds, refunded fen]."""
    from sbweb.clock import SHANGHAI

    figures = defaultdict(lambda: [0, 0, 0, 0, 0])
    tickets = set()
    for office, ticket_id, settled_at, amount in db.session.execute(
        select(Ticket.tax_office_id, Ticket.id, Order.settled_at, OrderItem.amount_fen)
        .join(Ticket, Ticket.id == OrderItem.ticket_id)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.settled_at.is_not(None))
    ):
        key = (office, settled_at.astimezone(SHANGHAI).date())
        if ticket_id not in tickets:
            tickets.add(ticket_id)
            figures[key][0] += 1
        figures[key][1] += 1
        figures[key][2] += amount
    for office, done_at, amount in db.session.execute(
        select(Ticket.tax_office_id, RefundItem.done_at, RefundItem.amount_fen)
        .join(OrderItem, OrderItem.id == RefundItem.item_id)
        .join(Ticket, Ticket.id == OrderItem.ticket_id)
        .where(RefundItem.done_at.is_not(None), RefundItem.decision == "approved")
    ):
        key = (office, done_at.astimezone(SHANGHAI).date())
        figures[key][3] += 1
        figures[key][4] += amount
    return figures


def _settlement_files() -> list[Violation]:
    """Each kept daily settlement file agrees with the books (a late settlement of its day shows
    here until the daily job, or `flask settlement make`, makes the file again)."""
    from sbweb.services.settlement_files import csv_totals

    figures = _settlement_day_figures()
    found = []
    for kept in db.session.scalars(select(SettlementFile).order_by(SettlementFile.day, SettlementFile.id)):
        books = figures.get((kept.tax_office_id, kept.day), [0, 0, 0, 0, 0])
        stored = [kept.tickets, kept.items, kept.paid_fen, kept.refunds, kept.refunded_fen]
        in_csv = csv_totals(bytes(kept.csv))
        written = [
            in_csv.get("total.tickets", (None, None))[0],
            in_csv.get("total.items", (None, None))[0],
            in_csv.get("total.items", (None, None))[1],
            in_csv.get("total.refunds", (None, None))[0],
            in_csv.get("total.refunds", (None, None))[1],
        ]
        subject = f"settlement file {kept.day.isoformat()} tax office {kept.tax_office_id}"
        if stored != books:
            found.append(Violation("settlement-file", subject, f"says {stored} but the books say {books}"))
        if written != stored:
            found.append(Violation("settlement-file", subject, f"its CSV totals are {written}, not {stored}"))
    return found


def _certificates() -> list[Violation]:
    """Certificates follow the money: a valid document may list an item with a refund only at what
    the item kept (a 缴费证明 issued again after a partial refund)."""
    from sbweb.services import documents

    found = []
    for item_id, kept in db.session.execute(
        select(OrderItem.id, OrderItem.amount_fen - OrderItem.refunded_fen).where(OrderItem.refunded_fen > 0)
    ):
        for doc in documents.valid_covering(item_id):
            listed = sum(line.amount_fen for line in doc.lines if line.item_id == item_id)
            if listed > kept:
                found.append(
                    Violation(
                        "certificate",
                        doc.doc_no,
                        f"valid, but lists item {item_id} at {listed} fen after its money went back (kept {kept})",
                    )
                )
    return found


def _document_totals() -> list[Violation]:
    """What a document says in total is what its stored lines add up to."""
    lines = {
        doc_id: (count, total)
        for doc_id, count, total in db.session.execute(
            select(DocumentItem.document_id, func.count(), func.sum(DocumentItem.amount_fen)).group_by(
                DocumentItem.document_id
            )
        )
    }
    found = []
    for doc_no, doc_id, items, amount in db.session.execute(
        select(Document.doc_no, Document.id, Document.items, Document.amount_fen)
    ):
        if lines.get(doc_id, (0, 0)) != (items, amount):
            found.append(
                Violation(
                    "document-total",
                    doc_no,
                    f"says {items} items, {amount} fen; its lines are {lines.get(doc_id, (0, 0))}",
                )
            )
    return found
