"""云闪付 / 银联 as a payment provider: UnionPay's 全渠道 (ACP) protocol, version 5.1.0, written
on `cryptography` from the published specification (no maintained Python client exists).

The protocol in short. Every message is a flat map of string fields. signMethod 01 signs it
with the merchant's signing certificate (a PKCS#12 file UnionPay issues, with its password):
the fields but `signature`, sorted by name, joined as `k=v&k=v…`; its SHA-256 as lowercase hex;
that hex string signed SHA256withRSA (PKCS#1 v1.5); base64. `certId` is the signing
certificate's serial number in decimal. UnionPay signs its answers and notifications the same
way and sends the certificate it signed with (`signPubKeyCert`, PEM): we take it only when it
chains to the configured intermediate and root, is within its validity (as are they), is a
signing certificate (no CA) and names UnionPay as its owner: the third `@`-separated part of
its CN is 中国银联股份有限公司, as UnionPay's own SDKs check.

- 前台交易 (frontTransReq.do, txnType 01/01, bizType 000201, channelType 08): a form the
  browser posts to UnionPay's page (`front_form`), which sends the browser back to frontUrl
  (never trusted) and the result to backUrl (the async notification, respCode 00/A6 paid).
- 交易状态查询 (queryTrans.do, txnType 00) by orderId and the trade's own txnTime.
- 退货 (backTransReq.do, txnType 04) of a paid trade by its queryId (origQryId), under an
  orderId of its own; its outcome is asked for with queryTrans, or told by its notification.
- 消费撤销 (backTransReq.do, txnType 31): the same for a whole trade within the 清算日 it was
  paid in (UnionPay's day turns at 23:00); sbweb uses it there and 退货 after (`_return_how`).

Answers from queryTrans/backTransReq come as `k=v&…` text, not URL-encoded; values that
hold `&` are wrapped in {} or [] (reserved fields), which `parse_answer` keeps whole.

- the 对账文件 (文件传输, txnType 76, at the file host fileTransUrl): the signed answer's
  fileContent (base64 of the zip, deflated) inflated, unzipped and its ZM file read into
  BillRows (`bill`); see "the 对账文件" below for the layout and where it comes from.
- UnionPay's test environment (setting environment "test"): its signing certificates, whose
  CN's third part reads 00040000:SIGN, are taken (`Trust.test_environment`); never otherwise.

The sandbox's 银联 gateway
(sbweb.payments.sandbox_unionpay) runs this client in the embedded defaults.
"""

import base64
import datetime as dt
import hashlib
import io
import re
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

from sbweb.clock import SHANGHAI, utcnow
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

VERSION = "5.1.0"
ENCODING = "UTF-8"
SIGN_METHOD = "01"  # RSA-SHA256 with a certificate
ORGANISATION = "中国银联股份有限公司"
LIVE_GATEWAY = "https://gateway.95516.com"
FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
QUERY_PATH = "/gateway/api/queryTrans.do"
CURRENCY = "156"  # CNY
# UnionPay's test environment (its SDKs' test configuration): other hosts, and signing
# certificates whose CN reads `…@…@00040000:SIGN@…` instead of naming the organisation.
TEST_GATEWAY = "https://gateway.test.95516.com"
LIVE_FILE_GATEWAY = "https://filedownload.95516.com"  # the 对账文件 (fileTransUrl) has its own host
TEST_FILE_GATEWAY = "https://filedownload.test.95516.com"
TEST_OWNER = "00040000:SIGN"
ORDER_ID = re.compile(r"[0-9A-Za-z]{8,32}")  # orderId: 8–32 letters and digits, no - or _
MER_ID = re.compile(r"\d{15}")
MAX_ANSWER = 1024 * 1024

# respCode / origRespCode of a trade: paid, or still being processed (ask again).
PAID = {"00", "A6"}  # A6: 有缺陷的成功 (paid; some detail of the message was off)
IN_PROGRESS = {"03", "04", "05"}
NO_SUCH_TRADE = "34"

Post = Callable[[str, Mapping[str, str]], bytes]


def provider_time(value: dt.datetime) -> str:
    """UnionPay's times (txnTime, payTimeout) are Beijing time, yyyyMMddHHmmss."""
    return value.astimezone(SHANGHAI).strftime("%Y%m%d%H%M%S")


