"""暂按上年度标准, then 多退少补: a year collected before its standard was published was declared and
paid on the latest published one (sbweb/services/rates.ProvisionalStandard); once its own
standard is loaded, each provisional item is priced again on it, through the ledger's own paths:

- an open due nobody is paying: re-priced (a DueEvent with the cause);
- a paid due now owed more: the difference becomes a due of its own (正常缴费, 按{year}年度标准补缴差额),
  owed and payable like any other;
- a paid due now owed less: the overpayment goes back by item — a 退费申请 the system makes
  (多缴费款退费 of the item that paid it, 原路退回), which staff review in the back office like a
  resident's: approve → money_back leaves the due paid at what was kept. Money leaving the fund
  is always a staff decision with an audit entry; the standard's loader (a file, the CLI) is no
  one who could take it.

A due being paid, or whose item is in a live refund application, waits: it stays provisional and
is settled by the next load or save of the standard (or housekeeping, `settle_all`)."""

from dataclasses import dataclass, fields

from sqlalchemy import exists, select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import Agency, Declaration, Due, Enrollment, Order, OrderItem, RefundItem, Standard
from sbweb.money import fen_display
from sbweb.services import dues


@dataclass
class Settlement:
    """What settling provisional items did (the admin page and the CLI say it)."""

    repriced: int = 0  # open dues re-priced on the new standard
    differences: int = 0  # 补差 dues made for paid dues owed more
    refunds: int = 0  # refund applications made for paid dues owed less
    unchanged: int = 0  # paid dues whose amount was right already
    waiting: int = 0  # being paid or in a refund application: settled next time

    def add(self, other: "Settlement") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def total(self) -> int:
        return self.repriced + self.differences + self.refunds + self.unchanged + self.waiting

    @property
    def message(self) -> str:
        if not self.total:
            return ""
        text = (
            f"暂按上年度标准申报的费款已按新标准处理：重新计价 {self.repriced} 笔，补缴差额 {self.differences} 笔，"
            f"多缴退费申请 {self.refunds} 笔（待审核），金额无变化 {self.unchanged} 笔"
        )
        if self.waiting:
            text += f"；{self.waiting} 笔正在支付或退费中，结束后由系统（每小时）按新标准处理"
        return text

    def counts(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _provisional_of(standard: Standard) -> list[Due]:
    """The provisional dues (open or paid) of the standard's year and category in regions where
    this standard is now the one in force."""
    from sbweb.services.rates import standard_for

    rows = db.session.scalars(
        select(Due)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
        .where(
            Due.provisional_on.is_not(None),
            Due.state.in_(("open", "paid")),
            Due.period_start >= f"{standard.year:04d}-01",
            Due.period_start <= f"{standard.year:04d}-12",
            Enrollment.category == standard.category,
        )
        .order_by(Due.id)
    )
    in_force = {}
    found = []
    for due in rows:
        region = due.enrollment.agency.region_code
        if region not in in_force:
            current = standard_for(region, standard.year, standard.category)
            in_force[region] = current is not None and current.id == standard.id
        if in_force[region]:
            found.append(due)
    return found


def _new_price(declaration: Declaration, standard: Standard) -> tuple[int | None, int, int]:
    """(base, contribution, late fee) of the declaration on its own year's standard. A base outside
    the published range moves to its nearest end (the bureaus' 就低/就高)."""
    from sbweb.services.declarations import price, quote_base

    declared_on = declaration.declared_at.astimezone(SHANGHAI).date()
    if declaration.kind == "base":
        base = min(max(declaration.base_fen, standard.base_min_fen), standard.base_max_fen)
        q = quote_base(
            standard,
            declaration.enrollment.insurance,
            base,
            declaration.period_start,
            declaration.period_end,
            declared_on,
        )
        return base, q.contribution_fen, q.late_fee_fen
    contribution, late = price(declaration, standard, declared_on)
    return None, contribution, late


def _paying_item(due: Due, amount_fen: int) -> OrderItem | None:
    """The settled item of the due that can give `amount_fen` back and is in no live application."""
    return db.session.scalar(
        select(OrderItem)
        .join(Order, Order.id == OrderItem.order_id)
        .where(
            OrderItem.due_id == due.id,
            Order.state == "settled",
            OrderItem.amount_fen - OrderItem.refunded_fen >= amount_fen,
            ~exists().where(RefundItem.live_item_id == OrderItem.id),
        )
        .order_by(OrderItem.id.desc())
    )


def settle(standard: Standard) -> Settlement:
    """Settle on `standard` every provisional item of its year it now prices (see the module's
    docstring). Runs inside the caller's write transaction; settling twice changes nothing."""
    done = Settlement()
    for due in _provisional_of(standard):
        # The declaration that priced it (void when a refund reopened the month: it still says
        # what was chosen; only a valid one is moved onto the new standard).
        declaration = due.priced_by
        if declaration is None:
            continue
        base, contribution, late = _new_price(declaration, standard)
        total = contribution + late
        moved = f"（原暂按{due.provisional_on}年度标准）"
        if base is not None and base != declaration.base_fen:
            moved += f"，缴费基数按{standard.year}年度标准调整为 {fen_display(base)} 元"
        try:
            if due.state == "open":
                outcome = _reprice_open(due, standard.year, total, late, moved)
            else:
                outcome = _settle_paid(due, declaration, standard.year, total, moved)
        except dues.DueChanged:
            outcome = "waiting"  # an order took it meanwhile: next time
        setattr(done, outcome, getattr(done, outcome) + 1)  # the outcome is the name of its count
        if outcome == "waiting":
            continue
        if declaration.state == "valid":
            declaration.standard_id, declaration.provisional_on = standard.id, None
            declaration.amount_fen, declaration.late_fee_fen = total, late
            if base is not None:
                declaration.base_fen = base
        db.session.flush()
    return done


def _reprice_open(due: Due, year: int, total: int, late: int, moved: str) -> str:
    """An open due nobody is paying takes the new price (a DueEvent with the cause)."""
    dues.transition(
        due,
        "open",
        f"按{year}年度标准重新计价{moved}",
        expect_order=None,
        amount_fen=total,
        late_fee_fen=late,
        provisional_on=None,
    )
    return "repriced"


def _settle_paid(due: Due, declaration: Declaration, year: int, total: int, moved: str) -> str:
    """多退少补 of a paid due; says which of Settlement's counts it adds to ("waiting" when the item
    that paid it cannot give the overpayment back now)."""
    from sbweb.services import refund_applications

    difference = total - due.amount_fen
    item = _paying_item(due, -difference) if difference < 0 else None
    if difference < 0 and item is None:
        return "waiting"
    dues.transition(due, "paid", _paid_cause(year, total, difference) + moved, provisional_on=None)
    if difference < 0:
        refund_applications.overpaid_by_standard(item, -difference, year)
        return "refunds"
    if difference > 0:
        _add_difference(due, declaration, difference, f"按{year}年度标准补缴差额{moved}")
        return "differences"
    return "unchanged"


def _paid_cause(year: int, total: int, difference: int) -> str:
    if difference < 0:
        return f"按{year}年度标准应缴 {fen_display(total)} 元，多缴 {fen_display(-difference)} 元退回（退费申请）"
    if difference > 0:
        return f"按{year}年度标准应缴 {fen_display(total)} 元，补缴差额 {fen_display(difference)} 元"
    return f"按{year}年度标准核定，金额不变"


def _add_difference(due: Due, declaration: Declaration, difference: int, cause: str) -> None:
    """The difference a paid due is now owed more becomes a due of its own, owed like any other."""
    extra = Due(
        enrollment_id=due.enrollment_id,
        kind="normal",
        period_start=due.period_start,
        period_end=due.period_end,
        amount_fen=difference,
        late_fee_fen=0,
        state="open",
        difference_of_id=due.id,
        declaration_id=declaration.id,
    )
    db.session.add(extra)
    db.session.flush()
    dues.created(extra, cause)


def settle_all() -> Settlement:
    """Housekeeping: settle what waited (an order or a refund in flight at the last load) on the
    standards now published for provisional years. Call inside a write transaction."""
    from sbweb.services.rates import standard_for

    done = Settlement()
    seen = set()
    rows = db.session.execute(
        select(Agency.region_code, Enrollment.category, Due.period_start)
        .join(Enrollment, Enrollment.agency_id == Agency.id)
        .join(Due, Due.enrollment_id == Enrollment.id)
        .where(Due.provisional_on.is_not(None), Due.state.in_(("open", "paid")))
        .distinct()
    ).all()
    for region, category, period_start in rows:
        standard = standard_for(region, int(period_start[:4]), category)
        if standard is not None and standard.id not in seen:
            seen.add(standard.id)
            done.add(settle(standard))
    return done


@dataclass(frozen=True)
class Outstanding:
    year: int
    category: str
    basis: int
    dues: int

    @property
    def category_label(self) -> str:
        from sbweb.models.enrollment import CATEGORY_LABELS

        return CATEGORY_LABELS[self.category]


def outstanding() -> list[Outstanding]:
    """What is collected provisionally now, per year and category (the standards page lists it):
    dues priced on an earlier year's standard, open or paid, waiting for their own."""
    from sqlalchemy import func

    year = func.substr(Due.period_start, 1, 4)
    rows = db.session.execute(
        select(year, Enrollment.category, Due.provisional_on, func.count(Due.id))
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .where(Due.provisional_on.is_not(None), Due.state.in_(("open", "paid")))
        .group_by(year, Enrollment.category, Due.provisional_on)
        .order_by(year, Enrollment.category)
    )
    return [Outstanding(int(y), category, basis, count) for y, category, basis, count in rows]
