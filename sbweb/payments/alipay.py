"""支付宝 as a payment provider, on python-alipay-sdk: mobile web payment (alipay.trade.wap.pay),
verified notifications and returns, trade query / close / refund, 协议扣款 (alipay.trade.pay
GENERAL_WITHHOLDING) and the daily bill.

The SDK signs every request and verifies what Alipay signs; we choose how its requests travel
(`Transport`: HTTP with a timeout for a live account, in-process WSGI for the embedded sandbox).
One provider class serves both, so every test against the sandbox exercises this client.
A live account is configuration (PAYMENT_PROVIDERS, see `provider_from_settings`); its key files
are read and checked by `alipay_keys`.
"""

import base64
import binascii
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from sbweb.clock import SHANGHAI
from sbweb.money import fen_to_yuan, yuan_to_fen
from sbweb.payments import (
    BillRow,
    InvalidNotice,
    Notification,
    NotifyAnswer,
    PaymentStart,
    PayRequest,
    ProviderError,
    TradeState,
    WithholdRefused,
    read_answer,
)
from sbweb.payments.alipay_keys import ConfigurationError, private_pem_key, public_pem_key, read_keys

LIVE_GATEWAY = "https://openapi.alipay.com/gateway.do"
STATUS = {
    "TRADE_SUCCESS": "success",
    "TRADE_FINISHED": "success",
    "TRADE_CLOSED": "closed",
    "WAIT_BUYER_PAY": "waiting",
}
MAX_ANSWER = 64 * 1024 * 1024  # a month of bills is a few MB; anything bigger is not an answer

# GET a URL, return the body; raise ProviderError when there is no answer.
Transport = Callable[[str], bytes]


def provider_time(value: dt.datetime) -> str:
    """Alipay's times are Beijing time, "yyyy-MM-dd HH:mm:ss"."""
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def parse_provider_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


def http_transport(timeout: float) -> Transport:
    def get(url: str) -> bytes:
        return read_answer(url, timeout, MAX_ANSWER)

    return get


class GatewayRefusal(ProviderError):
    """The gateway answered with an error (Alipay's `code` / `sub_code`), before or instead of
    doing what was asked."""

    def __init__(self, method: str, answer: Mapping):
        self.code = str(answer.get("code") or "")
        self.sub_code = str(answer.get("sub_code") or "")
        self.sub_msg = str(answer.get("sub_msg") or answer.get("msg") or "")
        super().__init__(f"{method}: {self.sub_code or self.code} {self.sub_msg}".strip())


