"""The sandbox provider's pages and API: its cashier (付款详情), its gateway, its public key.

Documented URLs (README): GET /sandbox/alipay-public-key.pem is the key that verifies what
the sandbox signs; POST /sandbox/gateway.do takes Alipay API calls (trade query, close,
refund, bill download URL); GET /sandbox/gateway.do is alipay.trade.wap.pay.
"""
import datetime as dt
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, redirect, render_template, request
from sqlalchemy import select

from sbweb import csrf
from sbweb.db import db
from sbweb.forms.base import Form
from sbweb.models import SandboxTrade
from sbweb.payments import sandbox, signing

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _cashier(trade, error=None, status=200):
    return render_template("sandbox/cashier.html", trade=trade, form=Form(), error=error,
                           refusal=sandbox.payable(trade) if trade else None), status


@bp.route("/gateway.do", methods=["GET", "POST"])
@csrf.exempt
def gateway():
    params = request.values.to_dict()
    if request.method == "POST":
        return Response(sandbox.answer(params.get("method", ""), params), mimetype="application/json")
    if params.get("method") != "alipay.trade.wap.pay":
        return _cashier(None, "不支持的接口", 400)
    try:
        biz = sandbox.verify_request(params)
        trade = sandbox.open_trade(params, biz)
    except sandbox.SandboxError as exc:
        return _cashier(None, exc.message, 400)
    return _cashier(trade)


@bp.post("/cashier/<trade_no>")
def cashier(trade_no):
    trade = db.session.scalar(select(SandboxTrade).filter_by(trade_no=trade_no[:64]))
    if trade is None:
        abort(404)
    if request.form.get("action") == "cancel":
        return redirect(trade.quit_url or "/", 303)
    try:
        trade = sandbox.pay(trade_no, fail="fail" in request.form, late="late" in request.form,
                            twice="twice" in request.form, silent="silent" in request.form)
    except sandbox.SandboxError as exc:
        return _cashier(trade, exc.message, 409)
    if trade.status != "TRADE_SUCCESS":
        return redirect(trade.quit_url or "/", 303)
    return redirect(f"{trade.return_url}?{urlencode(sandbox.return_params(trade))}", 303)


@bp.get("/alipay-public-key.pem")
def public_key():
    return Response(signing.public_pem(sandbox.platform_key()), mimetype="application/x-pem-file")


@bp.get("/bills/<day>.csv")
def bill(day):
    try:
        when = dt.date.fromisoformat(day)
    except ValueError:
        abort(404)
    if not signing.verify(sandbox.platform_key().public_key(), f"bill:{when.isoformat()}",
                          request.args.get("token", "")):
        abort(403)
    return Response(sandbox.bill_csv(when), mimetype="text/csv")
