"""Alipay mobile web payment (alipay.trade.wap.pay and the trade APIs), as a client.

The same class serves the real Alipay gateway (HTTP transport) and our sandbox gateway
(in-process WSGI transport by default): only the gateway, keys and ids differ.
"""
import csv
import datetime as dt
import io
import json
import uuid
from typing import Callable, Mapping
from urllib.parse import urlencode
from sbweb.clock import SHANGHAI
from sbweb.money import fen_to_yuan, yuan_to_fen
from sbweb.payments import (BillRow, InvalidNotice, Notification, NotifyAnswer, PayRequest,
                            PaymentStart, ProviderError, TradeState, WithholdRefused)
from sbweb.payments import signing

STATUS = {
    "TRADE_SUCCESS": "success",
    "TRADE_FINISHED": "success",
    "TRADE_CLOSED": "closed",
    "WAIT_BUYER_PAY": "waiting",
}

# post(url, form) -> response text; get(url) -> response text. Raise ProviderError on failure.
Transport = tuple[Callable[[str, dict], str], Callable[[str], str]]


def provider_time(value: dt.datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def parse_provider_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    except ValueError:
        return None


class AlipayWapProvider:

    def __init__(self, *, name, app_id, seller_id, gateway_url, private_key, platform_public_key,
                 transport: Transport):
        self.name = name
        self.app_id = app_id
        self.seller_id = seller_id
        self.gateway_url = gateway_url
        self._private_key = private_key
        self._platform_key = platform_public_key
        self._post, self._get = transport

    # -- requests ---------------------------------------------------------------------------
    def _common(self, method: str, biz: dict, **extra) -> dict[str, str]:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": provider_time(dt.datetime.now(dt.timezone.utc)),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **extra,
        }
        return signing.sign_params(self._private_key, params)

    def start(self, request: PayRequest) -> PaymentStart:
        biz = {
            "out_trade_no": request.out_trade_no,
            "total_amount": fen_to_yuan(request.amount_fen),
            "subject": request.subject,
            "product_code": "QUICK_WAP_WAY",
            "time_expire": provider_time(request.expires_at),
            "quit_url": request.quit_url,
        }
        params = self._common(
            "alipay.trade.wap.pay", biz,
            notify_url=request.notify_url, return_url=request.return_url,
        )
        return PaymentStart(url=f"{self.gateway_url}?{urlencode(params)}")

    def _call(self, method: str, biz: dict) -> dict:
        text = self._post(self.gateway_url, self._common(method, biz))
        key = method.replace(".", "_") + "_response"
        try:
            body = json.loads(text)
            payload = body[key]
            signature = body["sign"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError(f"{method}: unreadable answer") from None
        # The signature covers the response object exactly as sent; cut it out of the text.
        start = text.index(f'"{key}":') + len(key) + 3
        end = text.rindex(',"sign"')
        if not signing.verify(self._platform_key, text[start:end], signature):
            raise ProviderError(f"{method}: answer with a bad signature")
        return payload

    # -- notifications and returns ----------------------------------------------------------
    def verify_notify(self, notification: Notification) -> TradeState:
        form = dict(notification.form)
        if not signing.verify_params(self._platform_key, form):
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
        if not signing.verify_params(self._platform_key, args) or args.get("app_id") != self.app_id:
            raise InvalidNotice("bad return")
        return args.get("out_trade_no", "")

    # -- trade APIs -------------------------------------------------------------------------
    def query(self, out_trade_no: str) -> TradeState:
        answer = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if answer.get("code") != "10000":
            if answer.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return TradeState(out_trade_no=out_trade_no, status="missing")
            raise ProviderError(f"query: {answer.get('sub_code') or answer.get('code')}")
        return TradeState(
            out_trade_no=out_trade_no,
            status=STATUS.get(answer.get("trade_status"), "waiting"),
            amount_fen=yuan_to_fen(answer["total_amount"]),
            trade_no=answer.get("trade_no"),
            paid_at=parse_provider_time(answer.get("send_pay_date")),
        )

    def close(self, out_trade_no: str) -> None:
        answer = self._call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if answer.get("code") != "10000" and answer.get("sub_code") != "ACQ.TRADE_NOT_EXIST":
            raise ProviderError(f"close: {answer.get('sub_code') or answer.get('code')}")

    def refund(self, out_trade_no: str, amount_fen: int, out_request_no: str, reason: str, *,
               total_fen: int) -> None:
        answer = self._call("alipay.trade.refund", {
            "out_trade_no": out_trade_no,
            "refund_amount": fen_to_yuan(amount_fen),
            "out_request_no": out_request_no,
            "refund_reason": reason,
        })
        if answer.get("code") != "10000":
            raise ProviderError(f"refund: {answer.get('sub_code') or answer.get('code')}")

    def withhold(self, out_trade_no: str, amount_fen: int, subject: str, agreement_no: str) -> TradeState:
        """协议扣款: alipay.trade.pay with GENERAL_WITHHOLDING under the payer's agreement;
        answered at once. A business refusal (code 40004) charged nothing."""
        answer = self._call("alipay.trade.pay", {
            "out_trade_no": out_trade_no,
            "total_amount": fen_to_yuan(amount_fen),
            "subject": subject,
            "product_code": "GENERAL_WITHHOLDING",
            "agreement_params": {"agreement_no": agreement_no},
        })
        if answer.get("code") == "40004":
            raise WithholdRefused(answer.get("sub_msg") or answer.get("sub_code") or "扣款失败")
        if answer.get("code") != "10000":
            raise ProviderError(f"withhold: {answer.get('sub_code') or answer.get('code')}")
        return TradeState(
            out_trade_no=out_trade_no,
            status=STATUS.get(answer.get("trade_status"), "waiting"),
            amount_fen=yuan_to_fen(answer["total_amount"]),
            trade_no=answer.get("trade_no"),
            paid_at=parse_provider_time(answer.get("gmt_payment")),
        )

    def bill(self, day: dt.date) -> list[BillRow]:
        answer = self._call("alipay.data.dataservice.bill.downloadurl.query",
                            {"bill_type": "trade", "bill_date": day.isoformat()})
        if answer.get("code") != "10000":
            raise ProviderError(f"bill: {answer.get('sub_code') or answer.get('code')}")
        text = self._get(answer["bill_download_url"])
        rows = []
        for row in csv.DictReader(io.StringIO(text)):
            rows.append(BillRow(
                out_trade_no=row["out_trade_no"],
                trade_no=row["trade_no"],
                kind=row["kind"],
                amount_fen=yuan_to_fen(row["amount"]),
                at=parse_provider_time(row["time"]),
            ))
        return rows


def new_notify_id() -> str:
    return uuid.uuid4().hex
