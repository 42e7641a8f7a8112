"""The sandbox's 银联 side: a simulated UnionPay 全渠道 gateway (ACP 5.1.0) for the `unionpay`
channel, so that our real UnionPay client (sbweb.payments.unionpay) runs against it unchanged.

It plays UnionPay as sbweb.payments.sandbox plays Alipay. Its certificates are its own, made
at first use into PAYMENT_KEY_DIR (beside the sandbox's Alipay keys, never committed): a root,
an intermediate under it, UnionPay's signing certificate under that (its CN in UnionPay's
`…@…@中国银联股份有限公司@…` form), and a merchant signing certificate in a PFX with
UnionPay's well-known test password, which our client opens as it opens a real one. It checks
our requests by that merchant certificate (certId and signature, as UnionPay does), keeps its
trades in the sandbox's tables (app_id `unionpay`; the trade's created_at is the txnTime the
merchant sent, since UnionPay finds a trade by orderId and txnTime), signs what it answers and
notifies with its signing certificate carried as signPubKeyCert, and sends the async
notification through the sandbox's notify delivery (a 200 is received, as UnionPay takes it).

The cashier page (sandbox/unionpay_cashier.html) has the sandbox's test switches: 余额不足
(the attempt fails, the payer may try again until payTimeout; UnionPay notifies only
successes), 延迟通知, 重复通知, 不发通知. backTransReq.do takes 退货 (04) and 消费撤销 (31, whole
and within the 清算日 the trade was paid in), each notified to the merchant once accepted. Its
file host (/filedownload/) serves the daily 对账文件 (文件传输, txnType 76) of its own payments,
退货 and 撤销, zipped and signed as UnionPay does (see "the 对账文件" below).
"""

import base64
import datetime as dt
import functools
import io
import secrets
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from flask import current_app, request
from sqlalchemy import select
from werkzeug.test import Client
from werkzeug.wrappers import Response

from sbweb.clock import SHANGHAI, shanghai_today
from sbweb.db import db, write_transaction
from sbweb.instance_files import read_or_create
from sbweb.models import SandboxRefund, SandboxTrade
from sbweb.models.base import utcnow
from sbweb.payments import ProviderError, sandbox, unionpay
from sbweb.payments.sandbox_base import key_dir
from sbweb.payments.unionpay import (
    ORDER_ID,
    Merchant,
    SigningKey,
    Trust,
    UnionPayProvider,
    digest_hex,
    parse_provider_time,
    provider_time,
    read_amount,
)

NAME = "unionpay"  # the provider's name (its notify URL is /notify/unionpay)
APP = sandbox.UNIONPAY_APP  # SandboxTrade.app_id of the sandbox's UnionPay trades
MER_ID = "777290058000001"  # the merchant the sandbox knows (UnionPay's test merIds are 777…)
PFX_PASSWORD = "000000"  # the password of UnionPay's own test PFX files
BUNDLE = "sandbox_unionpay.pem"  # the chain and both signing keys, made together at first use
PFX = "sandbox_unionpay_merchant.pfx"
UNIONPAY_CN = f"041@SBWEB@{unionpay.ORGANISATION}@00000001"
PREFIX = "/sandbox/unionpay"  # the gateway's origin path: FRONT_PATH etc. are appended
LABELS = ("ROOT", "MIDDLE", "UNIONPAY", "MERCHANT")
NO_SUCH_TRADE = ("34", "查无此交易")
SHORT_OF_MONEY = ("64", "卡上的余额不足")


class GatewayRefusal(Exception):
    """A request the gateway answers with a respCode other than 00."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# -- the sandbox's certificates -------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sbweb sandbox (not UnionPay)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=not ca,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _issue(subject: x509.Name, key, issuer: x509.Name, issuer_key, *, ca: bool, years: int) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(_usage(ca), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _new_bundle() -> bytes:
    """root → intermediate → UnionPay's signing certificate, and the merchant's under the same
    intermediate; each certificate followed by its private key (PKCS#8 PEM)."""
    keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in LABELS]
    names = [_name("SBWEB SANDBOX ROOT"), _name("SBWEB SANDBOX OCA1"), _name(UNIONPAY_CN)]
    names.append(_name(f"041@Z20@{MER_ID}@00000001"))
    root = _issue(names[0], keys[0], names[0], keys[0], ca=True, years=20)
    middle = _issue(names[1], keys[1], names[0], keys[0], ca=True, years=10)
    signer = _issue(names[2], keys[2], names[1], keys[1], ca=False, years=5)
    merchant = _issue(names[3], keys[3], names[1], keys[1], ca=False, years=5)
    out = b""
    for certificate, key in zip((root, middle, signer, merchant), keys, strict=True):
        out += certificate.public_bytes(serialization.Encoding.PEM)
        out += key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    return out


