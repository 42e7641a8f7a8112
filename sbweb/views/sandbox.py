"""The sandbox provider's pages and API: its cashier (付款详情), its gateway, its user
authorization page, its public key, its bills.

Documented URLs (README): GET /sandbox/alipay-public-key.pem is the key that verifies what
the sandbox signs; /sandbox/gateway.do takes Alipay API calls by GET or POST (trade query,
close, refund, 协议扣款, bill download URL, OAuth token, user info) and shows the cashier for
alipay.trade.wap.pay; GET /sandbox/oauth2/publicAppAuthorize.htm is the authorization page.
Its 云闪付 open platform (sbweb.payments.sandbox_unionpay_users) is under /sandbox/unionpay/open:
GET html/oauth.html is the 云闪付 authorization page, POST access/1.0/<call> answers backendToken,
frontToken, token and user.auth, POST appletAuth stands in for the app's upsdk.appletAuth.
Its 银联 side (sbweb.payments.sandbox_unionpay) answers UnionPay's ACP 5.1.0 under
/sandbox/unionpay: the browser posts the 前台交易 form to gateway/api/frontTransReq.do (its 银联
cashier), our client posts to gateway/api/queryTrans.do and gateway/api/backTransReq.do, and
GET /sandbox/unionpay/acp_root.cer and acp_middle.cer are the chain that verifies what it signs.
"""

import datetime as dt
import re
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Response, abort, current_app, redirect, render_template, request
from sqlalchemy import select

from sbweb.db import db
from sbweb.extensions import csrf
from sbweb.forms.base import Form
from sbweb.id_numbers import mask
from sbweb.models import SandboxTrade
from sbweb.payments import sandbox, sandbox_unionpay, sandbox_unionpay_users, sandbox_users, signing

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _cashier(trade, error=None, status=200):
    return render_template(
        "sandbox/cashier.html", trade=trade, form=Form(), error=error, refusal=sandbox.payable(trade) if trade else None
    ), status


@bp.route("/gateway.do", methods=["GET", "POST"])
@csrf.exempt  # server to server (or a browser sent by our own signed redirect); RSA2 is the check
def gateway():
    # Alipay's gateway takes the parameters in the query string (as python-alipay-sdk sends
    # them) or in a form; alipay.trade.wap.pay is the browser arriving at the cashier.
    params = request.values.to_dict()
    if params.get("method") != "alipay.trade.wap.pay":
        return Response(
            sandbox.answer(params.get("method", ""), params, base_url=request.host_url), mimetype="application/json"
        )
    try:
        biz = sandbox.verify_request(params)
        trade = sandbox.open_trade(params, biz)
    except sandbox.SandboxError as exc:
        return _cashier(None, exc.message, 400)
    return _cashier(trade)


@bp.post("/cashier/<trade_no>")
def cashier(trade_no):
    trade = db.session.scalar(select(SandboxTrade).filter_by(trade_no=trade_no[:64]).where(*sandbox.ALIPAY_TRADES))
    if trade is None:
        abort(404)
    if request.form.get("action") == "cancel":
        return redirect(trade.quit_url or "/", 303)
    try:
        trade = sandbox.pay(
            trade_no,
            fail="fail" in request.form,
            late="late" in request.form,
            twice="twice" in request.form,
            silent="silent" in request.form,
        )
    except sandbox.SandboxError as exc:
        return _cashier(trade, exc.message, 409)
    if trade.status != "TRADE_SUCCESS":
        return redirect(trade.quit_url or "/", 303)
    return redirect(f"{trade.return_url}?{urlencode(sandbox.return_params(trade))}", 303)


@bp.get("/alipay-public-key.pem")
def public_key():
    return Response(signing.public_pem(sandbox.platform_key()), mimetype="application/x-pem-file")


@bp.get("/bills/<name>.csv.zip")
def bill(name):
    found = re.fullmatch(r"\d{16}0156_(\d{8})", name)
    try:
        when = dt.datetime.strptime(found.group(1), "%Y%m%d").date() if found else None
    except ValueError:
        when = None
    if when is None or name != sandbox.bill_name(when):
        abort(404)
    if not signing.verify(
        sandbox.platform_key().public_key(), f"bill:{when.isoformat()}", request.args.get("token", "")
    ):
        abort(403)
    return Response(
        sandbox.bill_zip(when),
        mimetype="application/zip",
        headers={"Content-Disposition": f"attachment; filename={name}.csv.zip"},
    )


@bp.get("/oauth2/publicAppAuthorize.htm")
def authorize():
    """The host app's authorization page. The sandbox box of our 授权 page names the user who
    agreed (sandbox_user); arriving without one (a live-style sign-in pointed at the sandbox),
    the tester picks the demo user here and agrees or declines."""
    public = current_app.config["PUBLIC_BASE_URL"]
    our_hosts = {request.host} | ({urlsplit(public).netloc} if public else set())
    args = request.args
    try:
        sandbox_users.check_request(args, our_hosts)
        if args.get("decision") == "refuse":
            return redirect(sandbox_users.refuse(args), 303)
        if "sandbox_user" not in args:
            choices = [
                (user_id, f"{name}（{mask(number)}）")
                for user_id, (_type, number, name) in sandbox_users.users().items()
            ]
            return render_template("sandbox/authorize.html", args=args, choices=choices)
        return redirect(sandbox_users.agree(args), 303)
    except sandbox.SandboxError as exc:
        return render_template("sandbox/authorize.html", error=exc.message), 400


