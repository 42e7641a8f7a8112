"""The sandbox: a simulated Alipay gateway that lives in the app for pilots and tests.

It plays the other party faithfully: it verifies our signed requests with our registered
public key, keeps its own trades, signs what it sends with its own key, posts async
notifications to our notify URL and retries them until we answer `success` (Alipay's
schedule), signs the browser's sync return, and answers trade query, close, refund and the
daily bill. It never touches our orders. The test switches on its cashier page make it
misbehave the ways a real provider can: 余额不足, a late notify, a notify twice, none.
"""
import csv
import datetime as dt
import io
import json
import logging
import secrets
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from flask import current_app
from sqlalchemy import select
from werkzeug.test import Client
from werkzeug.wrappers import Response

from sbweb.clock import SHANGHAI
from sbweb.db import db, write_transaction
from sbweb.jobs import huey, in_app_context
from sbweb.models import SandboxNotify, SandboxRefund, SandboxTrade
from sbweb.models.base import utcnow
from sbweb.money import fen_to_yuan, yuan_to_fen
from sbweb.payments import ProviderError, signing
from sbweb.payments.alipay import AlipayWapProvider, parse_provider_time, provider_time

log = logging.getLogger(__name__)

PLATFORM_KEY = "sandbox_platform"  # the sandbox's own key (Alipay's, in real life)
MERCHANT_KEY = "sandbox_merchant"  # our app's key, registered with the sandbox


class SandboxError(Exception):
    """A request the sandbox refuses; `code`/`sub_code` as Alipay answers them."""

    def __init__(self, sub_code: str, message: str, code: str = "40004"):
        super().__init__(message)
        self.code, self.sub_code, self.message = code, sub_code, message


def key_dir() -> Path:
    return Path(current_app.config["PAYMENT_KEY_DIR"])


def platform_key():
    return signing.load_or_create_keypair(key_dir(), PLATFORM_KEY)


def merchant_key():
    return signing.load_or_create_keypair(key_dir(), MERCHANT_KEY)


# -- transports: how our client reaches the gateway, and how the gateway reaches us ------

def wsgi_transport(app):
    """Call the gateway inside this process through the whole WSGI stack (no socket), so a
    single-process pilot never waits on itself."""

    def post(url, form):
        response = Client(app, Response).post(urlsplit(url).path, data=form)
        if response.status_code != 200:
            raise ProviderError(f"gateway answered {response.status_code}")
        return response.get_data(as_text=True)

    def get(url):
        parts = urlsplit(url)
        response = Client(app, Response).get(parts.path, query_string=parts.query)
        if response.status_code != 200:
            raise ProviderError(f"gateway answered {response.status_code}")
        return response.get_data(as_text=True)

    return post, get


def http_transport(timeout=10):
    def post(url, form):
        data = urlencode(form).encode()
        try:
            with urllib.request.urlopen(url, data=data, timeout=timeout) as answer:
                return answer.read().decode("utf-8")
        except (urllib.error.URLError, OSError) as exc:
            raise ProviderError(str(exc)) from None

    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return answer.read().decode("utf-8")
        except (urllib.error.URLError, OSError) as exc:
            raise ProviderError(str(exc)) from None

    return post, get


def client_for(app) -> AlipayWapProvider:
    """Our Alipay client, pointed at the sandbox gateway."""
    config = app.config
    with app.app_context():
        private, platform = merchant_key(), platform_key().public_key()
    transport = wsgi_transport(app) if config["SANDBOX_TRANSPORT"] == "wsgi" else http_transport()
    return AlipayWapProvider(
        name="sandbox",
        app_id=config["SANDBOX_APP_ID"],
        seller_id=config["SANDBOX_SELLER_ID"],
        gateway_url=config.get("SANDBOX_GATEWAY_URL") or "/sandbox/gateway.do",
        private_key=private,
        platform_public_key=platform,
        transport=transport,
    )


# -- the gateway's side ---------------------------------------------------------------------

def verify_request(params: dict) -> dict:
    """Check a request is ours (registered app, RSA2 over all but `sign`); return biz_content."""
    config = current_app.config
    if params.get("app_id") != config["SANDBOX_APP_ID"]:
        raise SandboxError("isv.invalid-app-id", "无效的AppID参数", code="40002")
    if params.get("sign_type") != "RSA2" or not signing.verify(
        merchant_key().public_key(), signing.signing_string(params), params.get("sign", "")
    ):
        raise SandboxError("isv.invalid-signature", "验签出错", code="40002")
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    if not isinstance(biz, dict):
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002")
    return biz


