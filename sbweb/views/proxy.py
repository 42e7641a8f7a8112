"""我帮他人缴 (代缴): the payer's 被代缴人 — add, view, delete, 自动缴 — and paying their dues
through the same 缴费信息确认 → 选择缴款方式 → 去支付 as self-pay, one order for one or
several people (a family batch). 代他人缴费 pays for someone once, typed in (证件类型 + 证件号码
+ 姓名, looked up like adding a payee) without adding them; the result page offers
加入被代缴人列表.

The list holds other people's identities, so it needs a verified session. A payer sees a
payee's dues and the name (to check), the number masked, and nothing else of theirs.
"""

from flask import Blueprint, abort, flash, redirect, session, url_for
from sqlalchemy import select

from sbweb import identity
from sbweb.checkout import start_selection
from sbweb.db import db
from sbweb.forms.base import options
from sbweb.forms.declare import BackpayForm
from sbweb.forms.proxy import AutoPayForm, ConfirmRemoveForm, KeepPayeeForm, OnceForm, PayeeForm
from sbweb.forms.selfpay import DuesForm
from sbweb.htmx import render_step
from sbweb.identity import throttled_lookup
from sbweb.models import Enrollment, Order, Person
from sbweb.payments import orders
from sbweb.services import bank, declarations, payees, withholding
from sbweb.services import dues as dues_service

bp = Blueprint("proxy", __name__, url_prefix="/proxy")


def _own_payee(payee_id: int):
    row = payees.payee(identity.person_id(), payee_id)
    if row is None:
        abort(404)
    return row


@bp.get("/")
def index():
    rows = payees.payees_of(identity.person_id())
    counts = {r.id: sum(c for c, _ in dues_service.open_due_counts(r.person_id).values()) for r in rows}
    totals = {r.id: sum(t for _, t in dues_service.open_due_counts(r.person_id).values()) for r in rows}
    return render_step(
        "proxy/index.html",
        rows=rows,
        counts=counts,
        totals=totals,
        has_agreement=bool(bank.agreements_active(identity.person_id())),
    )


@bp.route("/add", methods=["GET", "POST"])
def add():
    """添加被代缴人: 证件类型 + 证件号码 + 姓名, validated and throttled like a manual lookup."""
    form = PayeeForm()
    person, status = _typed_person(form, lambda p: payees.add(identity.person_id(), p))
    if person is not None:
        flash(f"已添加被代缴人 {person.name}")
        return redirect(url_for("proxy.index"), 303)
    return render_step("proxy/add.html", form=form, status=status)


def _typed_person(form, check):
    """证件类型 + 证件号码 + 姓名 as typed: validated, looked up with the lookup limits and the name
    check (sbweb.identity), then `check(person)`, which raises PayeeError to refuse. Returns the
    person and None, or None and the page's status (the refusal written into the form)."""
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        person, status = throttled_lookup(form)
        if person is not None:
            try:
                check(person)
            except payees.PayeeError as exc:
                if exc.field:
                    form[exc.field].errors.append(exc.message)
                else:
                    form.form_errors.append(exc.message)
                return None, 422
            return person, None
    return None, status


def _once_person() -> Person | None:
    """Whom this payer typed in on 代他人缴费 (kept in the session for the steps that follow)."""
    once = session.get("once")
    if not isinstance(once, dict) or once.get("payer") != identity.person_id():
        return None
    return db.session.get(Person, once.get("person"))


@bp.route("/once", methods=["GET", "POST"])
def once():
    """代他人缴费: 证件类型 + 证件号码 + 姓名 → 下一步, checked and throttled like 添加被代缴人."""
    form = OnceForm()
    person, status = _typed_person(form, lambda p: payees.check_payable_for(identity.person_id(), p, adding=False))
    if person is not None:
        session["once"] = {"payer": identity.person_id(), "person": person.id}
        return redirect(url_for("proxy.once_enrollments"), 303)
    return render_step("proxy/once.html", form=form, status=status)


@bp.get("/once/enrollments")
def once_enrollments():
    person = _once_person()
    if person is None:
        flash("请先输入被代缴人的证件信息")
        return redirect(url_for("proxy.once"), 303)
    return render_step(
        "selfpay/enrollments.html",
        title="代他人缴费",
        owner=person,
        enrollments=dues_service.enrollments_of(person.id),
        counts=dues_service.open_due_counts(person.id),
        dues_url=lambda no: url_for("proxy.once_dues", enrollment_no=no),
    )


