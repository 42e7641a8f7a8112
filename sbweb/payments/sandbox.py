"""The sandbox: a simulated Alipay gateway that lives in the app for pilots and tests.

It plays the other party faithfully: it verifies our signed requests with our registered
public key, keeps its own trades, signs what it sends with its own key, posts async
notifications to our notify URL and retries them until we answer `success` (Alipay's
schedule), signs the browser's sync return, and answers trade query, close, refund, 协议扣款
and the daily bill (a zip of GBK CSV files, as Alipay's). It takes calls by GET or POST and
refuses stamps far from Beijing time, like Alipay's gateway. It never touches our orders. The
test switches on its cashier page make it misbehave the ways a real provider can: 余额不足, a
late notify, a notify twice, none. Its users' side of sign-in is sbweb.payments.sandbox_users;
its 银联 side (UnionPay's protocol, for the unionpay channel) is sbweb.payments.sandbox_unionpay,
which shares its tables and its notify delivery; what the gateway and its users' side share (its
keys, how our client reaches it, an API call) is sbweb.payments.sandbox_base.
"""

import csv
import datetime as dt
import io
import json
import logging
import secrets
import urllib.request
import zipfile
from urllib.parse import quote, urlencode, urlsplit

from flask import current_app
from sqlalchemy import select
from werkzeug.test import Client
from werkzeug.wrappers import Response

from sbweb.clock import SHANGHAI
from sbweb.db import db, write_transaction
from sbweb.models import SandboxNotify, SandboxRefund, SandboxTrade
from sbweb.models.base import utcnow
from sbweb.money import fen_to_yuan, yuan_to_fen
from sbweb.payments import sandbox_users, signing
from sbweb.payments.alipay import AlipayProvider, parse_provider_time, provider_time
from sbweb.payments.sandbox_base import (  # what the users' side shares with the gateway
    Call,
    SandboxError,
    merchant_key,
    platform_key,
    sandbox_app,
    transport_for,
)
from sbweb.taskqueue import huey, in_app_context

log = logging.getLogger(__name__)

# Its 银联 side (sbweb.payments.sandbox_unionpay) keeps its trades in the same tables under this
# app_id; the Alipay gateway and bill leave them out.
UNIONPAY_APP = "unionpay"
ALIPAY_TRADES = (SandboxTrade.app_id != UNIONPAY_APP,)
# The sandbox refuses a request stamped further than this from Beijing time: a client that
# stamps the machine's local time (UTC on most servers) is caught here, not in production.
TIMESTAMP_SKEW = dt.timedelta(minutes=15)


def client_for(app) -> AlipayProvider:
    """Our Alipay client (the one a live account uses), pointed at the sandbox gateway."""
    return AlipayProvider(
        name="sandbox", client=sandbox_app(app).client(transport_for(app)), seller_id=app.config["SANDBOX_SELLER_ID"]
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
    # Wall-clock time, not the app's clock (which a test or a replay may have set): the stamp is
    # the protocol's, made from the machine's clock by the client.
    stamped = parse_provider_time(params.get("timestamp"))
    if stamped is None or abs(dt.datetime.now(dt.UTC) - stamped) > TIMESTAMP_SKEW:
        raise SandboxError("isv.invalid-timestamp", "非法的时间戳参数", code="40002")
    try:
        biz = json.loads(params.get("biz_content") or "{}")
    except ValueError:
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    if not isinstance(biz, dict):
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002")
    return biz


def _amount_and_number(biz: dict, amount_field: str, number_field: str) -> tuple[int, str]:
    """A request's amount (元, as fen) and its merchant number (out_trade_no, out_request_no);
    either missing or unreadable is 参数无效."""
    try:
        return yuan_to_fen(biz[amount_field]), str(biz[number_field])
    except (KeyError, ValueError):
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None


def open_trade(params: dict, biz: dict) -> SandboxTrade:
    """alipay.trade.wap.pay: create the trade on first sight, or show the same one again."""
    amount, out_trade_no = _amount_and_number(biz, "total_amount", "out_trade_no")
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
    """The buyer presses 立即付款 on the cashier page, with the test switches as set."""
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
        notifies = [] if silent else [record_notify(trade) for _ in range(2 if twice else 1)]
    delay = current_app.config["SANDBOX_LATE_NOTIFY"].total_seconds() if late else 0
    for notify in notifies:
        schedule_delivery(notify.id, delay)
    return trade


def force_pay(out_trade_no: str) -> SandboxTrade:
    """Money arrives whatever our side did (a provider's own retry, a buyer paying from an old
    page): for tests of what we do with money we did not expect. Notifies at once."""
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=out_trade_no))
        trade.status, trade.paid_at, trade.closed_at = "TRADE_SUCCESS", utcnow(), None
        notify = record_notify(trade)
    schedule_delivery(notify.id, 0)
    return trade