def open_trade(params: dict, biz: dict) -> SandboxTrade:
    """alipay.trade.wap.pay: create the trade on first sight, or show the same one again."""
    try:
        amount = yuan_to_fen(biz["total_amount"])
        out_trade_no = str(biz["out_trade_no"])
    except (KeyError, ValueError):
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        if trade is None:
            trade = SandboxTrade(
                trade_no=_trade_no(),
                out_trade_no=out_trade_no,
                app_id=params["app_id"],
                seller_id=current_app.config["SANDBOX_SELLER_ID"],
                total_fen=amount,
                subject=str(biz.get("subject", ""))[:256],
                notify_url=params.get("notify_url", ""),
                return_url=params.get("return_url", ""),
                quit_url=biz.get("quit_url"),
                time_expire=parse_provider_time(biz.get("time_expire")),
            )
            db.session.add(trade)
        elif trade.total_fen != amount:
            raise SandboxError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
    return trade


def _trade_no() -> str:
    return utcnow().strftime("%Y%m%d") + "2200" + f"{secrets.randbelow(10**12):012d}"


def payable(trade: SandboxTrade, now: dt.datetime | None = None) -> str | None:
    """Why the cashier refuses to take money for this trade, or None."""
    now = now or utcnow()
    if trade.status == "TRADE_SUCCESS":
        return "该订单已支付，请勿重复付款"
    if trade.status == "TRADE_CLOSED":
        return "交易已关闭"
    if trade.time_expire and now > trade.time_expire:
        return "交易已超时关闭"
    return None


def pay(trade_no: str, *, fail=False, late=False, twice=False, silent=False) -> SandboxTrade:
    """The buyer presses 确认付款 on the cashier page, with the test switches as set."""
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(trade_no=trade_no).with_for_update())
        if trade is None:
            raise SandboxError("ACQ.TRADE_NOT_EXIST", "交易不存在")
        refusal = payable(trade)
        if refusal:
            raise SandboxError("ACQ.TRADE_STATUS_ERROR", refusal)
        if fail:
            trade.status, trade.closed_at = "TRADE_CLOSED", utcnow()
        else:
            trade.status, trade.paid_at, trade.buyer_id = "TRADE_SUCCESS", utcnow(), "2088102177846880"
        notifies = [] if silent else [_record_notify(trade) for _ in range(2 if twice else 1)]
    delay = current_app.config["SANDBOX_LATE_NOTIFY"].total_seconds() if late else 0
    for notify in notifies:
        _schedule_delivery(notify.id, delay)
    return trade


def force_pay(out_trade_no: str) -> SandboxTrade:
    """Money arrives whatever our side did (a provider's own retry, a buyer paying from an old
    page): for tests of what we do with money we did not expect. Notifies at once."""
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        trade.status, trade.paid_at, trade.closed_at = "TRADE_SUCCESS", utcnow(), None
        notify = _record_notify(trade)
    _schedule_delivery(notify.id, 0)
    return trade


def _record_notify(trade: SandboxTrade) -> SandboxNotify:
    params = notify_params(trade)
    notify = SandboxNotify(trade=trade, notify_id=params["notify_id"],
                           params=json.dumps(params, ensure_ascii=False))
    db.session.add(notify)
    db.session.flush()
    return notify


def notify_params(trade: SandboxTrade) -> dict:
    params = {
        "notify_time": provider_time(utcnow()),
        "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16),
        "app_id": trade.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "trade_status": trade.status,
        "total_amount": fen_to_yuan(trade.total_fen),
        "receipt_amount": fen_to_yuan(trade.total_fen) if trade.status == "TRADE_SUCCESS" else "",
        "seller_id": trade.seller_id,
        "subject": trade.subject,
        "gmt_create": provider_time(trade.created_at),
        "gmt_payment": provider_time(trade.paid_at) if trade.paid_at else "",
        "gmt_close": provider_time(trade.closed_at) if trade.closed_at else "",
    }
    params = {k: v for k, v in params.items() if v != ""}
    params["sign"] = signing.sign(platform_key(), signing.signing_string(params, exclude=("sign", "sign_type")))
    return params


def return_params(trade: SandboxTrade) -> dict:
    params = {
        "app_id": trade.app_id,
        "method": "alipay.trade.wap.pay.return",
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "timestamp": provider_time(utcnow()),
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "total_amount": fen_to_yuan(trade.total_fen),
        "seller_id": trade.seller_id,
    }
    params["sign"] = signing.sign(platform_key(), signing.signing_string(params, exclude=("sign", "sign_type")))
    return params


