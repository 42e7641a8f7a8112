"""缴费申报: 基数申报 (灵活就业 养老/医疗), 选档 (城乡居民养老), the year's fixed amount (城乡居民
医疗), 补缴明细确认, and 申报查询 / 选档记录查询 with 作废.

Each flow is one page: 社保经办机构 (市 → 经办机构, filled in from the person's enrollment),
then what the flow asks. 下一步 checks the agency is the person's and asks 再次确认经办机构信息
(Guizhou's seed); only its 确定 declares (the service computes every amount) and hands the
new due to 我为自己缴's 缴费信息确认, so paying is the journey residents already know.
Without JavaScript the 市 and 年份 lists refresh with a button; with HTMX they refresh in
place, and the amount follows the base as it is typed.
"""

from flask import Blueprint, abort, flash, redirect, request, url_for
from sqlalchemy import select

from sbweb import identity
from sbweb.checkout import start_selection
from sbweb.clock import shanghai_today
from sbweb.db import db
from sbweb.forms.base import options
from sbweb.forms.declare import BackpayForm, FlexibleForm, GradeForm, HistoryFilterForm, MedicalForm, VoidForm
from sbweb.htmx import render_step
from sbweb.models import Agency, Declaration, Enrollment
from sbweb.models.enrollment import CATEGORY_LABELS, INSURANCE_LABELS
from sbweb.money import yuan_to_fen
from sbweb.payments import orders
from sbweb.services import bank, declarations, standards
from sbweb.services.declarations import FLOWS, DeclarationError

bp = Blueprint("declare", __name__, url_prefix="/declare")

FORMS = {"base": FlexibleForm, "grade": GradeForm, "fixed": MedicalForm}
TITLES = {
    "flexible-pension": "灵活就业人员养老保险费申报",
    "flexible-medical": "灵活就业人员医疗保险费申报",
    "resident-pension": "城乡居民养老保险费申报",
    "resident-medical": "城乡居民医疗保险费申报",
}
MONTHS = [(m, f"{m:02d}月") for m in range(1, 13)]


def _hand_to_confirm(payer: int, enrollment: Enrollment, due_ids: list[int]):
    """Put the dues where 我为自己缴's 缴费信息确认 picks them up."""
    return start_selection(
        payer, enrollment.enrollment_no, orders.load_dues(due_ids, {payer}), back=url_for("declare.index")
    )


@bp.get("/")
def index():
    payer = identity.person_id()
    enrolled = {
        tuple(row)
        for row in db.session.execute(
            select(Enrollment.category, Enrollment.insurance).where(Enrollment.person_id == payer)
        )
    }
    flows = [
        {
            "slug": slug,
            "title": TITLES[slug],
            "category": CATEGORY_LABELS[c],
            "insurance": INSURANCE_LABELS[i],
            "enrolled": (c, i) in enrolled,
        }
        for slug, (c, i, _) in FLOWS.items()
    ]
    return render_step("declare/index.html", flows=flows)


def _agency_choices(form, enrollments: list[Enrollment]):
    """市 → 经办机构: the person's own agency is filled in; another city lists its agencies."""
    agencies = list(db.session.scalars(select(Agency).order_by(Agency.city, Agency.code)))
    cities = list(dict.fromkeys(a.city for a in agencies))
    own = enrollments[0].agency if enrollments else None
    if not form.is_submitted():
        form.city.data = own.city if own else (cities[0] if cities else None)
        form.agency.data = own.code if own else None
    city = form.city.data if form.city.data in cities else (own.city if own else None)
    form.city.data = city
    form.city.choices = options((c, c) for c in cities)
    form.agency.choices = options((a.code, a.name) for a in agencies if a.city == city)


def _enrollment_shown(payer: int, flow: str, form, enrollments) -> tuple[Enrollment, bool]:
    """The enrollment whose standards the page lists, and whether it is at the chosen agency:
    else the person's first for this flow (a mismatch is reported on 下一步, not while choosing)."""
    try:
        return declarations.enrollment_at(payer, flow, form.agency.data or ""), True
    except DeclarationError:
        return enrollments[0], False


def _parse_base(form) -> int | None:
    text = (form.base.data or "").strip().replace("，", ",")
    if not text:
        return None
    try:
        return yuan_to_fen(text)
    except ValueError:
        form.base.errors = list(form.base.errors) + ["缴费基数应为金额，如 4504.00"]
        return None


def _from_dues(payer: int, enrollments: list[Enrollment]) -> Enrollment | None:
    """?then=<个人参保编号>: declaring from 我为自己缴's 无待缴 (its enrollment first), and back to
    its dues afterwards; anything not the payer's own for this flow is ignored."""
    wanted = (request.args.get("then") or "")[:32]
    return next((e for e in enrollments if e.enrollment_no == wanted), None)


def _enrollments_then(payer: int, flow: str) -> tuple[list[Enrollment], Enrollment | None]:
    """The person's enrollments for this flow, the one ?then= names first (see _from_dues)."""
    enrollments = declarations.enrollments_for(payer, flow)
    then = _from_dues(payer, enrollments)
    if then is not None:
        enrollments = [then] + [e for e in enrollments if e.id != then.id]
    return enrollments, then