class AlipayClient(AliPay):
    """python-alipay-sdk's client, changed in three places: the one method that goes on the
    network (`verified_sync_response`) uses our transport, requests carry Beijing time (the SDK
    stamps them with the machine's local time, which Alipay refuses when it is not
    Asia/Shanghai), and RSA2 is computed by OpenSSL. Its keys are imported once per process."""

    def __init__(
        self, *, app_id: str, app_private_key: str, alipay_public_key: str, gateway: str, transport: Transport
    ):
        super().__init__(
            appid=app_id,
            app_private_key_string=app_private_key,
            alipay_public_key_string=alipay_public_key,
            sign_type="RSA2",
        )
        self._gateway = gateway
        self.transport = transport

    def _load_key(self):
        self._app_private_key = private_pem_key(self._app_private_key_string)
        self._alipay_public_key = public_pem_key(self._alipay_public_key_string)

    # RSA2 (SHA256withRSA, PKCS#1 v1.5) through OpenSSL (`cryptography`, as sbweb.payments.signing)
    # instead of the SDK's pycryptodome: the same signatures, a third of the CPU to sign and a
    # twentieth to verify — every 去支付, return, trade query and notify pays both.
    def _sign(self, unsigned_string):
        signature = self._app_private_key.sign(unsigned_string.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")

    def _verify(self, raw_content, signature):
        try:
            # The SDK's own decoding (base64.decodebytes), so what it refused is refused still.
            self._alipay_public_key.verify(
                base64.decodebytes(signature.encode()), raw_content.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return False
        return True

    @property
    def gateway(self) -> str:
        return self._gateway

    def build_body(self, method, biz_content=None, **kwargs):
        kwargs.setdefault("timestamp", provider_time(dt.datetime.now(dt.UTC)))
        data = super().build_body(method, biz_content, **kwargs)
        if not data.get("biz_content"):
            data.pop("biz_content", None)  # the OAuth calls take their parameters outside it
        return data

    def verified_sync_response(self, data, response_type):
        method = data.get("method", response_type)
        raw = self.transport(f"{self._gateway}?{self.sign_data(data)}")
        try:
            text = raw.decode("utf-8")
            envelope = json.loads(text)
        except (UnicodeDecodeError, ValueError):
            raise ProviderError(f"{method}: unreadable answer") from None
        if not isinstance(envelope, dict):
            raise ProviderError(f"{method}: unreadable answer")
        # A refusal of the call itself (bad signature, app id, code) comes as error_response,
        # and some come unsigned: either way nothing was done, and only its code is used.
        for refusal in (envelope.get("error_response"), None if "sign" in envelope else envelope.get(response_type)):
            if isinstance(refusal, dict) and refusal.get("code") not in (None, "10000"):
                raise GatewayRefusal(method, refusal)
        if "sign" not in envelope:
            raise ProviderError(f"{method}: unsigned answer")
        try:
            answer = self._verify_and_return_sync_response(text, response_type)
        except AliPayValidationError:
            raise ProviderError(f"{method}: answer with a bad signature") from None
        except (AliPayException, ValueError, TypeError, AttributeError, binascii.Error):
            raise ProviderError(f"{method}: unreadable answer") from None
        if not isinstance(answer, dict):
            raise ProviderError(f"{method}: unreadable answer")
        return answer

    def call(self, method: str, biz: dict | None = None, **params) -> dict:
        """One API call: the verified answer object (which may be a business refusal, code 40004)."""
        return self.server_api(method, biz or None, **params)

    def verified(self, params: Mapping[str, str]) -> bool:
        """Is this notify or return signed by Alipay? (Over every field but sign and sign_type.)"""
        data = {k: v for k, v in params.items() if k != "sign"}
        signature = params.get("sign")
        if not signature or data.get("sign_type", "RSA2") != "RSA2":
            return False
        try:
            return self.verify(data, signature)
        except (AliPayException, ValueError, TypeError, binascii.Error):
            return False


def _refused(method: str, answer: dict) -> GatewayRefusal | None:
    return None if answer.get("code") == "10000" else GatewayRefusal(method, answer)


def _trade_state(
    method: str, out_trade_no: str, answer: dict, paid_at_field: str, status: str | None = None
) -> TradeState:
    try:
        amount = yuan_to_fen(answer["total_amount"])
    except (KeyError, ValueError):
        raise ProviderError(f"{method}: no readable total_amount") from None
    return TradeState(
        out_trade_no=out_trade_no,
        status=status or STATUS.get(answer.get("trade_status"), "waiting"),
        amount_fen=amount,
        trade_no=answer.get("trade_no"),
        paid_at=parse_provider_time(answer.get(paid_at_field)),
    )


# Business failures (40004) of alipay.trade.pay after which the money may still move: Alipay asks
# for the same call again or a query, so the outcome is unknown, not refused.
UNKNOWN_OUTCOME = {"ACQ.SYSTEM_ERROR"}


class AlipayProvider:
    """Alipay mobile web payment and the trade APIs for one Alipay app (app_id) and its seller
    account (seller_id, the 2088… PID the money goes to)."""

    def __init__(self, *, name: str, client: AlipayClient, seller_id: str):
        self.name = name
        self.client = client
        self.app_id = client.appid
        self.seller_id = seller_id
        self.gateway_url = client.gateway
        # Only Alipay's own gateway moves money; its open-platform sandbox and ours do not.
        self.takes_real_money = client.gateway == LIVE_GATEWAY

    def _call(self, method: str, biz: dict) -> dict:
        return self.client.call(method, biz)

    # -- paying -----------------------------------------------------------------------------
    @staticmethod
    def payer_needed(host: str, payer_subject: str | None) -> str | None:
        """Alipay's cashier page finds its payer itself."""
        return None

    def start(self, request: PayRequest) -> PaymentStart:
        """The cashier URL: a signed alipay.trade.wap.pay request the browser takes to Alipay."""
        biz = {
            "out_trade_no": request.out_trade_no,
            "total_amount": fen_to_yuan(request.amount_fen),
            "subject": request.subject,
            "product_code": "QUICK_WAP_WAY",
            "time_expire": provider_time(request.expires_at),
            "quit_url": request.quit_url,
        }
        query = self.client.client_api(
            "alipay.trade.wap.pay", biz, notify_url=request.notify_url, return_url=request.return_url
        )
        return PaymentStart(url=f"{self.gateway_url}?{query}")

    # -- notifications and returns ----------------------------------------------------------
    def verify_notify(self, notification: Notification) -> TradeState:
        form = dict(notification.form)
        if not self.client.verified(form):
            raise InvalidNotice("bad signature")
        if form.get("app_id") != self.app_id:
            raise InvalidNotice("not our app_id")
        if form.get("seller_id") != self.seller_id:
            raise InvalidNotice("not our seller_id")
        try:
            amount = yuan_to_fen(form["total_amount"])
        except (KeyError, ValueError):
            raise InvalidNotice("no readable total_amount") from None
        if not form.get("out_trade_no") or form.get("trade_status") not in STATUS:
            raise InvalidNotice("no out_trade_no or unknown trade_status")
        return TradeState(
            out_trade_no=form["out_trade_no"],
            status=STATUS[form["trade_status"]],
            amount_fen=amount,
            trade_no=form.get("trade_no"),
            paid_at=parse_provider_time(form.get("gmt_payment")),
            notify_id=form.get("notify_id"),
            app_id=form.get("app_id"),
            seller_id=form.get("seller_id"),
        )

    def notify_answer(self, accepted: bool) -> NotifyAnswer:
        """Alipay stops retrying when the body is exactly `success`."""
        return NotifyAnswer(200, "success" if accepted else "fail")

    def verify_return(self, args: Mapping[str, str]) -> str:
        """The browser's return carries only what order to show, never whether it was paid."""
        args = dict(args)
        if not self.client.verified(args) or args.get("app_id") != self.app_id:
            raise InvalidNotice("bad return")
        return args.get("out_trade_no", "")

    # -- trade APIs -------------------------------------------------------------------------
    def query(self, out_trade_no: str) -> TradeState:
        answer = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return TradeState(out_trade_no=out_trade_no, status="missing")
        if refusal := _refused("alipay.trade.query", answer):
            raise refusal
        return _trade_state("alipay.trade.query", out_trade_no, answer, "send_pay_date")

    def close(self, out_trade_no: str) -> None:
        answer = self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if answer.get("sub_code") != "ACQ.TRADE_NOT_EXIST" and (refusal := _refused("alipay.trade.close", answer)):
            raise refusal

    def refund(self, out_trade_no: str, amount_fen: int, out_request_no: str, reason: str, *, total_fen: int) -> str:
        """原路退回 of `amount_fen`; the same out_request_no again refunds nothing more. Code 10000
        is the call taken; the money has moved only with fund_change Y. N (a repeat of a refund
        made before, or one not done yet) is settled by asking (`refund_state`)."""
        answer = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": out_trade_no,
                "refund_amount": fen_to_yuan(amount_fen),
                "out_request_no": out_request_no,
                "refund_reason": reason,
            },
        )
        if refusal := _refused("alipay.trade.refund", answer):
            raise refusal
        return "succeeded" if answer.get("fund_change") == "Y" else "processing"

    def refund_state(self, out_trade_no: str, out_request_no: str) -> str:
        """alipay.trade.fastpay.refund.query: REFUND_SUCCESS is the money returned; without it
        Alipay has no such refund (never received, or it failed): "missing", to be sent again
        under the same out_request_no, which can refund at most once."""
        answer = self._call(
            "alipay.trade.fastpay.refund.query", {"out_trade_no": out_trade_no, "out_request_no": out_request_no}
        )
        if refusal := _refused("alipay.trade.fastpay.refund.query", answer):
            raise refusal
        if answer.get("refund_status") == "REFUND_SUCCESS":
            return "succeeded"
        return "missing"

    def withhold(self, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str) -> TradeState:
        """协议扣款: alipay.trade.pay with GENERAL_WITHHOLDING under the payer's agreement;
        answered at once. A business refusal (code 40004) charged nothing; anything else that is
        not a success (a system error, 10003 处理中) leaves the outcome to a later query."""
        answer = self._call(
            "alipay.trade.pay",
            {
                "out_trade_no": out_trade_no,
                "total_amount": fen_to_yuan(amount_fen),
                "subject": subject,
                "product_code": "GENERAL_WITHHOLDING",
                "agreement_params": {"agreement_no": agreement_no},
            },
        )
        if answer.get("code") == "40004" and answer.get("sub_code") not in UNKNOWN_OUTCOME:
            raise WithholdRefused(answer.get("sub_msg") or answer.get("sub_code") or "扣款失败")
        if refusal := _refused("alipay.trade.pay", answer):
            raise refusal
        # Code 10000 of alipay.trade.pay is the payment made: its answer carries no trade_status
        # (only a query's does), so the status is not read from it.
        return _trade_state("alipay.trade.pay", out_trade_no, answer, "gmt_payment", status="success")

    def bill(self, day: dt.date) -> list[BillRow]:
        """The day's 业务明细 (trade bill): asked for its download URL, then fetched and read."""
        method = "alipay.data.dataservice.bill.downloadurl.query"
        answer = self._call(method, {"bill_type": "trade", "bill_date": day.isoformat()})
        if refusal := _refused(method, answer):
            raise refusal
        url = answer.get("bill_download_url")
        if not isinstance(url, str) or not url:
            raise ProviderError(f"{method}: no bill_download_url")
        return read_bill(self.client.transport(url))


