"""授权: the host app vouches for its user (同意授权), or the resident types who they are."""

import hmac
import logging
import secrets

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from sqlalchemy import select

from sbweb import identity
from sbweb.db import db
from sbweb.demo import demo_id_numbers
from sbweb.forms.auth import ConsentForm, ManualIdentityForm
from sbweb.forms.base import options
from sbweb.forms.certificates import PlainForm
from sbweb.htmx import leave_app, render_step
from sbweb.models import Person

bp = Blueprint("auth", __name__, url_prefix="/auth")
log = logging.getLogger(__name__)

HOST_FAILED = "未能完成授权，请重新授权，或选择「拒绝授权」后手动输入证件信息"
HOST_UNKNOWN = "未查询到您的参保信息。如已参保，请选择「拒绝授权」后手动输入证件信息，或联系参保地经办机构"
FIRST_TIME = "首次在微信中使用，请先绑定参保人信息"


def _consent_form() -> ConsentForm:
    form = ConsentForm()
    # Only the demo residents: the sandbox must never let anyone act as a real person.
    people = (
        db.session.scalars(select(Person).where(Person.id_number.in_(demo_id_numbers())).order_by(Person.id))
        if current_app.config["HOST_SANDBOX_ENABLED"]
        else []
    )
    form.person.choices = options((p.id, f"{p.name}（{p.masked_id}）") for p in people)
    form.host.choices = options(identity.HOST_LABELS.items())
    if not form.is_submitted():
        form.host.data = identity.detect_host(request.user_agent.string)
        form.person.data = identity.person_id()  # a looked-up resident verifying: themselves first
        form.next.data = identity.safe_next(request.args.get("next"))
    return form


def _authorize_page(form: ConsentForm, status: int = 200):
    need = request.args.get("need") if request.args.get("need") in identity.RESIDENT_LEVELS else None
    host = identity.detect_host(request.user_agent.string)
    signin = identity.host_signin_for(host)
    return render_step(
        "auth/authorize.html",
        form=form,
        need=need,
        action=identity.action_words(request.args.get("action")),
        looked_up=identity.level() == "lookup",
        # A tax app has no 授权 of its own, so the sandbox does not pretend one either.
        host_sandbox=current_app.config["HOST_SANDBOX_ENABLED"] and not identity.is_tax_app(host),
        host_signin=signin,
        bridge=_bridge(signin, form.next.data) if host == "unionpay" and signin is not None else None,
        status=status,
    )


def _bridge(signin, next_url: str | None) -> dict | None:
    """What static/unionpay-bridge.js needs to take 同意授权 through 云闪付's upsdk.appletAuth: the
    upsdk.config for this page, our callback and the state it must bring. None: no bridge
    (this sign-in has none, or the open platform did not answer), the plain link stays."""
    if not hasattr(signin, "bridge_config"):
        return None
    try:
        config = signin.bridge_config(request.url)
    except identity.HostSignInError as exc:
        log.warning("host sign-in %s: no bridge: %s", signin.name, exc)
        return None
    callback, state = _expect_callback(signin, next_url, need=request.args.get("need"))
    return {**config, "callback": callback, "state": state}


@bp.get("/")
def authorize():
    """The host app's authorization sheet (in a tax app, which has none: 证件信息 straight away)."""
    if identity.is_tax_app(identity.detect_host(request.user_agent.string)) and request.args.get("need") != "verified":
        return redirect(url_for("auth.manual", next=request.args.get("next")), 303)
    return _authorize_page(_consent_form())


@bp.post("/consent")
def consent():
    """同意授权 in the host-app sandbox: as the demo resident the tester chose, through the
    sandbox's Alipay-style authorization and back to our callback, like a real host."""
    if not current_app.config["HOST_SANDBOX_ENABLED"]:
        return redirect(url_for("auth.manual"), 303)  # a real host's OAuth replaces this
    form = _consent_form()
    if not form.validate_on_submit():
        return render_step("auth/authorize.html", form=form, host_sandbox=True, status=422)
    person = db.session.get(Person, form.person.data)
    signin = identity.host_signins().get(identity.HOST_SANDBOX)
    if signin is None:  # the host sandbox without the payment sandbox's gateway to ask
        identity.sign_in(person, "verified", form.host.data)
        return redirect(identity.safe_next(form.next.data), 303)
    callback, state = _expect_callback(signin, form.next.data, host=form.host.data)
    return redirect(signin.authorize_url_for(callback, state, person.id_number), 303)