def parse_provider_time(text: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(text or "", "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


def amount(fen: int) -> str:
    """txnAmt: whole fen, digits only (12 at most)."""
    if isinstance(fen, bool) or not isinstance(fen, int) or not 0 < fen < 10**12:
        raise ValueError(f"txnAmt must be a positive whole number of fen, not {fen!r}")
    return str(fen)


def read_amount(text) -> int | None:
    return int(text) if isinstance(text, str) and re.fullmatch(r"\d{1,12}", text) else None


# -- signing --------------------------------------------------------------------------------


def signing_string(fields: Mapping[str, str]) -> str:
    """Every field but `signature`, sorted by name, as k=v joined by &."""
    return "&".join(f"{key}={fields[key]}" for key in sorted(fields) if key != "signature")


def digest_hex(fields: Mapping[str, str]) -> bytes:
    """What signMethod 01 signs: the SHA-256 of the signing string, as lowercase hex (ASCII)."""
    return hashlib.sha256(signing_string(fields).encode("utf-8")).hexdigest().encode("ascii")


@dataclass(frozen=True)
class SigningKey:
    """The merchant's signing certificate and its private key (from UnionPay's PFX)."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @property
    def cert_id(self) -> str:
        return str(self.certificate.serial_number)

    @staticmethod
    def from_pfx(data: bytes, password: str | bytes | None) -> "SigningKey":
        """The key and certificate of a PKCS#12 file; ValueError (saying what, never the
        password) when it does not open or holds no RSA key with its certificate."""
        if isinstance(password, str):
            password = password.encode("utf-8")
        try:
            key, certificate, _others = pkcs12.load_key_and_certificates(data, password or None)
        except (ValueError, TypeError):
            raise ValueError("not a PKCS#12 (PFX) file, or the password does not open it") from None
        if certificate is None or not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the PFX holds no RSA private key with its certificate")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():
            raise ValueError("the PFX's certificate is not that of its private key")
        if key.key_size < 2048:
            raise ValueError("the signing key must be RSA of 2048 bits or more")
        return SigningKey(certificate=certificate, private_key=key)

    def sign(self, fields: Mapping[str, str]) -> dict[str, str]:
        """`fields` with certId and signMethod set and `signature` added."""
        signed = {**fields, "certId": self.cert_id, "signMethod": SIGN_METHOD}
        signed.pop("signature", None)
        raw = self.private_key.sign(digest_hex(signed), padding.PKCS1v15(), hashes.SHA256())
        signed["signature"] = base64.b64encode(raw).decode("ascii")
        return signed


# -- verifying ------------------------------------------------------------------------------


def cn_parts(certificate: x509.Certificate) -> list[str]:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value).split("@") if names else []


def refused_owner(owner: str, organisation: str) -> str:
    """Why a signing certificate's owner (the CN's third part) is not taken."""
    if owner == TEST_OWNER:
        return (
            f"the signing certificate is not {organisation}'s but UnionPay's test environment's "
            f'({TEST_OWNER}), taken only by a provider configured with environment "test"'
        )
    return f"the signing certificate is not {organisation}'s"


def _extension(certificate: x509.Certificate, oid):
    try:
        return certificate.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None


def _within(certificate: x509.Certificate, now: dt.datetime, what: str) -> None:
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise InvalidNotice(
            f"{what} is not valid now (valid {certificate.not_valid_before_utc:%Y-%m-%d} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d})"
        )


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


@dataclass(frozen=True)
class Trust:
    """UnionPay's root and intermediate certificates (the files its SDK ships as
    acp_prod_root.cer and acp_prod_middle.cer; several of each are taken, for rotation), and
    the organisation a signing certificate must name."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    organisation: str = ORGANISATION
    test_environment: bool = False  # also UnionPay's test environment's owner (TEST_OWNER)

    @staticmethod
    def from_pem(roots: bytes, intermediates: bytes, organisation: str = ORGANISATION) -> "Trust":
        try:
            found_roots = tuple(x509.load_pem_x509_certificates(roots))
            found_middle = tuple(x509.load_pem_x509_certificates(intermediates))
        except ValueError:
            raise ValueError("not PEM certificates") from None
        for middle in found_middle:
            constraints = _extension(middle, ExtensionOID.BASIC_CONSTRAINTS)
            if constraints is None or not constraints.ca:
                raise ValueError("an intermediate certificate that is no CA")
            if not any(_issued_by(middle, root) for root in found_roots):
                raise ValueError("an intermediate certificate not issued by any configured root")
        return Trust(found_roots, found_middle, organisation)

    def check(self, certificate: x509.Certificate, now: dt.datetime) -> None:
        """InvalidNotice unless `certificate` is a UnionPay signing certificate in force,
        issued by a configured intermediate (in force) under a configured root (in force)."""
        _within(certificate, now, "the signing certificate")
        for middle in self.intermediates:
            if certificate.issuer == middle.subject and _issued_by(certificate, middle):
                break
        else:
            raise InvalidNotice("the signing certificate is not issued by a configured intermediate")
        _within(middle, now, "its intermediate certificate")
        root = next((r for r in self.roots if middle.issuer == r.subject and _issued_by(middle, r)), None)
        if root is None:
            raise InvalidNotice("the intermediate is not issued by a configured root")
        _within(root, now, "the root certificate")
        constraints = _extension(certificate, ExtensionOID.BASIC_CONSTRAINTS)
        if constraints is not None and constraints.ca:
            raise InvalidNotice("the signing certificate is a CA certificate")
        usage = _extension(certificate, ExtensionOID.KEY_USAGE)
        if usage is not None and not usage.digital_signature:
            raise InvalidNotice("the certificate is not for signing")
        parts = cn_parts(certificate)
        if len(parts) < 3 or not self.owner_accepted(parts[2]):
            raise InvalidNotice(refused_owner(parts[2] if len(parts) >= 3 else "", self.organisation))
        if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
            raise InvalidNotice("the signing certificate's key is not RSA")

    def owner_accepted(self, owner: str) -> bool:
        """The CN's owner part names UnionPay; in the test environment (only when configured so)
        UnionPay's test signing certificates, whose owner part reads 00040000:SIGN, as its SDKs
        take them when ifValidateCNName is false."""
        return owner == self.organisation or (self.test_environment and owner == TEST_OWNER)

    def verify(self, fields: Mapping[str, str], *, now: dt.datetime | None = None) -> dict[str, str]:
        """`fields` as a dict if UnionPay signed them (signMethod 01, version 5.1.0, with a
        signPubKeyCert we trust); InvalidNotice saying why not otherwise."""
        fields = dict(fields)
        now = now or dt.datetime.now(dt.UTC)
        if fields.get("signMethod") != SIGN_METHOD:
            raise InvalidNotice(f"signMethod {str(fields.get('signMethod'))[:8]!r}, not 01")
        if fields.get("version") != VERSION:
            raise InvalidNotice(f"version {str(fields.get('version'))[:8]!r}, not {VERSION}")
        pem, signature = fields.get("signPubKeyCert", ""), fields.get("signature", "")
        if not pem or not signature:
            raise InvalidNotice("no signature or no signPubKeyCert")
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
            raw = base64.b64decode(signature, validate=True)
        except (ValueError, UnicodeEncodeError):
            raise InvalidNotice("unreadable signPubKeyCert or signature") from None
        self.check(certificate, now)
        try:
            certificate.public_key().verify(raw, digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise InvalidNotice("bad signature") from None
        return fields


# -- messages -------------------------------------------------------------------------------


def parse_answer(text: str) -> dict[str, str]:
    """A synchronous answer (`k=v&k=v`, values as they are): a value that opens with { or [
    runs to its matching bracket, & and = inside it included."""
    fields: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        eq = text.find("=", i)
        if eq < 0:
            raise ValueError("a field without =")
        key = text[i:eq]
        j = eq + 1
        end = _bracketed_end(text, j, key) if j < n and text[j] in "{[" else j
        end = text.find("&", end)
        end = n if end < 0 else end
        if not key or key in fields:
            raise ValueError("an empty or repeated field name")
        fields[key] = text[j:end]
        i = end + 1
    return fields


def _bracketed_end(text: str, start: int, key: str) -> int:
    """Just past the bracket that closes the one at `start` (nested ones counted)."""
    opening = text[start]
    closing = "}" if opening == "{" else "]"
    depth = 0
    for k in range(start, len(text)):
        if text[k] == opening:
            depth += 1
        elif text[k] == closing:
            depth -= 1
            if depth == 0:
                return k + 1
    raise ValueError(f"an unclosed {opening} in {key[:20]}")


def _without_blanks(fields: Mapping[str, str]) -> dict[str, str]:
    """UnionPay's SDKs drop empty fields before signing: an empty field is no field."""
    return {k: str(v) for k, v in fields.items() if v is not None and str(v) != ""}


@dataclass(frozen=True)
class Merchant:
    """One 商户号 (merId) with its signing key, as the requests need it."""

    mer_id: str
    key: SigningKey

    def _base(
        self, txn_type: str, txn_sub_type: str, biz_type: str, order_id: str, txn_time: dt.datetime, **more
    ) -> dict[str, str]:
        if not ORDER_ID.fullmatch(order_id or ""):
            raise ValueError(f"orderId must be 8–32 letters and digits, not {order_id!r}")
        return _without_blanks(
            {
                "version": VERSION,
                "encoding": ENCODING,
                "signMethod": SIGN_METHOD,
                "txnType": txn_type,
                "txnSubType": txn_sub_type,
                "bizType": biz_type,
                "accessType": "0",
                "merId": self.mer_id,
                "orderId": order_id,
                "txnTime": provider_time(txn_time),
                **more,
            }
        )

    def front_form(
        self,
        *,
        order_id: str,
        amount_fen: int,
        txn_time: dt.datetime,
        pay_timeout: dt.datetime,
        front_url: str,
        back_url: str,
    ) -> dict[str, str]:
        """前台交易 (消费, mobile web): the signed fields the browser posts to frontTransReq.do."""
        return self._money_request(
            "01",
            "01",
            order_id,
            txn_time,
            amount_fen,
            frontUrl=front_url,
            backUrl=back_url,
            payTimeout=provider_time(pay_timeout),
        )

    def query_request(self, *, order_id: str, txn_time: dt.datetime) -> dict[str, str]:
        """交易状态查询 of the trade (payment or refund) sent as orderId at txnTime."""
        return self.key.sign(self._base("00", "00", "000000", order_id, txn_time))

    def refund_request(
        self, *, order_id: str, orig_qry_id: str, amount_fen: int, txn_time: dt.datetime, back_url: str
    ) -> dict[str, str]:
        """退货 of `amount_fen` of the paid trade `orig_qry_id` (its queryId), as orderId."""
        if not re.fullmatch(r"[0-9A-Za-z]{1,64}", orig_qry_id or ""):
            raise ValueError("origQryId must be the paid trade's queryId")
        return self._money_request("04", "00", order_id, txn_time, amount_fen, origQryId=orig_qry_id, backUrl=back_url)

    def _money_request(
        self, txn_type: str, sub_type: str, order_id: str, txn_time: dt.datetime, amount_fen: int, **fields
    ) -> dict[str, str]:
        """A signed request that moves money (消费, 退货): mobile web (channelType 08), in 元 of CNY."""
        return self.key.sign(
            self._base(
                txn_type,
                sub_type,
                "000201",
                order_id,
                txn_time,
                channelType="08",
                currencyCode=CURRENCY,
                txnAmt=amount(amount_fen),
                **fields,
            )
        )


@dataclass(frozen=True)
class Outcome:
    """What a verified answer or notification says about one trade of ours."""

    order_id: str
    status: str  # "paid" | "processing" | "failed" | "missing"
    amount_fen: int | None = None
    query_id: str | None = None
    paid_at: dt.datetime | None = None
    code: str = ""
    message: str = ""


def trade_outcome(fields: Mapping[str, str], *, mer_id: str, answer: bool) -> Outcome:
    """A verified notification (answer=False: respCode is the trade's) or a verified query
    answer (answer=True: respCode is the query's, origRespCode the trade's) as an Outcome.
    ProviderError (answer) / InvalidNotice (notification) when it is not about our merchant."""
    refuse = ProviderError if answer else InvalidNotice
    if fields.get("merId") != mer_id:
        raise refuse("not our merId")
    order_id = fields.get("orderId", "")
    if not ORDER_ID.fullmatch(order_id):
        raise refuse("no readable orderId")
    code = fields.get("respCode", "")
    message = fields.get("respMsg", "")[:100]
    if answer:
        if code == NO_SUCH_TRADE:
            return Outcome(order_id, "missing", code=code, message=message)
        if code in IN_PROGRESS:
            return Outcome(order_id, "processing", code=code, message=message)
        if code != "00":
            raise ProviderError(f"query refused: {code[:8]} {message}".strip())
        code, message = fields.get("origRespCode", ""), fields.get("origRespMsg", "")[:100]
    if code in PAID:
        return _paid(fields, order_id, code, message, refuse)
    if code in IN_PROGRESS:
        return Outcome(order_id, "processing", code=code, message=message)
    return Outcome(order_id, "failed", code=code, message=message)


def _paid(fields: Mapping[str, str], order_id: str, code: str, message: str, refuse) -> Outcome:
    """A trade UnionPay says is paid: its amount (CNY) and queryId must be readable."""
    paid = read_amount(fields.get("txnAmt"))
    if paid is None:
        raise refuse("no readable txnAmt")
    if fields.get("currencyCode", CURRENCY) != CURRENCY:
        raise refuse("not in CNY")
    query_id = fields.get("queryId", "")
    if not re.fullmatch(r"[0-9A-Za-z]{1,64}", query_id):
        raise refuse("no queryId")
    # No field says when the payer paid (traceTime has no year): the time we hear of it is used.
    return Outcome(order_id, "paid", paid, query_id, None, code, message)


# -- 消费撤销 (txnType 31) beside 退货 (04) ------------------------------------------------------
# UnionPay cancels (撤销) a paid trade only within the 清算日 it was paid in, and only whole; after
# that it is a 退货. Both are backTransReq.do with origQryId, under an orderId of their own; both
# are answered 00 (accepted), end in a notification to backUrl, and are asked about by queryTrans.

CANCEL, RETURN = "31", "04"
SENT_AS = {CANCEL: "cancel", RETURN: "return"}  # Refund.sent_as
CUTOFF_SHIFT = dt.timedelta(hours=1)  # UnionPay's 清算日 turns at 23:00 Beijing time
# No 撤销 this close to the cut-off: one that reached UnionPay after it would be refused (and its
# orderId used up); a 退货 is always right.
CANCEL_MARGIN = dt.timedelta(minutes=10)


def settle_day(moment: dt.datetime) -> dt.date:
    """UnionPay's 清算日 of a moment: the Beijing date, which turns at 23:00 (a payment at 23:30
    is settled with the next day's)."""
    return (moment.astimezone(SHANGHAI) + CUTOFF_SHIFT).date()


def may_cancel(settle_date: str | None, now: dt.datetime, sent_at: dt.datetime) -> bool:
    """Whether a paid trade UnionPay gives as settleDate `settle_date` (MMDD, no year) may still
    be 撤销ed now: it is today's 清算日, which lasts beyond CANCEL_MARGIN from now, and the trade
    was sent (`sent_at`, its txnTime) within two days (so MMDD cannot be a year ago)."""
    if not settle_date or not re.fullmatch(r"\d{4}", settle_date) or now - sent_at > dt.timedelta(days=2):
        return False
    today = settle_day(now)
    return settle_date == f"{today:%m%d}" and settle_day(now + CANCEL_MARGIN) == today


def return_request(
    merchant: "Merchant",
    txn_type: str,
    *,
    order_id: str,
    orig_qry_id: str,
    amount_fen: int,
    txn_time: dt.datetime,
    back_url: str,
) -> dict[str, str]:
    """The signed backTransReq.do request of a 退货 (04, any part) or 撤销 (31, the whole trade's
    txnAmt, as UnionPay requires) of the paid trade `orig_qry_id`, as orderId."""
    if txn_type == RETURN:
        return merchant.refund_request(
            order_id=order_id, orig_qry_id=orig_qry_id, amount_fen=amount_fen, txn_time=txn_time, back_url=back_url
        )
    if txn_type != CANCEL:
        raise ValueError(f"txnType {txn_type!r} returns no money")
    if not re.fullmatch(r"[0-9A-Za-z]{1,64}", orig_qry_id or ""):
        raise ValueError("origQryId must be the paid trade's queryId")
    return merchant._money_request(
        CANCEL, "00", order_id, txn_time, amount_fen, origQryId=orig_qry_id, backUrl=back_url
    )


@dataclass(frozen=True)
class RefundNotice:
    """A verified notification about one of our refunds (退货 or 撤销)."""

    out_request_no: str
    status: str  # "succeeded" | "processing" | "failed" (sbweb.payments.REFUND_STATES)
    amount_fen: int
    txn_type: str


# -- transport ------------------------------------------------------------------------------


def http_post(timeout: float, limit: int = MAX_ANSWER) -> Post:
    """POST the fields form-encoded; the raw answer, or ProviderError when there is none."""

    def post(url: str, fields: Mapping[str, str]) -> bytes:
        data = urlencode(fields).encode("utf-8")
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"}
        )
        return read_answer(request, timeout, limit)

    return post


