"""申报: a resident chooses what to pay (a base for months, a grade or the fixed amount for a
year) and gets the due for it. Every amount is computed here from the standard in force;
nothing a form says about money is believed. Each rule refuses with a Chinese message for
the field it is about, before anything is written.

Every declaration records who made it and at which identity level (`level`: "verified",
"lookup", or "agency" for a push/import/staff, with nobody named), and every due points at the
declaration that priced it last: 批扣 and 自动缴 read both (sbweb/services/withholding.py)."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, select, update

from sbweb.clock import FIRST_DAY, LAST_DAY, SHANGHAI
from sbweb.db import db, write_transaction
from sbweb.models import Agency, Declaration, Due, Enrollment, Standard
from sbweb.models.base import utcnow
from sbweb.models.declaration import DECLARED_LEVELS
from sbweb.services import dues, rates
from sbweb.services.registry import RegistryError, change_due_amount

# The four flows of the seeds: URL slug → (category, insurance, what is chosen).
FLOWS = {
    "flexible-pension": ("flexible", "pension", "base"),
    "flexible-medical": ("flexible", "medical", "base"),
    "resident-pension": ("resident", "pension", "grade"),
    "resident-medical": ("resident", "medical", "fixed"),
}
NO_ENROLLMENT = "未查询到参保登记信息"
AGENCY_MISMATCH = "您所选经办机构与在社保部门或医保部门登记的经办机构不一致，请重新选择"


class DeclarationError(ValueError):
    """A refused declaration: `field` is the form field the message belongs beside."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Quote:
    """What a declaration would cost, before it is made (the form's live figures)."""

    months: int
    monthly_fen: int
    contribution_fen: int
    late_fee_fen: int

    @property
    def total_fen(self) -> int:
        return self.contribution_fen + self.late_fee_fen


# -- finding what to declare on ----------------------------------------------------------------


def enrollments_for(person_id: int, flow: str) -> list[Enrollment]:
    category, insurance, _ = FLOWS[flow]
    return list(
        db.session.scalars(
            select(Enrollment)
            .where(
                Enrollment.person_id == person_id, Enrollment.category == category, Enrollment.insurance == insurance
            )
            .order_by(Enrollment.id)
        )
    )


def enrollment_at(person_id: int, flow: str, agency_code: str) -> Enrollment:
    """The person's enrollment for this flow at the agency they chose; the seeds' mismatch
    message if they are registered elsewhere."""
    mine = enrollments_for(person_id, flow)
    if not mine:
        raise DeclarationError("agency", NO_ENROLLMENT)
    agency = db.session.scalar(select(Agency).filter_by(code=agency_code))
    for enrollment in mine:
        if agency is not None and enrollment.agency_id == agency.id:
            return enrollment
    raise DeclarationError("agency", AGENCY_MISMATCH)


def open_years(enrollment: Enrollment, today: dt.date) -> list[Standard]:
    return rates.open_standards(enrollment.agency.region_code, enrollment.category, today)


def flow_of(enrollment) -> str:
    """The 缴费申报 flow (URL slug) of an enrollment's category and insurance."""
    return next(slug for slug, (c, i, _) in FLOWS.items() if (c, i) == (enrollment.category, enrollment.insurance))


def declarable_years(enrollment: Enrollment, today: dt.date) -> list[Standard]:
    """The years whose collection window is open and that may still be declared for this
    enrollment (a 城乡居民 year already declared or paid is not; 灵活就业 months are chosen on the form)."""
    years = open_years(enrollment, today)
    if enrollment.category == "resident":
        years = [s for s in years if _year_due(enrollment, s.year) is None]
    return years


def declarable(person_id: int, enrollment_no: str, today: dt.date) -> tuple[str | None, list[Standard]]:
    """For 我为自己缴 when nothing is owed: the declaration flow of this person's enrollment and
    its `declarable_years`."""
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.enrollment_no == enrollment_no, Enrollment.person_id == person_id)
    )
    if enrollment is None:
        return None, []
    return flow_of(enrollment), declarable_years(enrollment, today)