def record_notify(trade: SandboxTrade, params: dict | None = None) -> SandboxNotify:
    """A notification to deliver: Alipay's about `trade`, or the `params` given (UnionPay's)."""
    params = params or notify_params(trade)
    notify_id = params.get("notify_id") or secrets.token_hex(16)
    notify = SandboxNotify(trade=trade, notify_id=notify_id, params=json.dumps(params, ensure_ascii=False))
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


def schedule_delivery(notify_pk: int, delay: float) -> None:
    try:
        if delay > 0:
            deliver_notify.schedule((notify_pk, 0), delay=delay)
        else:
            deliver_notify(notify_pk, 0)
    except Exception as exc:  # noqa: BLE001 — the job queue (Redis) is down: the payment stands all the same
        log.warning(
            "sandbox notify %s not queued (%s); resend_unqueued() sends it later", notify_pk, exc.__class__.__name__
        )


def resend_unqueued(now: dt.datetime | None = None) -> int:
    """Queue again the notifications never attempted long after they were due (their queue
    was down when the buyer paid, or the task was lost), as a provider keeps trying; how many.
    Run every minute. A notify delivered twice is harmless: the merchant must accept repeats."""
    now = now or utcnow()
    overdue = now - current_app.config["SANDBOX_LATE_NOTIFY"] - dt.timedelta(minutes=1)
    ids = list(
        db.session.scalars(
            select(SandboxNotify.id)
            .where(
                SandboxNotify.delivered_at.is_(None), SandboxNotify.attempts == 0, SandboxNotify.created_at < overdue
            )
            .order_by(SandboxNotify.id)
            .limit(200)
        )
    )
    db.session.commit()
    for notify_pk in ids:
        schedule_delivery(notify_pk, 0)
    return len(ids)


def deliver(notify_pk: int) -> bool:
    """Post one notification to the merchant; True when it answered as received (`success`
    for Alipay's, HTTP 200 for UnionPay's)."""
    notify = db.session.get(SandboxNotify, notify_pk)
    if notify is None or notify.delivered_at is not None:
        return True
    params = json.loads(notify.params)
    url = notify.trade.notify_url
    db.session.commit()  # hold no transaction while the merchant handles it
    try:
        if current_app.config["SANDBOX_TRANSPORT"] == "wsgi":
            answer = Client(current_app._get_current_object(), Response).post(urlsplit(url).path, data=params)
            status, text = answer.status_code, answer.get_data(as_text=True).strip()
        else:
            with urllib.request.urlopen(url, data=urlencode(params).encode(), timeout=10) as answer:
                status, text = answer.status, answer.read(1024).decode("utf-8", "replace").strip()
    except Exception as exc:  # noqa: BLE001 — the merchant being down is an ordinary day for a provider
        status, text = 0, f"error: {exc.__class__.__name__}"
    with write_transaction():
        notify = db.session.get(SandboxNotify, notify_pk)
        # UnionPay takes an HTTP 200 as received; Alipay wants the word `success`.
        accepted = status == 200 if notify.trade.app_id == UNIONPAY_APP else text == "success"
        notify.attempts += 1
        notify.last_response = text[:200]
        if accepted:
            notify.delivered_at = utcnow()
    return accepted


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
    query = select(SandboxTrade).filter_by(out_trade_no=str(biz.get("out_trade_no", ""))).where(*ALIPAY_TRADES)
    trade = db.session.scalar(query.with_for_update() if for_update else query)
    if trade is None:
        raise SandboxError("ACQ.TRADE_NOT_EXIST", "交易不存在")
    return trade