# -- the 对账文件 (file transfer, txnType 76) ------------------------------------------------
# UnionPay's daily 商户对账文件, as its SDKs fetch it (the Java/PHP/C# demos' fileTransfer and
# AcpService.deCodeFileContent): a signed request (txnType 76, txnSubType 01, bizType 000000,
# settleDate MMDD, fileType 00) posted to fileTransUrl; the signed `k=v&…` answer carries
# fileName (`<merId>_<yyyymmdd>.zip`) and fileContent: the zip, deflated (zlib, as
# java.util.zip.Inflater reads it) and base64-encoded. respCode 98: no file (yet) for that day.
# In the zip, `INN<yymmdd><nn>ZM_<merId>` is the 一般交易明细流水 (ZM) file; beside it ZME
# (差错交易) and others, which are not read here.
#
# The ZM file is GBK text, one trade a line, fixed-width fields each followed by one space.
# Widths and meanings: UnionPay's 《全渠道平台接入接口规范 第3部分 文件接口》 6.1, as its demo
# SDKs read it (parseZMFile's lengthArray {3,11,11,6,10,19,12,4,2,21,2,32,2,6,10,13,13,4,15,
# 2,2,6,2,4,32,1,21,15,1,15,32,13,13,8,32,13,13,12,2,1,32,98}; field names from community
# parsers that follow the same document). Amounts n12 are fen, zero-padded; times MMDDhhmmss
# (Beijing time, no year); field 41 (原始交易订单号) names the paid trade of a 退货 / 撤销.
ZM_FIELDS = (
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),  # 5: MMDDhhmmss
    ("帐号", 19),
    ("交易金额", 12),  # 7: fen
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),  # 10: queryId
    ("支付方式（旧）", 2),
    ("商户订单号", 32),  # 12: orderId (a 退货's own)
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),  # 20: txnType
    ("交易子类", 2),
    ("业务类型", 6),
    ("帐号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),  # 27: origQryId
    ("商户代码", 15),  # 28: merId
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("原始交易订单号", 32),  # 41: the paid trade's orderId
    ("保留使用", 98),
)
ZM_WIDTH = sum(width + 1 for _, width in ZM_FIELDS) - 1  # a whole line, without its end
# txnType of a line: 消费 is money in; 退货 and 消费撤销 give it back.
BILL_TXN_TYPES = {"01": "pay", "04": "refund", "31": "refund"}
NO_FILE = "98"
MAX_FILE_ANSWER = 32 * 1024 * 1024  # the answer carrying fileContent
MAX_FILE = 64 * 1024 * 1024  # the zip once inflated, and any file in it
ZM_NAME = re.compile(r"INN\d{8}ZM_(\d{15})")


