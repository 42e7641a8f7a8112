"""Local fakes of WeChat Pay's API v3 and of WeChat's 网页授权 (OAuth), as real HTTP servers on
127.0.0.1. They behave as the documentation says the real ones do, checking what we send as
strictly: our Authorization header (WECHATPAY2-SHA256-RSA2048, by the merchant key's public
half), the appid and mchid, the amounts; they sign every answer with the platform key and can
be told to tamper with one, pay a trade and post a signed, encrypted notify, or corrupt a bill.
Test-only switches live under /fake/ and are no part of WeChat's API."""

import base64
import datetime as dt
import gzip
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MCHID = "1900000109"
APPID = "wx8888888888888888"
MERCHANT_SERIAL = "444F4864EA9B34415A2F0F7E1C3B6E2D5A7C9B10"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026120100111800000001"
APIV3_KEY = "a12d3924fd499edac8a5efc1b2c3d4e5"
APPSECRET = "3f1c6e9a2b4d7f8e0a1b2c3d4e5f6a7b"


@dataclass
class Keys:
    merchant: rsa.RSAPrivateKey  # ours: signs requests and paySign; the fake has its public half
    platform: rsa.RSAPrivateKey  # WeChat Pay's: signs answers and notifies; we have the public half

    @staticmethod
    def make() -> "Keys":
        return Keys(
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
            rsa.generate_private_key(public_exponent=65537, key_size=2048),
        )

    @staticmethod
    def pem_private(key) -> str:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    @staticmethod
    def pem_public(key) -> str:
        return (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )


def rsa_sign(key, text: str) -> str:
    return base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_key, text: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # the tests say what matters; no access log
        pass


