"""Payment providers. A provider takes a browser to its payment page, tells us the outcome
in signed notifications, and answers trade queries, closes, refunds and daily bills.

`sbweb.payments.alipay.AlipayProvider` speaks Alipay's mobile web payment protocol (through
python-alipay-sdk); the embedded `sandbox` is that same client pointed at our simulated
gateway (sbweb.payments.sandbox), so a real Alipay account is a configuration change, not new
code. Which provider objects exist is
configuration too (sbweb.payments.registry).
"""

import datetime as dt
import http.client
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class InvalidNotice(Exception):
    """A notification or return that is not provably from the provider for us."""


class ProviderError(Exception):
    """The provider could not be reached or refused the call."""


def read_answer(request, timeout: float, limit: int) -> bytes:
    """A provider gateway's answer to `request` (a URL or a urllib Request): its body, at most
    `limit` bytes, or ProviderError. Timeouts, refused connections, TLS and HTTP errors all say
    only their kind: the URL is long and can carry signed fields."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read(limit + 1)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise ProviderError(f"no answer from the gateway ({exc.__class__.__name__})") from None
    if len(body) > limit:
        raise ProviderError("the gateway's answer is too large")
    return body


class PayerUnknown(Exception):
    """The provider must be told who pays in the host app (WeChat JSAPI needs the payer's
    openid) and the session does not know: the resident signs in through `host` first."""

    def __init__(self, host: str):
        super().__init__(f"paying inside {host} needs the host's id for the payer")
        self.host = host


# What a refund sent to the provider has come to: the money is back with the payer
# ("succeeded"), on its way ("processing": ask again later with `refund_state`), it could not be
# returned ("failed": WeChat Pay's ABNORMAL / CLOSED, a matter for the merchant platform), or the
# provider has no such refund ("missing", only from `refund_state`: send it again, same number).
REFUND_STATES = ("succeeded", "processing", "failed", "missing")


class WithholdRefused(Exception):
    """A withholding (协议扣款) the provider declined: nothing was charged. `str()` says why."""


@dataclass(frozen=True)
class TradeState:
    """What the provider says about one trade, from a verified notify or a trade query."""

    out_trade_no: str
    # "success" | "refunded" (paid, then money returned: WeChat Pay's REFUND) | "closed" |
    # "waiting" | "missing"
    status: str
    amount_fen: int | None = None
    trade_no: str | None = None
    paid_at: dt.datetime | None = None
    notify_id: str | None = None
    app_id: str | None = None
    seller_id: str | None = None


@dataclass(frozen=True)
class BillRow:
    out_trade_no: str
    trade_no: str
    kind: str  # "pay" | "refund"
    amount_fen: int  # positive for refunds too: `kind` says which way the money went
    at: dt.datetime
    out_request_no: str | None = None  # a refund's own number (退款请求号), when the bill has it


@dataclass(frozen=True)
class PayRequest:
    out_trade_no: str
    amount_fen: int
    subject: str
    expires_at: dt.datetime
    notify_url: str
    return_url: str
    quit_url: str
    channel: str = "alipay"  # alipay | wechat | unionpay: what the resident chose
    host: str = "browser"  # where the browser is (sbweb.hosts): WeChat pays by JSAPI inside WeChat
    payer_subject: str | None = None  # the host app's id for the payer (WeChat JSAPI's openid)
    client_ip: str | None = None  # some providers want the payer's address (WeChat H5)


@dataclass(frozen=True)
class PaymentStart:
    """Where 去支付 takes the browser: the provider's own page at `url` (with `form`: a page of
    ours whose form posts those fields there, as UnionPay's 前台交易 wants); or, when the host
    app takes the payment through its JS bridge (WeChat JSAPI), a page of ours that hands it
    `bridge`: the parameters of WeixinJSBridge's getBrandWCPayRequest."""

    url: str | None = None
    bridge: Mapping[str, str] | None = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Notification:
    """An async notification as it reached us. Which parts are signed is the provider's
    business: Alipay signs the form fields, WeChat Pay signs the raw body with headers."""

    headers: Mapping[str, str]
    body: bytes
    form: Mapping[str, str]


@dataclass(frozen=True)
class NotifyAnswer:
    """What we answer a notification with, in the provider's words (so it stops retrying)."""

    status: int
    body: str = ""
    mimetype: str = "text/plain"


class PaymentProvider(Protocol):
    name: str

    def payer_needed(self, host: str, payer_subject: str | None) -> str | None: ...
    def start(self, request: PayRequest) -> PaymentStart: ...
    def verify_notify(self, notification: Notification) -> TradeState: ...
    def notify_answer(self, accepted: bool) -> NotifyAnswer: ...
    def verify_return(self, args: Mapping[str, str]) -> str: ...
    def query(self, out_trade_no: str) -> TradeState: ...
    def close(self, out_trade_no: str) -> None: ...
    def refund(
        self, out_trade_no: str, amount_fen: int, out_request_no: str, reason: str, *, total_fen: int
    ) -> str: ...
    def refund_state(self, out_trade_no: str, out_request_no: str) -> str: ...
    def withhold(self, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str) -> TradeState: ...
    def bill(self, day: dt.date) -> list[BillRow]: ...
