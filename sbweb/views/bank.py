"""存款账户账号报告 and 银行缴费协议 (本人才可签约: a verified session of the account holder)."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for

from sbweb import identity
from sbweb.forms.bank import AccountForm, AgreementForm, AgreementSettingsForm, ConfirmForm
from sbweb.forms.base import options
from sbweb.htmx import render_step
from sbweb.money import fen_display, fen_to_yuan
from sbweb.services import bank, withholding
from sbweb.services import dues as dues_service

bp = Blueprint("bank", __name__, url_prefix="/bank")
NOT_OFFERED = "本地区暂未开通银行缴费协议扣款，请选择其他方式缴费"


def _refused(form, exc: bank.BankError):
    if exc.field and exc.field in form:
        form[exc.field].errors.append(exc.message)
    else:
        form.form_errors.append(exc.message)


@bp.get("/")
def index():
    person = identity.person_id()
    agreements = bank.agreements_of(person)
    ids = [a.id for a in agreements]
    return render_step(
        "bank/index.html",
        accounts=bank.accounts_of(person),
        agreements=agreements,
        skipped=withholding.skips_of_agreements(ids),
        announced=withholding.announced_of_agreements(ids),
    )


def _save_account(form, person, existing):
    """报告 (a new account) or 变更 (`existing`); None when refused, the message in the form."""
    fields = {
        "bank_name": form.bank_name.data,
        "kind": form.kind.data,
        "account_no": form.account_no.data,
        "account_name": form.account_name.data,
    }
    try:
        if existing:
            bank.change(person, existing.id, **fields)
        else:
            bank.report(person, **fields)
    except bank.BankError as exc:
        _refused(form, exc)
        return None
    flash("账户信息已保存")
    # Reported from a 退费申请: back to it, where the resident left it.
    return redirect(identity.safe_next(request.args.get("next"), url_for("bank.index")), 303)


@bp.route("/accounts/new", methods=["GET", "POST"])
@bp.route("/accounts/<int:account_id>/edit", methods=["GET", "POST"])
def account(account_id=None):
    """存款账户账号报告: report a new account, or change one."""
    person = identity.current_person()
    existing = bank.own_account(person.id, account_id) if account_id else None
    if account_id and existing is None:
        abort(404)
    form = AccountForm(obj=existing)  # what was posted wins over the stored values
    if not form.is_submitted() and existing is None:
        form.account_name.data = person.name
    if form.validate_on_submit() and (saved := _save_account(form, person, existing)) is not None:
        return saved
    return render_step(
        "bank/account.html",
        form=form,
        existing=existing,
        next=identity.safe_next(request.args.get("next"), "") or None,
        status=422 if form.is_submitted() else 200,
    )


def _confirmed(form, act, done: str):
    """确认 on a confirmation page: `act()`, then back to the list saying `done`; None when the
    service refuses (its message in the form)."""
    try:
        act()
    except bank.BankError as exc:
        form.form_errors.append(exc.message)
        return None
    flash(done)
    return redirect(url_for("bank.index"), 303)


def _confirm_page(form, title: str, subject, action: str, note: str):
    return render_step(
        "bank/confirm.html",
        form=form,
        title=title,
        subject=subject,
        action=action,
        note=note,
        status=422 if form.form_errors else 200,
    )


@bp.route("/accounts/<int:account_id>/delete", methods=["GET", "POST"])
def delete_account(account_id):
    person = identity.person_id()
    account = bank.own_account(person, account_id)
    if account is None:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        done = _confirmed(form, lambda: bank.delete(person, account_id), "账户已删除")
        if done is not None:
            return done
    action = url_for("bank.delete_account", account_id=account_id)
    return _confirm_page(form, "删除账户", account, action, "删除后不能再用该账户签约或退费。")


def _agreement_form(person: int, accounts) -> AgreementForm:
    form = AgreementForm()
    form.enrollment.choices = options(
        [("", "请选择参保信息")]
        + [
            (e.enrollment_no, f"{e.category_label}{e.insurance_label} {e.enrollment_no}")
            for e in dues_service.enrollments_of(person)
        ]
    )
    form.account.choices = options((a.id, f"{a.bank_name} {a.masked_no}") for a in accounts)
    return form


def _sign(form, person: int):
    """签约 where 批扣 is offered; None when refused, the message in the form."""
    if not current_app.config["WITHHOLD_PROVIDER"]:
        form.form_errors.append(NOT_OFFERED)
        return None
    try:
        bank.sign(
            person,
            enrollment_no=form.enrollment.data,
            account_id=form.account.data,
            kind=form.kind.data,
            limit_fen=form.limit.fen,
            withhold_backpay=form.withhold_backpay.data,
        )
    except bank.BankError as exc:
        _refused(form, exc)
        return None
    flash("已签订银行缴费协议：新产生的应缴费款将从该账户扣缴")
    return redirect(url_for("bank.index"), 303)


@bp.route("/agreements/new", methods=["GET", "POST"])
def sign():
    """银行缴费协议: a reported account of one's own for one's own enrollment."""
    person = identity.person_id()
    accounts = bank.accounts_of(person)
    form = _agreement_form(person, accounts)
    if form.validate_on_submit() and (signed := _sign(form, person)) is not None:
        return signed
    return render_step("bank/agreement.html", form=form, accounts=accounts, status=422 if form.is_submitted() else 200)


@bp.route("/agreements/<int:agreement_id>/settings", methods=["GET", "POST"])
def settings(agreement_id):
    """修改扣款设置: the holder changes the 单笔扣款限额 and the 补缴 opt-in of an active agreement."""
    person = identity.person_id()
    agreement = next((a for a in bank.agreements_active(person) if a.id == agreement_id), None)
    if agreement is None:
        abort(404)
    form = AgreementSettingsForm()
    if not form.is_submitted():
        form.limit.data, form.withhold_backpay.data = fen_to_yuan(agreement.limit_fen), agreement.withhold_backpay
    if form.validate_on_submit():
        try:
            bank.change_settings(
                person, agreement_id, limit_fen=form.limit.fen, withhold_backpay=form.withhold_backpay.data
            )
        except bank.BankError as exc:
            _refused(form, exc)
        else:
            flash(f"已保存扣款设置：单笔扣款限额 ¥{fen_display(form.limit.fen)}")
            return redirect(url_for("bank.index"), 303)
    return render_step("bank/settings.html", form=form, agreement=agreement, status=422 if form.is_submitted() else 200)


@bp.route("/agreements/<int:agreement_id>/revoke", methods=["GET", "POST"])
def revoke(agreement_id):
    person = identity.person_id()
    agreement = next((a for a in bank.agreements_of(person) if a.id == agreement_id), None)
    if agreement is None:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        done = _confirmed(form, lambda: bank.revoke(person, agreement_id), "已撤销缴费协议，之后的费款不再自动扣缴")
        if done is not None:
            return done
    action = url_for("bank.revoke", agreement_id=agreement_id)
    note = "撤销后，新产生的应缴费款不再自动扣缴，需自行缴费。"
    return _confirm_page(form, "撤销银行缴费协议", agreement, action, note)