def default_file_gateway(gateway: str) -> str:
    """The file host that goes with a gateway: UnionPay's own for its production and test
    gateways; for any other (the sandbox, a local fake) its /filedownload."""
    return {LIVE_GATEWAY: LIVE_FILE_GATEWAY, TEST_GATEWAY: TEST_FILE_GATEWAY}.get(gateway, f"{gateway}/filedownload")


def file_request(merchant: Merchant, *, settle_date: dt.date, txn_time: dt.datetime) -> dict[str, str]:
    """The signed 文件传输 request for the 对账文件 of one 清算日期."""
    return merchant.key.sign(
        {
            "version": VERSION,
            "encoding": ENCODING,
            "signMethod": SIGN_METHOD,
            "txnType": "76",
            "txnSubType": "01",
            "bizType": "000000",
            "accessType": "0",
            "channelType": "07",
            "merId": merchant.mer_id,
            "settleDate": settle_date.strftime("%m%d"),
            "txnTime": provider_time(txn_time),
            "fileType": "00",
        }
    )


def read_file_answer(raw: bytes, trust: Trust, *, mer_id: str, settle_date: str) -> dict[str, str]:
    """The verified answer to a 文件传输 request about our merId and that settleDate, with a
    file; ProviderError saying why not."""
    try:
        answer = parse_answer(raw.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError):
        raise ProviderError("bill: unreadable answer") from None
    try:
        trust.verify(answer)
    except InvalidNotice as exc:
        raise ProviderError(f"bill: answer refused: {exc}") from None
    if answer.get("merId") != mer_id or answer.get("txnType") != "76":
        raise ProviderError("bill: answer about another merchant or transaction")
    code = answer.get("respCode", "")
    if code == NO_FILE:
        raise ProviderError(f"bill: UnionPay has no 对账文件 for {settle_date} (yet) (98)")
    if code != "00":
        raise ProviderError(f"bill refused: {code[:8]} {answer.get('respMsg', '')[:100]}".strip())
    if answer.get("settleDate") not in (None, settle_date):
        raise ProviderError("bill: answer about another settleDate")
    if not answer.get("fileContent"):
        raise ProviderError("bill: the answer holds no fileContent")
    return answer


def file_content(answer: Mapping[str, str]) -> bytes:
    """fileContent decoded: base64, then inflated (zlib, at most MAX_FILE bytes)."""
    try:
        packed = base64.b64decode(answer["fileContent"], validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, MAX_FILE)
    except (ValueError, zlib.error):
        raise ProviderError("bill: fileContent is not base64 of deflated data") from None
    if inflater.unconsumed_tail:
        raise ProviderError("bill: the file is too large")
    if not inflater.eof:
        raise ProviderError("bill: fileContent is cut short")
    return data