class Served:
    """A WSGI app of a fake on a free port of 127.0.0.1, in a thread."""

    def start(self):
        self._server = make_server("127.0.0.1", 0, self.wsgi, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()

    def wsgi(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)


def _json(status: int, body: dict | None, headers: dict | None = None, content_type="application/json; charset=utf-8"):
    text = "" if body is None else json.dumps(body, ensure_ascii=False)
    return Response(text, status=status, headers=headers or {}, content_type=content_type)


@dataclass
class Trade:
    out_trade_no: str
    trade_type: str
    total: int
    description: str
    notify_url: str
    prepay_id: str
    openid: str | None
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: str | None = None
    refunds: list = field(default_factory=list)

    def as_transaction(self, mchid: str, appid: str) -> dict:
        answer = {
            "appid": appid,
            "mchid": mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": self.trade_type,
            "trade_state": self.state,
            "trade_state_desc": {
                "NOTPAY": "订单未支付",
                "SUCCESS": "支付成功",
                "CLOSED": "订单已关闭",
                "REFUND": "转入退款",
            }.get(self.state, self.state),
            "amount": {"total": self.total, "currency": "CNY"},
        }
        if self.openid:
            answer["payer"] = {"openid": self.openid}
        if self.transaction_id:
            answer.update(
                transaction_id=self.transaction_id, success_time=self.success_time, bank_type="OTHERS", attach=""
            )
            answer["amount"].update(payer_total=self.total, payer_currency="CNY")
        return answer


class FakeWeChatPay(Served):
    def __init__(
        self,
        keys: Keys,
        *,
        mchid=MCHID,
        appid=APPID,
        merchant_serial=MERCHANT_SERIAL,
        public_key_id=PUBLIC_KEY_ID,
        apiv3_key=APIV3_KEY,
        openids=None,
    ):
        self.mchid, self.appid = mchid, appid
        self.merchant_serial, self.public_key_id, self.apiv3_key = merchant_serial, public_key_id, apiv3_key
        self._merchant_public = keys.merchant.public_key()
        self._platform = keys.platform
        self.openids = openids  # the openids WeChat gave out for appid (None: any)
        self.trades: dict[str, Trade] = {}
        self.refunds: dict[str, dict] = {}
        self.bills: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, object]] = []  # (method, path, json body) accepted
        self.refused: list[str] = []  # why requests were refused (SIGN_ERROR, …)
        self.tamper_next = False  # alter the next answer after signing it
        self.corrupt_bills = False  # serve bill files that do not match their hash
        self.refund_status = "SUCCESS"
        self.deliveries: list[tuple[str, int | None]] = []
        self.lock = threading.Lock()
        self._seq = 0

    # -- what WeChat Pay signs ---------------------------------------------------------
    def _signed(self, status: int, body: dict | None) -> Response:
        text = "" if body is None else json.dumps(body, ensure_ascii=False)
        stamp, nonce = str(int(time.time())), secrets.token_hex(16)
        signature = rsa_sign(self._platform, f"{stamp}\n{nonce}\n{text}\n")
        if self.tamper_next and body is not None:
            self.tamper_next = False
            text = text.replace('"total": ', '"total": 1', 1) if '"total": ' in text else text + " "
        return Response(
            text,
            status=status,
            content_type="application/json; charset=utf-8",
            headers={
                "Wechatpay-Timestamp": stamp,
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Serial": self.public_key_id,
                "Wechatpay-Signature": signature,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                "Request-ID": secrets.token_hex(8),
            },
        )

    def _error(self, status: int, code: str, message: str) -> Response:
        return _json(status, {"code": code, "message": message})

    # -- what we sign ------------------------------------------------------------------
    def _authorized(self, request: Request, raw: str) -> str | None:
        """None if the Authorization header is ours and good, else why not."""
        header = request.headers.get("Authorization", "")
        scheme, _, rest = header.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return "unknown scheme"
        parts = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if parts.get("mchid") != self.mchid:
            return "mchid"
        if parts.get("serial_no") != self.merchant_serial:
            return "serial_no"
        if not parts.get("timestamp", "").isdigit() or abs(time.time() - int(parts["timestamp"])) > 300:
            return "timestamp"
        query = request.query_string.decode()
        path = request.path + (f"?{query}" if query else "")
        message = f"{request.method}\n{path}\n{parts['timestamp']}\n{parts.get('nonce_str', '')}\n{raw}\n"
        if not rsa_verify(self._merchant_public, message, parts.get("signature", "")):
            return "signature"
        return None

    def handle(self, request: Request) -> Response:
        raw = request.get_data(as_text=True)
        if request.path.startswith("/fake/"):
            return self._test_switch(request, raw)
        why = self._authorized(request, raw)
        if why is not None:
            self.refused.append(f"SIGN_ERROR {why}")
            return self._error(401, "SIGN_ERROR", "签名错误")
        body = json.loads(raw) if raw else None
        with self.lock:
            self.requests.append((request.method, request.path, body))
            return self._route(request, body)

    def _route(self, request, body) -> Response:
        path, method = request.path, request.method
        match = re.fullmatch(r"/v3/pay/transactions/(jsapi|h5)", path)
        if match and method == "POST":
            return self._prepay(match.group(1).upper(), body)
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)", path)
        if match and method == "GET":
            return self._query_trade(request.args, match.group(1))
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)/close", path)
        if match and method == "POST":
            return self._close(match.group(1), body)
        if path == "/v3/refund/domestic/refunds" and method == "POST":
            return self._refund(body)
        match = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if match and method == "GET":
            return self._query_refund(match.group(1))
        if path == "/v3/bill/tradebill" and method == "GET":
            return self._tradebill(request.args)
        if path == "/v3/billdownload/file" and method == "GET":
            return self._download_bill(request.args)
        if path == "/v3/certificates":
            return self._error(404, "RESOURCE_NOT_EXISTS", "商户已切换为微信支付公钥模式")
        return self._error(404, "NOT_FOUND", "接口不存在")

    def _query_trade(self, args, out_trade_no: str) -> Response:
        if args.get("mchid") != self.mchid:
            return self._error(400, "PARAM_ERROR", "mchid与请求不符")
        trade = self.trades.get(out_trade_no)
        if trade is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._signed(200, trade.as_transaction(self.mchid, self.appid))

    def _query_refund(self, out_refund_no: str) -> Response:
        known = self.refunds.get(out_refund_no)
        if known is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return self._signed(200, known)

    def _download_bill(self, args) -> Response:
        content = self.bills.get(args.get("token", ""))
        if content is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "账单不存在")
        if self.corrupt_bills:
            content = gzip.compress(gzip.decompress(content).replace(b"`SUCCESS", b"`REFUND", 1))
        return Response(content, content_type="application/octet-stream")  # unsigned, as documented

    def _prepay_refusal(self, trade_type: str, body) -> Response | None:
        """WeChat's answer to a prepay request it refuses (a field missing or wrong), else None."""
        required = ("appid", "mchid", "description", "out_trade_no", "notify_url", "amount")
        if not isinstance(body, dict) or any(not body.get(k) for k in required):
            return self._error(400, "PARAM_ERROR", "缺少参数")
        if body["appid"] != self.appid or body["mchid"] != self.mchid:
            return self._error(400, "PARAM_ERROR", "appid和mch_id不匹配")
        if len(body["description"].encode()) > 127 or not re.fullmatch(r"[A-Za-z0-9_\-|*]{6,32}", body["out_trade_no"]):
            return self._error(400, "PARAM_ERROR", "参数格式不正确")
        amount = body["amount"]
        if not isinstance(amount.get("total"), int) or amount["total"] < 1 or amount.get("currency", "CNY") != "CNY":
            return self._error(400, "PARAM_ERROR", "金额不正确")
        if "?" in body["notify_url"]:
            return self._error(400, "PARAM_ERROR", "notify_url不能携带参数")
        return self._payer_refusal(trade_type, body)

    def _payer_refusal(self, trade_type: str, body) -> Response | None:
        """JSAPI needs the payer's openid (one of this app's), H5 the phone's scene_info."""
        if trade_type == "JSAPI":
            openid = (body.get("payer") or {}).get("openid")
            if not openid:
                return self._error(400, "PARAM_ERROR", "缺少参数payer.openid")
            if self.openids is not None and openid not in self.openids:
                return self._error(400, "PARAM_ERROR", "openid与appid不匹配")
        else:
            scene = body.get("scene_info") or {}
            if not scene.get("payer_client_ip") or (scene.get("h5_info") or {}).get("type") != "Wap":
                return self._error(400, "PARAM_ERROR", "缺少参数scene_info")
        return None

    def _prepay(self, trade_type: str, body) -> Response:
        refusal = self._prepay_refusal(trade_type, body)
        if refusal is not None:
            return refusal
        amount = body["amount"]
        openid = (body.get("payer") or {}).get("openid") if trade_type == "JSAPI" else None
        known = self.trades.get(body["out_trade_no"])
        if known is not None:
            if known.state == "SUCCESS":
                return self._error(400, "ORDERPAID", "该订单已支付")
            if known.state == "CLOSED":
                return self._error(400, "ORDER_CLOSED", "订单已关闭")
            if known.total != amount["total"] or known.trade_type != trade_type:
                return self._error(400, "INVALID_REQUEST", "201 商户订单号重复")
            trade = known
        else:
            self._seq += 1
            trade = Trade(
                out_trade_no=body["out_trade_no"],
                trade_type=trade_type,
                total=amount["total"],
                description=body["description"],
                notify_url=body["notify_url"],
                prepay_id=f"wx{self._seq:04d}{secrets.token_hex(12)}",
                openid=openid,
            )
            self.trades[trade.out_trade_no] = trade
        if trade_type == "JSAPI":
            return self._signed(200, {"prepay_id": trade.prepay_id})
        query = urlencode({"prepay_id": trade.prepay_id, "package": "1234567890"})
        return self._signed(200, {"h5_url": f"{self.url}/fake/h5?{query}"})

    def _close(self, out_trade_no: str, body) -> Response:
        if not isinstance(body, dict) or body.get("mchid") != self.mchid:
            return self._error(400, "PARAM_ERROR", "mchid不正确")
        trade = self.trades.get(out_trade_no)
        if trade is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        if trade.state in ("SUCCESS", "REFUND"):
            return self._error(400, "ORDERPAID", "订单已支付")
        trade.state = "CLOSED"
        return self._signed(204, None)

    def _refund(self, body) -> Response:
        if not isinstance(body, dict) or not body.get("out_refund_no") or not isinstance(body.get("amount"), dict):
            return self._error(400, "PARAM_ERROR", "缺少参数")
        trade = self.trades.get(body.get("out_trade_no", ""))
        if trade is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        amount = body["amount"]
        known = self.refunds.get(body["out_refund_no"])
        if known is not None:
            if known["amount"]["refund"] != amount.get("refund"):
                return self._error(400, "INVALID_REQUEST", "请求参数与之前不一致")
            return self._signed(200, known)
        if trade.state not in ("SUCCESS", "REFUND"):
            return self._error(400, "INVALID_REQUEST", "订单未支付")
        if amount.get("total") != trade.total or amount.get("currency", "CNY") != "CNY":
            return self._error(400, "PARAM_ERROR", "订单金额total与原订单金额不一致")
        refunded = sum(r["amount"]["refund"] for r in trade.refunds)
        if (
            not isinstance(amount.get("refund"), int)
            or amount["refund"] < 1
            or refunded + amount["refund"] > trade.total
        ):
            return self._error(400, "INVALID_REQUEST", "退款金额超过订单可退金额")
        self._seq += 1
        refund = {
            "refund_id": f"5030{self._seq:010d}",
            "out_refund_no": body["out_refund_no"],
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
            "status": self.refund_status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": trade.total,
                "refund": amount["refund"],
                "payer_total": trade.total,
                "payer_refund": amount["refund"],
                "settlement_refund": amount["refund"],
                "settlement_total": trade.total,
                "discount_refund": 0,
                "currency": "CNY",
            },
        }
        trade.refunds.append(refund)
        trade.state = "REFUND"
        self.refunds[refund["out_refund_no"]] = refund
        return self._signed(200, refund)

    def bill_text(self, day: dt.date) -> str:
        """The ALL trade bill of `day`: header, backtick-prefixed lines, summary header, totals."""
        header = (
            "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
            "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
            "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
        )

        def yuan(fen):
            return f"{fen // 100}.{fen % 100:02d}"

        lines, pays, refunds = [header], 0, 0
        for trade in self.trades.values():
            if not trade.success_time:
                continue
            paid = dt.datetime.fromisoformat(trade.success_time)
            common = [
                self.appid,
                self.mchid,
                "0",
                "",
                trade.transaction_id,
                trade.out_trade_no,
                trade.openid or "",
                trade.trade_type,
            ]
            if paid.date() == day:
                pays += trade.total
                lines.append(
                    ",".join(
                        "`" + v
                        for v in [
                            paid.strftime("%Y-%m-%d %H:%M:%S"),
                            *common,
                            "SUCCESS",
                            "OTHERS",
                            "CNY",
                            yuan(trade.total),
                            "0.00",
                            "0",
                            "0",
                            "0.00",
                            "0.00",
                            "",
                            "",
                            trade.description,
                            "",
                            "0.00000",
                            "0.60%",
                            yuan(trade.total),
                            "0.00",
                            "",
                        ]
                    )
                )
            for refund in trade.refunds:
                at = dt.datetime.fromisoformat(refund["create_time"])
                if at.date() != day:
                    continue
                fen = refund["amount"]["refund"]
                refunds += fen
                lines.append(
                    ",".join(
                        "`" + v
                        for v in [
                            at.strftime("%Y-%m-%d %H:%M:%S"),
                            *common,
                            "REFUND",
                            "OTHERS",
                            "CNY",
                            "0.00",
                            "0.00",
                            refund["refund_id"],
                            refund["out_refund_no"],
                            yuan(fen),
                            "0.00",
                            "ORIGINAL",
                            "SUCCESS",
                            trade.description,
                            "",
                            "0.00000",
                            "0.60%",
                            yuan(trade.total),
                            yuan(fen),
                            "",
                        ]
                    )
                )
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(
            ",".join(
                "`" + v
                for v in [str(len(lines) - 2), yuan(pays), yuan(refunds), "0.00", "0.00000", yuan(pays), yuan(refunds)]
            )
        )
        return "\r\n".join(lines) + "\r\n"

    def _tradebill(self, args) -> Response:
        try:
            day = dt.date.fromisoformat(args.get("bill_date", ""))
        except ValueError:
            return self._error(400, "PARAM_ERROR", "bill_date格式不正确")
        text = self.bill_text(day)
        if text.count("\n") <= 3:
            return self._error(400, "NO_STATEMENT_EXIST", "账单文件不存在")
        raw = text.encode("utf-8")
        token = secrets.token_urlsafe(16)
        self.bills[token] = gzip.compress(raw) if args.get("tar_type") == "GZIP" else raw
        return self._signed(
            200,
            {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(raw).hexdigest(),
                "download_url": f"{self.url}/v3/billdownload/file?token={token}",
            },
        )

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS") -> None:
        """A refund WeChat Pay was processing comes to its end (SUCCESS, ABNORMAL or CLOSED)."""
        with self.lock:
            self.refunds[out_refund_no]["status"] = status

    # -- paying, and telling the merchant ---------------------------------------------------
    def pay(self, out_trade_no: str) -> Trade:
        with self.lock:
            trade = self.trades[out_trade_no]
            if trade.state == "NOTPAY":
                self._seq += 1
                trade.state = "SUCCESS"
                trade.transaction_id = f"4200{self._seq:024d}"
                trade.success_time = dt.datetime.now(SHANGHAI).isoformat(timespec="seconds")
            return trade

    def notify(
        self,
        trade: Trade,
        *,
        resource: dict | None = None,
        event_type="TRANSACTION.SUCCESS",
        stamp: int | None = None,
        nonce: str | None = None,
        serial: str | None = None,
        key: str | None = None,
        bad_signature=False,
    ) -> tuple[dict, bytes]:
        """The headers and body of a payment notification about `trade`, encrypted with the APIv3
        key (or `key`) and signed with the platform key; each part can be made wrong."""
        plain = json.dumps(
            resource if resource is not None else trade.as_transaction(self.mchid, self.appid), ensure_ascii=False
        )
        aead_nonce = secrets.token_hex(6)
        ciphertext = AESGCM((key or self.apiv3_key).encode()).encrypt(
            aead_nonce.encode(), plain.encode(), b"transaction"
        )
        body = json.dumps(
            {
                "id": f"EV-{secrets.token_hex(8)}",
                "create_time": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": "transaction",
                    "nonce": aead_nonce,
                },
            },
            ensure_ascii=False,
        )
        stamp = str(int(time.time()) if stamp is None else stamp)
        nonce = nonce or secrets.token_hex(16)
        signature = rsa_sign(self._platform, f"{stamp}\n{nonce}\n{body}\n")
        if bad_signature:
            signature = rsa_sign(self._platform, f"{stamp}\n{nonce}\n{body} \n")
        headers = {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": serial or self.public_key_id,
            "Wechatpay-Signature": signature,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Content-Type": "application/json",
        }
        return headers, body.encode("utf-8")

    def deliver(self, trade: Trade, **wrong) -> int | None:
        """POST the notify to the trade's notify_url over HTTP, as WeChat Pay does; its status,
        or None when nobody answers there (a flow test's app has no port: it posts itself)."""
        headers, body = self.notify(trade, **wrong)
        try:
            status = requests.post(trade.notify_url, data=body, headers=headers, timeout=10).status_code
        except requests.ConnectionError:
            status = None
        self.deliveries.append((trade.out_trade_no, status))
        return status

    def _test_switch(self, request: Request, raw: str) -> Response:
        if request.path == "/fake/jsapi-pay" and request.method == "POST":
            # What WeChat does when getBrandWCPayRequest is confirmed: paySign checked with the
            # merchant's public key, the prepay paid, the merchant notified.
            params = json.loads(raw or "{}")
            message = (
                "\n".join(
                    [
                        params.get("appId", ""),
                        params.get("timeStamp", ""),
                        params.get("nonceStr", ""),
                        params.get("package", ""),
                    ]
                )
                + "\n"
            )
            if (
                params.get("appId") != self.appid
                or params.get("signType") != "RSA"
                or not rsa_verify(self._merchant_public, message, params.get("paySign", ""))
            ):
                return _json(200, {"err_msg": "get_brand_wcpay_request:fail"})
            prepay_id = params["package"].removeprefix("prepay_id=")
            trade = next((t for t in self.trades.values() if t.prepay_id == prepay_id), None)
            if trade is None or trade.state not in ("NOTPAY", "SUCCESS"):
                return _json(200, {"err_msg": "get_brand_wcpay_request:fail"})
            self.deliver(self.pay(trade.out_trade_no))
            return _json(200, {"err_msg": "get_brand_wcpay_request:ok"})
        if request.path == "/fake/h5" and request.method == "GET":
            # WeChat's H5 cashier, paid at once: then back to the merchant's redirect_url.
            prepay_id = request.args.get("prepay_id", "")
            trade = next((t for t in self.trades.values() if t.prepay_id == prepay_id), None)
            if trade is None:
                return Response("商家参数格式有误", status=400)
            self.deliver(self.pay(trade.out_trade_no))
            return Response(status=302, headers={"Location": request.args.get("redirect_url", "/")})
        return Response("no such switch", status=404)