def _year_choices(form, years, category: str, today) -> None:
    form.year.choices = options(
        (s.year, f"{s.year}年（暂按上年度标准）" if s.provisional_on else f"{s.year}年") for s in years
    )
    if form.year.data is None and years:
        # 灵活就业 pay this year's months; 城乡居民 the coming year once its collection opens.
        this_year = [s for s in years if s.year == today.year]
        form.year.data = (this_year or years)[-1 if category == "resident" else 0].year


def _flow_choices(form, chooses: str, enrollment: Enrollment, standard, today) -> None:
    """What the flow asks beside the year: the months (基数申报), or the grades (选档)."""
    if chooses == "base":
        form.month_from.choices = form.month_to.choices = options(MONTHS)
        if not form.is_submitted():
            form.month_from.data = form.month_to.data = today.month
    if chooses == "grade":
        grades = standard.grades_fen if standard else []
        form.grade.choices = options((g, f"{g // 100}元") for g in grades)
        if form.grade.data is None and standard:
            form.grade.data = declarations.current_grade(enrollment, standard.year)


def _fill_choices(payer: int, flow: str, form, enrollments: list[Enrollment], today) -> dict:
    """The form's lists for what is chosen so far (agency, year, months or grades); returns what
    the page shows beside the form."""
    category, _, chooses = FLOWS[flow]
    _agency_choices(form, enrollments)
    enrollment, matched = _enrollment_shown(payer, flow, form, enrollments)
    years = declarations.open_years(enrollment, today)
    _year_choices(form, years, category, today)
    standard = (
        standards.collecting_standard(enrollment.agency.region_code, form.year.data, category)
        if form.year.data
        else None
    )
    _flow_choices(form, chooses, enrollment, standard, today)
    return {"enrollment": enrollment, "matched": matched, "standard": standard, "years": years, "today": today}


def _quiet_validate(form) -> None:
    """刷新 or the amount's preview: the form takes what was posted, but what validating says is
    not shown until 下一步."""
    form.validate()
    form.form_errors.clear()
    for field in form:
        field.errors = []


def _after_declaring(payer: int, declared, then: Enrollment | None):
    if isinstance(declared, Enrollment):  # 补缴: the dues its agency pushed
        return redirect(url_for("declare.backpay", enrollment_no=declared.enrollment_no), 303)
    if then is not None:  # from 我为自己缴: back to the dues, the new one among them
        flash(f"已申报：{declared.enrollment.insurance_label} {declared.due.period_label}，请选择要缴纳的费款")
        return redirect(url_for("selfpay.dues", enrollment_no=declared.enrollment.enrollment_no), 303)
    return _hand_to_confirm(payer, declared.enrollment, [declared.due_id])


def _next_or_confirm(payer: int, flow: str, form, page: dict, action: str | None, today):
    """下一步 (再次确认经办机构信息) or its 确定 (declare), the form valid. None when refused: the
    message is written beside its field."""
    try:
        if action != "confirm":  # 下一步: the agency must be the person's; 再次确认经办机构信息
            return _confirm_agency(declarations.enrollment_at(payer, flow, form.agency.data), page)
        declared = _declare(payer, flow, form, today)  # 确定: only now is anything written
    except DeclarationError as exc:
        getattr(form, exc.field, form.agency).errors.append(exc.message)
        return None
    return _after_declaring(payer, declared, page["then"])


def _quote(form, insurance: str, standard, action: str | None, today):
    """基数申报's amount for the base as typed, once the base and the months make sense."""
    if not (standard and form.month_from.data and form.month_to.data):
        return None
    base = _parse_base(form) if action == "preview" or form.base.data else None
    if not (
        base
        and standard.base_min_fen <= base <= standard.base_max_fen
        and 1 <= form.month_from.data <= form.month_to.data <= 12
    ):
        return None
    start, end = declarations.check_months(form.year.data, form.month_from.data, form.month_to.data)
    return declarations.quote_base(standard, insurance, base, start, end, today)


def _form_page(form, page: dict, shown: dict, action: str | None):
    quote = (
        _quote(form, page["insurance"], shown["standard"], action, shown["today"])
        if page["chooses"] == "base"
        else None
    )
    failed = form.is_submitted() and action not in ("refresh", "preview") and bool(form.errors or form.form_errors)
    return render_step("declare/form.html", form=form, quote=quote, status=422 if failed else 200, **shown, **page)


@bp.route("/<flow>", methods=["GET", "POST"])
def declare(flow):
    if flow not in FLOWS:
        abort(404)
    _, insurance, chooses = FLOWS[flow]
    payer = identity.person_id()
    enrollments, then = _enrollments_then(payer, flow)
    page = {"flow": flow, "title": TITLES[flow], "chooses": chooses, "insurance": insurance, "then": then}
    if not enrollments:
        return render_step("declare/form.html", form=None, **page)
    form = FORMS[chooses]()
    shown = _fill_choices(payer, flow, form, enrollments, shanghai_today())
    action = request.form.get("action")
    if form.is_submitted() and action in ("refresh", "preview"):
        _quiet_validate(form)
    elif form.validate_on_submit():
        answer = _next_or_confirm(payer, flow, form, page, action, shown["today"])
        if answer is not None:
            return answer
    return _form_page(form, page, shown, action)