@dataclass(frozen=True)
class Material:
    root: x509.Certificate
    middle: x509.Certificate
    unionpay: SigningKey  # what the sandbox signs with, as UnionPay
    merchant_pfx: bytes  # what our client signs with
    merchant_certificate: x509.Certificate  # what the gateway checks our requests by

    def trust(self) -> Trust:
        pem = serialization.Encoding.PEM
        return Trust.from_pem(self.root.public_bytes(pem), self.middle.public_bytes(pem))


@functools.lru_cache(maxsize=8)
def _load(folder: str, mtime_ns: int) -> Material:
    data = (Path(folder) / BUNDLE).read_bytes()
    certificates = x509.load_pem_x509_certificates(data)
    keys = [
        serialization.load_pem_private_key(b"-----BEGIN PRIVATE KEY-----" + part, password=None)
        for part in data.split(b"-----BEGIN PRIVATE KEY-----")[1:]
    ]
    root, middle, signer, merchant = certificates
    merchant_key = SigningKey(merchant, keys[3])

    def new_pfx() -> bytes:
        return pkcs12.serialize_key_and_certificates(
            b"acp_sign",
            merchant_key.private_key,
            merchant_key.certificate,
            None,
            serialization.BestAvailableEncryption(PFX_PASSWORD.encode()),
        )

    pfx = read_or_create(Path(folder) / PFX, new_pfx)
    return Material(root, middle, SigningKey(signer, keys[2]), pfx, merchant)


def material() -> Material:
    """The sandbox's chain and keys, made on first use (processes racing to make them all end
    up with the one written first)."""
    folder = key_dir()
    path = folder / BUNDLE
    if not path.exists():
        read_or_create(path, _new_bundle)
    return _load(str(folder), path.stat().st_mtime_ns)


def sign(fields: dict) -> dict[str, str]:
    """Fields as UnionPay signs them: with signPubKeyCert, certId and signature."""
    signer = material().unionpay
    pem = signer.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return signer.sign({k: str(v) for k, v in fields.items() if v not in (None, "")} | {"signPubKeyCert": pem})


def answer_text(fields: dict) -> str:
    """A synchronous answer as UnionPay writes it: `k=v&…`, values as they are."""
    return "&".join(f"{k}={v}" for k, v in sign(fields).items())


# -- our client, pointed at the sandbox ----------------------------------------------------


class SandboxUnionPayProvider(UnionPayProvider):
    """The real client; only a 退货's backUrl falls back to the request's host when no
    PUBLIC_BASE_URL is set (the embedded default)."""

    def _refund_back_url(self) -> str:
        if current_app.config.get("PUBLIC_BASE_URL"):
            return super()._refund_back_url()
        base = request.host_url if request else "http://127.0.0.1/"
        return f"{base.rstrip('/')}/notify/{self.name}"


def gateway_for(config) -> str:
    """The sandbox's origin as the client sees it: this app's, from SANDBOX_GATEWAY_URL when that
    is absolute (over HTTP), else the path alone (the same app, in process and in the browser)."""
    parts = urlsplit(config.get("SANDBOX_GATEWAY_URL") or "")
    return f"{parts.scheme}://{parts.netloc}{PREFIX}" if parts.scheme and parts.netloc else PREFIX


def wsgi_post(app) -> unionpay.Post:
    def post(url: str, fields) -> bytes:
        response = Client(app, Response).post(urlsplit(url).path, data=dict(fields))
        if response.status_code != 200:
            raise ProviderError(f"gateway answered {response.status_code}")
        return response.get_data()

    return post


