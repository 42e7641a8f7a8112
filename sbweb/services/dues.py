"""What a person owes: their enrollments and open dues, as the journey shows them."""

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.orm import selectinload

from sbweb.db import db, written
from sbweb.models import Agency, Due, DueEvent, Enrollment
from sbweb.models.base import utcnow
from sbweb.models.due import DUE_TRANSITIONS, DueLabels
from sbweb.models.enrollment import EnrollmentLabels


def enrollments_of(person_id: int) -> list[Enrollment]:
    query = (
        select(Enrollment)
        .where(Enrollment.person_id == person_id)
        .options(selectinload(Enrollment.agency))
        .order_by(Enrollment.category, Enrollment.insurance)
    )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class EnrollmentLine(EnrollmentLabels):
    id: int
    enrollment_no: str
    category: str
    insurance: str
    agency_name: str


@dataclass(frozen=True)
class DueLine(DueLabels):
    id: int
    kind: str
    period_start: str
    period_end: str
    amount_fen: int
    state: str
    order_id: int | None
    revision: int
    reopened_reason: str | None = None
    provisional_on: int | None = None
    difference_of_id: int | None = None


_e, _a, _d = Enrollment.__table__, Agency.__table__, Due.__table__
# The dues page is the busiest read: one SELECT, built once (building it cost more than running
# it), run on the request's connection without ORM objects; only the parameters change per request.
_DUES_PAGE = (
    select(
        _e.c.id,
        _e.c.enrollment_no,
        _e.c.category,
        _e.c.insurance,
        _a.c.name,
        _d.c.id,
        _d.c.kind,
        _d.c.period_start,
        _d.c.period_end,
        _d.c.amount_fen,
        _d.c.state,
        _d.c.order_id,
        _d.c.revision,
        _d.c.reopened_reason,
        _d.c.provisional_on,
        _d.c.difference_of_id,
    )
    .join_from(_e, _a, _a.c.id == _e.c.agency_id)
    .outerjoin(_d, and_(_d.c.enrollment_id == _e.c.id, _d.c.state == "open"))
    .where(_e.c.person_id == bindparam("person_id"), _e.c.enrollment_no == bindparam("enrollment_no"))
    .order_by(_d.c.period_start, _d.c.id)
)


def dues_page(person_id: int, enrollment_no: str) -> tuple[EnrollmentLine | None, list[DueLine]]:
    """This person's enrollment and its open dues, oldest first (补缴 of past periods before this
    period's normal dues); (None, []) when the enrollment is not theirs."""
    # The request's own connection (its signed-in session was read on it): no second pool
    # checkout, BEGIN and ROLLBACK.
    rows = db.session.connection().execute(_DUES_PAGE, {"person_id": person_id, "enrollment_no": enrollment_no}).all()
    if not rows:
        return None, []
    enrollment = EnrollmentLine(*rows[0][:5])
    return enrollment, [DueLine(*row[5:]) for row in rows if row[5] is not None]


def open_due_counts(person_id: int) -> dict[int, tuple[int, int]]:
    """enrollment id → (number of open dues, their total in fen)."""
    rows = db.session.execute(
        select(Due.enrollment_id, func.count(Due.id), func.coalesce(func.sum(Due.amount_fen), 0))
        .join(Enrollment)
        .where(Enrollment.person_id == person_id, Due.state == "open")
        .group_by(Due.enrollment_id)
    )
    return {enrollment_id: (count, total) for enrollment_id, count, total in rows}


# -- the one way a due changes ------------------------------------------------------------------------


class DueChanged(RuntimeError):
    """The due was not in the state (or held by the order) the caller read: nothing changed."""


def transition(due: Due, to_state: str, cause: str, *, expect_order: int | None | bool = False, **fields) -> None:
    """Move `due` along one allowed edge (DUE_TRANSITIONS) — or keep its state and change its
    amount — recording a DueEvent with the cause. Call inside a write transaction. Applies only
    if the due is still in the state it was read in (and, with `expect_order`, still held by that
    order or by none), as one conditional UPDATE."""
    edge = (due.state, to_state)
    if edge not in DUE_TRANSITIONS:
        raise DueChanged(f"due {due.id}: {edge[0]} → {edge[1]} is not allowed")
    before = due.amount_fen
    if to_state != "open":  # why it was owed again is said only while it is owed
        fields.setdefault("reopened_reason", None)
    held = "any" if expect_order is False else ("none" if expect_order is None else "order")
    db.session.flush()  # what the ORM holds pending goes first, as an autoflush would send it
    # The row as this UPDATE leaves it comes back with it (RETURNING), not read again after.
    changed = db.session.execute(
        _moved(held, tuple(sorted(fields))),
        {
            "w_id": due.id,
            "w_state": due.state,
            "w_order": expect_order if held == "order" else None,
            "v_state": to_state,
            **{f"v_{key}": value for key, value in fields.items()},
        },
    ).first()
    if changed is None:
        raise DueChanged(f"due {due.id} changed meanwhile")
    written(
        due,
        {"state": to_state, "amount_fen": changed.amount_fen, "revision": changed.revision},
        [k for k in fields if k != "amount_fen"],
    )
    db.session.execute(
        _EVENT,
        {
            "due_id": due.id,
            "from_state": edge[0],
            "to_state": to_state,
            "amount_before": before,
            "amount_after": due.amount_fen,
            "cause": cause[:200],
            "at": utcnow(),
        },
    )


# Built once with bind parameters (Core: settling runs them for every due), the same conditional
# UPDATE as ever: only the row still in the state it was read in (and held as expected).
_DUES = Due.__table__
_EVENT = insert(DueEvent.__table__)


@lru_cache(maxsize=64)
def _moved(held: str, fields: tuple[str, ...]):
    condition = [_DUES.c.id == bindparam("w_id"), _DUES.c.state == bindparam("w_state")]
    if held == "none":
        condition.append(_DUES.c.order_id.is_(None))
    elif held == "order":
        condition.append(_DUES.c.order_id == bindparam("w_order"))
    return (
        update(_DUES)
        .where(*condition)
        .values(
            state=bindparam("v_state"),
            revision=_DUES.c.revision + 1,
            **{key: bindparam(f"v_{key}", type_=_DUES.c[key].type) for key in fields},
        )
        .returning(_DUES.c.amount_fen, _DUES.c.revision)
    )


def created(due: Due, cause: str) -> None:
    """The due's first event (call right after adding it, inside the write transaction)."""
    db.session.add(
        DueEvent(
            due_id=due.id,
            from_state="",
            to_state=due.state,
            amount_before=None,
            amount_after=due.amount_fen,
            cause=cause[:200],
        )
    )
    db.session.flush()


def events_of(due_id: int) -> list[DueEvent]:
    return list(db.session.scalars(select(DueEvent).where(DueEvent.due_id == due_id).order_by(DueEvent.id)))