def _schedule_delivery(notify_pk: int, delay: float) -> None:
    try:
        if delay > 0:
            deliver_notify.schedule((notify_pk, 0), delay=delay)
        else:
            deliver_notify(notify_pk, 0)
    except Exception as exc:  # the job queue (Redis) is down: the payment stands all the same
        log.warning("sandbox notify %s not queued (%s); resend_unqueued() sends it later",
                    notify_pk, exc.__class__.__name__)


def resend_unqueued(now: dt.datetime | None = None) -> int:
    """Queue again the notifications never attempted long after they were due (their queue
    was down when the buyer paid, or the task was lost), as a provider keeps trying; how many.
    Run every minute. A notify delivered twice is harmless: the merchant must accept repeats."""
    now = now or utcnow()
    overdue = now - current_app.config["SANDBOX_LATE_NOTIFY"] - dt.timedelta(minutes=1)
    ids = list(db.session.scalars(
        select(SandboxNotify.id).where(SandboxNotify.delivered_at.is_(None), SandboxNotify.attempts == 0,
                                       SandboxNotify.created_at < overdue)
        .order_by(SandboxNotify.id).limit(200)))
    db.session.commit()
    for notify_pk in ids:
        _schedule_delivery(notify_pk, 0)
    return len(ids)


def deliver(notify_pk: int) -> bool:
    """Post one notification to the merchant; True when it answered `success`."""
    notify = db.session.get(SandboxNotify, notify_pk)
    if notify is None or notify.delivered_at is not None:
        return True
    params = json.loads(notify.params)
    url = notify.trade.notify_url
    db.session.commit()  # hold no transaction while the merchant handles it
    try:
        if current_app.config["SANDBOX_TRANSPORT"] == "wsgi":
            answer = Client(current_app._get_current_object(), Response).post(urlsplit(url).path, data=params)
            text = answer.get_data(as_text=True).strip()
        else:
            text = http_transport()[0](url, params).strip()
    except Exception as exc:  # the merchant being down is an ordinary day for a provider
        text = f"error: {exc.__class__.__name__}"
    with write_transaction():
        notify = db.session.get(SandboxNotify, notify_pk)
        notify.attempts += 1
        notify.last_response = text[:200]
        if text == "success":
            notify.delivered_at = utcnow()
    return text == "success"


@huey.task(retries=0)
@in_app_context
def deliver_notify(notify_pk: int, attempt: int) -> None:
    if deliver(notify_pk):
        return
    schedule = current_app.config["SANDBOX_NOTIFY_RETRIES"]
    if attempt < len(schedule):
        deliver_notify.schedule((notify_pk, attempt + 1), delay=schedule[attempt])
    else:
        log.warning("sandbox notify %s given up after %s attempts", notify_pk, attempt + 1)


# -- trade APIs -----------------------------------------------------------------------------

def _find(biz: dict, for_update=False) -> SandboxTrade:
    query = select(SandboxTrade).filter_by(out_trade_no=str(biz.get("out_trade_no", "")))
    trade = db.session.scalar(query.with_for_update() if for_update else query)
    if trade is None:
        raise SandboxError("ACQ.TRADE_NOT_EXIST", "交易不存在")
    return trade


def api_query(biz: dict) -> dict:
    trade = _find(biz)
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "trade_status": trade.status,
        "total_amount": fen_to_yuan(trade.total_fen),
        "send_pay_date": provider_time(trade.paid_at) if trade.paid_at else None,
    }


def api_close(biz: dict) -> dict:
    with write_transaction():
        trade = _find(biz, for_update=True)
        if trade.status == "TRADE_SUCCESS":
            raise SandboxError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.status != "TRADE_CLOSED":
            trade.status, trade.closed_at = "TRADE_CLOSED", utcnow()
    return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}


def api_refund(biz: dict) -> dict:
    try:
        amount = yuan_to_fen(biz["refund_amount"])
        request_no = str(biz["out_request_no"])
    except (KeyError, ValueError):
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    with write_transaction():
        trade = _find(biz, for_update=True)
        done = db.session.scalar(select(SandboxRefund).filter_by(out_request_no=request_no))
        if done is None:  # idempotent on out_request_no: a repeat refunds nothing more
            if trade.status != "TRADE_SUCCESS" and trade.refunded_fen == 0:
                raise SandboxError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if amount <= 0 or trade.refunded_fen + amount > trade.total_fen:
                raise SandboxError("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            db.session.add(SandboxRefund(trade_id=trade.id, out_request_no=request_no, amount_fen=amount))
            trade.refunded_fen += amount
            if trade.refunded_fen == trade.total_fen:
                trade.status, trade.closed_at = "TRADE_CLOSED", utcnow()
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "refund_fee": fen_to_yuan(trade.refunded_fen),
        "fund_change": "Y" if done is None else "N",
    }