class FakeWeChatOAuth(Served):
    """open.weixin.qq.com's authorize page and api.weixin.qq.com's /sns endpoints."""

    def __init__(self, *, appid=APPID, secret=APPSECRET):
        self.appid, self.secret = appid, secret
        self.user: str | None = None  # the openid of whoever is signed in to WeChat
        self.nicknames: dict[str, str] = {}
        self.unionids: dict[str, str] = {}
        self.declines = False  # the user refuses (snsapi_userinfo)
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, str] = {}
        self.down = False  # api.weixin.qq.com unreachable (answers 502)
        self.redirect_hosts = {"127.0.0.1", "localhost"}  # the 网页授权域名 configured for appid
        self.lock = threading.Lock()

    @property
    def openids(self) -> set[str]:
        return set(self.nicknames)

    def new_user(self, nickname: str) -> str:
        openid = "o" + secrets.token_urlsafe(20).replace("-", "x").replace("_", "y")[:27]
        self.nicknames[openid] = nickname
        return openid

    def handle(self, request: Request) -> Response:
        if request.path == "/connect/oauth2/authorize":
            return self._authorize(request.args)
        if self.down:
            return Response("Bad Gateway", status=502)
        with self.lock:
            if request.path == "/sns/oauth2/access_token":
                return self._access_token(request.args)
            if request.path == "/sns/userinfo":
                return self._userinfo(request.args)
        return Response("not found", status=404)

    def _err(self, code: int, message: str) -> Response:
        # WeChat answers an error with HTTP 200 and an errcode, as text/plain.
        return _json(200, {"errcode": code, "errmsg": message}, content_type="text/plain")

    def _authorize(self, args) -> Response:
        if args.get("appid") != self.appid:
            return Response("参数错误：appid", status=400)
        if args.get("response_type") != "code" or args.get("scope") not in ("snsapi_base", "snsapi_userinfo"):
            return Response("参数错误", status=400)
        target = args.get("redirect_uri", "")
        if urlsplit(target).hostname not in self.redirect_hosts:
            return Response("redirect_uri域名与后台配置不一致", status=400)
        state = args.get("state", "")
        joiner = "&" if "?" in target else "?"
        if self.declines and args["scope"] == "snsapi_userinfo" or self.user is None:
            return Response(status=302, headers={"Location": f"{target}{joiner}{urlencode({'state': state})}"})
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {"openid": self.user, "scope": args["scope"], "used": False, "at": time.time()}
        return Response(
            status=302, headers={"Location": f"{target}{joiner}{urlencode({'code': code, 'state': state})}"}
        )

    def expire_codes(self):
        for grant in self.codes.values():
            grant["at"] -= 600

    def _access_token(self, args) -> Response:
        if args.get("appid") != self.appid:
            return self._err(40013, "invalid appid")
        if args.get("secret") != self.secret:
            return self._err(40125, "invalid appsecret")
        if args.get("grant_type") != "authorization_code":
            return self._err(40002, "invalid grant_type")
        grant = self.codes.get(args.get("code", ""))
        if grant is None or time.time() - grant["at"] > 300:
            return self._err(40029, "invalid code")
        if grant["used"]:
            return self._err(40163, "code been used")
        grant["used"] = True
        token = secrets.token_urlsafe(32)
        self.tokens[token] = grant["openid"]
        answer = {
            "access_token": token,
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(32),
            "openid": grant["openid"],
            "scope": grant["scope"],
            "is_snapshotuser": 0,
        }
        if grant["openid"] in self.unionids:
            answer["unionid"] = self.unionids[grant["openid"]]
        return _json(200, answer, content_type="text/plain")

    def _userinfo(self, args) -> Response:
        openid = self.tokens.get(args.get("access_token", ""))
        if openid is None:
            return self._err(40001, "invalid credential, access_token is invalid or not latest")
        if args.get("openid") != openid:
            return self._err(40003, "invalid openid")
        return _json(
            200,
            {
                "openid": openid,
                "nickname": self.nicknames.get(openid, ""),
                "sex": 0,
                "province": "",
                "city": "",
                "country": "",
                "headimgurl": "",
                "privilege": [],
            },
            content_type="text/plain",
        )


def code_of(location: str) -> str | None:
    return (parse_qs(urlsplit(location).query).get("code") or [None])[0]
