"""Our Alipay payment adapter, configured as a live account, against the gateway over HTTP:
every call it makes (wap pay, notify and return, query, close, refund, 协议扣款, the bill),
signatures checked both ways, and each way a call can fail ending in ProviderError with
nothing written."""

import datetime as dt
import io
import json
import time
import zipfile
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select

from sbweb.clock import SHANGHAI, shanghai_today
from sbweb.db import db, write_transaction
from sbweb.models import Order, ReconRun, Refund, SandboxRefund, SandboxTrade
from sbweb.payments import (
    InvalidNotice,
    Notification,
    PayRequest,
    ProviderError,
    WithholdRefused,
    orders,
    refunds,
    sandbox,
    signing,
)
from sbweb.payments.alipay import GatewayRefusal, provider_from_settings, zip_member_name
from sbweb.services import reconciliation
from tests.providers.alipay.conftest import free_port, garbled, refusal, signed_answer, stalled, tampered, unreadable
from tests.support.journeys import choose, go_to_provider, sign_in


def adapter(fake):
    return fake.app.extensions["sbweb.providers"]["alipay"]


def opened(client, fake, name="王芳", insurance="medical") -> Order:
    """The resident goes to pay with 支付宝: our order 支付中, the trade open at Alipay."""
    sign_in(client, name)
    cashier = go_to_provider(client, choose(client, insurance))
    assert cashier.h1 == "付款详情", cashier.text
    db.session.rollback()
    row = db.session.scalar(select(Order).order_by(Order.id.desc()))
    assert (row.provider, row.state) == ("alipay", "paying")
    return row


def trade(order_no: str) -> SandboxTrade:
    db.session.rollback()
    return db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=order_no))


def paid_silently(order_no: str) -> SandboxTrade:
    sandbox.pay(trade(order_no).trade_no, silent=True)
    return trade(order_no)


# -- paying -------------------------------------------------------------------------------------