def api_bill_url(biz: dict) -> dict:
    try:
        day = dt.date.fromisoformat(str(biz.get("bill_date")))
    except ValueError:
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    token = signing.sign(platform_key(), f"bill:{day.isoformat()}")
    return {"bill_download_url": f"/sandbox/bills/{day.isoformat()}.csv?token={quote(token)}"}


def bill_csv(day: dt.date) -> str:
    """Every payment and refund of one Asia/Shanghai day, as the provider's bill."""
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    end = start + dt.timedelta(days=1)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["out_trade_no", "trade_no", "kind", "amount", "time"])
    paid = db.session.scalars(select(SandboxTrade).where(
        SandboxTrade.paid_at >= start, SandboxTrade.paid_at < end))
    for trade in paid:
        writer.writerow([trade.out_trade_no, trade.trade_no, "pay",
                         fen_to_yuan(trade.total_fen), provider_time(trade.paid_at)])
    refunds = db.session.scalars(select(SandboxRefund).where(
        SandboxRefund.created_at >= start, SandboxRefund.created_at < end))
    for refund in refunds:
        trade = db.session.get(SandboxTrade, refund.trade_id)
        writer.writerow([trade.out_trade_no, trade.trade_no, "refund",
                         fen_to_yuan(refund.amount_fen), provider_time(refund.created_at)])
    return out.getvalue()


def api_trade_pay(biz: dict) -> dict:
    """alipay.trade.pay with GENERAL_WITHHOLDING (协议扣款): charged at once from the buyer's
    account under the agreement, unless the simulated balance (SANDBOX_WITHHOLD_BALANCE) is
    short — 余额不足, nothing charged. Repeating an out_trade_no never charges twice."""
    agreement = (biz.get("agreement_params") or {}) if isinstance(biz.get("agreement_params"), dict) else {}
    if biz.get("product_code") != "GENERAL_WITHHOLDING" or not agreement.get("agreement_no"):
        raise SandboxError("ACQ.AGREEMENT_NOT_EXIST", "用户协议不存在")
    try:
        amount = yuan_to_fen(biz["total_amount"])
        out_trade_no = str(biz["out_trade_no"])
    except (KeyError, ValueError):
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=out_trade_no).with_for_update())
        if trade is None:
            if amount > current_app.config["SANDBOX_WITHHOLD_BALANCE"]:
                raise SandboxError("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
            trade = SandboxTrade(
                trade_no=_trade_no(), out_trade_no=out_trade_no, app_id=current_app.config["SANDBOX_APP_ID"],
                seller_id=current_app.config["SANDBOX_SELLER_ID"], total_fen=amount,
                subject=str(biz.get("subject", ""))[:256], notify_url="", return_url="",
                status="TRADE_SUCCESS", paid_at=utcnow(), buyer_id="2088102177846880")
            db.session.add(trade)
        elif trade.total_fen != amount:
            raise SandboxError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
    return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no,
            "total_amount": fen_to_yuan(trade.total_fen), "trade_status": trade.status,
            "gmt_payment": provider_time(trade.paid_at) if trade.paid_at else None}


API_METHODS = {
    "alipay.trade.pay": api_trade_pay,
    "alipay.trade.query": api_query,
    "alipay.trade.close": api_close,
    "alipay.trade.refund": api_refund,
    "alipay.data.dataservice.bill.downloadurl.query": api_bill_url,
}


def answer(method: str, params: dict) -> str:
    """The signed JSON answer to one API call, in Alipay's envelope."""
    try:
        biz = verify_request(params)
        handler = API_METHODS.get(method)
        if handler is None:
            raise SandboxError("isv.invalid-method", "不存在的方法名", code="40002")
        payload = {"code": "10000", "msg": "Success", **{k: v for k, v in handler(biz).items() if v is not None}}
    except SandboxError as exc:
        payload = {"code": exc.code, "msg": "Business Failed", "sub_code": exc.sub_code, "sub_msg": exc.message}
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    key = method.replace(".", "_") if method else "error"
    signature = signing.sign(platform_key(), body)
    return f'{{"{key}_response":{body},"sign":"{signature}"}}'