def read_bill_zip(data: bytes, *, mer_id: str, day: dt.date) -> list[BillRow]:
    """The trades of the zip's ZM file for our merId."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [i for i in archive.infolist() if _zm_of(i.filename) == mer_id]
        if len(members) != 1:
            raise ProviderError(f"bill: {len(members)} ZM files for merId {mer_id} in the zip")
        if members[0].file_size > MAX_FILE:
            raise ProviderError("bill: the ZM file is too large")
        text = archive.read(members[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error):
        raise ProviderError("bill: fileContent is not a readable zip") from None
    return parse_zm(text, mer_id=mer_id, day=day)


def _zm_of(name: str) -> str | None:
    found = ZM_NAME.fullmatch(name.rsplit("/", 1)[-1])
    return found.group(1) if found else None


def zm_fields(line: bytes) -> dict[str, str]:
    """One ZM line's fields by name (GBK, spaces trimmed); ValueError unless the line has the
    layout: one space after each field (trailing spaces may have been trimmed by the writer)."""
    line = line.ljust(ZM_WIDTH, b" ")
    fields, at = {}, 0
    for name, width in ZM_FIELDS:
        if name == "保留使用":
            break
        if line[at + width : at + width + 1] != b" ":
            raise ValueError(f"not the ZM layout at {name}")
        fields[name] = line[at : at + width].decode("gb18030").strip()
        at += width + 1
    return fields


def parse_zm(text: bytes, *, mer_id: str, day: dt.date) -> list[BillRow]:
    """The ZM file's lines as BillRows: a 消费 by its orderId and queryId; a 退货 or 撤销 by the
    paid trade's orderId (field 41) and queryId (origQryId), its own orderId as out_request_no.
    ProviderError naming the line when one cannot be read exactly."""
    rows = []
    for number, line in enumerate(text.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            rows.append(_zm_row(zm_fields(line), mer_id, day))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProviderError(f"bill: ZM line {number}: {exc}") from None
    return rows


def _zm_row(fields: dict[str, str], mer_id: str, day: dt.date) -> BillRow:
    kind = BILL_TXN_TYPES.get(fields["交易类型"])
    if kind is None:
        raise ValueError(f"unknown 交易类型 {fields['交易类型'][:2]!r}")
    if fields["商户代码"] != mer_id:
        raise ValueError("another merchant's trade")
    fen = int(fields["交易金额"]) if re.fullmatch(r"\d{12}", fields["交易金额"]) else 0
    if fen <= 0:
        raise ValueError("no readable 交易金额")
    at = _bill_time(fields["交易传输时间"], day)
    own, query_id = fields["商户订单号"], fields["查询流水号"]
    if kind == "pay":
        out_trade_no, trade_no, request_no = own, query_id, None
    else:
        out_trade_no, trade_no, request_no = fields["原始交易订单号"], fields["原交易查询流水号"], own
    if not ORDER_ID.fullmatch(out_trade_no) or not re.fullmatch(r"[0-9A-Za-z]{1,64}", trade_no):
        raise ValueError("no readable 商户订单号 / 查询流水号")
    return BillRow(out_trade_no, trade_no, kind, fen, at, request_no)


def _bill_time(text: str, day: dt.date) -> dt.datetime:
    """交易传输时间 (MMDDhhmmss, Beijing time) in the year of the 清算日期 around it: a trade
    dated after that day is of the year before (the file of 1 January lists 31 December's)."""
    try:
        at = dt.datetime.strptime(f"{day.year}{text}", "%Y%m%d%H%M%S")
    except ValueError:
        raise ValueError("no readable 交易传输时间") from None
    if at.date() > day + dt.timedelta(days=1):
        at = at.replace(year=day.year - 1)
    return at.replace(tzinfo=SHANGHAI)


# -- the provider ---------------------------------------------------------------------------

STATUS = {"paid": "success", "processing": "waiting", "failed": "waiting", "missing": "missing"}
REFUND_STATUS = {"paid": "succeeded", "processing": "processing", "failed": "failed", "missing": "missing"}


class UnionPayProvider:
    """云闪付 for one 商户号 (merId): 前台交易 (the browser posts our signed form to UnionPay's
    page), notifications, 交易状态查询, 退货, 消费撤销 and the daily 对账文件. Serves the `unionpay`
    channel only.

    UnionPay finds a trade by orderId *and* the txnTime it was sent with, so each trade's
    txnTime is one fixed moment of ours: the order's (or refund's) creation, read back from the
    database; 继续支付 sends the same trade again, never a second one."""

    channels = frozenset({"unionpay"})
    withholds = False  # 银联代收 is another product
    reads_bills = True  # the 对账文件 (txnType 76): see `bill`

    def __init__(
        self,
        *,
        name: str,
        merchant: Merchant,
        trust: Trust,
        gateway: str = LIVE_GATEWAY,
        post: Post | None = None,
        timeout: float = 10,
        file_gateway: str | None = None,
    ):
        self.name = name
        self.merchant = merchant
        self.trust = trust
        self.gateway = gateway.rstrip("/")
        self.post = post or http_post(timeout)
        # The 对账文件 comes from its own host (fileTransUrl), in a larger answer.
        self.file_gateway = (file_gateway or default_file_gateway(self.gateway)).rstrip("/")
        self.post_file = post or http_post(timeout, MAX_FILE_ANSWER)
        # Only UnionPay's production gateway moves money; its test environment and fakes do not.
        self.takes_real_money = self.gateway == LIVE_GATEWAY

    def __repr__(self) -> str:  # never the key
        return f"<UnionPayProvider {self.name} merId={self.merchant.mer_id}>"

    # -- when each trade was sent ---------------------------------------------------------
    @staticmethod
    def _order(out_trade_no: str):
        from sqlalchemy import select

        from sbweb.db import db
        from sbweb.models import Order

        order = db.session.scalar(select(Order).filter_by(order_no=out_trade_no[:32]))
        if order is None:
            raise ProviderError(f"no order {out_trade_no[:32]} to send to UnionPay")
        return order

    @staticmethod
    def _refund_time(out_request_no: str) -> dt.datetime:
        from sqlalchemy import select

        from sbweb.db import db
        from sbweb.models import Refund

        refund = db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no[:64]))
        if refund is None:
            raise ProviderError(f"no refund {out_request_no[:64]} to send to UnionPay")
        return refund.created_at

    def _call(self, what: str, path: str, fields: Mapping[str, str]) -> Outcome:
        """POST a signed request; the answer verified and read as an Outcome of the trade."""
        raw = self.post(f"{self.gateway}{path}", fields)
        try:
            answer = parse_answer(raw.decode("utf-8").strip())
        except (UnicodeDecodeError, ValueError):
            raise ProviderError(f"{what}: unreadable answer") from None
        try:
            self.trust.verify(answer)
        except InvalidNotice as exc:
            raise ProviderError(f"{what}: answer refused: {exc}") from None
        if answer.get("orderId") != fields["orderId"]:
            raise ProviderError(f"{what}: answer about another trade")
        return trade_outcome(answer, mer_id=self.merchant.mer_id, answer=True)

    # -- paying ---------------------------------------------------------------------------
    @staticmethod
    def payer_needed(host: str, payer_subject: str | None) -> str | None:
        """UnionPay's page finds its payer itself (card, or the 云闪付 account)."""
        return None

    def start(self, request: PayRequest) -> PaymentStart:
        """The signed 前台交易 form the browser posts to frontTransReq.do."""
        order = self._order(request.out_trade_no)
        try:
            form = self.merchant.front_form(
                order_id=request.out_trade_no,
                amount_fen=request.amount_fen,
                txn_time=order.created_at,
                pay_timeout=request.expires_at,
                front_url=request.return_url,
                back_url=request.notify_url,
            )
        except ValueError as exc:
            raise ProviderError(f"front form: {exc}") from None
        return PaymentStart(url=f"{self.gateway}{FRONT_PATH}", form=form)

    # -- notifications and returns --------------------------------------------------------
    def verify_notify(self, notification: Notification) -> TradeState:
        """A 消费 notification (posted form fields): signed by UnionPay under our trust, for our
        merId. Only payments: a 退货's or 撤销's own notification is refused here; the notify
        view hands those to `verify_refund_notify` (`is_refund_notification`)."""
        fields = self.trust.verify(notification.form)
        if fields.get("txnType") != "01":
            raise InvalidNotice(f"not a payment notification (txnType {fields.get('txnType', '')[:4]!r})")
        outcome = trade_outcome(fields, mer_id=self.merchant.mer_id, answer=False)
        return TradeState(
            out_trade_no=outcome.order_id,
            status=STATUS[outcome.status],
            amount_fen=outcome.amount_fen,
            trade_no=outcome.query_id,
            notify_id=outcome.query_id,
            seller_id=self.merchant.mer_id,
        )

    def notify_answer(self, accepted: bool) -> NotifyAnswer:
        """UnionPay takes HTTP 200 as received; anything else it sends again later."""
        return NotifyAnswer(200, "ok") if accepted else NotifyAnswer(400, "fail")

    def verify_return(self, args: Mapping[str, str]) -> str:
        """The browser's return (UnionPay posts the trade's fields to frontUrl) says which order
        to show, never that it was paid: its orderId only, signature or not."""
        number = args.get("orderId", "")
        if not ORDER_ID.fullmatch(number):
            raise InvalidNotice("no order number")
        return number

    # -- trade APIs -----------------------------------------------------------------------
    def query(self, out_trade_no: str) -> TradeState:
        order = self._order(out_trade_no)
        outcome = self._call(
            "query", QUERY_PATH, self.merchant.query_request(order_id=out_trade_no, txn_time=order.created_at)
        )
        # A failed attempt is not the trade's end: the payer may try again on UnionPay's page
        # until payTimeout; the order closes when it expires.
        return TradeState(
            out_trade_no=out_trade_no,
            status=STATUS[outcome.status],
            amount_fen=outcome.amount_fen,
            trade_no=outcome.query_id,
            seller_id=self.merchant.mer_id,
        )

    def close(self, out_trade_no: str) -> None:
        """A 前台交易 has no close: payTimeout ends it at UnionPay. What is paid or still being
        processed there is not closed here (ProviderError: the query decides)."""
        order = self._order(out_trade_no)
        outcome = self._call(
            "close", QUERY_PATH, self.merchant.query_request(order_id=out_trade_no, txn_time=order.created_at)
        )
        if outcome.status in ("paid", "processing"):
            raise ProviderError(f"close: the trade is {outcome.status} at UnionPay")

    def refund(self, out_trade_no: str, amount_fen: int, out_request_no: str, reason: str, *, total_fen: int) -> str:
        """退货 by origQryId. A refund UnionPay has already (same orderId and txnTime) is asked
        about, not sent again; a new one is answered 00 (accepted) and completes later."""
        known = self.refund_state(out_trade_no, out_request_no)
        if known != "missing":
            return known
        order = self._order(out_trade_no)
        # 撤销 the same 清算日 for a whole trade, 退货 otherwise (see "消费撤销" below).
        txn_type, query_id = self._return_how(order, out_request_no, amount_fen)
        try:
            fields = return_request(
                self.merchant,
                txn_type,
                order_id=out_request_no,
                orig_qry_id=query_id,
                amount_fen=amount_fen,
                txn_time=self._refund_time(out_request_no),
                back_url=self._refund_back_url(),
            )
            self._note_sent_as(out_request_no, txn_type)
        except ValueError as exc:
            raise ProviderError(f"refund: {exc}") from None
        raw = self.post(f"{self.gateway}{BACK_PATH}", fields)
        try:
            answer = self.trust.verify(parse_answer(raw.decode("utf-8").strip()))
        except (UnicodeDecodeError, ValueError):
            raise ProviderError("refund: unreadable answer") from None
        except InvalidNotice as exc:
            raise ProviderError(f"refund: answer refused: {exc}") from None
        if answer.get("orderId") != out_request_no or answer.get("merId") != self.merchant.mer_id:
            raise ProviderError("refund: answer about another trade")
        code = answer.get("respCode", "")
        if code == "00" or code in IN_PROGRESS:
            return "processing"
        raise ProviderError(f"refund refused: {code[:8]} {answer.get('respMsg', '')[:100]}".strip())

    def _refund_back_url(self) -> str:
        from flask import current_app

        base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
        if not base:
            raise ProviderError("refund: PUBLIC_BASE_URL is not set (UnionPay needs a backUrl)")
        return f"{base}/notify/{self.name}"

    def refund_state(self, out_trade_no: str, out_request_no: str) -> str:
        """The 退货's own trade, by its orderId and txnTime: 00 is the money returned."""
        outcome = self._call(
            "refund query",
            QUERY_PATH,
            self.merchant.query_request(order_id=out_request_no, txn_time=self._refund_time(out_request_no)),
        )
        return REFUND_STATUS[outcome.status]

    def withhold(self, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str) -> TradeState:
        raise WithholdRefused("云闪付不提供协议扣款")

    # -- 消费撤销 or 退货, and their own notifications ------------------------------------------
    def _return_how(self, order, out_request_no: str, amount_fen: int) -> tuple[str, str]:
        """(txnType, origQryId) of giving `amount_fen` of the order's trade back: 撤销 (31) when it
        is the whole trade, nothing of it was returned before, and UnionPay's settleDate of the
        payment is still today's 清算日 (`may_cancel`); 退货 (04) otherwise. A whole return asks
        UnionPay for the paid trade (its settleDate; and its queryId, which an order that was
        never settled does not keep), so the decision is UnionPay's date, not our clock's guess."""
        whole = amount_fen == order.total_fen and not self._other_refunds(order.id, out_request_no)
        if order.provider_trade_no and not whole:
            return RETURN, order.provider_trade_no
        paid, fields = self._call_fields(
            "refund", QUERY_PATH, self.merchant.query_request(order_id=order.order_no, txn_time=order.created_at)
        )
        if paid.status != "paid" or not paid.query_id:
            raise ProviderError(f"refund: UnionPay has no paid trade {order.order_no} ({paid.status})")
        from sbweb.models.base import utcnow

        if whole and paid.amount_fen == amount_fen and may_cancel(fields.get("settleDate"), utcnow(), order.created_at):
            return CANCEL, paid.query_id
        return RETURN, paid.query_id

    @staticmethod
    def _other_refunds(order_id: int, out_request_no: str) -> bool:
        from sqlalchemy import func, select

        from sbweb.db import db
        from sbweb.models import Refund

        others = select(func.count()).where(Refund.order_id == order_id, Refund.out_request_no != out_request_no)
        return bool(db.session.scalar(others.select_from(Refund)))

    @staticmethod
    def _note_sent_as(out_request_no: str, txn_type: str) -> None:
        """Written before the request goes: the ledger check holds a 撤销 to returning a whole
        trade, and a notification's txnType must be the one we sent."""
        from sqlalchemy import update

        from sbweb.db import db, write_transaction
        from sbweb.models import Refund

        with write_transaction():
            db.session.execute(
                update(Refund).where(Refund.out_request_no == out_request_no).values(sent_as=SENT_AS[txn_type])
            )

    def _call_fields(self, what: str, path: str, fields: Mapping[str, str]) -> tuple[Outcome, dict[str, str]]:
        """`_call`, with the verified answer's fields beside its Outcome."""
        raw = self.post(f"{self.gateway}{path}", fields)
        try:
            answer = self.trust.verify(parse_answer(raw.decode("utf-8").strip()))
        except (UnicodeDecodeError, ValueError):
            raise ProviderError(f"{what}: unreadable answer") from None
        except InvalidNotice as exc:
            raise ProviderError(f"{what}: answer refused: {exc}") from None
        if answer.get("orderId") != fields["orderId"]:
            raise ProviderError(f"{what}: answer about another trade")
        return trade_outcome(answer, mer_id=self.merchant.mer_id, answer=True), answer

    @staticmethod
    def is_refund_notification(notification: Notification) -> bool:
        """Whether the notification claims to be about a 退货 or 撤销 (unsigned peek, to route
        it: `verify_refund_notify` checks it all)."""
        return notification.form.get("txnType") in SENT_AS

    def verify_refund_notify(self, notification: Notification) -> RefundNotice:
        """The backUrl notification of a 退货 (04) or 撤销 (31) we sent: signed by UnionPay under
        our trust, for our merId, about a refund of ours (its orderId is the refund's number, its
        txnTime the one we sent it at, its txnType the way we sent it, its txnAmt the refund's).
        respCode 00/A6: the money is back; 03/04/05: still being processed; else it failed."""
        fields = self.trust.verify(notification.form)
        if fields.get("merId") != self.merchant.mer_id:
            raise InvalidNotice("not our merId")
        txn_type, number = fields.get("txnType", ""), fields.get("orderId", "")
        if txn_type not in SENT_AS or not ORDER_ID.fullmatch(number):
            raise InvalidNotice("not a refund notification")
        refund = self._refund_row(number)
        if refund is None:
            raise InvalidNotice("not a refund of ours")
        if fields.get("txnTime") != provider_time(refund.created_at):
            raise InvalidNotice("a txnTime that is not the refund's")
        if refund.sent_as is not None and SENT_AS[txn_type] != refund.sent_as:
            raise InvalidNotice(f"txnType {txn_type}, but the refund was sent as {refund.sent_as}")
        if read_amount(fields.get("txnAmt")) != refund.amount_fen:
            raise InvalidNotice("wrong amount")
        if not re.fullmatch(r"[0-9A-Za-z]{1,64}", fields.get("origQryId", "")):
            raise InvalidNotice("no origQryId")
        code = fields.get("respCode", "")
        status = "succeeded" if code in PAID else "processing" if code in IN_PROGRESS else "failed"
        return RefundNotice(number, status, refund.amount_fen, txn_type)

    @staticmethod
    def _refund_row(out_request_no: str):
        from sqlalchemy import select

        from sbweb.db import db
        from sbweb.models import Refund

        return db.session.scalar(select(Refund).filter_by(out_request_no=out_request_no[:64]))

    def bill(self, day: dt.date) -> list[BillRow]:
        """The 对账文件 of the 清算日期 `day` (file transfer, txnType 76): asked for, the signed
        answer verified, its fileContent inflated and unzipped, the ZM file read."""
        fields = file_request(self.merchant, settle_date=day, txn_time=utcnow())
        raw = self.post_file(f"{self.file_gateway}/", fields)
        answer = read_file_answer(raw, self.trust, mer_id=self.merchant.mer_id, settle_date=fields["settleDate"])
        return read_bill_zip(file_content(answer), mer_id=self.merchant.mer_id, day=day)