def _standard(enrollment: Enrollment, year: int, today: dt.date) -> Standard:
    """The year's standard — or, before it is published, the latest one (暂按上年度标准)."""
    standard = rates.collecting_standard(enrollment.agency.region_code, year, enrollment.category)
    if standard is None or (standard.provisional_on and not standard.is_open(today)):
        # (A year after the published ones is collected on the latest only in its own window.)
        raise DeclarationError("year", f"{year}年度缴费标准尚未公布，暂不能申报")
    if not standard.is_open(today):
        raise DeclarationError(
            "year",
            (
                f"{year}年度不在征收期内（征收期 {standard.opens:%Y年%m月%d日} 至 "
                f"{standard.closes:%Y年%m月%d日}），不能申报"
            ),
        )
    return standard


# -- pricing -------------------------------------------------------------------------------------


def quote_base(standard: Standard, insurance: str, base_fen: int, start: str, end: str, today: dt.date) -> Quote:
    monthly = rates.monthly_fen(base_fen, rates.rate_bp(standard, insurance))
    months = rates.months_between(start, end)
    contribution = monthly * months
    late = sum(rates.late_fee_fen(monthly, standard.late_fee_bp_per_day, m, today) for m in _months(start, end))
    return Quote(months, monthly, contribution, late)


def price(declaration: Declaration, standard: Standard, today: dt.date) -> tuple[int, int]:
    """(contribution, late fee) of a declaration under a standard, as of `today`."""
    if declaration.kind == "base":
        q = quote_base(
            standard,
            declaration.enrollment.insurance,
            declaration.base_fen,
            declaration.period_start,
            declaration.period_end,
            today,
        )
        return q.contribution_fen, q.late_fee_fen
    if declaration.kind == "grade":
        return declaration.grade_fen, 0
    return standard.medical_fen, 0


def _months(start: str, end: str) -> list[str]:
    index = int(start[:4]) * 12 + int(start[5:]) - 1
    return [f"{(index + i) // 12:04d}-{(index + i) % 12 + 1:02d}" for i in range(rates.months_between(start, end))]


# -- declaring -------------------------------------------------------------------------------------


def check_base(standard: Standard, base_fen: int | None) -> int:
    if base_fen is None:
        raise DeclarationError("base", "请输入缴费基数")
    if not standard.base_min_fen <= base_fen <= standard.base_max_fen:
        raise DeclarationError("base", f"缴费基数金额请在{rates.base_range_text(standard)}之间选择")
    return base_fen


def check_months(year: int, month_from: int, month_to: int) -> tuple[str, str]:
    if not (1 <= month_from <= 12 and 1 <= month_to <= 12):
        raise DeclarationError("month_from", "请选择费款所属期")
    if month_to < month_from:
        raise DeclarationError("month_to", "费款所属期的结束月份不能早于开始月份")
    return f"{year:04d}-{month_from:02d}", f"{year:04d}-{month_to:02d}"


def _lock(enrollment: Enrollment) -> None:
    """Serialise declarations on one enrollment (SQLite's write transaction already does)."""
    db.session.execute(select(Enrollment.id).where(Enrollment.id == enrollment.id).with_for_update())


def _overlapping(enrollment: Enrollment, start: str, end: str) -> list[Due]:
    return list(
        db.session.scalars(
            select(Due).where(
                Due.enrollment_id == enrollment.id,
                Due.state != "void",
                Due.period_start <= end,
                Due.period_end >= start,
            )
        )
    )


def _superseding_reopened(taken: list[Due]) -> list[Due]:
    """Dues owed again after a refund (their declaration voided with it) give way to the new
    declaration of their months: they become void, and what stands in the way is the rest."""
    left = []
    for due in taken:
        if due.state == "open" and due.reopened_reason and due.order_id is None:
            dues.transition(due, "void", "重新申报，由新申报的费款替代", expect_order=None)
        else:
            left.append(due)
    return left


def _made_by(person_id: int, level: str) -> dict:
    """The declaration's who and level: the agency names nobody."""
    if level not in DECLARED_LEVELS:
        raise ValueError(f"unknown declaration level {level!r}")
    return {"declared_by_id": None if level == "agency" else person_id, "declared_level": level}