def _our_hosts() -> set[str]:
    public = current_app.config["PUBLIC_BASE_URL"]
    return {request.host} | ({urlsplit(public).netloc} if public else set())


def _unionpay_open_enabled() -> None:
    from sbweb.identity import hosts

    if sandbox_unionpay_users.NAME not in hosts.providers():
        abort(404)


@bp.get("/unionpay/open/html/oauth.html")
def unionpay_authorize():
    """云闪付's authorization page (用户联登): the tester picks who is signed in to 云闪付 and
    agrees or declines; the code goes back to the app's redirectUri."""
    _unionpay_open_enabled()
    args = request.args
    try:
        sandbox_unionpay_users.check_request(args, _our_hosts())
        if args.get("decision") == "refuse":
            return redirect(sandbox_unionpay_users.refuse(args), 303)
        if "sandbox_user" not in args:
            choices = [
                (oid, f"{name}（{mask(number)}）") for oid, (_t, number, name) in sandbox_unionpay_users.users().items()
            ]
            return render_template("sandbox/unionpay_authorize.html", args=args, choices=choices)
        return redirect(sandbox_unionpay_users.agree(args), 303)
    except sandbox_unionpay_users.OpenPlatformError as exc:
        return render_template("sandbox/unionpay_authorize.html", error=exc.msg), 400


@bp.post("/unionpay/open/access/1.0/<call>")
@csrf.exempt  # server to server; the app's signature and tokens are the check
def unionpay_open_api(call):
    _unionpay_open_enabled()
    return Response(sandbox_unionpay_users.answer(call, request.get_data()), mimetype="application/json")


@bp.post("/unionpay/open/appletAuth")
@csrf.exempt  # the 云闪付 app's side of upsdk.appletAuth; the page's signed upsdk.config is the check
def unionpay_applet_auth():
    _unionpay_open_enabled()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return {"errorcode": "E10", "errmsg": "报文格式错误"}, 400
    try:
        return {"code": sandbox_unionpay_users.applet_auth(str(body.get("openId", "")), body)}
    except sandbox_unionpay_users.OpenPlatformError as exc:
        return {"errorcode": exc.resp, "errmsg": exc.msg}, 400


# -- 银联 (UnionPay's protocol, for the unionpay channel) ---------------------------------------


def _unionpay_cashier(trade, error=None, status=200):
    return render_template(
        "sandbox/unionpay_cashier.html",
        trade=trade,
        form=Form(),
        error=error,
        refusal=sandbox.payable(trade) if trade else None,
        mer_id=sandbox_unionpay.MER_ID,
    ), status


def _unionpay_return(trade):
    """The browser sent back to the merchant's frontUrl by a form post, as UnionPay does it
    (by script at once; by the button without JavaScript)."""
    return render_template(
        "sandbox/unionpay_return.html",
        trade=trade,
        paid=trade.paid_at is not None,  # paid, even if returned (撤销) since
        fields=sandbox_unionpay.front_return_fields(trade),
    )


@bp.post("/unionpay/gateway/api/frontTransReq.do")
@csrf.exempt  # the merchant's page posts our signed 前台交易 form here; its signature is the check
def unionpay_front():
    try:
        trade = sandbox_unionpay.open_trade(request.form.to_dict())
    except sandbox_unionpay.GatewayRefusal as exc:
        return _unionpay_cashier(None, f"{exc.message}（{exc.code}）", 400)
    return _unionpay_cashier(trade)


@bp.post("/unionpay/cashier/<trade_no>")
def unionpay_cashier(trade_no):
    trade = db.session.scalar(select(SandboxTrade).filter_by(trade_no=trade_no[:64], app_id=sandbox_unionpay.APP))
    if trade is None:
        abort(404)
    if request.form.get("action") == "cancel":
        return _unionpay_return(trade)
    try:
        trade = sandbox_unionpay.pay(
            trade.trade_no,
            fail="fail" in request.form,
            late="late" in request.form,
            twice="twice" in request.form,
            silent="silent" in request.form,
        )
    except sandbox_unionpay.GatewayRefusal as exc:
        return _unionpay_cashier(trade, exc.message, 409)
    if trade.paid_at is None:
        code, message = sandbox_unionpay.SHORT_OF_MONEY
        return _unionpay_cashier(trade, f"支付失败：{message}（{code}），请更换银行卡或稍后再试")
    return _unionpay_return(trade)


@bp.post("/unionpay/gateway/api/queryTrans.do")
@csrf.exempt  # server to server; the merchant's signature is the check
def unionpay_query():
    text = sandbox_unionpay.api_answer(sandbox_unionpay.query, request.form.to_dict())
    return Response(text, mimetype="text/plain")


@bp.post("/unionpay/gateway/api/backTransReq.do")
@csrf.exempt  # server to server; the merchant's signature is the check
def unionpay_back():
    text = sandbox_unionpay.api_answer(sandbox_unionpay.back, request.form.to_dict())
    return Response(text, mimetype="text/plain")


@bp.post("/unionpay/filedownload/")
@csrf.exempt  # server to server (UnionPay's fileTransUrl); the merchant's signature is the check
def unionpay_file():
    text = sandbox_unionpay.api_answer(sandbox_unionpay.file_transfer, request.form.to_dict())
    return Response(text, mimetype="text/plain")


@bp.get("/unionpay/acp_<which>.cer")
def unionpay_certificate(which):
    found = sandbox_unionpay.material()
    certificate = {"root": found.root, "middle": found.middle}.get(which) or abort(404)
    return Response(certificate.public_bytes(Encoding.PEM), mimetype="application/x-x509-ca-cert")