def client_for(app) -> UnionPayProvider:
    """Our UnionPay client (the one a live merchant uses) with the sandbox's merchant PFX and
    chain, pointed at the sandbox's UnionPay gateway."""
    with app.app_context():
        found = material()
    key = SigningKey.from_pfx(found.merchant_pfx, PFX_PASSWORD)
    wsgi = app.config["SANDBOX_TRANSPORT"] == "wsgi"
    return SandboxUnionPayProvider(
        name=NAME,
        merchant=Merchant(MER_ID, key),
        trust=found.trust(),
        gateway=gateway_for(app.config),
        post=wsgi_post(app) if wsgi else None,
    )


def providers_for(app) -> dict:
    """What the sandbox adds to the providers: the UnionPay client under `unionpay`, unless a
    real one is configured under that name or 云闪付 is routed elsewhere."""
    if NAME in app.config["PAYMENT_PROVIDERS"] or app.config["PAYMENT_CHANNELS"].get("unionpay") != NAME:
        return {}
    return {NAME: client_for(app)}


# -- the gateway's side ---------------------------------------------------------------------


def check_signed(fields: dict) -> None:
    """What UnionPay checks of every message from a merchant: our merchant certificate's certId
    and signature, the message's version, signMethod and encoding."""
    certificate = material().merchant_certificate
    if fields.get("certId") != str(certificate.serial_number):
        raise GatewayRefusal("11", "证书序列号不匹配")
    try:
        raw = base64.b64decode(fields.get("signature", ""), validate=True)
        certificate.public_key().verify(raw, digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):
        raise GatewayRefusal("11", "验证签名失败") from None
    if (fields.get("version"), fields.get("signMethod"), fields.get("encoding")) != ("5.1.0", "01", "UTF-8"):
        raise GatewayRefusal("10", "报文格式错误")


def check_request(fields: dict) -> None:
    """A trade's request: signed (check_signed), our merId and an orderId."""
    check_signed(fields)
    if fields.get("merId") != MER_ID or not ORDER_ID.fullmatch(fields.get("orderId", "")):
        raise GatewayRefusal("10", "商户号或订单号错误")
    if parse_provider_time(fields.get("txnTime")) is None:
        raise GatewayRefusal("10", "交易时间格式错误")


def echo(fields: dict) -> dict:
    keep = ("version", "encoding", "bizType", "txnType", "txnSubType", "accessType", "merId", "orderId", "txnTime")
    return {k: fields[k] for k in keep if k in fields}


FRONT_FIELDS = {
    "txnType": "01",
    "txnSubType": "01",
    "bizType": "000201",
    "channelType": "08",
    "currencyCode": "156",
    "accessType": "0",
}


def open_trade(fields: dict) -> SandboxTrade:
    """前台交易: create the trade on first sight (orderId and txnTime), or show the same again."""
    check_request(fields)
    amount = read_amount(fields.get("txnAmt"))
    expires = parse_provider_time(fields.get("payTimeout"))
    if any(fields.get(k) != v for k, v in FRONT_FIELDS.items()) or not amount or not fields.get("backUrl"):
        raise GatewayRefusal("10", "交易要素错误")
    if expires is None:
        raise GatewayRefusal("10", "支付超时时间格式错误")
    sent = parse_provider_time(fields["txnTime"])
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=fields["orderId"]))
        if trade is None:
            trade = SandboxTrade(
                trade_no=_query_id(fields["txnTime"]),
                out_trade_no=fields["orderId"],
                app_id=APP,
                seller_id=MER_ID,
                total_fen=amount,
                subject=str(fields.get("orderDesc", ""))[:256],
                notify_url=fields["backUrl"][:512],
                return_url=fields.get("frontUrl", "")[:512],
                quit_url=None,
                time_expire=expires,
                created_at=sent,
            )
            db.session.add(trade)
        elif trade.app_id != APP or trade.total_fen != amount or provider_time(trade.created_at) != fields["txnTime"]:
            raise GatewayRefusal("12", "订单号重复")
    return trade


def _query_id(txn_time: str) -> str:
    """queryId: 21 digits, as UnionPay's (the time it was sent and a random tail)."""
    return f"{txn_time[:14]}{secrets.randbelow(10**7):07d}"