def _priced(due: Due, declaration: Declaration) -> Declaration:
    """The due's amount is now this declaration's: its consent is the one withholding reads.
    Replacing the declaration behind a due changes what a resident checks (and who vouches for
    it), so the due's revision moves on: a confirm page or a withholding run that read the old
    one is stale, even when the amount stayed the same."""
    db.session.add(declaration)
    db.session.flush()
    if due.declaration_id is not None:
        due.revision += 1
    due.declaration_id = declaration.id
    due.reopened_reason = None  # declared again: owed as this declaration says
    due.provisional_on = declaration.provisional_on
    db.session.flush()
    return declaration


def _new_due(enrollment: Enrollment, start: str, end: str, amount: int, late: int) -> Due:
    due = Due(
        enrollment_id=enrollment.id,
        kind="normal",
        period_start=start,
        period_end=end,
        amount_fen=amount,
        late_fee_fen=late,
        state="open",
    )
    db.session.add(due)
    db.session.flush()
    dues.created(due, "缴费申报")
    return due


def declare_base(
    person_id: int,
    enrollment: Enrollment,
    *,
    year: int,
    month_from: int,
    month_to: int,
    base_fen: int | None,
    today: dt.date,
    level: str,
    allow_withholding: bool = False,
) -> Declaration:
    """灵活就业 基数申报 for months of one year: one due for the months, base × rate each.
    `level` is the identity level of who declares (see the module's docstring);
    `allow_withholding` the answer to 缴费基数是否允许用于批扣 (no unless said)."""
    made_by = _made_by(person_id, level)
    if enrollment.person_id != person_id or enrollment.category != "flexible":
        raise DeclarationError("agency", AGENCY_MISMATCH)
    standard = _standard(enrollment, year, today)
    start, end = check_months(year, month_from, month_to)
    base_fen = check_base(standard, base_fen)
    with write_transaction():
        _lock(enrollment)
        taken = _superseding_reopened(_overlapping(enrollment, start, end))
        if taken:
            if any(d.state == "paid" for d in taken):
                message = "所选费款所属期已缴费，请勿重复缴费"
            elif any(d.kind == "backpay" for d in taken):
                message = "所选费款所属期已有经办机构核定的补缴费款，请选择缴费类型“补缴”缴纳"
            else:
                message = "所选费款所属期已申报，如需更改缴费基数，请先在申报查询中作废原申报"
            raise DeclarationError("month_from", message)
        q = quote_base(standard, enrollment.insurance, base_fen, start, end, today)
        due = _new_due(enrollment, start, end, q.total_fen, q.late_fee_fen)
        declaration = Declaration(
            person_id=person_id,
            enrollment_id=enrollment.id,
            standard_id=standard.id,
            kind="base",
            period_start=start,
            period_end=end,
            base_fen=base_fen,
            amount_fen=q.total_fen,
            late_fee_fen=q.late_fee_fen,
            due_id=due.id,
            state="valid",
            provisional_on=standard.provisional_on,
            allow_withholding=bool(allow_withholding),
            **made_by,
        )
        _priced(due, declaration)
    return declaration


def _year_due(enrollment: Enrollment, year: int) -> Due | None:
    """The year's due (not a 补差 of it, which is owed besides)."""
    return db.session.scalar(
        select(Due).where(
            Due.enrollment_id == enrollment.id,
            Due.kind == "normal",
            Due.state != "void",
            Due.difference_of_id.is_(None),
            Due.period_start == f"{year}-01",
            Due.period_end == f"{year}-12",
        )
    )


