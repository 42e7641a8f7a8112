"""授权: the host app vouches for its user (同意授权), or the resident types who they are."""
from flask import Blueprint, current_app, flash, redirect, request, url_for
from sqlalchemy import select

from sbweb import auth
from sbweb.db import db
from sbweb.forms.auth import ConsentForm, ManualIdentityForm
from sbweb.forms.base import options
from sbweb.hosts import HOST_LABELS, detect_host
from sbweb.htmx import render_step
from sbweb.models import Person
from sbweb.demo import demo_id_numbers
from sbweb.services import throttle
from sbweb.services.people import find_person

bp = Blueprint("auth", __name__, url_prefix="/auth")

NO_MATCH = "证件号码与姓名不一致，或未查询到该人员，请核对后重新输入"
TOO_MANY = "查询失败次数过多，请{minutes}分钟后再试。如不确定登记的姓名，请联系参保地经办机构"


def _consent_form() -> ConsentForm:
    form = ConsentForm()
    # Only the demo residents: the sandbox must never let anyone act as a real person.
    people = db.session.scalars(select(Person).where(Person.id_number.in_(demo_id_numbers()))
                                .order_by(Person.id)) if current_app.config["HOST_SANDBOX_ENABLED"] else []
    form.person.choices = options((p.id, f"{p.name}（{p.masked_id}）") for p in people)
    form.host.choices = options(HOST_LABELS.items())
    if not form.is_submitted():
        form.host.data = detect_host(request.user_agent.string)
        form.next.data = auth.safe_next(request.args.get("next"))
    return form


@bp.get("/")
def authorize():
    """The host app's authorization sheet."""
    return render_step("auth/authorize.html", form=_consent_form(), need=request.args.get("need"),
                       host_sandbox=current_app.config["HOST_SANDBOX_ENABLED"])


@bp.post("/consent")
def consent():
    if not current_app.config["HOST_SANDBOX_ENABLED"]:
        return redirect(url_for("auth.manual"), 303)  # a real host's OAuth replaces this
    form = _consent_form()
    if not form.validate_on_submit():
        return render_step("auth/authorize.html", form=form, host_sandbox=True, status=422)
    person = db.session.get(Person, form.person.data)
    auth.sign_in(person, "verified", form.host.data)
    return redirect(auth.safe_next(form.next.data), 303)


def throttled_lookup(form) -> tuple:
    """The person a validated form's 证件类型 + 证件号码 + 姓名 name, throttled per number and per
    client: (person, 200), or (None, 422 / 429) with the message on the form — a wrong name and
    an unknown number read the same."""
    keys = throttle.keys(form.id_type.data, form.id_number.data, request.remote_addr)
    if throttle.refused(keys):
        minutes = int(current_app.config["LOOKUP_WINDOW"].total_seconds() // 60)
        form.form_errors.append(TOO_MANY.format(minutes=minutes))
        return None, 429
    person = find_person(form.id_type.data, form.id_number.data, form.name.data)
    if person is None:
        throttle.record_failure(keys)
        form.form_errors.append(NO_MATCH)
        return None, 422
    return person, 200


@bp.route("/manual", methods=["GET", "POST"])
def manual():
    """拒绝授权 → 授权信息确认: 证件类型, 证件号码, 姓名 give a lookup-level session."""
    form = ManualIdentityForm()
    if request.method == "GET":
        form.next.data = auth.safe_next(request.args.get("next"))
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        person, status = throttled_lookup(form)
        if person is not None:
            auth.sign_in(person, "lookup", detect_host(request.user_agent.string))
            return redirect(auth.safe_next(form.next.data), 303)
    return render_step("auth/manual.html", form=form, status=status)


@bp.post("/sign-out")
def sign_out():
    auth.sign_out()
    flash("已退出")
    return redirect(url_for("home.index"), 303)