def test_wang_fang_pays_with_alipay_and_the_adapter_takes_the_notify_over_http(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    start = adapter(fake_alipay).start(
        PayRequest(
            out_trade_no=row.order_no,
            amount_fen=row.total_fen,
            subject=row.subject,
            expires_at=row.expires_at,
            notify_url=f"{fake_alipay.base}/notify/alipay",
            return_url=f"{fake_alipay.base}/pay/return/alipay",
            quit_url=f"{fake_alipay.base}/",
        )
    )
    assert start.url.startswith(fake_alipay.gateway + "?")
    query = parse_qs(urlsplit(start.url).query)
    assert query["method"] == ["alipay.trade.wap.pay"] and query["sign_type"] == ["RSA2"]
    stamped = dt.datetime.strptime(query["timestamp"][0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    assert abs(dt.datetime.now(dt.UTC) - stamped) < dt.timedelta(minutes=1)  # Beijing time
    assert json.loads(query["biz_content"][0])["product_code"] == "QUICK_WAP_WAY"
    cashier = requests.get(start.url, timeout=10)  # the browser at Alipay's cashier
    assert cashier.status_code == 200 and "付款详情" in cashier.text and row.order_no in cashier.text

    sandbox.pay(trade(row.order_no).trade_no)  # 立即付款: the fake posts its notify over HTTP
    db.session.rollback()
    settled = db.session.get(Order, row.id)
    assert settled.state == "settled" and settled.provider_trade_no == trade(row.order_no).trade_no
    notify = trade(row.order_no).notifies[0]
    assert notify.delivered_at is not None and notify.last_response == "success"


def test_notifies_not_signed_by_alipay_for_us_are_refused_and_change_nothing(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    paid = paid_silently(row.order_no)
    genuine = sandbox.notify_params(paid)
    provider = adapter(fake_alipay)

    def post(params):
        return requests.post(f"{fake_alipay.base}/notify/alipay", data=params, timeout=10).text

    resigned = {k: v for k, v in genuine.items() if k != "sign"}
    resigned["sign"] = signing.sign(
        sandbox.platform_key(), signing.signing_string(resigned, exclude=("sign", "sign_type"))
    )
    another_app = dict(resigned, app_id="2026000000000999")
    another_app["sign"] = signing.sign(
        sandbox.platform_key(), signing.signing_string(another_app, exclude=("sign", "sign_type"))
    )
    another_seller = dict(resigned, seller_id="2088000000000999")
    another_seller["sign"] = signing.sign(
        sandbox.platform_key(), signing.signing_string(another_seller, exclude=("sign", "sign_type"))
    )
    for forged, why in (
        (dict(genuine, total_amount="0.01"), "bad signature"),
        (another_app, "not our app_id"),
        (another_seller, "not our seller_id"),
        (dict(genuine, sign="AAAA"), "bad signature"),
    ):
        with pytest.raises(InvalidNotice, match=why):
            provider.verify_notify(Notification(headers={}, body=b"", form=forged))
        assert post(forged) == "fail"
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "paying"
    assert post(genuine) == "success"
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "settled"


def test_the_sync_return_is_verified_and_only_names_the_order(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    provider = adapter(fake_alipay)
    returned = sandbox.return_params(trade(row.order_no))
    assert provider.verify_return(returned) == row.order_no
    with pytest.raises(InvalidNotice):
        provider.verify_return(dict(returned, out_trade_no="SB000"))
    page = client.page("/pay/return/alipay?" + urlencode(returned))
    assert page.status == 200 and row.order_no in page.url


# -- the trade APIs -----------------------------------------------------------------------------


def test_query_says_waiting_then_paid_and_missing_for_a_trade_alipay_never_saw(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    provider = adapter(fake_alipay)
    assert provider.query(row.order_no).status == "waiting"
    paid = paid_silently(row.order_no)
    state = provider.query(row.order_no)
    assert (state.status, state.amount_fen, state.trade_no) == ("success", row.total_fen, paid.trade_no)
    assert state.paid_at is not None
    assert provider.query("SB20260101000000009999").status == "missing"  # ACQ.TRADE_NOT_EXIST


def test_close_ends_an_open_trade_is_quiet_for_an_unknown_one_and_refuses_a_paid_one(fake_alipay, client, ctx):
    provider = adapter(fake_alipay)
    first = opened(client, fake_alipay, insurance="medical")
    provider.close(first.order_no)
    assert trade(first.order_no).status == "TRADE_CLOSED"
    provider.close("SB20260101000000009999")
    second = opened(client, fake_alipay, insurance="pension")
    paid_silently(second.order_no)
    with pytest.raises(GatewayRefusal) as refused:
        provider.close(second.order_no)
    assert refused.value.sub_code == "ACQ.TRADE_STATUS_ERROR"


def test_a_refund_is_made_once_per_request_number(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    paid_silently(row.order_no)
    provider = adapter(fake_alipay)
    assert provider.refund_state(row.order_no, f"{row.order_no}R1") == "missing"  # not sent yet
    # The first call moves the money (fund_change Y); a repeat moves none (N), so it is only
    # "processing" until the refund query says REFUND_SUCCESS.
    assert [
        provider.refund(row.order_no, 100, f"{row.order_no}R1", "测试退款", total_fen=row.total_fen) for _ in range(2)
    ] == ["succeeded", "processing"]
    assert provider.refund_state(row.order_no, f"{row.order_no}R1") == "succeeded"
    assert trade(row.order_no).refunded_fen == 100
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SandboxRefund)) == 1
    with pytest.raises(GatewayRefusal) as refused:
        provider.refund(row.order_no, row.total_fen, f"{row.order_no}R2", "超额", total_fen=row.total_fen)
    assert refused.value.sub_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    with pytest.raises(GatewayRefusal) as missing:
        provider.refund("SB20260101000000009999", 100, "SB20260101000000009999R1", "无此交易", total_fen=100)
    assert missing.value.sub_code == "ACQ.TRADE_NOT_EXIST"


def test_withholding_under_an_agreement_is_charged_at_once_or_refused_with_the_reason(fake_alipay, ctx):
    provider = adapter(fake_alipay)
    state = provider.withhold("WH20261123000001", 35200, "社会保险费", "20215623000001")
    assert (state.status, state.amount_fen) == ("success", 35200) and state.trade_no
    assert provider.withhold("WH20261123000001", 35200, "社会保险费", "20215623000001").trade_no == state.trade_no
    fake_alipay.app.config["SANDBOX_WITHHOLD_BALANCE"] = 10_000
    with pytest.raises(WithholdRefused, match="余额不足"):
        provider.withhold("WH20261123000002", 35200, "社会保险费", "20215623000001")
    assert trade("WH20261123000002") is None
    # A system error may still have charged: not a refusal, the outcome is for a query to say.
    fake_alipay.faults.plan("alipay.trade.pay", refusal("ACQ.SYSTEM_ERROR", "系统错误"))
    with pytest.raises(ProviderError) as unknown:
        provider.withhold("WH20261123000003", 100, "社会保险费", "20215623000001")
    assert not isinstance(unknown.value, WithholdRefused)


def test_the_daily_bill_is_alipays_zip_of_gbk_csv_and_reconciles_the_day(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    paid = sandbox.force_pay(row.order_no)  # paid, and the notify settles our order
    with write_transaction():  # 退费申请 approved for 1.00, sent through the adapter
        refunds.request_refund(db.session.get(Order, row.id), f"{row.order_no}F1", 100, "部分退费")
    assert refunds.complete_refunds(row.id) == 1
    provider = adapter(fake_alipay)
    day = shanghai_today()

    rows = provider.bill(day)
    assert [(r.kind, r.out_trade_no, r.trade_no, r.amount_fen, r.out_request_no) for r in rows] == [
        ("pay", row.order_no, paid.trade_no, row.total_fen, None),
        ("refund", row.order_no, paid.trade_no, 100, f"{row.order_no}F1"),
    ]
    assert rows[0].at.tzinfo is not None and rows[0].at.date() == day

    # What the adapter downloaded: the file as Alipay serves it.
    answer = provider.client.call(
        "alipay.data.dataservice.bill.downloadurl.query", {"bill_type": "trade", "bill_date": day.isoformat()}
    )
    archive = zipfile.ZipFile(io.BytesIO(requests.get(answer["bill_download_url"], timeout=10).content))
    names = {zip_member_name(info): info for info in archive.infolist()}
    detail_name = f"{fake_alipay.app.config['SANDBOX_SELLER_ID']}0156_{day:%Y%m%d}_业务明细.csv"
    assert set(names) == {detail_name, detail_name.replace("业务明细", "业务明细(汇总)")}
    assert not names[detail_name].flag_bits & 0x800  # GBK names, no UTF-8 flag
    text = archive.read(names[detail_name]).decode("gbk")
    assert text.startswith("#支付宝业务明细查询\n#账号：[")
    assert f"\n{paid.trade_no}\t,{row.order_no}\t,退款\t," in text and "#退款合计：1笔，商家实收退款共-1.00元" in text

    run = reconciliation.reconcile(day, "alipay")
    assert run.differences == 0 and run.matched >= 1, [(d.kind, d.out_trade_no) for d in run.items]


# -- signatures both ways -----------------------------------------------------------------------


def test_the_gateway_refuses_calls_not_signed_with_our_registered_key(fake_alipay, stranger_key, ctx):
    keys = fake_alipay.keys
    (keys / "stranger.pem").write_bytes(
        stranger_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings = {
        **fake_alipay.app.config["PAYMENT_PROVIDERS"]["alipay"],
        "app_private_key_file": "keys/alipay/stranger.pem",
    }
    impostor = provider_from_settings("impostor", settings, fake_alipay.app)
    with pytest.raises(GatewayRefusal) as refused:
        impostor.query("SB20260101000000009999")
    assert (refused.value.code, refused.value.sub_code) == ("40002", "isv.invalid-signature")


def test_an_answer_changed_after_alipay_signed_it_is_refused(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    fake_alipay.faults.plan("alipay.trade.query", tampered('"WAIT_BUYER_PAY"', '"TRADE_SUCCESS"'))
    with pytest.raises(ProviderError, match="bad signature"):
        adapter(fake_alipay).query(row.order_no)
    fake_alipay.faults.plan("alipay.trade.query", tampered('"WAIT_BUYER_PAY"', '"TRADE_SUCCESS"'))
    assert orders.refresh(db.session.get(Order, row.id)).state == "paying"  # nothing written
    db.session.rollback()
    assert db.session.get(Order, row.id).last_queried_at is None


# -- failures -----------------------------------------------------------------------------------


def unsigned_refusal(faults, method, environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [
        '{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments",'
        '"sub_code":"isv.missing-signature","sub_msg":"缺少签名参数"}}'.encode()
    ]


FAULTS = {
    "ACQ.SYSTEM_ERROR": refusal("ACQ.SYSTEM_ERROR", "系统错误"),
    "isp.unknow-error": refusal("isp.unknow-error", "系统繁忙", code="20000"),
    "a refusal nobody signed": unsigned_refusal,
    "a signed answer without its object": signed_answer({}),
    "a 502 page": garbled,
    "half an answer": unreadable,
    "no answer in time": stalled,
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_query_that_fails_is_a_provider_error_and_the_order_stays_as_it_was(fake_alipay, client, ctx, fault):
    row = opened(client, fake_alipay)
    events = len(row.events)
    fake_alipay.faults.plan("alipay.trade.query", FAULTS[fault])
    started = time.monotonic()
    with pytest.raises(ProviderError):
        adapter(fake_alipay).query(row.order_no)
    assert time.monotonic() - started < 5  # the configured timeout is 1 s
    fake_alipay.faults.plan("alipay.trade.query", FAULTS[fault])
    assert orders.refresh(db.session.get(Order, row.id)).state == "paying"
    db.session.rollback()
    again = db.session.get(Order, row.id)
    assert (again.state, again.last_queried_at, len(again.events)) == ("paying", None, events)


def test_a_gateway_that_refuses_connections_is_a_provider_error(fake_alipay, ctx):
    settings = {
        **fake_alipay.app.config["PAYMENT_PROVIDERS"]["alipay"],
        "gateway": f"http://127.0.0.1:{free_port()}/gateway.do",
    }
    offline = provider_from_settings("offline", settings, fake_alipay.app)
    with pytest.raises(ProviderError, match="no answer from the gateway"):
        offline.query("SB20260101000000009999")


def test_a_refund_alipay_cannot_make_now_stays_pending_and_is_made_once_later(fake_alipay, client, ctx):
    row = opened(client, fake_alipay)
    sandbox.force_pay(row.order_no)  # paid and settled; a 退费申请 is approved
    with write_transaction():
        refund = refunds.request_refund(db.session.get(Order, row.id), f"{row.order_no}F1", row.total_fen, "退费")
    fake_alipay.faults.plan("alipay.trade.refund", refusal("ACQ.SYSTEM_ERROR", "系统错误"))
    assert refunds.complete_refunds(row.id) == 0
    db.session.rollback()
    pending = db.session.get(Refund, refund.id)
    assert (pending.state, pending.attempts) == ("pending", 1) and "ACQ.SYSTEM_ERROR" in pending.last_error
    assert trade(row.order_no).refunded_fen == 0
    assert refunds.complete_refunds(row.id) == 1
    assert trade(row.order_no).refunded_fen == row.total_fen
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "refunded"


@pytest.mark.parametrize("fault", ["ACQ.SYSTEM_ERROR", "a 502 page", "no answer in time"])
def test_a_bill_that_cannot_be_fetched_writes_no_reconciliation_run(fake_alipay, ctx, fault):
    fake_alipay.faults.plan("alipay.data.dataservice.bill.downloadurl.query", FAULTS[fault])
    with pytest.raises(ProviderError):
        reconciliation.reconcile(shanghai_today(), "alipay")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ReconRun)) == 0


def test_a_bill_download_that_is_not_a_bill_is_a_provider_error(fake_alipay, ctx):
    fake_alipay.faults.plan(
        "alipay.data.dataservice.bill.downloadurl.query",
        signed_answer(
            {
                "code": "10000",
                "msg": "Success",
                "bill_download_url": f"{fake_alipay.base}/sandbox/alipay-public-key.pem",
            }
        ),
    )
    with pytest.raises(ProviderError, match="not a readable zip"):
        adapter(fake_alipay).bill(shanghai_today())
