"""身份验证: a one-time code sent to the contact on file makes a session verified — for a
resident in a plain browser whose page needs it, and once for a WeChat user, whom it binds to
the person (WeChat says who its user is to WeChat, never who they are in law).

证件信息 (the throttled lookup) → 获取验证码 (mailed to the address on file, shown masked) →
验证码 → verified, and the WeChat user bound. Each step is one URL: a page, or a fragment for
HTMX."""

import threading

from flask import Blueprint, current_app, flash, redirect, request, session, url_for

from sbweb import identity
from sbweb.db import db
from sbweb.forms.codecheck import CodeForm, IdentityForm, SendCodeForm
from sbweb.htmx import render_step
from sbweb.models import Person

# `codecheck`, not `verify`: /verify is 证明核验 (sbweb.views.certificates). The URLs stay
# /auth/verify/…, which residents have bookmarked and mails link to.
bp = Blueprint("codecheck", __name__, url_prefix="/auth/verify")


def _next(value: str | None = None) -> str:
    return identity.safe_next(value if value is not None else request.args.get("next"))


@bp.get("/")
def start():
    """通过验证码验证: straight to the code for a resident already identified, else 证件信息."""
    target = _next()
    if identity.is_verified():
        return redirect(target, 303)
    if identity.person_id() is not None:
        return redirect(url_for("codecheck.code", next=target), 303)
    return redirect(url_for("codecheck.identity", next=target), 303)


# (The function is not named `identity`: that is the package this module asks who the resident is.)
@bp.route("/identity", methods=["GET", "POST"], endpoint="identity")
def identity_step():
    """证件信息: who the resident is, checked like every lookup (throttled, same words for a
    wrong name and an unknown number). Gives a lookup-level session; the code comes next."""
    form = IdentityForm()
    if request.method == "GET":
        form.next.data = _next()
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        if identity.number_locked(form):
            return _send_blind(form)
        person, status = identity.throttled_lookup(form)
        if person is not None:
            identity.sign_in_looked_up(person)
            return redirect(url_for("codecheck.code", next=_next(form.next.data)), 303)
    return render_step(
        "codecheck/identity.html",
        form=form,
        binding=identity.pending_binding(),
        status=status,
    )


def _send_blind(form):
    """证件信息 for a number whose lookups are locked by wrong names: a code goes to the person's
    address on file if the name matched, and the next page is the same either way."""
    person = identity.silent_lookup(form)
    row, deliver = identity.send_blind(person.id if person is not None else None)
    session["verify_blind"] = row.id
    # The mail goes from a thread of its own, started the same way for a decoy, so the response's
    # timing does not tell either. (Not response.call_on_close: the development server runs that
    # only once the browser drops its connection, which may be minutes later.)
    app = current_app._get_current_object()

    def mail_it():
        if deliver is not None:
            with app.app_context():
                deliver()

    threading.Thread(target=mail_it, name="blind-code-mail", daemon=True).start()
    return redirect(url_for("codecheck.blind", next=_next(form.next.data)), 303)


def _blind_page(form: CodeForm, status: int = 200):
    return render_step(
        "codecheck/blind.html",
        form=form,
        binding=identity.pending_binding(),
        status=status,
    )


@bp.route("/locked", methods=["GET", "POST"])
def blind():
    """输入验证码 after 证件信息 during a lookup lock: the page never says whether the code was
    sent (whether the name matched); only the right code signs in, as verified."""
    code_id = session.get("verify_blind")
    if not isinstance(code_id, int):
        return redirect(url_for("codecheck.identity", next=_next()), 303)
    form = CodeForm()
    if request.method == "GET":
        form.next.data = _next()
        return _blind_page(form)
    if not form.validate_on_submit():
        return _blind_page(form, 422)
    outcome = identity.check_code(None, code_id, form.code.data)
    if not outcome.ok:
        if outcome.dead:
            session.pop("verify_blind", None)
            flash(outcome.message)
            return redirect(url_for("codecheck.identity", next=_next(form.next.data)), 303)
        form.code.errors = [outcome.message]
        return _blind_page(form, 422)
    session.pop("verify_blind", None)
    person, pending = db.session.get(Person, outcome.person_id), identity.pending_binding()
    if pending:
        identity.bind_pending(pending, person)
        identity.sign_in(person, "verified", pending["host"], pending["subject"])
    else:
        identity.sign_in(person, "verified", identity.detect_host(request.user_agent.string))
    flash("身份验证成功")
    return redirect(_next(form.next.data), 303)


def _sent() -> dict | None:
    """The code this session asked for, if it is for the signed-in person."""
    sent = session.get("verify")
    if isinstance(sent, dict) and sent.get("person") == identity.person_id() and isinstance(sent.get("code"), int):
        return sent
    return None


def _code_page(code_form=None, send_form=None, status=200):
    person = identity.current_person()
    if send_form is None:
        send_form = SendCodeForm(formdata=None)
        send_form.next.data = _next(code_form.next.data if code_form is not None else None)
    if code_form is None:
        code_form = CodeForm(formdata=None)
        code_form.next.data = send_form.next.data
    return render_step(
        "codecheck/code.html",
        person=person,
        code_form=code_form,
        send_form=send_form,
        sent=_sent(),
        email=identity.masked_email(person.email),
        binding=identity.pending_binding(),
        status=status,
    )


@bp.get("/code")
def code():
    """获取验证码 / 输入验证码: one page, before and after the code was sent."""
    if identity.is_verified():
        return redirect(_next(), 303)
    return _code_page()


@bp.post("/send")
def send():
    form = SendCodeForm()
    if not form.validate_on_submit():
        return _code_page(send_form=form, status=422)
    try:
        row = identity.send_code(identity.person_id())
    except identity.VerificationError as exc:
        form.form_errors.append(exc.message)
        return _code_page(send_form=form, status=429 if not isinstance(exc, identity.NoContact) else 422)
    session["verify"] = {"person": identity.person_id(), "code": row.id}
    return redirect(url_for("codecheck.code", next=_next(form.next.data)), 303)


@bp.post("/code")
def check():
    form = CodeForm()
    sent = _sent()
    if sent is None:
        flash("请先获取验证码")
        return redirect(url_for("codecheck.code", next=_next(form.next.data)), 303)
    if not form.validate_on_submit():
        return _code_page(code_form=form, status=422)
    outcome = identity.check_code(identity.person_id(), sent["code"], form.code.data)
    if not outcome.ok:
        if outcome.dead:  # forget it: the page offers 获取验证码 again, with the reason on top
            session.pop("verify", None)
            again = SendCodeForm(formdata=None)
            again.next.data = _next(form.next.data)
            again.form_errors.append(outcome.message)
            return _code_page(send_form=again, status=422)
        form.code.errors = [outcome.message]
        return _code_page(code_form=form, status=422)
    person, pending, target = identity.current_person(), identity.pending_binding(), _next(form.next.data)
    bound = bool(pending) and pending["subject"] == identity.host_subject()
    if bound:
        identity.bind_pending(pending, person)
    identity.sign_in(person, "verified", identity.host(), identity.host_subject())
    flash(f"已绑定，今后在{identity.host_label(pending['host'])}中授权即可直接登录" if bound else "身份验证成功")
    return redirect(target, 303)