# -- the daily bill ------------------------------------------------------------------------------
# Alipay's trade bill is a zip (`<PID>0156_<yyyymmdd>.csv.zip`) of GBK-encoded CSV files; the one
# that lists every trade and refund is `…_业务明细.csv` (beside `…_业务明细(汇总).csv`). It opens
# with `#` comment lines (查询, 账号, 起始日期 and a `#----业务明细列表----` rule), then the
# header, one row per 交易 or 退款 (cells end in a tab, which keeps spreadsheet programs from
# reading the long numbers as figures), and `#` lines again (the rule, 交易合计, 退款合计,
# 导出时间). A refund row repeats the trade's numbers, carries its negative amounts and the
# refund's out_request_no (退款批次号/请求号), and 完成时间 is when the refund was made.

BILL_DETAIL_SUFFIX = "_业务明细.csv"
BILL_KINDS = {"交易": "pay", "退款": "refund"}
_NEEDED = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "退款批次号/请求号")


def zip_member_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its writer meant it: names without the zip's UTF-8 flag are GBK in
    Alipay's files (Python reads them as cp437)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def read_bill(data: bytes) -> list[BillRow]:
    """The trades and refunds of a downloaded trade bill (the zip Alipay serves)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        details = [i for i in archive.infolist() if zip_member_name(i).endswith(BILL_DETAIL_SUFFIX)]
        if len(details) != 1:
            raise ProviderError(f"bill: {len(details)} files named *{BILL_DETAIL_SUFFIX} in the zip")
        text = archive.read(details[0]).decode("gb18030")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, UnicodeDecodeError, OSError, EOFError):
        raise ProviderError("bill: not a readable zip of GBK CSV files") from None
    return parse_bill_detail(text)


def _cell(value: str) -> str:
    return value.strip().strip("\t`").strip()


def parse_bill_detail(text: str) -> list[BillRow]:
    """The rows of a 业务明细 CSV (already decoded)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.reader(lines)
    header = [_cell(c) for c in next(reader, [])]
    missing = [c for c in _NEEDED if c not in header]
    if missing:
        raise ProviderError(f"bill: not a 业务明细 file (no column {missing[0]})")
    at = {name: header.index(name) for name in _NEEDED}
    rows = []
    for number, cells in enumerate(reader, start=2):
        cells = [_cell(c) for c in cells]
        if len(cells) < len(header):
            raise ProviderError(f"bill: row {number} has {len(cells)} of {len(header)} cells")
        kind = BILL_KINDS.get(cells[at["业务类型"]])
        if kind is None:
            raise ProviderError(f"bill: row {number} has an unknown 业务类型 {cells[at['业务类型']]!r}")
        try:
            amount = yuan_to_fen(abs(Decimal(cells[at["订单金额（元）"]])))
        except (InvalidOperation, ValueError):
            raise ProviderError(f"bill: row {number} has no readable 订单金额") from None
        when = parse_provider_time(cells[at["完成时间"]])
        if when is None or not cells[at["商户订单号"]]:
            raise ProviderError(f"bill: row {number} has no 商户订单号 or 完成时间")
        rows.append(
            BillRow(
                out_trade_no=cells[at["商户订单号"]],
                trade_no=cells[at["支付宝交易号"]],
                kind=kind,
                amount_fen=amount,
                at=when,
                out_request_no=cells[at["退款批次号/请求号"]] or None,
            )
        )
    return rows