def pay(trade_no: str, *, fail=False, late=False, twice=False, silent=False) -> SandboxTrade:
    """确认付款 on the 银联 cashier, with the test switches as set. 余额不足 fails the attempt
    only: the trade stays open (the payer may pay again until payTimeout) and nothing is sent,
    as UnionPay notifies only a payment made."""
    with write_transaction():
        trade = db.session.scalar(select(SandboxTrade).filter_by(trade_no=trade_no, app_id=APP).with_for_update())
        if trade is None:
            raise GatewayRefusal(*NO_SUCH_TRADE)
        refusal = sandbox.payable(trade)
        if refusal:
            raise GatewayRefusal("36", refusal)
        if fail:
            trade.status = "PAY_FAILED"
            return trade
        trade.status, trade.paid_at, trade.buyer_id = "TRADE_SUCCESS", utcnow(), "6216****0001"
        notifies = (
            [] if silent else [sandbox.record_notify(trade, notify_fields(trade)) for _ in range(2 if twice else 1)]
        )
    delay = current_app.config["SANDBOX_LATE_NOTIFY"].total_seconds() if late else 0
    for notify in notifies:
        sandbox.schedule_delivery(notify.id, delay)
    return trade


def notify_fields(trade: SandboxTrade) -> dict:
    """The signed 消费 notification UnionPay posts to backUrl about a paid trade."""
    sent = provider_time(trade.created_at)
    return sign(
        {
            "version": unionpay.VERSION,
            "encoding": unionpay.ENCODING,
            "bizType": "000201",
            "txnType": "01",
            "txnSubType": "01",
            "accessType": "0",
            "merId": trade.seller_id,
            "orderId": trade.out_trade_no,
            "txnTime": sent,
            "txnAmt": str(trade.total_fen),
            "currencyCode": unionpay.CURRENCY,
            "queryId": trade.trade_no,
            "traceNo": trade.trade_no[-6:],
            "traceTime": sent[4:],
            "settleAmt": str(trade.total_fen),
            "settleCurrencyCode": unionpay.CURRENCY,
            "settleDate": sent[4:8],
            "accNo": trade.buyer_id,
            "respCode": "00",
            "respMsg": "成功[0000000]",
        }
    )


def front_return_fields(trade: SandboxTrade) -> dict:
    """What the cashier posts (through the browser) to frontUrl: the trade as it stands."""
    paid = trade.paid_at is not None  # what the payer did here, whatever came of the money since
    fields = {**notify_fields(trade)} if paid else {}
    fields.pop("signature", None)
    fields.pop("signPubKeyCert", None)
    fields.update(
        version=unionpay.VERSION,
        encoding=unionpay.ENCODING,
        merId=trade.seller_id,
        orderId=trade.out_trade_no,
        txnTime=provider_time(trade.created_at),
        txnAmt=str(trade.total_fen),
        respCode="00" if paid else "01",
        respMsg="成功[0000000]" if paid else "交易未完成",
    )
    return sign(fields)


def _trade(order_id: str, txn_time: str) -> SandboxTrade | None:
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=order_id, app_id=APP))
    return trade if trade is not None and provider_time(trade.created_at) == txn_time else None


def _refund(order_id: str, txn_time: str) -> SandboxRefund | None:
    refund = db.session.scalar(select(SandboxRefund).filter_by(out_request_no=order_id))
    if refund is None or provider_time(refund.created_at) != txn_time:
        return None
    trade = db.session.get(SandboxTrade, refund.trade_id)
    return refund if trade is not None and trade.app_id == APP else None


