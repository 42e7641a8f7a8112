"""WeChat Pay API v3 (微信支付) through the maintained client library wechatpayv3: JSAPI inside
WeChat (our page hands the prepay to WeixinJSBridge), H5 outside it, trade query, close, refund
and the daily trade bill; notifications verified, checked against a replay window of our own
and decrypted.

Configuration, PAYMENT_PROVIDERS[name] (files relative to the instance folder):

    {"kind": "wechatpay",
     "mchid": "1900000109",                      # 商户号
     "appid": "wx…",                             # the 公众号 whose openids pay (HOST_SIGNIN's)
     "cert_serial_no": "…",                      # serial number of the merchant API certificate
     "private_key_file": "wechat/apiclient_key.pem",  # its private key (signs our requests)
     "apiv3_key_file": "wechat/apiv3_key.txt",   # the 32-character APIv3 key (decrypts notifies)
     "public_key_file": "wechat/pub_key.pem",    # 微信支付公钥: verifies what WeChat Pay signs,
     "public_key_id": "PUB_KEY_ID_…",            #   so no platform certificates are downloaded
     "timeout": 10}                              # seconds per call

`gateway` (default https://api.mch.weixin.qq.com) points the client at a local fake in tests.
Keys are read once at start-up and never logged; a missing or unreadable one stops the app
with a message naming the setting.
"""

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import logging
import re
import secrets
import time
from pathlib import Path
from urllib.parse import quote, urlencode

from sbweb.clock import SHANGHAI
from sbweb.money import yuan_to_fen
from sbweb.payments import (
    BillRow,
    InvalidNotice,
    Notification,
    NotifyAnswer,
    PayerUnknown,
    PaymentStart,
    PayRequest,
    ProviderError,
    TradeState,
    WithholdRefused,
    replay,
)

log = logging.getLogger(__name__)
GATEWAY = "https://api.mch.weixin.qq.com"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"

# trade_state → ours. REFUND (转入退款) was paid and has had money returned since, which only a
# settled or closed order of ours may have (sbweb.payments.orders); PAYERROR may still be paid on
# a retry in WeChat's own sheet, so it waits for the order to expire and be closed like NOTPAY.
STATUS = {
    "SUCCESS": "success",
    "REFUND": "refunded",
    "NOTPAY": "waiting",
    "USERPAYING": "waiting",
    "PAYERROR": "waiting",
    "CLOSED": "closed",
    "REVOKED": "closed",
}
# A refund's status → ours (sbweb.payments.REFUND_STATES). ABNORMAL: the payer's card or
# account could not take the money back; CLOSED: WeChat Pay gave up. Both wait for the merchant.
REFUND_STATUS = {"SUCCESS": "succeeded", "PROCESSING": "processing", "ABNORMAL": "failed", "CLOSED": "failed"}
NO_SUCH_TRADE = "ORDER_NOT_EXIST"
NO_BILL = "NO_STATEMENT_EXIST"  # no trade that day: an empty bill, not an error
REQUIRED = (
    "mchid",
    "appid",
    "cert_serial_no",
    "private_key_file",
    "apiv3_key_file",
    "public_key_file",
    "public_key_id",
)


class ConfigurationError(RuntimeError):
    pass


def provider_time(value: dt.datetime) -> str:
    """RFC 3339 in Beijing time, as WeChat Pay writes it: 2026-11-23T12:15:00+08:00."""
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds")


def parse_provider_time(text) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
        return None


def _description(subject: str) -> str:
    """WeChat Pay takes at most 127 bytes of description: cut at a character boundary."""
    return subject.encode("utf-8")[:127].decode("utf-8", "ignore") or "社会保险费"