@bp.route("/once/<enrollment_no>/dues", methods=["GET", "POST"])
def once_dues(enrollment_no):
    person = _once_person()
    if person is None:
        flash("请先输入被代缴人的证件信息")
        return redirect(url_for("proxy.once"), 303)
    return _dues_step(
        person,
        enrollment_no,
        action=url_for("proxy.once_dues", enrollment_no=enrollment_no),
        back=url_for("proxy.once_enrollments"),
        once=True,
    )


@bp.post("/keep")
def keep():
    """加入被代缴人列表 from the result of paying for someone once."""
    form = KeepPayeeForm()
    if not form.validate_on_submit():
        flash("页面已过期，请重新操作")
        return redirect(url_for("proxy.index"), 303)
    order = db.session.scalar(select(Order).filter_by(order_no=form.order_no.data))
    if order is None or not identity.may_see_order(order):
        abort(404)
    person = next((p for p in payees.paid_for_once(identity.person_id(), order) if str(p.id) == form.person.data), None)
    if person is None:
        flash("该人员已在您的被代缴人列表中")
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    try:
        payees.add(identity.person_id(), person)
    except payees.PayeeError as exc:
        flash(exc.message)
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    flash(f"已添加被代缴人 {person.name}")
    return redirect(url_for("proxy.index"), 303)


@bp.route("/<int:payee_id>/remove", methods=["GET", "POST"])
def remove(payee_id):
    row = _own_payee(payee_id)
    form = ConfirmRemoveForm()
    if form.validate_on_submit():
        name = row.person.name
        payees.remove(identity.person_id(), payee_id)
        flash(f"已删除被代缴人 {name}；已缴费记录仍可在缴费记录中查看")
        return redirect(url_for("proxy.index"), 303)
    return render_step("proxy/remove.html", form=form, row=row)


@bp.post("/<int:payee_id>/auto-pay")
def auto_pay(payee_id):
    """自动缴 on/off. Stored now; it pays only through a bank agreement, which says so."""
    row = _own_payee(payee_id)
    form = AutoPayForm()
    if form.validate_on_submit() and form.auto_pay.data in ("on", "off"):
        on, name = form.auto_pay.data == "on", row.person.name
        payees.set_auto_pay(identity.person_id(), row.id, on)
        if not on:
            flash(f"已为 {name} 关闭自动缴")
        elif bank.agreements_active(identity.person_id()):
            flash(f"已为 {name} 开启自动缴：新产生的应缴费款将通过您的银行缴费协议每日自动扣缴")
        else:
            flash(f"已为 {name} 开启自动缴。自动缴需要您本人签订的银行缴费协议，签约后新产生的应缴费款将自动扣款")
    return redirect(url_for("proxy.index"), 303)


@bp.get("/<int:payee_id>/")
def enrollments(payee_id):
    row = _own_payee(payee_id)
    return render_step(
        "selfpay/enrollments.html",
        title="我帮他人缴",
        owner=row.person,
        enrollments=dues_service.enrollments_of(row.person_id),
        counts=dues_service.open_due_counts(row.person_id),
        dues_url=lambda no: url_for("proxy.dues", payee_id=payee_id, enrollment_no=no),
    )


@bp.route("/<int:payee_id>/<enrollment_no>/dues", methods=["GET", "POST"])
def dues(payee_id, enrollment_no):
    row = _own_payee(payee_id)
    return _dues_step(
        row.person,
        enrollment_no,
        action=url_for("proxy.dues", payee_id=payee_id, enrollment_no=enrollment_no),
        back=url_for("proxy.enrollments", payee_id=payee_id),
        backpay=url_for("proxy.backpay", payee_id=payee_id, enrollment_no=enrollment_no[:32]),
    )