def query(fields: dict) -> dict:
    """交易状态查询 (txnType 00) of a payment or a 退货 by orderId and txnTime."""
    check_request(fields)
    base, order_id, sent = echo(fields), fields["orderId"], fields["txnTime"]
    trade, refund = _trade(order_id, sent), _refund(order_id, sent)
    if refund is not None:
        found = {"origRespCode": "00", "origRespMsg": "成功[0000000]", "txnAmt": str(refund.amount_fen)}
        return {**base, "respCode": "00", "respMsg": "成功", **found, "queryId": _refund_query_id(refund)}
    if trade is None or (trade.status != "PAY_FAILED" and trade.paid_at is None):
        return {**base, "respCode": NO_SUCH_TRADE[0], "respMsg": NO_SUCH_TRADE[1]}
    if trade.paid_at is None:  # 余额不足: an attempt that failed
        found = {"origRespCode": SHORT_OF_MONEY[0], "origRespMsg": SHORT_OF_MONEY[1]}
    else:
        found = {"origRespCode": "00", "origRespMsg": "成功[0000000]", "queryId": trade.trade_no}
        found["settleDate"] = f"{unionpay.settle_day(trade.paid_at):%m%d}"
    return {
        **base,
        "respCode": "00",
        "respMsg": "成功",
        **found,
        "txnAmt": str(trade.total_fen),
        "currencyCode": unionpay.CURRENCY,
        "traceTime": sent[4:],
    }


def _refund_query_id(refund: SandboxRefund) -> str:
    return f"{provider_time(refund.created_at)}{refund.id:07d}"


def refund(fields: dict) -> dict:
    """退货 (txnType 04) of a paid trade by its queryId (origQryId), as a trade of its own
    (orderId and txnTime); a repeat of the same orderId is refused as UnionPay does (12)."""
    check_request(fields)
    if (fields.get("txnType"), fields.get("txnSubType")) != ("04", "00"):
        raise GatewayRefusal("10", "交易类型错误")

    def returnable(original: SandboxTrade) -> int:
        amount = read_amount(fields.get("txnAmt"))
        if not amount or original.refunded_fen + amount > original.total_fen:
            raise GatewayRefusal("33", "退货金额超限")
        return amount

    return _take_back(fields, "04", returnable)


def _take_back(fields: dict, txn_type: str, amount_of) -> dict:
    """A 退货 or 撤销 of the paid trade named by origQryId, under its own orderId: `amount_of`
    says how much of the (locked) trade may go back, or refuses."""
    with write_transaction():
        original = db.session.scalar(
            select(SandboxTrade).filter_by(trade_no=fields.get("origQryId", ""), app_id=APP).with_for_update()
        )
        if original is None or original.paid_at is None:
            raise GatewayRefusal("35", "原交易不存在或状态不正确")
        if db.session.scalar(select(SandboxRefund).filter_by(out_request_no=fields["orderId"])) is not None:
            raise GatewayRefusal("12", "重复交易")
        amount = amount_of(original)
        made = SandboxRefund(
            trade_id=original.id,
            out_request_no=fields["orderId"],
            amount_fen=amount,
            created_at=parse_provider_time(fields["txnTime"]),
            txn_type=txn_type,
        )
        db.session.add(made)
        original.refunded_fen += amount
        if original.refunded_fen == original.total_fen:
            original.status, original.closed_at = "TRADE_CLOSED", utcnow()
        db.session.flush()
        query_id = _refund_query_id(made)
    return {
        **echo(fields),
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "queryId": query_id,
        "origQryId": original.trade_no,
        "txnAmt": str(amount),
    }


def api_answer(handler, fields: dict) -> str:
    """The signed `k=v&…` answer of queryTrans / backTransReq; a refusal is one too."""
    try:
        return answer_text(handler(fields))
    except GatewayRefusal as exc:
        return answer_text({**echo(fields), "respCode": exc.code, "respMsg": exc.message})


# -- 消费撤销 (txnType 31) and the returns' own notifications ------------------------------------

NOT_CANCELLABLE = ("35", "原交易不在当前清算日，不能撤销，请发起退货")
NOT_WHOLE = ("33", "撤销金额须与原消费金额一致")


def back(fields: dict) -> dict:
    """backTransReq.do: 退货 (04) or 消费撤销 (31); either, once accepted, is notified to the
    merchant as UnionPay does (to the paid trade's backUrl, which is the merchant's /notify/…)."""
    answer = cancel(fields) if fields.get("txnType") == unionpay.CANCEL else refund(fields)
    with write_transaction():
        made = db.session.scalar(select(SandboxRefund).filter_by(out_request_no=fields["orderId"]))
        notify = sandbox.record_notify(db.session.get(SandboxTrade, made.trade_id), return_notify_fields(made))
    sandbox.schedule_delivery(notify.id, 0)
    return answer


