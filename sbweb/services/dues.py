"""What a person owes: their enrollments and open dues, as the journey shows them."""
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import selectinload

from sbweb.db import db
from sbweb.models import Agency, Due, Enrollment
from sbweb.models.due import DueLabels
from sbweb.models.enrollment import EnrollmentLabels


def enrollments_of(person_id: int) -> list[Enrollment]:
    query = (select(Enrollment).where(Enrollment.person_id == person_id)
             .options(selectinload(Enrollment.agency)).order_by(Enrollment.category, Enrollment.insurance))
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


_e, _a, _d = Enrollment.__table__, Agency.__table__, Due.__table__
# The dues page is the busiest read: one SELECT, built once (building it cost more than running
# it), run without an ORM session; only the parameters change per request.
_DUES_PAGE = (
    select(_e.c.id, _e.c.enrollment_no, _e.c.category, _e.c.insurance, _a.c.name,
           _d.c.id, _d.c.kind, _d.c.period_start, _d.c.period_end, _d.c.amount_fen, _d.c.state,
           _d.c.order_id, _d.c.revision)
    .join_from(_e, _a, _a.c.id == _e.c.agency_id)
    .outerjoin(_d, and_(_d.c.enrollment_id == _e.c.id, _d.c.state == "open"))
    .where(_e.c.person_id == bindparam("person_id"), _e.c.enrollment_no == bindparam("enrollment_no"))
    .order_by(_d.c.period_start, _d.c.id))


def dues_page(person_id: int, enrollment_no: str) -> tuple[EnrollmentLine | None, list[DueLine]]:
    """This person's enrollment and its open dues, oldest first (补缴 of past periods before this
    period's normal dues); (None, []) when the enrollment is not theirs."""
    with db.engine.connect() as conn:
        rows = conn.execute(_DUES_PAGE, {"person_id": person_id, "enrollment_no": enrollment_no}).all()
    if not rows:
        return None, []
    enrollment = EnrollmentLine(*rows[0][:5])
    return enrollment, [DueLine(*row[5:]) for row in rows if row[5] is not None]


def open_due_counts(person_id: int) -> dict[int, tuple[int, int]]:
    """enrollment id → (number of open dues, their total in fen)."""
    rows = db.session.execute(
        select(Due.enrollment_id, func.count(Due.id), func.coalesce(func.sum(Due.amount_fen), 0))
        .join(Enrollment).where(Enrollment.person_id == person_id, Due.state == "open")
        .group_by(Due.enrollment_id))
    return {enrollment_id: (count, total) for enrollment_id, count, total in rows}
