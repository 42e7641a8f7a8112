"""Checkout, shared by the journeys that pay: hand chosen dues to 我为自己缴's 缴费信息确认
(from 我为自己缴, 缴费申报 and 我帮他人缴), and send an order to its provider (去支付, 继续支付).

Not a service: these read the request and the session and answer with a redirect. Not a view
either: no view imports another, so what several journeys share lives here.
"""

import secrets

from flask import current_app, flash, redirect, request, session, url_for

from sbweb import identity
from sbweb.htmx import leave_app
from sbweb.payments import PayerUnknown, orders

BRIDGE_KEYS = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")


def start_selection(payer: int, enrollment_no: str, dues, *, people=None, back: str | None = None, once: bool = False):
    """Hand chosen dues to 缴费信息确认 (from 我为自己缴, 缴费申报 or 我帮他人缴). `once`: the
    people are paid for once (代他人缴费, typed in and looked up), not from the payer's list."""
    session["selection"] = {
        "person": payer,
        "people": sorted(people or {payer}),
        "once": sorted(people or ()) if once else [],
        "enrollment": enrollment_no,
        "dues": [d.id for d in dues],
        "shown": orders.fingerprint(dues),
        "confirmed": None,
        "key": secrets.token_urlsafe(16),
        "back": back or url_for("selfpay.dues", enrollment_no=enrollment_no),
    }
    return redirect(url_for("selfpay.confirm"), 303)


def payment_urls(order) -> dict:
    """Where the provider sends the notify, the returning browser and a resident who quits.
    A pilot sets PUBLIC_BASE_URL so these never depend on the request's Host header."""
    base = (current_app.config["PUBLIC_BASE_URL"] or request.host_url).rstrip("/")
    return {
        "notify_url": base + url_for("notify.receive", provider=order.provider),
        "return_url": base + url_for("orders.provider_return", provider=order.provider),
        "quit_url": base + url_for("orders.show", order_no=order.order_no),
    }


def start_payment(order):
    """The provider's start of payment for this order, as this session's host and payer."""
    return orders.start_payment(
        order,
        **payment_urls(order),
        host=identity.host(),
        payer_subject=identity.host_subject(),
        client_ip=request.remote_addr,
    )


def go_pay(order):
    """To the provider's page for an active order (HX-Redirect for HTMX), or to our page that
    hands it to the host app's JS bridge (WeChat JSAPI); else to the order."""
    shown = url_for("orders.show", order_no=order.order_no)
    if not order.active:
        return redirect(shown, 303)
    try:
        start = start_payment(order)
    except PayerUnknown as exc:
        # Inside WeChat the payer must be known to WeChat first: its sign-in, then 继续支付.
        if identity.host_signin_for(exc.host) is None:
            flash("暂时无法使用此缴款方式，请选择其他缴款方式")
            return redirect(shown, 303)
        flash("使用微信支付需先授权获取您的微信账号信息，授权后请点击“继续支付”")
        return redirect(url_for("auth.authorize", next=shown), 303)
    except orders.PaymentError as exc:
        flash(exc.message)
        return redirect(shown, 303)
    if start.bridge is not None:
        session["bridge"] = {"order": order.order_no, "params": {k: start.bridge[k] for k in BRIDGE_KEYS}}
        return redirect(url_for("orders.bridge", order_no=order.order_no), 303)
    if start.form is not None:
        # A full page load (HX-Redirect for HTMX), so that its form posts itself to the provider.
        return leave_app(url_for("orders.post_form", order_no=order.order_no))
    return leave_app(start.url)