def cancel(fields: dict) -> dict:
    """消费撤销 of a paid trade by origQryId: whole, and only within the 清算日 it was paid in
    (UnionPay's day turns at 23:00 Beijing time); after that only a 退货 is taken."""
    check_request(fields)
    if (fields.get("txnSubType"), fields.get("bizType")) != ("00", "000201"):
        raise GatewayRefusal("10", "交易类型错误")

    def cancellable(original: SandboxTrade) -> int:
        if unionpay.settle_day(original.paid_at) != unionpay.settle_day(utcnow()):
            raise GatewayRefusal(*NOT_CANCELLABLE)
        if original.refunded_fen or read_amount(fields.get("txnAmt")) != original.total_fen:
            raise GatewayRefusal(*NOT_WHOLE)
        return original.total_fen

    return _take_back(fields, unionpay.CANCEL, cancellable)


def return_notify_fields(made: SandboxRefund) -> dict:
    """The signed notification UnionPay posts to backUrl when a 退货 or 撤销 is done."""
    original = db.session.get(SandboxTrade, made.trade_id)
    sent = provider_time(made.created_at)
    return sign(
        {
            "version": unionpay.VERSION,
            "encoding": unionpay.ENCODING,
            "bizType": "000201",
            "txnType": made.txn_type,
            "txnSubType": "00",
            "accessType": "0",
            "merId": original.seller_id,
            "orderId": made.out_request_no,
            "txnTime": sent,
            "txnAmt": str(made.amount_fen),
            "currencyCode": unionpay.CURRENCY,
            "queryId": _refund_query_id(made),
            "origQryId": original.trade_no,
            "settleAmt": str(made.amount_fen),
            "settleCurrencyCode": unionpay.CURRENCY,
            "settleDate": f"{unionpay.settle_day(utcnow()):%m%d}",
            "traceNo": _refund_query_id(made)[-6:],
            "traceTime": sent[4:],
            "respCode": "00",
            "respMsg": "成功[0000000]",
        }
    )


# -- the 对账文件 (file transfer, txnType 76) ------------------------------------------------
# UnionPay's daily 商户对账文件 for the sandbox's own trades, served as UnionPay serves it (see
# sbweb.payments.unionpay, "the 对账文件"): a zip `<merId>_<yyyymmdd>.zip` holding the ZM file
# (one GBK line a trade, the fixed-width fields of unionpay.ZM_FIELDS each followed by a space)
# and an empty ZME; deflated, base64, in a signed `k=v&…` answer. The 清算日期 is the Beijing
# calendar day here (UnionPay's own switches at 23:00; the sandbox does not play that).

FILE_FIELDS = {"txnType": "76", "txnSubType": "01", "bizType": "000000", "fileType": "00"}
# 交易代码 (field 1) of 消费 / 退货 as community parsers of the file name them; our client reads
# the kind from 交易类型 (txnType, field 20), not from these.
TRANSACTION_CODES = {"01": "S22", "04": "S30", "31": "S31"}  # S31 for 撤销: not checked against a real file


def check_file_request(fields: dict) -> dt.date:
    """What UnionPay checks of a 文件传输 request (it has no orderId): our merchant
    certificate's certId and signature, the message's fields; the 清算日期 asked for."""
    check_signed(fields)
    if fields.get("merId") != MER_ID or parse_provider_time(fields.get("txnTime")) is None:
        raise GatewayRefusal("10", "商户号或交易时间错误")
    if any(fields.get(k) != v for k, v in FILE_FIELDS.items()):
        raise GatewayRefusal("10", "交易要素错误")
    return settle_day(fields.get("settleDate", ""), shanghai_today())


def settle_day(mmdd: str, today: dt.date) -> dt.date:
    """settleDate (MMDD) as the latest such day not after today."""
    for year in (today.year, today.year - 1):
        try:
            day = dt.datetime.strptime(f"{year}{mmdd}", "%Y%m%d").date()
        except ValueError:
            continue
        if len(mmdd) == 4 and day <= today:
            return day
    raise GatewayRefusal("10", "清算日期格式错误")