def _declare_year(
    person_id: int,
    enrollment: Enrollment,
    standard: Standard,
    kind: str,
    amount: int,
    grade_fen: int | None,
    level: str,
) -> Declaration:
    """One due per person, enrollment and year: make it, or re-price it while unpaid (the
    earlier choice becomes void, and the due follows the new one, consent included). Runs
    inside the caller's write transaction."""
    made_by = _made_by(person_id, level)
    year = standard.year
    _lock(enrollment)
    due = _year_due(enrollment, year)
    if due is not None and due.state == "paid":
        raise DeclarationError("year", f"{year}年度已缴费，不能更改")
    if due is not None and due.order_id is not None:
        raise DeclarationError("year", f"{year}年度的费款正在支付中，请等待支付结果后再更改")
    previous = list(
        db.session.scalars(
            select(Declaration).where(
                Declaration.enrollment_id == enrollment.id,
                Declaration.state == "valid",
                Declaration.period_start == f"{year}-01",
            )
        )
    )
    if due is None:
        due = _new_due(enrollment, f"{year}-01", f"{year}-12", amount, 0)
    elif due.amount_fen != amount:
        try:
            change_due_amount(due, amount, cause="重新选档")
        except RegistryError:
            raise DeclarationError("year", f"{year}年度的费款正在支付中，请等待支付结果后再更改") from None
    for old in previous:
        old.state, old.voided_at, old.void_reason = "void", utcnow(), "重新选档"
    declaration = Declaration(
        person_id=person_id,
        enrollment_id=enrollment.id,
        standard_id=standard.id,
        kind=kind,
        period_start=f"{year}-01",
        period_end=f"{year}-12",
        grade_fen=grade_fen,
        amount_fen=amount,
        late_fee_fen=0,
        due_id=due.id,
        state="valid",
        provisional_on=standard.provisional_on,
        **made_by,
    )
    return _priced(due, declaration)


def current_grade(enrollment: Enrollment, year: int) -> int | None:
    """The grade chosen for this year and still valid (the form shows it chosen)."""
    return db.session.scalar(
        select(Declaration.grade_fen).where(
            Declaration.enrollment_id == enrollment.id,
            Declaration.state == "valid",
            Declaration.kind == "grade",
            Declaration.period_start == f"{year}-01",
        )
    )


def choose_grade(
    person_id: int, enrollment: Enrollment, *, year: int, grade_fen: int | None, today: dt.date, level: str
) -> Declaration:
    """城乡居民养老 选档: one grade per person per year, changeable until paid."""
    if enrollment.person_id != person_id or (enrollment.category, enrollment.insurance) != ("resident", "pension"):
        raise DeclarationError("agency", AGENCY_MISMATCH)
    standard = _standard(enrollment, year, today)
    if grade_fen is None:
        raise DeclarationError("grade", "请选择缴费档次")
    if grade_fen not in (standard.grades_fen or []):
        raise DeclarationError("grade", f"{year}年度没有该缴费档次，请从列出的档次中选择")
    with write_transaction():
        return _declare_year(person_id, enrollment, standard, "grade", grade_fen, grade_fen, level)


def declare_medical(person_id: int, enrollment: Enrollment, *, year: int, today: dt.date, level: str) -> Declaration:
    """城乡居民医疗: the year's fixed amount. Declaring it again changes nothing, unless the
    person now declares at the verified level what someone else, or a looked-up session, did:
    then theirs replaces it (so it may be withheld)."""
    if enrollment.person_id != person_id or (enrollment.category, enrollment.insurance) != ("resident", "medical"):
        raise DeclarationError("agency", AGENCY_MISMATCH)
    standard = _standard(enrollment, year, today)
    with write_transaction():
        due = _year_due(enrollment, year)
        if due is not None and due.state == "open" and due.amount_fen == standard.medical_fen:
            current = db.session.scalar(
                select(Declaration).where(Declaration.due_id == due.id, Declaration.state == "valid")
            )
            if current is not None and not _stronger(person_id, level, current):
                return current  # declared already: pay it
        return _declare_year(person_id, enrollment, standard, "fixed", standard.medical_fen, None, level)


def _stronger(person_id: int, level: str, current: Declaration) -> bool:
    """Whether a declaration by this person at this level would vouch for the due where the
    current one does not."""
    return (
        level == "verified"
        and current.declared_level != "agency"
        and not (current.declared_level == "verified" and current.declared_by_id == person_id)
    )


def void(person_id: int, declaration_id: int, reason: str = "本人作废") -> Declaration:
    """基数作废 / 档次作废: only the person's own valid declaration whose due nobody has paid
    or is paying; its due goes with it."""
    with write_transaction():
        declaration = db.session.scalar(
            select(Declaration).where(Declaration.id == declaration_id, Declaration.person_id == person_id)
        )
        if declaration is None:
            raise DeclarationError("declaration", "未找到该申报记录")
        if declaration.state != "valid":
            raise DeclarationError("declaration", "该申报已作废")
        _lock(declaration.enrollment)
        due = declaration.due
        if due is not None and due.state == "paid":
            raise DeclarationError("declaration", "该申报已缴费，不能作废")
        if due is not None:
            try:
                dues.transition(due, "void", f"申报作废：{reason}", expect_order=None)
            except dues.DueChanged:
                raise DeclarationError("declaration", "该申报的费款正在支付中，请等待支付结果后再作废") from None
        declaration.state, declaration.voided_at, declaration.void_reason = "void", utcnow(), reason[:40]
    return declaration


