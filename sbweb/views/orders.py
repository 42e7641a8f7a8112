"""After 去支付: the provider's return, the 支付中 page that polls, and 缴费结果."""

from flask import Blueprint, abort, current_app, flash, redirect, request, session, url_for
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload, selectinload

from sbweb import identity
from sbweb.checkout import go_pay, start_payment
from sbweb.clock import shanghai_now
from sbweb.db import db
from sbweb.extensions import csrf
from sbweb.forms.proxy import KeepPayeeForm
from sbweb.htmx import into_main, polled_by, render_part, render_step
from sbweb.models import Due, Enrollment, Order, OrderItem, Ticket
from sbweb.payments import InvalidNotice, PayerUnknown, orders
from sbweb.services import payees, standards

bp = Blueprint("orders", __name__)


def _own_order(order_no: str, *, as_shown: bool = False) -> Order:
    order = db.session.scalars(_SHOWN if as_shown else _OWN, {"order_no": order_no[:32]}).unique().one_or_none()
    if order is None or not identity.may_see_order(order):
        abort(404)  # someone else's order looks exactly like no order
    return order


# What the 缴费结果 page shows of an order, loaded with it: the tickets with their tax offices
# and the refunds joined, the items with their dues, enrollments and people in one query more —
# two statements where loading them one by one took eight. (Not for the polled 支付中 line.)
# Built once, with bind parameters.
_OWN = select(Order).where(Order.order_no == bindparam("order_no"))
_SHOWN = _OWN.options(
    joinedload(Order.tickets).joinedload(Ticket.tax_office),
    joinedload(Order.refunds),
    selectinload(Order.items).joinedload(OrderItem.due).joinedload(Due.enrollment).joinedload(Enrollment.person),
)
_RETURNED = select(Order).where(Order.order_no == bindparam("order_no"), Order.provider == bindparam("provider"))


@bp.get("/orders/<order_no>")
def show(order_no):
    """支付中 while the outcome is open (asks the provider, at most every few seconds), then
    缴费结果. The same URL serves the page, the polled fragment and the 刷新 button."""
    order = _own_order(order_no, as_shown=not polled_by("order-state"))
    if order.active:
        order = orders.refresh(order, min_interval=current_app.config["ORDER_QUERY_INTERVAL"])
    # Paid for someone once (代他人缴费): offer to keep them on the list (a verified write).
    polled = polled_by("order-state")
    if polled and order.active:
        return render_part("orders/_state.html", order=order)  # only the status line changes
    keep = payees.paid_for_once(identity.person_id(), order) if identity.is_verified() and not order.active else []
    response = render_step("orders/show.html", order=order, keep=keep, keep_form=KeepPayeeForm() if keep else None)
    return into_main(response) if polled else response


@bp.get("/pay/wechat/<order_no>")
def bridge(order_no):
    """微信支付 inside WeChat: our page hands the prepay to WeixinJSBridge (static/wechat-pay.js)
    and then goes to 支付中. Without JavaScript it says what to do instead. Every order's page
    sits in one directory, /pay/wechat/: the 支付授权目录 a merchant registers with WeChat Pay."""
    order = _own_order(order_no)
    held = session.get("bridge")
    if not order.active or not isinstance(held, dict) or held.get("order") != order.order_no:
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    return render_step("orders/bridge.html", order=order, bridge=held["params"])


@bp.get("/pay/form/<order_no>")
def post_form(order_no):
    """A provider whose page is reached by a form post (UnionPay's 前台交易): the signed form,
    posted by static/provider-form.js on load, and by its button without JavaScript. Signed
    afresh each time (it holds nothing secret and is cheap); only for an order in 支付中."""
    order = _own_order(order_no)
    if order.state != "paying":
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    try:
        start = start_payment(order)
    except (orders.PaymentError, PayerUnknown) as exc:
        flash(getattr(exc, "message", None) or "暂时无法使用此缴款方式，请选择其他缴款方式")
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    if start.form is None:
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    return render_step("orders/post_form.html", order=order, action=start.url, fields=start.form)


@bp.post("/orders/<order_no>/check")
def check(order_no):
    """刷新: ask the provider now, whenever it was last asked, then show the order."""
    order = _own_order(order_no)
    if order.active:
        orders.refresh(order)
    return redirect(url_for("orders.show", order_no=order.order_no), 303)


@bp.post("/orders/<order_no>/resume")
def resume(order_no):
    """继续支付: back to the provider's page for the same order (never a second order) —
    except in a reconciliation window, when payments pause."""
    order = _own_order(order_no)
    pause = standards.pause_now(orders.regions_of(order), shanghai_now())
    if pause is not None:
        flash(pause.message)
        return redirect(url_for("orders.show", order_no=order.order_no), 303)
    return go_pay(order)


@bp.post("/orders/<order_no>/cancel")
def cancel(order_no):
    order = _own_order(order_no)
    if order.active:
        order = orders.close(order, "缴费人取消支付")
        if order.active:
            flash("该订单可能已付款，正在确认支付结果")
        else:
            flash("已取消支付，所选费款可重新缴纳")
    return redirect(url_for("orders.show", order_no=order.order_no), 303)


@bp.route("/pay/return/<provider>", methods=["GET", "POST"])
@csrf.exempt  # UnionPay posts the browser back (to frontUrl) from its own page; nothing here writes
def provider_return(provider):
    """The browser comes back from the provider (a GET, or UnionPay's form post). This says
    which order to show, never that it was paid: only a verified notify or a trade query
    settles. A cross-site post carries no session cookie (SameSite=Lax): it is sent on to the
    order's page, whose GET does."""
    client = current_app.extensions["sbweb.providers"].get(provider)
    if client is None:
        abort(404)
    try:
        order_no = client.verify_return(request.values)[:32]
    except InvalidNotice:
        abort(400)
    order = db.session.scalar(_RETURNED, {"order_no": order_no, "provider": provider})
    # Some returns are unsigned (WeChat H5): anyone can type one, so only the payer's own
    # session makes us ask the provider; anyone else gets the same 404 as a wrong number.
    if order is not None and order.active and identity.may_see_order(order):
        orders.refresh(order)  # the resident just paid, most likely: ask now, not in 3 s
    return redirect(url_for("orders.show", order_no=order_no), 303)
