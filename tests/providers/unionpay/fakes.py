"""A local fake of UnionPay's 全渠道 gateway (ACP 5.1.0), a real HTTP server on 127.0.0.1. It
checks what we send as UnionPay does — our signature by the merchant certificate registered
with it (found by certId), the fields of each transaction — and signs what it answers and
notifies with UnionPay's signing certificate of the test PKI, carrying it as signPubKeyCert.
Answers are `k=v&…`, not URL-encoded, as UnionPay's are. backTransReq takes 退货 (04) and
消费撤销 (31: whole, within the 清算日 the trade was paid in, by sbweb.clock). A test pays a trade (`pay`) and takes
the notification UnionPay would post (`notification`), signed, or forged the ways it asks."""

import base64
import hashlib
import io
import itertools
import threading
import zipfile
import zlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from werkzeug.wrappers import Request, Response

from sbweb.clock import utcnow
from sbweb.payments.unionpay import ORDER_ID, settle_day, signing_string
from tests.providers.unionpay.pki import UnionPayPKI, pem
from tests.support.wechat_fakes import Served

MER_ID = "898000000000001"
FILE_PATH = "/filedownload/"  # the 对账文件's host (fileTransUrl) is the same fake here
# The ZM file's field widths as UnionPay's demo SDKs read it (parseZMFile), written out here
# again rather than taken from sbweb, so that the test does not check the code against itself.
ZM_WIDTHS = (3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1, 21, 15, 1, 15)
ZM_WIDTHS += (32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98)


def zm_line(values: dict[int, str]) -> bytes:
    """A ZM line from {field number (1-based): value}: GBK, each field padded to its width and
    followed by one space."""
    cells = [values.get(n, "").encode("gbk").ljust(w, b" ") for n, w in enumerate(ZM_WIDTHS, start=1)]
    assert all(len(c) == w for c, w in zip(cells, ZM_WIDTHS, strict=True))
    return b" ".join(cells)


@dataclass
class Trade:
    order_id: str
    txn_time: str
    amount_fen: int
    back_url: str
    kind: str = "pay"  # "pay" | "refund"
    paid: bool = False
    query_id: str = ""
    orig_qry_id: str = ""
    settle_date: str = ""  # MMDD of the 清算日 it was paid in
    txn_type: str = "01"