@bp.route("/<int:payee_id>/backpay/<enrollment_no>", methods=["GET", "POST"])
def backpay(payee_id, enrollment_no):
    """补缴明细确认 of a payee's 补缴 by the payer: with 自动缴 on, what the payer confirms here is
    what the daily run may take from the payer's agreement."""
    row = _own_payee(payee_id)
    enrollment = db.session.scalar(
        select(Enrollment).where(Enrollment.enrollment_no == enrollment_no[:32], Enrollment.person_id == row.person_id)
    )
    if enrollment is None:
        abort(404)
    back = url_for("proxy.dues", payee_id=payee_id, enrollment_no=enrollment.enrollment_no)
    form = BackpayForm()
    if form.validate_on_submit():
        try:
            dues = declarations.confirm_backpay(
                identity.person_id(), enrollment, form.shown.data, level=identity.level()
            )
        except declarations.DeclarationError as exc:
            form.form_errors.append(exc.message)
        else:
            return start_selection(
                identity.person_id(), enrollment.enrollment_no, dues, people={row.person_id}, back=back
            )
    return _backpay_page(form, row, enrollment, back)


def _backpay_page(form, row, enrollment: Enrollment, back: str):
    """补缴明细确认 as it stands now; with 自动缴 on, the payer's agreement that may take it."""
    dues = declarations.backpay_dues(enrollment)
    form.shown.data = orders.fingerprint(dues)
    agreements = bank.agreements_active(identity.person_id()) if row.auto_pay else []
    return render_step(
        "declare/backpay.html",
        form=form,
        enrollment=enrollment,
        dues=dues,
        payee=row.person,
        total=sum(d.amount_fen for d in dues),
        agreement=agreements[0] if agreements else None,
        verified=identity.is_verified(),
        back=back,
        status=422 if form.is_submitted() else 200,
        action=url_for("proxy.backpay", payee_id=row.id, enrollment_no=enrollment.enrollment_no),
    )


def _dues_step(person, enrollment_no: str, *, action: str, back: str, once: bool = False, backpay: str | None = None):
    """选择缴费信息 for someone else (a payee, or someone paid for once) → 缴费信息确认."""
    enrollment, owed = dues_service.dues_page(person.id, enrollment_no[:32])
    if enrollment is None:
        abort(404)
    payable = [d for d in owed if d.payable]
    form = DuesForm()
    form.dues.choices = options((d.id, d.period_label) for d in payable)
    if form.validate_on_submit():
        chosen = orders.load_dues([d.id for d in payable if d.id in set(form.dues.data)], {person.id})
        return start_selection(
            identity.person_id(), enrollment.enrollment_no, chosen, people={person.id}, back=action, once=once
        )
    selected = set(form.dues.data or []) if form.is_submitted() else {d.id for d in payable}
    return render_step(
        "selfpay/dues.html",
        form=form,
        payee=person,
        enrollment=enrollment,
        dues=owed,
        selected=selected,
        notices=withholding.skips_of_dues([d.id for d in owed], identity.person_id()),
        status=422 if form.is_submitted() else 200,
        action=action,
        back=back,
        backpay_url=backpay,
    )


def _batch_groups(payer: int) -> list[dict]:
    """Each person's open dues, enrollment by enrollment: the payer's own first, then payees'."""
    people = [(identity.current_person(), "本人")] + [(r.person, "被代缴人") for r in payees.payees_of(payer)]
    groups = []
    for person, role in people:
        lines = []
        for enrollment in dues_service.enrollments_of(person.id):
            _, owed = dues_service.dues_page(person.id, enrollment.enrollment_no)
            lines += [(enrollment, d) for d in owed]
        groups.append({"person": person, "role": role, "lines": lines})
    return groups


@bp.route("/batch", methods=["GET", "POST"])
def batch():
    """合并缴费: several people's dues (the payer's own and their payees') in one order."""
    payer = identity.person_id()
    groups = _batch_groups(payer)
    payable = {d.id: g["person"].id for g in groups for _, d in g["lines"] if d.payable}
    form = DuesForm()
    form.dues.choices = options((i, str(i)) for i in payable)
    if form.validate_on_submit():
        ids = [i for i in form.dues.data if i in payable]
        chosen_people = {payable[i] for i in ids}
        chosen = orders.load_dues(ids, chosen_people)
        return start_selection(payer, None, chosen, people=chosen_people, back=url_for("proxy.batch"))
    selected = set(form.dues.data or []) if form.is_submitted() else set()
    return render_step(
        "proxy/batch.html", form=form, groups=groups, selected=selected, status=422 if form.is_submitted() else 200
    )