def api_query(call: "Call") -> dict:
    biz = call.biz
    trade = _find(biz)
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "trade_status": trade.status,
        "total_amount": fen_to_yuan(trade.total_fen),
        "send_pay_date": provider_time(trade.paid_at) if trade.paid_at else None,
    }


def api_close(call: "Call") -> dict:
    biz = call.biz
    with write_transaction():
        trade = _find(biz, for_update=True)
        if trade.status == "TRADE_SUCCESS":
            raise SandboxError("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        if trade.status != "TRADE_CLOSED":
            trade.status, trade.closed_at = "TRADE_CLOSED", utcnow()
    return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}


def api_refund(call: "Call") -> dict:
    biz = call.biz
    amount, request_no = _amount_and_number(biz, "refund_amount", "out_request_no")
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


def api_refund_query(call: "Call") -> dict:
    """alipay.trade.fastpay.refund.query: a refund it made has refund_status REFUND_SUCCESS; one
    it never received is answered code 10000 without it (and without refund_amount), as Alipay's is."""
    biz = call.biz
    trade = _find(biz)
    request_no = str(biz.get("out_request_no", ""))
    answer = {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no, "out_request_no": request_no}
    done = db.session.scalar(select(SandboxRefund).filter_by(out_request_no=request_no, trade_id=trade.id))
    if done is not None:
        answer.update(
            total_amount=fen_to_yuan(trade.total_fen),
            refund_amount=fen_to_yuan(done.amount_fen),
            refund_status="REFUND_SUCCESS",
        )
    return answer


def api_bill_url(call: "Call") -> dict:
    try:
        day = dt.date.fromisoformat(str(call.biz.get("bill_date")))
    except ValueError:
        raise SandboxError("isv.invalid-parameter", "参数无效", code="40002") from None
    token = signing.sign(platform_key(), f"bill:{day.isoformat()}")
    # Absolute, as Alipay's is: the client fetches it with the transport it reached us by.
    return {
        "bill_download_url": f"{call.base_url.rstrip('/')}/sandbox/bills/{bill_name(day)}.csv.zip?token={quote(token)}"
    }


# -- the daily bill, in Alipay's format (the layout is described in sbweb.payments.alipay) ------

BILL_COLUMNS = (
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
)
# The 汇总 file is written for completeness (sbweb does not read it).
SUMMARY_COLUMNS = (
    "门店编号",
    "门店名称",
    "交易订单总笔数",
    "退款订单总笔数",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "卡消费金额（元）",
    "服务费（元）",
    "分润（元）",
    "实收净额（元）",
)
BUYER_SHOWN = "*沙箱买家(2088****6880)"


def bill_name(day: dt.date) -> str:
    """`<PID>0156_<yyyymmdd>`: how Alipay names a day's trade bill and the files in it."""
    return f"{current_app.config['SANDBOX_SELLER_ID']}0156_{day:%Y%m%d}"


