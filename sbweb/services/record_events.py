"""The feed's events about records rather than money — due.reopened / due.voided,
declaration.created / declaration.voided, document.voided — written in the transaction that
makes the change, whatever path makes it.

Every such change but one leaves an ORM trace in the flush that writes it: a declaration is added
or has its state set to void; a document has its state set to void (documents.void_covering). So
one after_flush listener sees them all — the resident's 作废, a refund's reopen or void, a new declaration, the
demo loader, the agencies' batch pushes — and adds the event rows in the same flush's
transaction, each an INSERT … SELECT that finds the tax office from the enrollment's agency
(or, for a document, one event per tax office its lines were paid to). The one: a due moves only
by sbweb.services.dues.transition, which records its DueEvent by a Core INSERT (the payment path's
cost) and so calls `due_moved` itself; a DueEvent added through the ORM is seen by the listener. Like payment.settled,
the rows have no position or payload yet: the sequencer (sbweb.services.api_events) numbers
them in commit order and freezes the payload from facts that do not change after."""

import datetime as dt

from sqlalchemy import Integer, cast, event, insert, inspect, literal, null, select
from sqlalchemy.orm import Session

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
    OrderItem,
    TaxOffice,
    Ticket,
)
from sbweb.models.base import UTCDateTime, utcnow

COLUMNS = ("kind", "key", "due_event_id", "declaration_id", "document_id", "tax_office_id", "created_at")


def due_event_kind(from_state: str, to_state: str) -> str | None:
    """The feed's name for a due's move, or None when the move is not in the feed."""
    if to_state == "void" and from_state != "void":
        return "due.voided"
    if (from_state, to_state) == ("paid", "open"):
        return "due.reopened"
    return None


def _became_void(obj) -> bool:
    history = inspect(obj).attrs.state.history
    return "void" in (history.added or ()) and "void" not in (history.deleted or ())


def _when(at):
    return literal(at or utcnow(), UTCDateTime())


def _id(value):
    # Cast, so that PostgreSQL reads an integer, not a text parameter, whatever the driver sends.
    return cast(literal(value, Integer()) if value is not None else null(), Integer())


def _office_of_enrollment(kind: str, key: str, enrollment_id, at, due_event_id=None, declaration_id=None):
    return select(
        literal(kind),
        literal(key),
        _id(due_event_id),
        _id(declaration_id),
        _id(None),
        Agency.tax_office_id,
        _when(at),
    ).where(Agency.id == select(Enrollment.agency_id).where(Enrollment.id == enrollment_id).scalar_subquery())


def _due_move(move_id: int, from_state: str, to_state: str, due_id: int, at):
    kind = due_event_kind(from_state, to_state)
    if kind is None:
        return None
    enrollment_id = select(Due.enrollment_id).where(Due.id == due_id).scalar_subquery()
    return _office_of_enrollment(kind, f"{kind}:{move_id}", enrollment_id, at, due_event_id=move_id)


def _due_event(row: DueEvent):
    return _due_move(row.id, row.from_state, row.to_state, row.due_id, row.at)


def due_moved(move_id: int, from_state: str, to_state: str, due_id: int, at) -> None:
    """A due's move recorded by a Core INSERT (sbweb.services.dues.transition, which the flush
    listener cannot see): its event, if the feed has one, in the same transaction."""
    query = _due_move(move_id, from_state, to_state, due_id, at)
    if query is not None:
        db.session.execute(insert(ApiEvent.__table__).from_select(COLUMNS, query))


def _declaration(row: Declaration, kind: str):
    at = row.voided_at if kind == "declaration.voided" else row.declared_at
    return _office_of_enrollment(kind, f"{kind}:{row.id}", row.enrollment_id, at, declaration_id=row.id)


def _document(row: Document):
    return (
        select(
            literal("document.voided"),
            literal(f"document.voided:{row.doc_no}:") + TaxOffice.code,
            _id(None),
            _id(None),
            _id(row.id),
            TaxOffice.id,
            _when(row.voided_at),
        )
        .distinct()
        .select_from(DocumentItem)
        .join(OrderItem, OrderItem.id == DocumentItem.item_id)
        .join(Ticket, Ticket.id == OrderItem.ticket_id)
        .join(TaxOffice, TaxOffice.id == Ticket.tax_office_id)
        .where(DocumentItem.document_id == row.id)
    )


def _selects(session: Session) -> list:
    found = []
    for obj in session.new:
        if isinstance(obj, DueEvent):
            found.append(_due_event(obj))
        elif isinstance(obj, Declaration):
            found.append(_declaration(obj, "declaration.created"))
            if obj.state == "void":
                found.append(_declaration(obj, "declaration.voided"))
    for obj in session.dirty:
        if isinstance(obj, Declaration) and _became_void(obj):
            found.append(_declaration(obj, "declaration.voided"))
        elif isinstance(obj, Document) and _became_void(obj):
            found.append(_document(obj))
    return [s for s in found if s is not None]


