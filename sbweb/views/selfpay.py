"""我为自己缴: pick the enrollment → the dues → 缴费信息确认 → 选择缴款方式 → 去支付.

The chosen dues travel in the session between steps; each step checks the one before it
was done ("you can't be on 选择缴款方式 without a confirmed selection").
"""

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for

from sbweb import identity
from sbweb.checkout import go_pay, start_selection
from sbweb.clock import shanghai_now, shanghai_today
from sbweb.db import db
from sbweb.forms.base import options
from sbweb.forms.selfpay import ConfirmForm, DuesForm, MethodForm
from sbweb.htmx import render_step
from sbweb.identity import channel_choices
from sbweb.models import Person
from sbweb.models.order import CHANNEL_LABELS
from sbweb.payments import orders
from sbweb.services import declarations, payees, standards, withholding
from sbweb.services import dues as dues_service

bp = Blueprint("selfpay", __name__, url_prefix="/selfpay")


def _selection() -> dict | None:
    selection = session.get("selection")
    if not selection or selection.get("person") != identity.person_id():
        return None
    return selection


def payment_pause(dues):
    """The reconciliation window pausing payment of these dues now, if any (对账时段)."""
    return standards.pause_now({d.enrollment.agency.region_code for d in dues}, shanghai_now())


def _people(selection) -> set[int]:
    """Whose dues the selection pays: the payer's own, or 被代缴人 (代缴)."""
    return set(selection.get("people") or [selection["person"]])


def _selected_dues(selection):
    return orders.load_dues(selection["dues"], _people(selection))


def _all_paid(selection, chosen) -> bool:
    """Every due of the selection is paid now (the resident came Back after paying)."""
    return bool(chosen) and len(chosen) == len(selection["dues"]) and all(d.state == "paid" for d in chosen)


def _payees_shown(selection) -> list:
    """The 被代缴人 a confirm page names (masked), when the payer pays for others."""
    others = _people(selection) - {selection["person"]}
    return [db.session.get(Person, p) for p in sorted(others)]


def _withholding_notices(owed) -> dict[int, list[str]]:
    """Why the resident's bank agreement left dues for them to pay: shown to a verified session
    only, since it tells of the agreement (a looked-up one may see what is owed, no more)."""
    if not identity.is_verified():
        return {}
    return withholding.skips_of_dues([d.id for d in owed], identity.person_id())


@bp.get("/")
def enrollments():
    payer = identity.person_id()
    enrollments, counts = dues_service.enrollments_of(payer), dues_service.open_due_counts(payer)
    today = shanghai_today()
    # 无待缴 where a collection window is open: say it may be declared (the dues page offers it).
    declarable = {
        e.id: [s.year for s in declarations.declarable_years(e, today)] for e in enrollments if e.id not in counts
    }
    return render_step("selfpay/enrollments.html", enrollments=enrollments, counts=counts, declarable=declarable)


def _dues_page(enrollment, owed, form, selected: set[int], **context):
    return render_step(
        "selfpay/dues.html",
        form=form,
        enrollment=enrollment,
        dues=owed,
        selected=selected,
        notices=_withholding_notices(owed),
        **context,
    )


def _dues_shown(payer: int, enrollment, owed):
    """The dues page as first shown, every payable due ticked. The busiest page: no form object
    is needed to show it."""
    flow, windows = (
        declarations.declarable(payer, enrollment.enrollment_no, shanghai_today()) if not owed else (None, [])
    )
    backpay_url = url_for("declare.backpay", enrollment_no=enrollment.enrollment_no)
    selected = {d.id for d in owed if d.payable}
    return _dues_page(enrollment, owed, None, selected, flow=flow, windows=windows, backpay_url=backpay_url)


@bp.route("/<enrollment_no>/dues", methods=["GET", "POST"])
def dues(enrollment_no):
    payer = identity.person_id()
    enrollment, owed = dues_service.dues_page(payer, enrollment_no[:32])
    if enrollment is None:
        abort(404)
    if request.method == "GET":
        return _dues_shown(payer, enrollment, owed)
    payable = [d for d in owed if d.payable]
    form = DuesForm()
    form.dues.choices = options((d.id, d.period_label) for d in payable)
    if form.validate_on_submit():
        chosen = [d for d in payable if d.id in set(form.dues.data)]
        return start_selection(payer, enrollment.enrollment_no, chosen)
    return _dues_page(enrollment, owed, form, set(form.dues.data or []), status=422)


def _confirm_page(form, selection, chosen, current: str, unpayable: bool, status: int):
    """缴费信息确认 as shown: the current figures, and whether they changed since last shown."""
    changed = (form.shown.data or selection["shown"]) != current
    if changed:
        selection["shown"] = current
        session["selection"] = selection
    form.shown.data = current
    # Back after paying: the dues are paid now, which is news to give, not an error to fix.
    return render_step(
        "selfpay/confirm.html",
        form=form,
        dues=chosen,
        changed=changed and not unpayable,
        paid=_all_paid(selection, chosen),
        pause=payment_pause(chosen),
        payees=_payees_shown(selection),
        back=selection.get("back") or url_for("selfpay.enrollments"),
        unpayable=unpayable,
        enrollment_no=selection["enrollment"],
        total=sum(d.amount_fen for d in chosen),
        status=status,
    )