def _expect_callback(signin, next_url: str | None, **pending) -> tuple[str, str]:
    """Remember what the host's callback must bring back (a fresh state) and where to go then;
    (the callback URL, the state)."""
    state = secrets.token_hex(16)  # letters and digits: 云闪付 takes no other state
    session["host_signin"] = {"name": signin.name, "state": state, "next": identity.safe_next(next_url), **pending}
    base = (current_app.config["PUBLIC_BASE_URL"] or request.host_url).rstrip("/")
    return base + url_for("auth.host_callback", name=signin.name), state


@bp.get("/host/<name>")
def host_start(name):
    """同意授权 inside a host app: off to the host's own authorization page."""
    signin = identity.host_signins().get(name) or abort(404)
    callback, state = _expect_callback(signin, request.args.get("next"), need=request.args.get("need"))
    return leave_app(signin.authorize_url(callback, state))


def _host_failed(message: str, status: int):
    form = _consent_form()
    form.form_errors.append(message)
    return _authorize_page(form, status=status)


@bp.get("/host/<name>/callback")
def host_callback(name):
    """The host sends the browser back with a code: ask the host who it is."""
    signin = identity.host_signins().get(name) or abort(404)
    pending = session.pop("host_signin", None)
    if (
        not isinstance(pending, dict)
        or pending.get("name") != name
        or not hmac.compare_digest(str(pending.get("state", "")), request.args.get("state", "")[:64])
    ):
        log.warning("host sign-in %s: callback without its state", name)
        return _host_failed(HOST_FAILED, 400)
    try:
        host_user = signin.identify(request.args)
    except identity.HostSignInError as exc:
        log.warning("host sign-in %s refused: %s", name, exc)
        return _host_failed(HOST_FAILED, 400)
    # The sandbox's tester may say the page is open in another host; the host's id for its user
    # goes with the session only inside that host (a WeChat payment needs WeChat's own id).
    host = pending.get("host") or signin.host
    subject = host_user.subject if host == signin.host else None
    person = identity.host_person(host_user)
    if person is None and host_user.names_person:
        return _host_failed(HOST_UNKNOWN, 200)
    if person is None:
        # The host knows its user but not who they are in law, and no binding says: bound once
        # by 证件信息 and a code sent to the contact on file (sbweb.views.codecheck).
        return _host_unbound(signin, host_user, pending)
    identity.sign_in(person, "verified", host, subject)
    return redirect(identity.safe_next(pending.get("next")), 303)


def _host_unbound(signin, host_user: identity.HostIdentity, pending: dict):
    """The host sign-in callback's answer for a host user bound to no one yet. A resident
    already identified here keeps the session, which now knows the host's id (paying inside
    WeChat needs it): a verified one is bound at once, a lookup one may bind by code. Anyone
    else says who they are first."""
    identity.remember_unbound(signin, host_user)
    target = identity.safe_next(pending.get("next"))
    if identity.person_id() is None:
        flash(FIRST_TIME)
        return redirect(url_for("codecheck.identity", next=target), 303)
    identity.login_sessions.set_host(identity.current_login(), signin.host, host_user.subject)
    if identity.is_verified():
        identity.bind_host_user(host_user, identity.current_person(), replacing_others=True)
        identity.forget_binding()
        return redirect(target, 303)
    if pending.get("need") == "verified":
        return redirect(url_for("codecheck.code", next=target), 303)
    return redirect(target, 303)


@bp.route("/manual", methods=["GET", "POST"])
def manual():
    """拒绝授权 → 授权信息确认: 证件类型, 证件号码, 姓名 give a lookup-level session."""
    form = ManualIdentityForm()
    if request.method == "GET":
        form.next.data = identity.safe_next(request.args.get("next"))
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        person, status = identity.throttled_lookup(form)
        if person is not None:
            identity.sign_in_looked_up(person)  # a host user waiting still waits, for a code
            return redirect(identity.safe_next(form.next.data), 303)
    return render_step("auth/manual.html", form=form, status=status)


@bp.get("/sign-ins")
def sign_ins():
    """登录记录: when and how this person signed in (level, host app, masked address) and how
    each sign-in ended, so a sign-in they do not recognise shows."""
    return render_step(
        "auth/sign_ins.html",
        rows=identity.login_sessions.history_of_person(identity.person_id()),
        here=identity.current_login().id,
        end_form=PlainForm(),
    )


@bp.post("/sign-ins/end-others")
def end_other_sign_ins():
    """结束其他登录: a sign-in the resident does not recognise ends, wherever it is."""
    form = PlainForm()
    if form.validate_on_submit():
        ended = identity.login_sessions.end_other_resident_sessions(
            identity.person_id(), keep=identity.current_login().id
        )
        flash(f"已结束其他 {ended} 个登录" if ended else "没有其他未退出的登录")
    return redirect(url_for("auth.sign_ins"), 303)


@bp.post("/sign-out")
def sign_out():
    identity.sign_out()
    flash("已退出")
    return redirect(url_for("home.index"), 303)