def history(
    person_id: int,
    state: str | None = None,
    kinds=None,
    category: str | None = None,
    declared_from: dt.date | None = None,
    declared_to: dt.date | None = None,
) -> list[Declaration]:
    """The person's declarations, newest first; state 'valid' / 'void' / None for all;
    kinds ('base', 'grade') for 选档记录 only; 申报日期 from / to (Shanghai days, inclusive)."""
    query = select(Declaration).where(Declaration.person_id == person_id)
    if declared_from:
        start = dt.datetime.combine(max(declared_from, FIRST_DAY), dt.time(), SHANGHAI)
        query = query.where(Declaration.declared_at >= start)
    if declared_to:
        end = dt.datetime.combine(min(declared_to, LAST_DAY) + dt.timedelta(days=1), dt.time(), SHANGHAI)
        query = query.where(Declaration.declared_at < end)
    if state in ("valid", "void"):
        query = query.where(Declaration.state == state)
    if kinds:
        query = query.where(Declaration.kind.in_(kinds))
    if category:
        query = query.join(Enrollment, Enrollment.id == Declaration.enrollment_id).where(
            Enrollment.category == category
        )
    return list(db.session.scalars(query.order_by(Declaration.declared_at.desc(), Declaration.id.desc())))


def confirm_backpay(person_id: int, enrollment: Enrollment, shown: str, *, level: str) -> list[Due]:
    """补缴明细确认: the person confirms the 补缴 they were shown (`shown`, the fingerprint of
    the page) and gets them back to pay — their own, or (verified) a 被代缴人's, whose 补缴 the
    payer's 自动缴 then takes from the payer's agreement. The confirmation is recorded on each due (who, when,
    level), and a verified one is never replaced by a looked-up one; a page showing other
    figures than the dues now have is refused, writing nothing."""
    from sbweb.payments.orders import fingerprint
    from sbweb.services.payees import is_payee

    if level not in ("verified", "lookup") or not (
        enrollment.person_id == person_id or (level == "verified" and is_payee(person_id, enrollment.person_id))
    ):
        raise DeclarationError("backpay", "只能确认本人或您的被代缴人的补缴费款")
    with write_transaction():
        _lock(enrollment)
        dues = backpay_dues(enrollment)
        if not dues:
            raise DeclarationError("backpay", "暂无可确认的补缴费款")
        if fingerprint(dues) != shown:
            raise DeclarationError("backpay", "补缴明细已变更，请核对下方最新明细后再确认")
        now = utcnow()
        for due in dues:
            # Conditional on the revision shown: an agency correction landing meanwhile makes
            # the whole confirmation stale rather than confirming a figure nobody saw.
            still = db.session.execute(
                update(Due)
                .where(Due.id == due.id, Due.state == "open", Due.revision == due.revision)
                .values(
                    confirmed_by_id=case((Due.confirmed_level == "verified", Due.confirmed_by_id), else_=person_id),
                    confirmed_at=case((Due.confirmed_level == "verified", Due.confirmed_at), else_=now),
                    confirmed_level=case((Due.confirmed_level == "verified", "verified"), else_=level),
                )
                .execution_options(synchronize_session=False)
            ).rowcount
            if still != 1:
                raise DeclarationError("backpay", "补缴明细已变更，请核对下方最新明细后再确认")
    for due in dues:
        db.session.refresh(due)
    return dues


def backpay_dues(enrollment: Enrollment) -> list[Due]:
    """补缴 pushed by the agency for this enrollment that can be paid now."""
    return [
        d
        for d in db.session.scalars(
            select(Due)
            .where(Due.enrollment_id == enrollment.id, Due.kind == "backpay", Due.state == "open")
            .order_by(Due.period_start)
        )
        if d.payable
    ]