# -- configuration -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlipayApp:
    """An Alipay open-platform app as configured: its ids, keys (PEM) and gateway."""

    app_id: str
    gateway: str
    timeout: float
    app_private_key: str = field(repr=False)
    alipay_public_key: str = field(repr=False)

    def client(self, transport: Transport | None = None) -> AlipayClient:
        return AlipayClient(
            app_id=self.app_id,
            app_private_key=self.app_private_key,
            alipay_public_key=self.alipay_public_key,
            gateway=self.gateway,
            transport=transport or http_transport(self.timeout),
        )


def read_app(where: str, settings: Mapping, instance_path: str, *, allowed: set[str]) -> AlipayApp:
    """An Alipay app from settings, checked: ids, gateway, timeout and both key files."""
    unknown = set(settings) - allowed
    if unknown:
        raise ConfigurationError(f"{where}: unknown settings {sorted(unknown)} (known: {sorted(allowed)})")
    app_id = str(settings.get("app_id") or "")
    if not re.fullmatch(r"\d{16}", app_id):
        raise ConfigurationError(
            f"{where}: app_id must be the app's 16-digit APPID from Alipay's open platform, not {app_id or 'missing'}"
        )
    gateway = settings.get("gateway") or LIVE_GATEWAY
    parts = urlsplit(str(gateway))
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not local):
        raise ConfigurationError(f"{where}: gateway must be an https URL (default {LIVE_GATEWAY})")
    timeout = settings.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 120:
        raise ConfigurationError(f"{where}: timeout must be a number of seconds (0–120), not {timeout!r}")
    app_private_key, alipay_public_key = read_keys(where, settings, instance_path)
    return AlipayApp(
        app_id=app_id,
        gateway=str(gateway),
        timeout=float(timeout),
        app_private_key=app_private_key,
        alipay_public_key=alipay_public_key,
    )