@dataclass
class FakeUnionPay(Served):
    pki: UnionPayPKI
    mer_id: str = MER_ID
    trades: dict = field(default_factory=dict)  # (orderId, txnTime) → Trade
    received: list = field(default_factory=list)  # every request's fields, in order
    bill_amounts: dict = field(default_factory=dict)  # orderId → the fen the 对账文件 says instead
    bill_extra: list = field(default_factory=list)  # more ZM lines ({field: value}) for the file
    bill_left_out: set = field(default_factory=set)  # orderIds the 对账文件 leaves out
    file_answer: dict = field(default_factory=dict)  # fields changed in the file answer (after signing: "after")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self._numbers = itertools.count(1)

    # -- the server (started and stopped as Served) ------------------------------------------
    def wsgi(self, environ, start_response):
        request = Request(environ)
        routes = {
            "/gateway/api/frontTransReq.do": self.front,
            "/gateway/api/queryTrans.do": self.query,
            "/gateway/api/backTransReq.do": self.back,
            FILE_PATH: self.file_transfer,
        }
        handler = routes.get(request.path)
        if handler is None or request.method != "POST":
            return Response("not found", 404)(environ, start_response)
        fields = request.form.to_dict()
        with self.lock:
            self.received.append(fields)
            refusal = self.check_merchant(fields, needs_order=request.path != FILE_PATH)
            response = (
                self.answer({**self.echo(fields), "respCode": refusal[0], "respMsg": refusal[1]})
                if refusal
                else handler(fields)
            )
        return response(environ, start_response)

    # -- what UnionPay checks of every request ----------------------------------------------
    def check_merchant(self, fields: dict, needs_order: bool = True) -> tuple[str, str] | None:
        certificate = self.pki.merchant.certificate
        if fields.get("certId") != str(certificate.serial_number):
            return "11", "证书序列号不匹配"
        try:
            certificate.public_key().verify(
                base64.b64decode(fields.get("signature", "")),
                hashlib.sha256(signing_string(fields).encode()).hexdigest().encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "11", "验证签名失败"
        if (fields.get("version"), fields.get("signMethod"), fields.get("encoding")) != ("5.1.0", "01", "UTF-8"):
            return "10", "报文格式错误"
        if fields.get("merId") != self.mer_id or (needs_order and not ORDER_ID.fullmatch(fields.get("orderId", ""))):
            return "10", "商户号或订单号错误"
        return None

    @staticmethod
    def echo(fields: dict) -> dict:
        keep = ("version", "encoding", "bizType", "txnType", "txnSubType", "accessType", "merId", "orderId", "txnTime")
        return {k: fields[k] for k in keep if k in fields}

    def signed(self, fields: dict, signer=None) -> dict:
        signer = signer or self.pki.unionpay
        return signer.sign({**fields, "signPubKeyCert": pem(signer.certificate).decode()})

    def answer(self, fields: dict) -> Response:
        signed = self.signed(fields)
        return Response("&".join(f"{k}={v}" for k, v in signed.items()), content_type="text/plain;charset=UTF-8")

    # -- transactions -----------------------------------------------------------------------
    def front(self, fields: dict) -> Response:
        wanted = {
            "txnType": "01",
            "txnSubType": "01",
            "bizType": "000201",
            "channelType": "08",
            "currencyCode": "156",
            "accessType": "0",
        }
        if (
            any(fields.get(k) != v for k, v in wanted.items())
            or not fields.get("txnAmt", "").isdigit()
            or not fields.get("backUrl")
            or not fields.get("payTimeout")
        ):
            return Response("<html><body>交易要素错误</body></html>", 400, content_type="text/html")
        key = (fields["orderId"], fields["txnTime"])
        existing = self.trades.get(key)
        if existing is None:
            self.trades[key] = Trade(fields["orderId"], fields["txnTime"], int(fields["txnAmt"]), fields["backUrl"])
        elif existing.amount_fen != int(fields["txnAmt"]):
            return Response("<html><body>订单号重复</body></html>", 400, content_type="text/html")
        return Response(
            f"<html><body><h1>银联在线支付</h1><p>订单 {fields['orderId']}</p></body></html>",
            content_type="text/html;charset=UTF-8",
        )

    def query(self, fields: dict) -> Response:
        trade = self.trades.get((fields["orderId"], fields.get("txnTime", "")))
        base = self.echo(fields)
        if trade is None or not trade.paid:
            return self.answer({**base, "respCode": "34", "respMsg": "查无此交易"})
        return self.answer(
            {
                **base,
                "respCode": "00",
                "respMsg": "成功",
                "origRespCode": "00",
                "origRespMsg": "成功",
                "queryId": trade.query_id,
                "txnAmt": str(trade.amount_fen),
                "currencyCode": "156",
                "traceTime": trade.txn_time[4:],
                "settleDate": trade.settle_date,
            }
        )

    def back(self, fields: dict) -> Response:
        base = self.echo(fields)
        if fields.get("txnType") not in ("04", "31"):
            return self.answer({**base, "respCode": "10", "respMsg": "交易类型错误"})
        original = next(
            (t for t in self.trades.values() if t.kind == "pay" and t.paid and t.query_id == fields.get("origQryId")),
            None,
        )
        if original is None:
            return self.answer({**base, "respCode": "35", "respMsg": "原交易不存在"})
        refunded = sum(t.amount_fen for t in self.trades.values() if t.orig_qry_id == original.query_id)
        amount = int(fields.get("txnAmt", "0") or 0)
        if amount <= 0 or refunded + amount > original.amount_fen:
            return self.answer({**base, "respCode": "12", "respMsg": "退货金额超限"})
        if fields["txnType"] == "31" and (refunded or amount != original.amount_fen):
            return self.answer({**base, "respCode": "33", "respMsg": "撤销金额须与原消费金额一致"})
        if fields["txnType"] == "31" and original.settle_date != f"{settle_day(utcnow()):%m%d}":
            return self.answer({**base, "respCode": "35", "respMsg": "原交易不在当前清算日，不能撤销"})
        key = (fields["orderId"], fields["txnTime"])
        if key in self.trades:
            return self.answer({**base, "respCode": "12", "respMsg": "重复交易"})
        refund = Trade(
            fields["orderId"],
            fields["txnTime"],
            amount,
            fields.get("backUrl", ""),
            kind="refund",
            orig_qry_id=original.query_id,
            txn_type=fields["txnType"],
        )
        self.settle(refund)
        self.trades[key] = refund
        return self.answer(
            {
                **base,
                "respCode": "00",
                "respMsg": "成功[0000000]",
                "queryId": refund.query_id,
                "origQryId": original.query_id,
                "txnAmt": str(amount),
            }
        )

    def settle(self, trade: Trade) -> None:
        trade.paid = True
        trade.settle_date = f"{settle_day(utcnow()):%m%d}"
        trade.query_id = f"7{trade.txn_time}{next(self._numbers):06d}"

    # -- what a test does -------------------------------------------------------------------
    def trade(self, order_id: str) -> Trade:
        found = [t for t in self.trades.values() if t.order_id == order_id]
        assert len(found) == 1, f"{len(found)} trades for {order_id}"
        return found[0]

    def pay(self, order_id: str) -> Trade:
        """The payer pays on UnionPay's page."""
        with self.lock:
            trade = self.trade(order_id)
            if not trade.paid:
                self.settle(trade)
            return trade

    def notification(self, order_id: str, signer=None, **changes) -> dict:
        """The fields UnionPay posts to backUrl about a paid trade; `changes` are made before
        signing (a stranger's signer signs what it likes), `after=` changes after it."""
        trade = self.trade(order_id)
        after = changes.pop("after", {})
        fields = {
            "version": "5.1.0",
            "encoding": "UTF-8",
            "bizType": "000201",
            "txnType": "01",
            "txnSubType": "01",
            "accessType": "0",
            "merId": self.mer_id,
            "orderId": trade.order_id,
            "txnTime": trade.txn_time,
            "txnAmt": str(trade.amount_fen),
            "currencyCode": "156",
            "queryId": trade.query_id,
            "traceNo": trade.query_id[-6:],
            "traceTime": trade.txn_time[4:],
            "settleAmt": str(trade.amount_fen),
            "settleCurrencyCode": "156",
            "settleDate": trade.txn_time[4:8],
            "respCode": "00",
            "respMsg": "成功[0000000]",
            **changes,
        }
        return {**self.signed(fields, signer), **after}

    # -- the 对账文件 (文件传输, txnType 76) ------------------------------------------------
    def zm_values(self, trade: Trade, when: str) -> dict[int, str]:
        if trade.kind == "pay":
            return {1: "S22", 5: when, 7: f"{trade.amount_fen:012d}", 10: trade.query_id, 12: trade.order_id, 20: "01",
                    21: "01", 22: "000201", 28: self.mer_id, 31: "社保缴费"}  # fmt: skip
        paid = next(t for t in self.trades.values() if t.query_id == trade.orig_qry_id)
        return {1: "S30", 5: when, 7: f"{trade.amount_fen:012d}", 10: trade.query_id, 12: trade.order_id, 20: "04",
                21: "00", 22: "000201", 27: paid.query_id, 28: self.mer_id, 41: paid.order_id}  # fmt: skip

    def bill_file(self, settle_date: str) -> bytes:
        """The zip UnionPay serves: the ZM file of every trade it has settled (each dated the
        settleDate at noon), changed as the test asked, and an empty ZME."""
        when = f"{settle_date}120000"
        lines = []
        for trade in self.trades.values():
            if not trade.paid or trade.order_id in self.bill_left_out:
                continue
            values = self.zm_values(trade, when)
            if trade.order_id in self.bill_amounts:
                values[7] = f"{self.bill_amounts[trade.order_id]:012d}"
            lines.append(zm_line(values))
        lines += [zm_line({5: when, 28: self.mer_id, **extra}) for extra in self.bill_extra]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"INN26{settle_date}01ZM_{self.mer_id}", b"".join(line + b"\r\n" for line in lines))
            archive.writestr(f"INN26{settle_date}01ZME_{self.mer_id}", b"")
        return out.getvalue()

    def file_transfer(self, fields: dict) -> Response:
        base = self.echo(fields)
        wanted = {"txnType": "76", "txnSubType": "01", "bizType": "000000", "fileType": "00"}
        if any(fields.get(k) != v for k, v in wanted.items()) or len(fields.get("settleDate", "")) != 4:
            return self.answer({**base, "respCode": "10", "respMsg": "交易要素错误"})
        after = dict(self.file_answer.get("after", {}))
        before = {k: v for k, v in self.file_answer.items() if k != "after"}
        content = base64.b64encode(zlib.compress(self.bill_file(fields["settleDate"]))).decode()
        signed = self.signed(
            {
                **base,
                "settleDate": fields["settleDate"],
                "fileType": "00",
                "respCode": "00",
                "respMsg": "成功[0000000]",
                "fileName": f"{self.mer_id}_2026{fields['settleDate']}.zip",
                "fileContent": content,
                **before,
            }
        )
        signed.update(after)
        return Response("&".join(f"{k}={v}" for k, v in signed.items()), content_type="text/plain;charset=UTF-8")