# -- built from configuration ---------------------------------------------------------------


class ConfigurationError(RuntimeError):
    """A UnionPay provider that cannot start as configured; never holds key material."""


SETTINGS = {
    "kind",
    "mer_id",
    "sign_pfx_file",
    "sign_pfx_password_file",
    "sign_pfx_password_env",
    "root_cert_file",
    "middle_cert_file",
    "organisation",
    "gateway",
    "timeout",
    "environment",
    "file_gateway",
}
ENVIRONMENTS = ("production", "test")
REQUIRED = ("mer_id", "sign_pfx_file", "root_cert_file", "middle_cert_file")


def _certificates_pem(data: bytes) -> bytes:
    """UnionPay's .cer files are PEM or DER: as PEM."""
    if b"-----BEGIN CERTIFICATE-----" in data:
        return data
    try:
        from cryptography.hazmat.primitives.serialization import Encoding

        return x509.load_der_x509_certificate(data).public_bytes(Encoding.PEM)
    except ValueError:
        raise ValueError("neither PEM nor DER certificates") from None


def from_settings(name: str, settings: Mapping, app) -> UnionPayProvider:
    """registry.KINDS["unionpay"]: PAYMENT_PROVIDERS[name] of kind "unionpay" (files relative
    to the instance folder; the PFX password from a file there or from the environment):

        {"kind": "unionpay", "mer_id": "898…",                    # 商户号, 15 digits
         "sign_pfx_file": "unionpay/acp_sign.pfx",                 # 签名证书 (PKCS#12)
         "sign_pfx_password_file": "unionpay/acp_sign.password",   # or "sign_pfx_password_env":
                                                                   #   "UNIONPAY_PFX_PASSWORD"
         "root_cert_file": "unionpay/acp_prod_root.cer",           # UnionPay's root and
         "middle_cert_file": "unionpay/acp_prod_middle.cer",       #   intermediate (PEM or DER)
         "gateway": "https://gateway.95516.com",                   # the default
         "file_gateway": "https://filedownload.95516.com",         # 对账文件; the default
         "environment": "production",                              # or "test"
         "timeout": 10}

    The gateway's origin must be in CSP_FORM_ACTION: the browser posts the 前台交易 form there.
    environment "test" talks to UnionPay's test environment: its gateways are the defaults and
    its signing certificates (CN `…@00040000:SIGN@…`) are taken; never on the live gateway.
    Otherwise such certificates are refused."""
    where = f"PAYMENT_PROVIDERS[{name!r}]"
    test_environment = _test_environment(where, settings)
    if test_environment and not settings.get("gateway"):
        settings = {**settings, "gateway": TEST_GATEWAY}
    mer_id, gateway, timeout = _checked_settings(where, settings, app)
    file_gateway = _checked_file_gateway(where, settings, gateway, test_environment)
    files = _InstanceFiles(where, settings, app.instance_path)
    password = _pfx_password(where, settings, files)
    key = _signing_key(where, files.read("sign_pfx_file"), password)
    try:
        trust = Trust.from_pem(
            _certificates_pem(files.read("root_cert_file")),
            _certificates_pem(files.read("middle_cert_file")),
            str(settings.get("organisation") or ORGANISATION),
        )
    except ValueError as exc:
        raise ConfigurationError(f"{where}: root_cert_file / middle_cert_file: {exc}") from None
    if test_environment:
        trust = replace(trust, test_environment=True)
    return UnionPayProvider(
        name=name,
        merchant=Merchant(mer_id, key),
        trust=trust,
        gateway=gateway,
        timeout=float(timeout),
        file_gateway=file_gateway,
    )