@bp.route("/confirm", methods=["GET", "POST"])
def confirm():
    """缴费信息确认. If the dues changed since the page was shown, say so with the new figures."""
    selection = _selection()
    if selection is None:
        flash("请先选择要缴纳的费款")
        return redirect(url_for("selfpay.enrollments"), 303)
    chosen = _selected_dues(selection)
    current = orders.fingerprint(chosen)
    unpayable = len(chosen) != len(selection["dues"]) or any(not d.payable for d in chosen)
    form = ConfirmForm()
    status = 200
    if form.is_submitted():
        if not form.validate() or unpayable:
            status = 422
        elif form.shown.data != current:
            status = 409  # the page was stale: show the new figures, charge nothing
        else:
            selection["confirmed"] = current
            session["selection"] = selection
            return redirect(url_for("selfpay.method"), 303)
    return _confirm_page(form, selection, chosen, current, unpayable, status)


def _method_page(form, choices, chosen, pause, status: int):
    return render_step(
        "selfpay/method.html",
        form=form,
        choices=choices,
        dues=chosen,
        total=sum(d.amount_fen for d in chosen),
        pause=pause,
        status=status,
    )


def _method_form(selection, choices) -> MethodForm:
    """The channels on offer here; a lone one is chosen already."""
    form = MethodForm()
    form.channel.choices = options((c.code, CHANNEL_LABELS[c.code]) for c in choices if c.available)
    if request.method == "GET":
        form.selection.data = selection["key"]
        if len(form.channel.choices) == 1:
            form.channel.data = form.channel.choices[0].value
    return form


def _payee_gone(selection) -> bool:
    """A 被代缴人 of the selection has left the payer's list since (and is not paid for once)."""
    payer = identity.person_id()
    others = _people(selection) - {payer}
    once = set(selection.get("once") or [])
    return bool(others) and not all(p in once or payees.is_payee(payer, p) for p in others)


def _place_order(form, selection):
    """The order for the confirmed selection (one however often 去支付 is posted), then the
    provider. A refusal redirects, or is written into the form (None: show the page again)."""
    try:
        made = orders.create_order(
            payer_id=identity.person_id(),
            person_ids=_people(selection),
            due_ids=selection["dues"],
            shown=selection["confirmed"],
            channel=form.channel.data,
            idempotency_key=selection["key"],
            # 支付中 and this session's list of orders written with the order: one transaction.
            paying_from=(identity.host(), identity.host_subject()),
            also=lambda order: identity.remember_order_within(order.order_no),
        )
    except orders.StaleSelection as exc:
        selection["confirmed"] = None
        session["selection"] = selection
        flash(exc.message)
        return redirect(url_for("selfpay.confirm"), 303)
    except orders.DueUnavailable as exc:
        if exc.held_by and identity.may_see_order_no(exc.held_by):
            flash("该笔费款已在支付中，请勿重复缴费")
            return redirect(url_for("orders.show", order_no=exc.held_by), 303)
        # Held by an order this session did not make (a looked-up session sees only its own).
        form.form_errors.append("该笔费款已在支付中，请勿重复缴费" if exc.held_by else exc.message)
    except orders.PaymentError as exc:
        form.form_errors.append(exc.message)
    else:
        if made.created:
            identity.remembered(made.also)
        else:
            identity.remember_order(made.order.order_no)
        return go_pay(made.order)
    return None


def _go_pay(form, selection, chosen, choices):
    """去支付, the form valid: checked against other tabs, the payer's list and the
    reconciliation window before any order is made."""
    if form.selection.data != selection["key"]:
        flash("缴费信息已在其他页面更改，请核对最新的缴费信息")
        return redirect(url_for("selfpay.confirm"), 303)
    if _payee_gone(selection):
        flash("被代缴人已从您的列表中删除，未发起缴费")
        return redirect(url_for("proxy.index"), 303)
    pause = payment_pause(chosen)
    if pause is not None:
        form.form_errors.append(pause.message)
        return _method_page(form, choices, chosen, pause, 422)
    return _place_order(form, selection)


@bp.route("/method", methods=["GET", "POST"])
def method():
    """选择缴款方式 → 去支付: make the order (once per confirmed selection) and go to the provider."""
    selection = _selection()
    if selection is None or not selection.get("confirmed"):
        flash("请先核对缴费信息")
        return redirect(url_for("selfpay.confirm" if selection else "selfpay.enrollments"), 303)
    chosen = _selected_dues(selection)
    if request.method == "GET" and _all_paid(selection, chosen):
        # Back after paying: the confirm page says they are paid. (Dues held by this selection's
        # own order stay here: 去支付 again goes back to that order, never a second one.)
        return redirect(url_for("selfpay.confirm"), 303)
    choices = channel_choices(identity.host(), current_app.config["PAYMENT_CHANNELS"])
    form = _method_form(selection, choices)
    if form.validate_on_submit() and (answer := _go_pay(form, selection, chosen, choices)) is not None:
        return answer
    form.selection.data = selection["key"]
    return _method_page(form, choices, chosen, payment_pause(chosen), 422 if form.is_submitted() else 200)
