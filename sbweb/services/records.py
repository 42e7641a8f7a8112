"""缴费记录 and 已缴费查询: what a payer paid, one line per paid item (险种, 费款所属期, amount),
for themselves or for others (代缴), newest first, filtered and paged in the database.

One Core SELECT per page (and one COUNT), no ORM objects: a payer with a thousand records
gets a page as fast as one with three."""
from dataclasses import dataclass
import datetime as dt

from sqlalchemy import and_, func, select

from sbweb.db import db
from sbweb.identity import mask
from sbweb.models import Due, Enrollment, Order, OrderItem, Person
from sbweb.models.due import DueLabels
from sbweb.models.enrollment import EnrollmentLabels
from sbweb.models.order import CHANNEL_LABELS, ORDER_STATE_LABELS

# Money moved (or may have): 支付中, 成功, 失败, 原路退回. Unpaid, cancelled orders are not records.
RECORD_STATES = ("paying", "settled", "failed", "refunded")
PER_PAGE = 20


@dataclass(frozen=True)
class RecordLine(DueLabels, EnrollmentLabels):
    order_no: str
    state: str
    channel: str
    ticket_no: str | None
    created_at: dt.datetime
    settled_at: dt.datetime | None
    refunded_at: dt.datetime | None
    amount_fen: int
    kind: str
    period_start: str
    period_end: str
    category: str
    insurance: str
    person_id: int
    person_name: str
    id_number: str

    @property
    def state_label(self) -> str:
        return ORDER_STATE_LABELS[self.state]

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def paid_at(self) -> dt.datetime:
        return self.settled_at or self.created_at

    @property
    def masked_id(self) -> str:
        return mask(self.id_number)


@dataclass(frozen=True)
class RecordPage:
    lines: list[RecordLine]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _query(payer_id: int, *, others: bool, year: int | None, insurance: str | None,
           person_id: int | None, states, order_nos):
    o, i, d, e, p = Order.__table__, OrderItem.__table__, Due.__table__, Enrollment.__table__, Person.__table__
    conditions = [o.c.payer_id == payer_id, o.c.state.in_(states),
                  (e.c.person_id != payer_id) if others else (e.c.person_id == payer_id)]
    if year:
        conditions += [d.c.period_start >= f"{year:04d}-01", d.c.period_start <= f"{year:04d}-12"]
    if insurance in ("pension", "medical"):
        conditions.append(e.c.insurance == insurance)
    if person_id is not None:
        conditions.append(e.c.person_id == person_id)
    if order_nos is not None:
        conditions.append(o.c.order_no.in_(list(order_nos) or [""]))
    joined = (i.join(o, o.c.id == i.c.order_id).join(d, d.c.id == i.c.due_id)
              .join(e, e.c.id == d.c.enrollment_id).join(p, p.c.id == e.c.person_id))
    return joined, and_(*conditions), (o, i, d, e, p)


def records_page(payer_id: int, *, others: bool = False, year: int | None = None,
                 insurance: str | None = None, person_id: int | None = None, page: int = 1,
                 per_page: int = PER_PAGE, states=RECORD_STATES, order_nos=None) -> RecordPage:
    """One page of the payer's records: their own (others=False) or what they paid for others.
    `order_nos` limits a lookup-level session to the orders it made itself."""
    joined, where, (o, i, d, e, p) = _query(payer_id, others=others, year=year, insurance=insurance,
                                            person_id=person_id, states=states, order_nos=order_nos)
    total = db.session.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = db.session.execute(
        select(o.c.order_no, o.c.state, o.c.channel, o.c.ticket_no, o.c.created_at, o.c.settled_at,
               o.c.refunded_at, i.c.amount_fen, d.c.kind, d.c.period_start, d.c.period_end,
               e.c.category, e.c.insurance, p.c.id, p.c.name, p.c.id_number)
        .select_from(joined).where(where)
        .order_by(func.coalesce(o.c.settled_at, o.c.created_at).desc(), i.c.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    return RecordPage([RecordLine(*row) for row in rows], total, page, per_page)


def record_years(payer_id: int) -> list[int]:
    """The 费款所属期 years the payer has records in, newest first (the year filter's options)."""
    o, i, d = Order.__table__, OrderItem.__table__, Due.__table__
    years = db.session.scalars(
        select(func.substr(d.c.period_start, 1, 4)).select_from(i.join(o, o.c.id == i.c.order_id)
                                                                 .join(d, d.c.id == i.c.due_id))
        .where(o.c.payer_id == payer_id, o.c.state.in_(RECORD_STATES)).distinct())
    return sorted({int(y) for y in years}, reverse=True)