def _confirm_agency(enrollment: Enrollment, page: dict):
    """再次确认经办机构信息 (Guizhou): the agency and its tax office, before anything is written.
    确定 posts what was typed again (checked again in full) with action=confirm; 返回修改 with
    action=refresh, back to the form as it was."""
    typed = [(k, v) for k, v in request.form.items(multi=True) if k not in ("csrf_token", "action")]
    return render_step(
        "declare/agency.html",
        enrollment=enrollment,
        agency=enrollment.agency,
        office=enrollment.agency.tax_office,
        typed=typed,
        url=url_for("declare.declare", flow=page["flow"], then=page["then"].enrollment_no if page["then"] else None),
        **page,
    )


def _declare(payer: int, flow: str, form, today):
    """The service call for 下一步; for 补缴 (nothing to declare) the enrollment it is for."""
    enrollment = declarations.enrollment_at(payer, flow, form.agency.data)
    chooses = FLOWS[flow][2]
    if getattr(form, "pay_type", None) is not None and form.pay_type.data == "backpay":
        return enrollment
    if form.year.data is None:
        raise DeclarationError("year", "当前不在任何年度的征收期内，暂不能申报")
    if chooses == "base":
        base = _parse_base(form)
        if form.base.errors:
            raise DeclarationError("base", form.base.errors.pop())
        return declarations.declare_base(
            payer,
            enrollment,
            year=form.year.data,
            month_from=form.month_from.data or 0,
            month_to=form.month_to.data or 0,
            base_fen=base,
            today=today,
            level=identity.level(),
            allow_withholding=form.allow_withholding.data == "yes",
        )
    if chooses == "grade":
        return declarations.choose_grade(
            payer, enrollment, year=form.year.data, grade_fen=form.grade.data, today=today, level=identity.level()
        )
    return declarations.declare_medical(payer, enrollment, year=form.year.data, today=today, level=identity.level())


@bp.route("/backpay/<enrollment_no>", methods=["GET", "POST"])
def backpay(enrollment_no):
    """补缴明细确认: the 补缴 the agency approved and pushed, to check before paying. 下一步
    records the confirmation (a bank agreement withholds a 补缴 only once it is confirmed)."""
    payer = identity.person_id()
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.enrollment_no == enrollment_no[:32], Enrollment.person_id == payer)
    )
    if enrollment is None:
        abort(404)
    form = BackpayForm()
    if form.validate_on_submit():
        try:
            dues = declarations.confirm_backpay(payer, enrollment, form.shown.data, level=identity.level())
        except DeclarationError as exc:
            form.form_errors.append(exc.message)
        else:
            return _hand_to_confirm(payer, enrollment, [d.id for d in dues])
    return _backpay_page(form, enrollment)


def _backpay_page(form, enrollment: Enrollment):
    """补缴明细确认 as it stands now, and the agreement that may withhold it once confirmed."""
    dues = declarations.backpay_dues(enrollment)
    form.shown.data = orders.fingerprint(dues)
    return render_step(
        "declare/backpay.html",
        form=form,
        enrollment=enrollment,
        dues=dues,
        total=sum(d.amount_fen for d in dues),
        agreement=bank.active_agreement(enrollment.id),
        verified=identity.is_verified(),
        status=422 if form.is_submitted() else 200,
    )


@bp.get("/history")
def history():
    """申报查询 / 选档记录查询: the person's declarations, valid and void, newest first; by
    有效状态, 缴费人类型 and 申报日期 (a date that is none is told beside its field, nothing listed)."""
    dates = HistoryFilterForm(request.args)
    choices_only = dates.kind.data == "choice"
    rows = _history_rows(dates, choices_only) if dates.validate() else []
    return render_step(
        "declare/history.html",
        rows=rows,
        state=dates.state.data,
        choices_only=choices_only,
        category=dates.category.data,
        dates=dates,
        status=422 if dates.errors else 200,
    )


def _history_rows(dates, choices_only: bool) -> list:
    return declarations.history(
        identity.person_id(),
        dates.state.data or None,
        kinds=("base", "grade") if choices_only else None,
        category=dates.category.data or None,
        declared_from=dates.declared_from.data,
        declared_to=dates.declared_to.data,
    )


@bp.route("/history/<int:declaration_id>/void", methods=["GET", "POST"])
def void(declaration_id):
    """基数作废 / 档次作废, after a confirmation page."""
    payer = identity.person_id()
    declaration = db.session.scalar(
        select(Declaration).where(Declaration.id == declaration_id, Declaration.person_id == payer)
    )
    if declaration is None:
        abort(404)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            declarations.void(payer, declaration_id)
        except DeclarationError as exc:
            form.form_errors.append(exc.message)
        else:
            flash("申报已作废，对应的应缴费款已取消")
            return redirect(url_for("declare.history"), 303)
    return render_step("declare/void.html", form=form, declaration=declaration, status=422 if form.form_errors else 200)