def _cn_time(value: dt.datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y年%m月%d日 %H:%M:%S")


def _bill_head(title: str, rule: str, day: dt.date) -> list[str]:
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    return [
        f"#{title}",
        f"#账号：[{current_app.config['SANDBOX_SELLER_ID']}0156]",
        f"#起始日期：[{_cn_time(start)}]   终止日期：[{_cn_time(start + dt.timedelta(days=1))}]",
        f"#-----------------------------------------{rule}----------------------------------------",
    ]


def _csv_lines(rows) -> list[str]:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().splitlines()


def bill_entries(day: dt.date) -> list[tuple[str, SandboxTrade, int, dt.datetime, str | None]]:
    """(业务类型, trade, fen, completed, out_request_no) of every payment and refund of one
    Asia/Shanghai day, in the order they completed."""
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    end = start + dt.timedelta(days=1)
    entries = [
        ("交易", trade, trade.total_fen, trade.paid_at, None)
        for trade in db.session.scalars(
            select(SandboxTrade).where(SandboxTrade.paid_at >= start, SandboxTrade.paid_at < end, *ALIPAY_TRADES)
        )
    ]
    for refund in db.session.scalars(
        select(SandboxRefund)
        .join(SandboxTrade, SandboxTrade.id == SandboxRefund.trade_id)
        .where(SandboxRefund.created_at >= start, SandboxRefund.created_at < end, *ALIPAY_TRADES)
    ):
        entries.append(
            (
                "退款",
                db.session.get(SandboxTrade, refund.trade_id),
                refund.amount_fen,
                refund.created_at,
                refund.out_request_no,
            )
        )
    return sorted(entries, key=lambda e: e[3])


def bill_files(day: dt.date) -> dict[str, str]:
    """The two CSV files of the day's bill (业务明细 and its 汇总), by the end of their names."""
    entries = bill_entries(day)
    rows = []
    for kind, trade, fen, completed, request_no in entries:
        amount = fen_to_yuan(fen if kind == "交易" else -fen)
        # Cells of numbers and codes end in a tab, as Alipay's do (spreadsheets keep them text).
        rows.append(
            [
                f"{trade.trade_no}\t",
                f"{trade.out_trade_no}\t",
                f"{kind}\t",
                trade.subject,
                provider_time(trade.created_at),
                provider_time(completed),
                "\t",
                "\t",
                "\t",
                "\t",
                f"{BUYER_SHOWN}\t",
                amount,
                amount,
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "0.00",
                "",
                "0.00\t",
                "0.00",
                f"{request_no or ''}\t",
                "0.00",
                "0.00",
                trade.subject,
            ]
        )
    pays = [fen for kind, _, fen, _, _ in entries if kind == "交易"]
    refunds = [fen for kind, _, fen, _, _ in entries if kind == "退款"]
    exported = f"#导出时间：[{_cn_time(utcnow())}]"
    detail = (
        _bill_head("支付宝业务明细查询", "业务明细列表", day)
        + _csv_lines([BILL_COLUMNS, *rows])
        + [
            "#-----------------------------------------业务明细列表结束------------------------------------",
            f"#交易合计：{len(pays)}笔，商家实收共{fen_to_yuan(sum(pays))}元，商家优惠共0.00元",
            f"#退款合计：{len(refunds)}笔，商家实收退款共{fen_to_yuan(-sum(refunds))}元，商家优惠退款共0.00元",
            exported,
        ]
    )
    net = fen_to_yuan(sum(pays) - sum(refunds))
    summary = (
        _bill_head("支付宝业务汇总查询", "业务汇总列表", day)
        + _csv_lines(
            [
                SUMMARY_COLUMNS,
                ["合计", "", len(pays), len(refunds), net, net, "0.00", "0.00", "0.00", "0.00", "0.00", net],
            ]
        )
        + ["#-----------------------------------------业务汇总列表结束------------------------------------", exported]
    )
    return {"_业务明细.csv": "\n".join(detail) + "\n", "_业务明细(汇总).csv": "\n".join(summary) + "\n"}


class _GbkName(zipfile.ZipInfo):
    """A zip member named in GBK without the UTF-8 flag, as in Alipay's bill zips (zipfile
    itself would write a non-ASCII name as UTF-8)."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def bill_zip(day: dt.date) -> bytes:
    """The day's trade bill as Alipay serves it: a zip of GBK-encoded CSV files."""
    out = io.BytesIO()
    made = utcnow().astimezone(SHANGHAI)
    with zipfile.ZipFile(out, "w") as archive:
        for suffix, text in bill_files(day).items():
            member = _GbkName(bill_name(day) + suffix, date_time=made.timetuple()[:6])
            archive.writestr(member, text.encode("gb18030"), compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def api_trade_pay(call: "Call") -> dict:
    biz = call.biz
    """alipay.trade.pay with GENERAL_WITHHOLDING (协议扣款): charged at once from the buyer's
    account under the agreement, unless the simulated balance (SANDBOX_WITHHOLD_BALANCE) is
    short — 余额不足, nothing charged. Repeating an out_trade_no never charges twice."""
    agreement = (biz.get("agreement_params") or {}) if isinstance(biz.get("agreement_params"), dict) else {}
    if biz.get("product_code") != "GENERAL_WITHHOLDING" or not agreement.get("agreement_no"):
        raise SandboxError("ACQ.AGREEMENT_NOT_EXIST", "用户协议不存在")
    amount, out_trade_no = _amount_and_number(biz, "total_amount", "out_trade_no")
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=out_trade_no).with_for_update())
        if trade is None:
            if amount > current_app.config["SANDBOX_WITHHOLD_BALANCE"]:
                raise SandboxError("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
            trade = SandboxTrade(
                trade_no=_trade_no(),
                out_trade_no=out_trade_no,
                app_id=current_app.config["SANDBOX_APP_ID"],
                seller_id=current_app.config["SANDBOX_SELLER_ID"],
                total_fen=amount,
                subject=str(biz.get("subject", ""))[:256],
                notify_url="",
                return_url="",
                status="TRADE_SUCCESS",
                paid_at=utcnow(),
                buyer_id="2088102177846880",
            )
            db.session.add(trade)
        elif trade.total_fen != amount:
            raise SandboxError("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
    # As Alipay answers it: code 10000 is the payment made; there is no trade_status in it.
    return {
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_user_id": trade.buyer_id,
        "total_amount": fen_to_yuan(trade.total_fen),
        "receipt_amount": fen_to_yuan(trade.total_fen),
        "gmt_payment": provider_time(trade.paid_at) if trade.paid_at else None,
    }


API_METHODS = {
    "alipay.trade.pay": api_trade_pay,
    "alipay.trade.query": api_query,
    "alipay.trade.close": api_close,
    "alipay.trade.refund": api_refund,
    "alipay.trade.fastpay.refund.query": api_refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": api_bill_url,
}
# Alipay answers these without code/msg when they succeed.
UNCODED_SUCCESS = {"alipay.system.oauth.token"}
MESSAGES = {
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "20001": "Insufficient Token Permissions",
    "20000": "Service Currently Unavailable",
}


def _handler(method: str):
    return API_METHODS.get(method) or sandbox_users.API_METHODS.get(method)


def envelope(method: str, payload: dict) -> str:
    """A signed answer in Alipay's envelope, `{"<method>_response": {…}, "sign": "…"}`; a refusal
    of the call itself (40002) is `error_response`, as Alipay's gateway writes it. The signature
    covers the answer object exactly as sent."""
    refused = payload.get("code") == "40002" or not method
    key = "error_response" if refused else method.replace(".", "_") + "_response"
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return f'{{"{key}":{body},"sign":"{signing.sign(platform_key(), body)}"}}'


def refusal(error: SandboxError) -> dict:
    return {
        "code": error.code,
        "msg": MESSAGES.get(error.code, "Business Failed"),
        "sub_code": error.sub_code,
        "sub_msg": error.message,
    }


def answer(method: str, params: dict, *, base_url: str = "") -> str:
    """The signed JSON answer to one API call."""
    try:
        biz = verify_request(params)
        handler = _handler(method)
        if handler is None:
            raise SandboxError("isv.invalid-method", "不存在的方法名", code="40002")
        payload = {k: v for k, v in handler(Call(method, params, biz, base_url)).items() if v is not None}
        if method not in UNCODED_SUCCESS:
            payload = {"code": "10000", "msg": "Success", **payload}
    except SandboxError as exc:
        payload = refusal(exc)
    return envelope(method, payload)