class WeChatPayProvider:
    """One merchant (mchid) paying into one appid. Serves the `wechat` channel only."""

    channels = frozenset({"wechat"})
    withholds = False  # 委托代扣 is a separate WeChat Pay product, not offered here

    def __init__(
        self,
        *,
        name: str,
        mchid: str,
        appid: str,
        cert_serial_no: str,
        private_key: str,
        apiv3_key: str,
        public_key: str,
        public_key_id: str,
        gateway: str = GATEWAY,
        timeout: float | tuple = 10,
    ):
        from wechatpayv3 import WeChatPay, WeChatPayType
        from wechatpayv3.utils import load_public_key

        self.name = name
        self.mchid = mchid
        self.appid = appid
        self.public_key_id = public_key_id
        self._apiv3_key = apiv3_key
        try:
            self._pay = WeChatPay(
                wechatpay_type=WeChatPayType.JSAPI,
                mchid=mchid,
                private_key=private_key,
                cert_serial_no=cert_serial_no,
                appid=appid,
                apiv3_key=apiv3_key,
                timeout=timeout,
                public_key=public_key,
                public_key_id=public_key_id,
                logger=None,
            )
            self._public_key = load_public_key(public_key)
        except Exception as exc:  # noqa: BLE001 - wechatpayv3 raises bare Exception for a key it cannot load
            # Its message says which key would not load, not what is in it.
            raise ConfigurationError(f"PAYMENT_PROVIDERS[{name!r}]: {exc}") from None
        # The library has no setting for its host; tests point it at a local fake.
        self._pay._core._gate_way = gateway.rstrip("/")
        # WeChat Pay API v3 has no sandbox: its own gateway is real money; any other is a fake.
        self.takes_real_money = gateway.rstrip("/") == GATEWAY
        self._types = WeChatPayType

    def __repr__(self) -> str:  # never the keys
        return f"<WeChatPayProvider {self.name} mchid={self.mchid} appid={self.appid}>"

    # -- calls --------------------------------------------------------------------------
    def _call(self, what: str, method, *args, **kwargs) -> tuple[int, object]:
        """(HTTP status, parsed JSON or raw bytes) of one API call. The library has signed the
        request and verified a 2xx answer's signature; anything it raises is ProviderError."""
        try:
            status, body = method(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a provider's unknown failure must be a ProviderError, never a 500
            # Network and timeout (requests), or an answer whose signature fails (wechatpayv3
            # raises a bare Exception for that).
            raise ProviderError(f"{what}: {exc.__class__.__name__}: {exc}"[:200]) from None
        if isinstance(body, str):
            try:
                body = json.loads(body) if body else {}
            except ValueError:
                raise ProviderError(f"{what}: unreadable answer (HTTP {status})") from None
        return status, body

    @staticmethod
    def _refused(what: str, status: int, body) -> ProviderError:
        code = body.get("code") if isinstance(body, dict) else None
        return ProviderError(f"{what}: HTTP {status} {code or ''}".strip())

    # -- paying -------------------------------------------------------------------------
    @staticmethod
    def payer_needed(host: str, payer_subject: str | None) -> str | None:
        """JSAPI inside WeChat needs the payer's openid: without it, WeChat's sign-in first."""
        return "wechat" if host == "wechat" and not payer_subject else None

    def start(self, request: PayRequest) -> PaymentStart:
        """Inside WeChat: a JSAPI prepay, handed to WeixinJSBridge by our page. Elsewhere: H5,
        WeChat's own page, which sends the browser back to our return with the order number."""
        common = {
            "description": _description(request.subject),
            "out_trade_no": request.out_trade_no,
            "amount": {"total": request.amount_fen, "currency": "CNY"},
            "time_expire": provider_time(request.expires_at),
            "notify_url": request.notify_url,
        }
        if request.host == "wechat":
            if host := self.payer_needed(request.host, request.payer_subject):
                raise PayerUnknown(host)
            status, body = self._call(
                "jsapi prepay",
                self._pay.pay,
                **common,
                payer={"openid": request.payer_subject},
                pay_type=self._types.JSAPI,
            )
            prepay_id = body.get("prepay_id") if status == 200 and isinstance(body, dict) else None
            if not prepay_id:
                raise self._refused("jsapi prepay", status, body)
            return PaymentStart(bridge=self.bridge_parameters(prepay_id))
        if not request.client_ip:
            raise ProviderError("h5 prepay: no payer address")
        status, body = self._call(
            "h5 prepay",
            self._pay.pay,
            **common,
            pay_type=self._types.H5,
            scene_info={"payer_client_ip": request.client_ip, "h5_info": {"type": "Wap"}},
        )
        h5_url = body.get("h5_url") if status == 200 and isinstance(body, dict) else None
        if not h5_url:
            raise self._refused("h5 prepay", status, body)
        back = f"{request.return_url}?{urlencode({'out_trade_no': request.out_trade_no})}"
        joiner = "&" if "?" in h5_url else "?"
        return PaymentStart(url=f"{h5_url}{joiner}redirect_url={quote(back, safe='')}")

    def bridge_parameters(self, prepay_id: str) -> dict[str, str]:
        """getBrandWCPayRequest's parameters, paySign by our merchant key over
        appId, timeStamp, nonceStr and package (one per line)."""
        stamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        return {
            "appId": self.appid,
            "timeStamp": stamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": self._pay.sign([self.appid, stamp, nonce, package]),
        }

    # -- notifications and returns ------------------------------------------------------
    def verify_notify(self, notification: Notification) -> TradeState:
        """A payment notification: signed by WeChat Pay's public key over timestamp, nonce and
        the raw body; within our replay window and never seen before; its resource decrypted
        with the APIv3 key; for our mchid and appid."""
        body, nonce = self._signed_body(notification)
        event, plain = self._decrypted(body)
        if not str(event.get("event_type", "")).startswith("TRANSACTION."):
            raise InvalidNotice(f"not a payment notification: {str(event.get('event_type'))[:40]}")
        try:
            transaction = json.loads(plain)
        except ValueError:
            raise InvalidNotice("decrypted resource is not JSON") from None
        state = self._trade_state(transaction, notify_id=str(event.get("id", ""))[:64] or None, refuse=InvalidNotice)
        # Last, so that a refused notification leaves no trace; a replay of this one is refused.
        replay.remember_nonce(self.name, nonce)
        return state

    def _signed_body(self, notification: Notification) -> tuple[str, str]:
        """The notification's body and nonce, once its signature, key serial and timestamp hold."""
        from wechatpayv3.utils import rsa_verify

        headers = notification.headers
        signature = headers.get("Wechatpay-Signature", "")
        stamp = headers.get("Wechatpay-Timestamp", "")
        nonce = headers.get("Wechatpay-Nonce", "")
        serial = headers.get("Wechatpay-Serial", "")
        kind = headers.get("Wechatpay-Signature-Type", SIGNATURE_TYPE)
        if kind != SIGNATURE_TYPE:
            raise InvalidNotice(f"signature type {kind[:40]!r}")
        # Only the configured 微信支付公钥 may sign: the library would otherwise go and fetch
        # platform certificates for any serial a stranger sends.
        if serial != self.public_key_id:
            raise InvalidNotice("signed with an unknown key serial")
        replay.check_timestamp(stamp)
        try:
            body = notification.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidNotice("body is not UTF-8") from None
        if not signature or not rsa_verify(stamp, nonce, body, signature, self._public_key):
            raise InvalidNotice("bad signature")
        return body, nonce

    def _decrypted(self, body: str) -> tuple[dict, str]:
        """The notification's event and its resource decrypted with the APIv3 key."""
        from wechatpayv3.utils import aes_decrypt

        try:
            event = json.loads(body)
            resource = event["resource"]
            if event.get("resource_type") != "encrypt-resource" or resource.get("algorithm") != "AEAD_AES_256_GCM":
                raise InvalidNotice("not an AEAD_AES_256_GCM encrypted resource")
            plain = aes_decrypt(
                nonce=resource["nonce"],
                ciphertext=resource["ciphertext"],
                associated_data=resource.get("associated_data") or "",
                apiv3_key=self._apiv3_key,
            )
        except InvalidNotice:
            raise
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidNotice("unreadable notification") from None
        if plain is None:
            raise InvalidNotice("resource does not decrypt with our APIv3 key")
        return event, plain

    def _trade_state(self, transaction, *, notify_id=None, refuse=ProviderError) -> TradeState:
        """A transaction object (notify resource or query answer) as our TradeState, refusing
        one that is not for our merchant and app."""
        if not isinstance(transaction, dict):
            raise refuse("transaction is not an object")
        if transaction.get("mchid") != self.mchid:
            raise refuse("not our mchid")
        if transaction.get("appid") != self.appid:
            raise refuse("not our appid")
        amount = transaction.get("amount")
        total = amount.get("total") if isinstance(amount, dict) else None
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise refuse("no readable amount")
        if amount.get("currency", "CNY") != "CNY":
            raise refuse("not in CNY")
        out_trade_no = transaction.get("out_trade_no")
        if not isinstance(out_trade_no, str) or not out_trade_no or transaction.get("trade_state") not in STATUS:
            raise refuse("no out_trade_no or unknown trade_state")
        return TradeState(
            out_trade_no=out_trade_no[:32],
            status=STATUS[transaction["trade_state"]],
            amount_fen=total,
            trade_no=str(transaction.get("transaction_id") or "")[:64] or None,
            paid_at=parse_provider_time(transaction.get("success_time")),
            notify_id=notify_id,
            app_id=transaction["appid"],
            seller_id=transaction["mchid"],
        )

    def notification_not_applied(self, notification: Notification) -> None:
        """The verified notification could not be applied: its retry must not count as a replay."""
        try:
            replay.forget_nonce(self.name, notification.headers.get("Wechatpay-Nonce", ""))
        except Exception:  # noqa: BLE001 - the database is likely what failed; the query job settles it
            log.warning("could not let go of the nonce of a notification not applied")

    def notify_answer(self, accepted: bool) -> NotifyAnswer:
        """WeChat Pay stops retrying on 200/204; anything else with {"code": "FAIL"} is a failure."""
        if accepted:
            return NotifyAnswer(204)
        return NotifyAnswer(
            400, json.dumps({"code": "FAIL", "message": "通知未被接受"}, ensure_ascii=False), "application/json"
        )

    def verify_return(self, args) -> str:
        """The browser's return from H5 carries no signature, only the order number we put in
        redirect_url: it says which order to show, never that it was paid."""
        number = args.get("out_trade_no", "")
        if not re.fullmatch(r"[A-Za-z0-9_\-|*]{6,32}", number):
            raise InvalidNotice("no order number")
        return number

    # -- trade APIs ---------------------------------------------------------------------
    def query(self, out_trade_no: str) -> TradeState:
        status, body = self._call("query", self._pay.query, out_trade_no=out_trade_no)
        if status == 404 and isinstance(body, dict) and body.get("code") == NO_SUCH_TRADE:
            return TradeState(out_trade_no=out_trade_no, status="missing")
        if status != 200:
            raise self._refused("query", status, body)
        state = self._trade_state(body)
        if state.out_trade_no != out_trade_no:
            raise ProviderError("query: answer about another trade")
        return state

    def close(self, out_trade_no: str) -> None:
        status, body = self._call("close", self._pay.close, out_trade_no=out_trade_no)
        if status in (200, 204):
            return
        if isinstance(body, dict) and body.get("code") == NO_SUCH_TRADE:
            return  # never reached WeChat Pay: nothing to close there
        raise self._refused("close", status, body)  # ORDER_PAID and the like: the query decides

    def refund(self, out_trade_no: str, amount_fen: int, out_request_no: str, reason: str, *, total_fen: int) -> str:
        """申请退款. out_refund_no makes a repeat the same refund; the total is the order's.
        WeChat Pay mostly answers PROCESSING: `refund_state` is asked again later."""
        status, body = self._call(
            "refund",
            self._pay.refund,
            out_refund_no=out_request_no,
            out_trade_no=out_trade_no,
            reason=reason[:80] or None,
            amount={"refund": amount_fen, "total": total_fen, "currency": "CNY"},
        )
        if status != 200 or not isinstance(body, dict):
            raise self._refused("refund", status, body)
        return self._refund_status("refund", out_request_no, body)

    def refund_state(self, out_trade_no: str, out_request_no: str) -> str:
        """查询单笔退款 by out_refund_no."""
        status, body = self._call("refund query", self._pay.query_refund, out_refund_no=out_request_no)
        if status == 404 and isinstance(body, dict) and body.get("code") == "RESOURCE_NOT_EXISTS":
            return "missing"  # never reached WeChat Pay: sent again under the same number
        if status != 200 or not isinstance(body, dict):
            raise self._refused("refund query", status, body)
        if body.get("out_trade_no") != out_trade_no:
            raise ProviderError("refund query: the refund is of another order")
        return self._refund_status("refund query", out_request_no, body)

    @staticmethod
    def _refund_status(what: str, out_request_no: str, body: dict) -> str:
        if body.get("out_refund_no") != out_request_no or body.get("status") not in REFUND_STATUS:
            raise ProviderError(f"{what}: status {str(body.get('status'))[:20]}")
        return REFUND_STATUS[body["status"]]

    def withhold(self, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str) -> TradeState:
        raise WithholdRefused("微信支付委托代扣是另一项产品，本适配器不提供代扣")

    def bill(self, day: dt.date) -> list[BillRow]:
        """The ALL trade bill of one day: fetched, checked against the SHA1 WeChat Pay signed,
        and parsed (backtick-prefixed fields; the summary lines at the end are not trades)."""
        status, body = self._call(
            "bill", self._pay.trade_bill, bill_date=day.isoformat(), bill_type="ALL", tar_type="GZIP"
        )
        if status == 400 and isinstance(body, dict) and body.get("code") == NO_BILL:
            return []
        if status != 200 or not isinstance(body, dict) or not body.get("download_url"):
            raise self._refused("bill", status, body)
        status, content = self._call("bill download", self._pay.download_bill, body["download_url"])
        if status != 200 or not isinstance(content, (bytes, bytearray)):
            raise ProviderError(f"bill download: HTTP {status}")
        try:
            raw = gzip.decompress(content) if content[:2] == b"\x1f\x8b" else bytes(content)
        except (OSError, EOFError):
            raise ProviderError("bill download: not a readable gzip file") from None
        if body.get("hash_type") != "SHA1" or hashlib.sha1(raw).hexdigest() != str(body.get("hash_value", "")).lower():
            raise ProviderError("bill download: the file does not match its hash")
        return self.parse_bill(raw.decode("utf-8-sig"))

    def parse_bill(self, text: str) -> list[BillRow]:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if not header or "商户订单号" not in header:
            raise ProviderError("bill: no header line")
        index = {name.strip(): i for i, name in enumerate(header)}
        rows = []
        for fields in reader:
            if not fields:
                continue
            if fields[0].strip().lstrip("`") == "总交易单数":
                break  # the summary header; the last line is its totals
            values = [f.strip().removeprefix("`") for f in fields]

            def get(name, values=values):
                i = index.get(name)
                return values[i] if i is not None and i < len(values) else ""

            if get("商户号") != self.mchid or get("公众账号ID") != self.appid:
                continue  # another app of the same merchant: not ours to reconcile
            state = get("交易状态")
            try:
                if state == "SUCCESS":
                    kind, amount = "pay", yuan_to_fen(get("订单金额") or get("应结订单金额"))
                elif state in ("REFUND", "REVOKED"):
                    kind, amount = "refund", yuan_to_fen(get("申请退款金额") or get("退款金额"))
                else:
                    continue
                at = dt.datetime.strptime(get("交易时间"), "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
            except ValueError:
                raise ProviderError("bill: a line that cannot be read") from None
            rows.append(
                BillRow(out_trade_no=get("商户订单号"), trade_no=get("微信订单号"), kind=kind, amount_fen=amount, at=at)
            )
        else:
            raise ProviderError("bill: no summary lines (cut short?)")
        return rows


# -- built from configuration ---------------------------------------------------------------


def _file(name: str, settings: dict, key: str, instance: Path) -> str:
    path = instance / str(settings[key])
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(
            f"PAYMENT_PROVIDERS[{name!r}][{key!r}]: cannot read {path} ({exc.strerror or exc.__class__.__name__})"
        ) from None


def from_settings(name: str, settings: dict, app) -> WeChatPayProvider:
    """registry.KINDS["wechatpay"]: the provider of PAYMENT_PROVIDERS[name], or a
    ConfigurationError saying which setting is wrong (never what a key contains)."""
    try:
        import wechatpayv3  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"PAYMENT_PROVIDERS[{name!r}]: WeChat Pay needs the wechatpayv3 library: pip install 'sbweb[wechat]'"
        ) from None
    where = f"PAYMENT_PROVIDERS[{name!r}]"
    missing = [key for key in REQUIRED if not settings.get(key)]
    if missing:
        raise ConfigurationError(f"{where}: missing {', '.join(missing)}")
    checks = {
        "mchid": (r"\d{8,12}", "商户号, 8–12 digits"),
        "appid": (r"wx[0-9A-Za-z]{16}", "an appid like wx followed by 16 letters or digits"),
        "cert_serial_no": (r"[0-9A-Fa-f]{8,64}", "the merchant certificate's serial number in hex"),
        "public_key_id": (r"PUB_KEY_ID_[0-9A-Za-z_]{1,100}", "the 微信支付公钥 id, PUB_KEY_ID_…"),
    }
    for key, (pattern, what) in checks.items():
        if not re.fullmatch(pattern, str(settings[key])):
            raise ConfigurationError(f"{where}[{key!r}]: expected {what}")
    timeout = settings.get("timeout", 10)
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout <= 120):
        raise ConfigurationError(f"{where}['timeout']: seconds, more than 0 and at most 120")
    gateway = str(settings.get("gateway", GATEWAY))
    if not re.match(r"https?://[^/?#]+$", gateway.rstrip("/")):
        raise ConfigurationError(f"{where}['gateway']: an origin such as {GATEWAY}")
    instance = Path(app.instance_path)
    apiv3_key = _file(name, settings, "apiv3_key_file", instance)
    if len(apiv3_key.encode("utf-8")) != 32 or not apiv3_key.isascii():
        raise ConfigurationError(f"{where}['apiv3_key_file']: the APIv3 key is 32 ASCII characters")
    from wechatpayv3.utils import load_private_key, load_public_key

    private_key = _file(name, settings, "private_key_file", instance)
    public_key = _file(name, settings, "public_key_file", instance)
    for key, text, load, kind in (
        ("private_key_file", private_key, load_private_key, "private key"),
        ("public_key_file", public_key, load_public_key, "public key"),
    ):
        try:
            load(text)  # as the library will: PEM, or its base64 body alone
        except Exception:  # noqa: BLE001 - wechatpayv3 raises bare Exception for a key it cannot load
            raise ConfigurationError(f"{where}[{key!r}]: not a PEM {kind}") from None
    _check_signin(where, settings["appid"], app.config.get("HOST_SIGNIN") or {})
    return WeChatPayProvider(
        name=name,
        mchid=str(settings["mchid"]),
        appid=settings["appid"],
        cert_serial_no=str(settings["cert_serial_no"]),
        private_key=private_key,
        apiv3_key=apiv3_key,
        public_key=public_key,
        public_key_id=settings["public_key_id"],
        gateway=gateway,
        timeout=timeout,
    )


def _check_signin(where: str, appid: str, host_signin: dict) -> None:
    """Inside WeChat only JSAPI pays, and JSAPI needs the payer's openid for this very appid:
    a WeChat sign-in (HOST_SIGNIN, kind wechat) of the same appid must be configured."""
    appids = [s.get("appid") for s in host_signin.values() if isinstance(s, dict) and s.get("kind") == "wechat"]
    if appid not in appids:
        raise ConfigurationError(
            f"{where}: paying inside WeChat (JSAPI) needs the payer's openid for appid {appid}: "
            f"configure HOST_SIGNIN {{'wechat': {{'kind': 'wechat', 'appid': '{appid}', …}}}}"
        )