def _cell(value: str, width: int) -> bytes:
    """A field of the ZM file: GBK, left-aligned, padded with spaces to its width."""
    data = value.encode("gb18030")[:width]
    return data + b" " * (width - len(data))


def zm_line(values: dict[str, str]) -> bytes:
    return b" ".join(_cell(values.get(name, ""), width) for name, width in unionpay.ZM_FIELDS)


def _zm_values(trade: SandboxTrade, txn_type: str, fen: int, at: dt.datetime, own_order: str, query_id: str) -> dict:
    refund = txn_type != "01"
    sign = "D" if refund else "C"
    return {
        "交易代码": TRANSACTION_CODES[txn_type],
        "代理机构标识码": "00049992",
        "发送机构标识码": "00049992",
        "系统跟踪号": query_id[-6:],
        "交易传输时间": at.astimezone(SHANGHAI).strftime("%m%d%H%M%S"),
        "帐号": trade.buyer_id or "",
        "交易金额": f"{fen:012d}",
        "商户类别": "9311",  # 税务 / 政府缴费
        "终端类型": "08",
        "查询流水号": query_id,
        "商户订单号": own_order,
        "支付卡类型": "01",
        "原始交易的系统跟踪号": trade.trade_no[-6:] if refund else "",
        "原始交易日期时间": provider_time(trade.created_at)[4:] if refund else "",
        "商户手续费": f"{sign}{0:012d}",
        "结算金额": f"{sign}{fen:012d}",
        "支付方式": "0001",
        "交易类型": txn_type,
        "交易子类": "00" if refund else "01",
        "业务类型": "000201",
        "帐号类型": "01",
        "交互方式": "0",
        "原交易查询流水号": trade.trade_no if refund else "",
        "商户代码": MER_ID,
        "清算净额": f"{sign}{fen:012d}",
        "终端号": "",
        "优惠金额": f"{sign}{0:012d}",
        "发票金额": f"{sign}{0:012d}",
        "交易介质": "0",
        "原始交易订单号": trade.out_trade_no if refund else "",
    }


def zm_lines(day: dt.date) -> list[bytes]:
    """The ZM lines of the sandbox's 银联 payments, 退货 and 撤销 of one Beijing day, in time order."""
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    end = start + dt.timedelta(days=1)
    entries = [
        (trade.paid_at, _zm_values(trade, "01", trade.total_fen, trade.paid_at, trade.out_trade_no, trade.trade_no))
        for trade in db.session.scalars(
            select(SandboxTrade).where(
                SandboxTrade.app_id == APP, SandboxTrade.paid_at >= start, SandboxTrade.paid_at < end
            )
        )
    ]
    for refund in db.session.scalars(
        select(SandboxRefund)
        .join(SandboxTrade, SandboxTrade.id == SandboxRefund.trade_id)
        .where(SandboxTrade.app_id == APP, SandboxRefund.created_at >= start, SandboxRefund.created_at < end)
    ):
        trade = db.session.get(SandboxTrade, refund.trade_id)
        kind = refund.txn_type or "04"  # 退货, or 消费撤销 (31)
        values = _zm_values(
            trade, kind, refund.amount_fen, refund.created_at, refund.out_request_no, _refund_query_id(refund)
        )
        entries.append((refund.created_at, values))
    return [zm_line(values) for _, values in sorted(entries, key=lambda e: e[0])]


def bill_zip(day: dt.date) -> tuple[str, bytes]:
    """The day's 对账文件 as UnionPay names and zips it: the ZM file and an empty ZME."""
    stem = f"INN{day:%y%m%d}88"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}ZM_{MER_ID}", b"".join(line + b"\r\n" for line in zm_lines(day)))
        archive.writestr(f"{stem}ZME_{MER_ID}", b"")
    return f"{MER_ID}_{day:%Y%m%d}.zip", out.getvalue()


def file_transfer(fields: dict) -> dict:
    """文件传输 (txnType 76): the 对账文件 of the settleDate asked for, deflated and base64."""
    day = check_file_request(fields)
    name, data = bill_zip(day)
    return {
        **echo(fields),
        "settleDate": fields["settleDate"],
        "fileType": "00",
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "fileName": name,
        "fileContent": base64.b64encode(zlib.compress(data)).decode("ascii"),
    }
