"""缴费记录 and 已缴费查询: what a payer paid, one line per paid item (险种, 费款所属期, amount),
for themselves or for others (代缴), newest first, filtered and paged in the database.

One Core SELECT per page (and one COUNT), no ORM objects: a payer with a thousand records
gets a page as fast as one with three."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, select

from sbweb.db import db
from sbweb.id_numbers import mask
from sbweb.models import Due, Enrollment, Order, OrderItem, Person, TaxOffice, Ticket
from sbweb.models.due import DueLabels
from sbweb.models.enrollment import EnrollmentLabels
from sbweb.models.order import CHANNEL_LABELS, ORDER_STATE_LABELS
from sbweb.money import fen_display

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
    item_id: int
    refunded_fen: int
    provisional_on: int | None = None
    difference_of_id: int | None = None
    tax_office: str | None = None  # the 主管税务机关 of the item's ticket (None before settlement)

    @property
    def state_label(self) -> str:
        """The order's state, or what became of this item's money (a refund by item leaves the
        order settled with its other items)."""
        if self.refunded_fen and self.state == "settled":
            return "已退费" if self.refunded_fen >= self.amount_fen else f"部分退费 ¥{fen_display(self.refunded_fen)}"
        return ORDER_STATE_LABELS[self.state]

    @property
    def kept_fen(self) -> int:
        """What the item still holds after refunds by item (what a certificate may list)."""
        return self.amount_fen - self.refunded_fen

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

    def groups(self) -> list[list[RecordLine]]:
        """The page's lines by payment and 票证号码 (one group per ticket of a payment, in the page's
        order): a 合并缴费 across two tax offices shows as two groups, each with its office."""
        groups: list[list[RecordLine]] = []
        for line in self.lines:
            if groups and (groups[-1][0].order_no, groups[-1][0].ticket_no) == (line.order_no, line.ticket_no):
                groups[-1].append(line)
            else:
                groups.append([line])
        return groups


def _query(
    payer_id: int | None,
    *,
    others: bool | None,
    year: int | None,
    insurance: str | None,
    person_id: int | None,
    states,
    order_nos,
    period_from: str | None = None,
    period_to: str | None = None,
    ticket_no: str | None = None,
):
    o, i, d, e, p = Order.__table__, OrderItem.__table__, Due.__table__, Enrollment.__table__, Person.__table__
    t, x = Ticket.__table__, TaxOffice.__table__
    conditions = [o.c.state.in_(states)]
    if payer_id is not None:
        conditions.append(o.c.payer_id == payer_id)
        if others is not None:
            conditions.append((e.c.person_id != payer_id) if others else (e.c.person_id == payer_id))
    if year:
        conditions += [d.c.period_start >= f"{year:04d}-01", d.c.period_start <= f"{year:04d}-12"]
    if period_from:
        conditions.append(d.c.period_end >= period_from)
    if period_to:
        conditions.append(d.c.period_start <= period_to)
    if ticket_no:
        conditions.append(t.c.ticket_no == ticket_no)
    if insurance in ("pension", "medical"):
        conditions.append(e.c.insurance == insurance)
    if person_id is not None:
        conditions.append(e.c.person_id == person_id)
    if order_nos is not None:
        conditions.append(o.c.order_no.in_(list(order_nos) or [""]))
    joined = (
        i.join(o, o.c.id == i.c.order_id)
        .join(d, d.c.id == i.c.due_id)
        .join(e, e.c.id == d.c.enrollment_id)
        .join(p, p.c.id == e.c.person_id)
        .outerjoin(t, t.c.id == i.c.ticket_id)
        .outerjoin(x, x.c.id == t.c.tax_office_id)
    )
    return joined, and_(*conditions), (o, i, d, e, p, t, x)


def records_page(
    payer_id: int,
    *,
    others: bool | None = False,
    year: int | None = None,
    insurance: str | None = None,
    person_id: int | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
    states=RECORD_STATES,
    order_nos=None,
) -> RecordPage:
    """One page of the payer's records: their own (others=False), what they paid for others
    (True), or both (None). `order_nos` limits a lookup-level session to its own orders."""
    joined, where, tables = _query(
        payer_id, others=others, year=year, insurance=insurance, person_id=person_id, states=states, order_nos=order_nos
    )
    total = db.session.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = db.session.execute(
        select(*_columns(*tables))
        .select_from(joined)
        .where(where)
        .order_by(func.coalesce(tables[0].c.settled_at, tables[0].c.created_at).desc(), tables[1].c.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return RecordPage([RecordLine(*row) for row in rows], total, page, per_page)


def _columns(o, i, d, e, p, t, x):
    return (
        o.c.order_no,
        o.c.state,
        o.c.channel,
        t.c.ticket_no,
        o.c.created_at,
        o.c.settled_at,
        o.c.refunded_at,
        i.c.amount_fen,
        d.c.kind,
        d.c.period_start,
        d.c.period_end,
        e.c.category,
        e.c.insurance,
        p.c.id,
        p.c.name,
        p.c.id_number,
        i.c.id,
        i.c.refunded_fen,
        d.c.provisional_on,
        d.c.difference_of_id,
        x.c.name,
    )


def paid_items_of(
    person_id: int,
    *,
    paid_by: int | None = None,
    year: int | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    ticket_no: str | None = None,
) -> list[RecordLine]:
    """A person's settled items that kept some money (whoever paid; or only what `paid_by` paid),
    oldest period first: what a 缴费证明 or 完税证明 certifies — each at its `kept_fen`."""
    joined, where, tables = _query(
        paid_by,
        others=None,
        year=year,
        insurance=None,
        person_id=person_id,
        states=("settled",),
        order_nos=None,
        period_from=period_from,
        period_to=period_to,
        ticket_no=ticket_no,
    )
    d, i = tables[2], tables[1]
    rows = db.session.execute(
        select(*_columns(*tables))
        .select_from(joined)
        .where(where, i.c.refunded_fen < i.c.amount_fen)
        .order_by(d.c.period_start, i.c.id)
    ).all()
    return [RecordLine(*row) for row in rows]


def record_years(payer_id: int) -> list[int]:
    """The 费款所属期 years the payer has records in, newest first (the year filter's options)."""
    o, i, d = Order.__table__, OrderItem.__table__, Due.__table__
    years = db.session.scalars(
        select(func.substr(d.c.period_start, 1, 4))
        .select_from(i.join(o, o.c.id == i.c.order_id).join(d, d.c.id == i.c.due_id))
        .where(o.c.payer_id == payer_id, o.c.state.in_(RECORD_STATES))
        .distinct()
    )
    return sorted({int(y) for y in years}, reverse=True)