def _test_environment(where: str, settings: Mapping) -> bool:
    """environment: "production" (the default) or "test"; test is never the live gateway."""
    environment = settings.get("environment") or "production"
    if environment not in ENVIRONMENTS:
        raise ConfigurationError(f'{where}[\'environment\']: "production" or "test", not {str(environment)[:20]!r}')
    if environment == "test" and str(settings.get("gateway") or "").rstrip("/") == LIVE_GATEWAY:
        raise ConfigurationError(
            f'{where}: environment "test" takes UnionPay\'s test certificates, never on the live gateway {LIVE_GATEWAY}'
        )
    return environment == "test"


def _checked_file_gateway(where: str, settings: Mapping, gateway: str, test_environment: bool) -> str:
    """Where the 对账文件 is asked for: an https URL (http only on this machine); when not set,
    UnionPay's file host for its gateways (production or test), another gateway's /filedownload."""
    from urllib.parse import urlsplit

    if not settings.get("file_gateway"):
        return default_file_gateway(gateway)
    file_gateway = str(settings["file_gateway"]).rstrip("/")
    parts = urlsplit(file_gateway)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not local):
        raise ConfigurationError(f"{where}['file_gateway']: an https URL such as {LIVE_FILE_GATEWAY}")
    if test_environment and file_gateway == LIVE_FILE_GATEWAY:
        raise ConfigurationError(f'{where}: environment "test" never asks the live file host for bills')
    return file_gateway