PROVIDER_SETTINGS = {
    "kind",
    "app_id",
    "seller_id",
    "gateway",
    "app_private_key_file",
    "alipay_public_key_file",
    "timeout",
}


def provider_from_settings(name: str, settings: Mapping, app) -> AlipayProvider:
    """PAYMENT_PROVIDERS[name] of kind "alipay":

    {"kind": "alipay", "app_id": "2021…", "seller_id": "2088…",
     "gateway": "https://openapi.alipay.com/gateway.do",          # the default
     "app_private_key_file": "keys/alipay/app_private_key.pem",   # relative to instance/
     "alipay_public_key_file": "keys/alipay/alipay_public_key.pem",
     "timeout": 10}                                               # seconds per call
    """
    where = f"PAYMENT_PROVIDERS[{name!r}]"
    account = read_app(where, settings, app.instance_path, allowed=PROVIDER_SETTINGS)
    seller_id = str(settings.get("seller_id") or "")
    if not re.fullmatch(r"2088\d{12}", seller_id):
        raise ConfigurationError(
            f"{where}: seller_id must be the account's PID (16 digits starting "
            f"2088, 账号管理 → 账号信息), not {seller_id or 'missing'}"
        )
    return AlipayProvider(name=name, client=account.client(), seller_id=seller_id)