@event.listens_for(Session, "after_flush")
def _write_events(session: Session, _flush_context) -> None:
    if not any(isinstance(o, DueEvent | Declaration | Document) for o in (*session.new, *session.dirty)):
        return
    connection = session.connection()
    for query in _selects(session):
        connection.execute(insert(ApiEvent.__table__).from_select(COLUMNS, query))


# -- payloads, frozen by the sequencer (facts that do not change after the event) ---------------


def _iso(moment) -> str | None:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if moment else None


def _enrollment(enrollment: Enrollment, agency_code: str) -> dict:
    return {
        "enrollment_no": enrollment.enrollment_no,
        "agency_code": agency_code,
        "category": enrollment.category,
        "insurance": enrollment.insurance,
    }


def _due_payloads(rows: list[ApiEvent]) -> dict[int, dict]:
    wanted = {r.due_event_id: r.id for r in rows if r.due_event_id is not None}
    if not wanted:
        return {}
    found = {}
    for move, due, enrollment, agency_code in db.session.execute(
        select(DueEvent, Due, Enrollment, Agency.code)
        .join(Due, Due.id == DueEvent.due_id)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
        .where(DueEvent.id.in_(wanted))
    ):
        found[wanted[move.id]] = {
            "due_id": due.id,
            **_enrollment(enrollment, agency_code),
            "due_kind": due.kind,
            "period_start": due.period_start,
            "period_end": due.period_end,
            "from_state": move.from_state,
            "to_state": move.to_state,
            "amount_fen": move.amount_after,
            "cause": move.cause,
            "at": _iso(move.at),
        }
    return found


def _declaration_payloads(rows: list[ApiEvent]) -> dict[int, dict]:
    wanted = [r for r in rows if r.declaration_id is not None]
    if not wanted:
        return {}
    declarations = {
        d.id: (d, enrollment, agency_code)
        for d, enrollment, agency_code in db.session.execute(
            select(Declaration, Enrollment, Agency.code)
            .join(Enrollment, Enrollment.id == Declaration.enrollment_id)
            .join(Agency, Agency.id == Enrollment.agency_id)
            .where(Declaration.id.in_({r.declaration_id for r in wanted}))
        )
    }
    found = {}
    for row in wanted:
        declaration, enrollment, agency_code = declarations[row.declaration_id]
        payload = {
            "declaration_id": declaration.id,
            "due_id": declaration.due_id,
            **_enrollment(enrollment, agency_code),
            "declaration_kind": declaration.kind,
            "period_start": declaration.period_start,
            "period_end": declaration.period_end,
            "base_fen": declaration.base_fen,
            "grade_fen": declaration.grade_fen,
            "amount_fen": declaration.amount_fen,
            "late_fee_fen": declaration.late_fee_fen,
            "declared_level": declaration.declared_level,
            "declared_at": _iso(declaration.declared_at),
        }
        if row.kind == "declaration.voided":
            payload |= {"voided_at": _iso(declaration.voided_at), "void_reason": declaration.void_reason}
        found[row.id] = payload
    return found


def _document_payloads(rows: list[ApiEvent]) -> dict[int, dict]:
    wanted = [r for r in rows if r.document_id is not None]
    if not wanted:
        return {}
    lines: dict[tuple[int, int], list[dict]] = {}
    for line, item, ticket, due, enrollment, agency_code in db.session.execute(
        select(DocumentItem, OrderItem, Ticket, Due, Enrollment, Agency.code)
        .join(OrderItem, OrderItem.id == DocumentItem.item_id)
        .join(Ticket, Ticket.id == OrderItem.ticket_id)
        .join(Due, Due.id == OrderItem.due_id)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
        .where(DocumentItem.document_id.in_({r.document_id for r in wanted}))
        .order_by(DocumentItem.position)
    ):
        lines.setdefault((line.document_id, ticket.tax_office_id), []).append(
            {
                "item_id": item.id,
                "ticket_no": ticket.ticket_no,
                "order_no": line.order_no,
                "due_id": due.id,
                **_enrollment(enrollment, agency_code),
                "due_kind": due.kind,
                "period_start": line.period_start,
                "period_end": line.period_end,
                "certified_fen": line.amount_fen,
            }
        )
    documents = {
        d.id: d for d in db.session.scalars(select(Document).where(Document.id.in_({r.document_id for r in wanted})))
    }
    offices = {
        o.id: o
        for o in db.session.scalars(select(TaxOffice).where(TaxOffice.id.in_({r.tax_office_id for r in wanted})))
    }
    found = {}
    for row in wanted:
        doc, office = documents[row.document_id], offices[row.tax_office_id]
        found[row.id] = {
            "doc_no": doc.doc_no,
            "document_kind": doc.kind,
            "issue": doc.issue,
            "issued_at": _iso(doc.issued_at),
            "voided_at": _iso(doc.voided_at),
            "void_reason": doc.void_reason,
            "tax_office": {"code": office.code, "name": office.name},
            "items": lines.get((doc.id, office.id), []),
        }
    return found


def payloads(rows: list[ApiEvent]) -> dict[int, dict]:
    """The payload of each row about a record (by the row's id); rows about money are not here."""
    return _due_payloads(rows) | _declaration_payloads(rows) | _document_payloads(rows)