def _checked_settings(where: str, settings: Mapping, app) -> tuple[str, str, float]:
    """The settings' names, merId, gateway and timeout, checked: (mer_id, gateway, timeout)."""
    unknown = set(settings) - SETTINGS
    if unknown:
        raise ConfigurationError(f"{where}: unknown settings {sorted(unknown)} (known: {sorted(SETTINGS)})")
    missing = [key for key in REQUIRED if not settings.get(key)]
    if missing:
        raise ConfigurationError(f"{where}: missing {', '.join(missing)}")
    mer_id = str(settings["mer_id"])
    if not MER_ID.fullmatch(mer_id):
        raise ConfigurationError(f"{where}['mer_id']: UnionPay's 商户号, 15 digits")
    gateway = _checked_gateway(where, str(settings.get("gateway") or LIVE_GATEWAY).rstrip("/"), app)
    timeout = settings.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 120:
        raise ConfigurationError(f"{where}['timeout']: seconds, more than 0 and at most 120")
    return mer_id, gateway, timeout


def _checked_gateway(where: str, gateway: str, app) -> str:
    """An https origin (http only on this machine), which the CSP lets the browser post to."""
    from urllib.parse import urlsplit

    parts = urlsplit(gateway)
    local = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path
        or (parts.scheme == "http" and not local)
    ):
        raise ConfigurationError(f"{where}['gateway']: an https origin such as {LIVE_GATEWAY}")
    if gateway not in app.config.get("CSP_FORM_ACTION", ()):
        raise ConfigurationError(
            f"{where}: add {gateway!r} to CSP_FORM_ACTION (the browser posts the payment form there)"
        )
    return gateway


@dataclass(frozen=True)
class _InstanceFiles:
    """The settings' files, relative to the instance folder; ConfigurationError naming the
    setting and the path when one cannot be read."""

    where: str
    settings: Mapping
    instance_path: str

    def read(self, key: str) -> bytes:
        from pathlib import Path

        path = Path(self.instance_path) / str(self.settings[key])
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"{self.where}[{key!r}]: cannot read {path} ({exc.strerror or exc.__class__.__name__})"
            ) from None


def _pfx_password(where: str, settings: Mapping, files: _InstanceFiles) -> str:
    import os

    if settings.get("sign_pfx_password_file"):
        return files.read("sign_pfx_password_file").decode("utf-8", "replace").strip()
    if settings.get("sign_pfx_password_env"):
        variable = str(settings["sign_pfx_password_env"])
        if variable not in os.environ:
            raise ConfigurationError(f"{where}['sign_pfx_password_env']: the environment has no {variable}")
        return os.environ[variable]
    raise ConfigurationError(f"{where}: the PFX password: sign_pfx_password_file or sign_pfx_password_env")


def _signing_key(where: str, pfx: bytes, password: str) -> SigningKey:
    """The PFX's key, whose certificate is valid now."""
    try:
        key = SigningKey.from_pfx(pfx, password)
    except ValueError as exc:
        raise ConfigurationError(f"{where}['sign_pfx_file']: {exc}") from None
    now = dt.datetime.now(dt.UTC)
    if not key.certificate.not_valid_before_utc <= now <= key.certificate.not_valid_after_utc:
        raise ConfigurationError(
            f"{where}['sign_pfx_file']: the signing certificate is not valid now "
            f"(until {key.certificate.not_valid_after_utc:%Y-%m-%d})"
        )
    return key
