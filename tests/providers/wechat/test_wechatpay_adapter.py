"""The WeChat Pay adapter against the fake API, call by call: every request is signed with our
merchant key (the fake refuses anything else as WeChat Pay does, 401 SIGN_ERROR) and every
answer's signature is checked (a tampered one is refused)."""

import datetime as dt

import pytest
from sqlalchemy import select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import Order
from sbweb.payments import PayerUnknown, PayRequest, ProviderError, WithholdRefused, refunds
from sbweb.payments.wechat import WeChatPayProvider
from tests.support.journeys import choose
from tests.support.wechat_fakes import APIV3_KEY, APPID, MCHID, MERCHANT_SERIAL, PUBLIC_KEY_ID, Keys
from tests.support.wechat_steps import bound_and_signed_in, go_pay, method_page, post_notify


@pytest.fixture
def provider(app, wechat_oauth):
    wechat_oauth.nicknames["oOpenid000000000000000000001"] = "小王"  # a user WeChat knows for our appid
    with app.app_context():
        yield app.extensions["sbweb.providers"]["wechat"]


def request(number="SB202611230000000001", *, host="wechat", openid="oOpenid000000000000000000001", fen=40000):
    return PayRequest(
        out_trade_no=number,
        amount_fen=fen,
        subject="社会保险费-养老保险（灵活就业人员）",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15),
        notify_url="https://sb.example/notify/wechat",
        return_url="https://sb.example/pay/return/wechat",
        quit_url="https://sb.example/orders/x",
        channel="wechat",
        host=host,
        payer_subject=openid,
        client_ip="203.0.113.9",
    )


def test_jsapi_start_prepays_and_signs_the_bridge_parameters(provider, wechat_pay):
    start = provider.start(request())
    assert start.url is None
    method, path, body = wechat_pay.requests[-1]
    assert (method, path) == ("POST", "/v3/pay/transactions/jsapi")
    assert body["payer"] == {"openid": "oOpenid000000000000000000001"} and body["amount"] == {
        "total": 40000,
        "currency": "CNY",
    }
    assert (
        body["notify_url"] == "https://sb.example/notify/wechat" and body["mchid"] == MCHID and body["appid"] == APPID
    )
    assert dt.datetime.fromisoformat(body["time_expire"]).utcoffset() == dt.timedelta(hours=8)
    trade = wechat_pay.trades["SB202611230000000001"]
    assert start.bridge["package"] == f"prepay_id={trade.prepay_id}" and start.bridge["appId"] == APPID
    from tests.support.wechat_fakes import rsa_verify

    message = "\n".join(start.bridge[k] for k in ("appId", "timeStamp", "nonceStr", "package")) + "\n"
    assert rsa_verify(provider._pay._core._private_key.public_key(), message, start.bridge["paySign"])


def test_jsapi_without_an_openid_asks_for_the_wechat_sign_in(provider, wechat_pay):
    with pytest.raises(PayerUnknown) as raised:
        provider.start(request(openid=None))
    assert raised.value.host == "wechat" and wechat_pay.requests == []


def test_h5_start_sends_the_browser_to_wechat_with_our_return(provider, wechat_pay):
    start = provider.start(request(host="browser", openid=None))
    assert start.bridge is None and start.url.startswith(f"{wechat_pay.url}/fake/h5?prepay_id=")
    assert start.url.endswith(
        "&redirect_url=https%3A%2F%2Fsb.example%2Fpay%2Freturn%2Fwechat%3Fout_trade_no%3DSB202611230000000001"
    )
    assert wechat_pay.requests[-1][2]["scene_info"]["payer_client_ip"] == "203.0.113.9"


def test_a_long_subject_is_cut_to_wechats_127_bytes(provider, wechat_pay):
    long = request()
    long = PayRequest(**{**long.__dict__, "subject": "社会保险费-" + "养老保险" * 40})
    provider.start(long)
    description = wechat_pay.requests[-1][2]["description"]
    assert len(description.encode()) <= 127 and description.startswith("社会保险费-养老保险")


def test_query_close_and_a_trade_wechat_does_not_know(provider, wechat_pay):
    assert provider.query("SB202611230000000009").status == "missing"
    provider.close("SB202611230000000009")  # never prepaid: nothing to close
    provider.start(request())
    assert provider.query("SB202611230000000001").status == "waiting"
    provider.close("SB202611230000000001")
    assert wechat_pay.trades["SB202611230000000001"].state == "CLOSED"
    assert provider.query("SB202611230000000001").status == "closed"


def test_a_paid_trade_queries_as_success_and_cannot_be_closed(provider, wechat_pay):
    provider.start(request())
    trade = wechat_pay.pay("SB202611230000000001")
    state = provider.query("SB202611230000000001")
    assert (state.status, state.amount_fen, state.trade_no) == ("success", 40000, trade.transaction_id)
    assert state.paid_at.utcoffset() == dt.timedelta(hours=8) and state.seller_id == MCHID
    with pytest.raises(ProviderError, match="ORDERPAID"):
        provider.close("SB202611230000000001")


def test_a_tampered_answer_is_refused(provider, wechat_pay):
    provider.start(request())
    wechat_pay.pay("SB202611230000000001")
    wechat_pay.tamper_next = True
    with pytest.raises(ProviderError, match="signature"):
        provider.query("SB202611230000000001")
    assert provider.query("SB202611230000000001").amount_fen == 40000


def test_requests_signed_with_another_key_or_serial_are_refused_by_wechat_pay(app, wechat_pay):
    other = Keys.make()
    common = {
        "name": "wechat",
        "mchid": MCHID,
        "appid": APPID,
        "apiv3_key": APIV3_KEY,
        "public_key": Keys.pem_public(wechat_pay._platform),
        "public_key_id": PUBLIC_KEY_ID,
        "gateway": wechat_pay.url,
        "timeout": 5,
    }
    forged = WeChatPayProvider(cert_serial_no=MERCHANT_SERIAL, private_key=Keys.pem_private(other.merchant), **common)
    with pytest.raises(ProviderError, match="HTTP 401 SIGN_ERROR"):
        forged.query("SB202611230000000001")
    with app.app_context():
        ours = app.extensions["sbweb.providers"]["wechat"]._pay._core._private_key
    wrong_serial = WeChatPayProvider(cert_serial_no="ABCDEF0123456789", private_key=Keys.pem_private(ours), **common)
    with pytest.raises(ProviderError, match="SIGN_ERROR"):
        wrong_serial.query("SB202611230000000001")
    assert wechat_pay.refused == ["SIGN_ERROR signature", "SIGN_ERROR serial_no"]


def test_an_answer_signed_by_another_platform_key_is_refused(app, provider, wechat_pay):
    with app.app_context():
        ours = app.extensions["sbweb.providers"]["wechat"]._pay._core._private_key
    fooled = WeChatPayProvider(
        name="wechat",
        mchid=MCHID,
        appid=APPID,
        apiv3_key=APIV3_KEY,
        cert_serial_no=MERCHANT_SERIAL,
        private_key=Keys.pem_private(ours),
        public_key=Keys.pem_public(Keys.make().platform),
        public_key_id=PUBLIC_KEY_ID,
        gateway=wechat_pay.url,
        timeout=5,
    )
    with pytest.raises(ProviderError, match="signature"):
        fooled.start(request())


def test_wechat_pay_unreachable_is_a_provider_error(provider, wechat_pay):
    wechat_pay.stop()
    try:
        with pytest.raises(ProviderError, match="ConnectionError"):
            provider.query("SB202611230000000001")
    finally:
        wechat_pay.start()


def test_refunds_carry_the_order_total_and_repeat_as_one(provider, wechat_pay):
    provider.start(request())
    wechat_pay.pay("SB202611230000000001")
    provider.refund("SB202611230000000001", 1000, "SB202611230000000001R1", "费款已缴纳，原路退回", total_fen=40000)
    provider.refund("SB202611230000000001", 1000, "SB202611230000000001R1", "费款已缴纳，原路退回", total_fen=40000)
    assert len(wechat_pay.trades["SB202611230000000001"].refunds) == 1
    body = wechat_pay.requests[-1][2]
    assert body["amount"] == {"refund": 1000, "total": 40000, "currency": "CNY"}
    assert body["out_refund_no"] == "SB202611230000000001R1" and body["reason"] == "费款已缴纳，原路退回"
    with pytest.raises(ProviderError, match="INVALID_REQUEST"):
        provider.refund("SB202611230000000001", 39001, "SB202611230000000001R2", "多退", total_fen=40000)
    with pytest.raises(ProviderError, match="PARAM_ERROR"):
        provider.refund("SB202611230000000001", 100, "SB202611230000000001R3", "总额不符", total_fen=100)


@pytest.mark.parametrize(
    "status, ours",
    [("SUCCESS", "succeeded"), ("PROCESSING", "processing"), ("ABNORMAL", "failed"), ("CLOSED", "failed")],
)
def test_a_refund_answers_what_wechat_pay_has_done_with_it(provider, wechat_pay, status, ours):
    provider.start(request())
    wechat_pay.pay("SB202611230000000001")
    wechat_pay.refund_status = status
    assert provider.refund("SB202611230000000001", 500, "SB202611230000000001R1", "退", total_fen=40000) == ours
    assert provider.refund_state("SB202611230000000001", "SB202611230000000001R1") == ours
    assert wechat_pay.requests[-1][:2] == ("GET", "/v3/refund/domestic/refunds/SB202611230000000001R1")


def test_a_processing_refund_is_asked_after_until_it_ends(provider, wechat_pay):
    provider.start(request())
    wechat_pay.pay("SB202611230000000001")
    wechat_pay.refund_status = "PROCESSING"
    assert provider.refund("SB202611230000000001", 500, "SB202611230000000001R1", "退", total_fen=40000) == "processing"
    wechat_pay.settle_refund("SB202611230000000001R1")
    assert provider.refund_state("SB202611230000000001", "SB202611230000000001R1") == "succeeded"
    assert provider.refund_state("SB202611230000000001", "SB202611230000000001R9") == "missing"
    with pytest.raises(ProviderError, match="another order"):
        provider.refund_state("SB202611230000000002", "SB202611230000000001R1")


def test_the_adapter_does_not_withhold(provider):
    with pytest.raises(WithholdRefused, match="委托代扣"):
        provider.withhold("SB202611230000000001", 100, "x", "AGR1")


# -- the trade bill ---------------------------------------------------------------------------


def test_the_days_bill_lists_payments_and_refunds(provider, wechat_pay):
    provider.start(request("SB202611230000000001"))
    provider.start(request("SB202611230000000002", fen=35200))
    provider.start(request("SB202611230000000003", fen=100))  # never paid: not in the bill
    wechat_pay.pay("SB202611230000000001")
    wechat_pay.pay("SB202611230000000002")
    provider.refund("SB202611230000000002", 35200, "SB202611230000000002R1", "退", total_fen=35200)
    today = dt.datetime.now(SHANGHAI).date()
    rows = provider.bill(today)
    assert sorted((r.out_trade_no, r.kind, r.amount_fen) for r in rows) == [
        ("SB202611230000000001", "pay", 40000),
        ("SB202611230000000002", "pay", 35200),
        ("SB202611230000000002", "refund", 35200),
    ]
    assert all(r.trade_no.startswith("4200") and r.at.date() == today for r in rows)
    assert provider.bill(today - dt.timedelta(days=3)) == []  # NO_STATEMENT_EXIST: a day without trades


def test_a_bill_that_does_not_match_its_hash_is_refused(provider, wechat_pay):
    provider.start(request())
    wechat_pay.pay("SB202611230000000001")
    wechat_pay.corrupt_bills = True
    with pytest.raises(ProviderError, match="hash"):
        provider.bill(dt.datetime.now(SHANGHAI).date())


def test_bill_lines_of_other_apps_and_the_summary_are_not_trades(provider):
    header = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
        "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
        "手续费,费率,订单金额,申请退款金额,费率备注"
    )
    ours = (
        "`2026-11-23 12:00:01,`wx8888888888888888,`1900000109,`0,`,`4200000001,`SB1,`oX,`JSAPI,`SUCCESS,`OTHERS,"
        "`CNY,`400.00,`0.00,`0,`0,`0.00,`0.00,`,`,`社会保险费,`,`0.00000,`0.60%,`400.00,`0.00,`"
    )
    theirs = ours.replace("`wx8888888888888888", "`wx7777777777777777").replace("`SB1", "`SHOP1")
    summary = (
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
        "`2,`800.00,`0.00,`0.00,`0.00000,`800.00,`0.00"
    )
    rows = provider.parse_bill(f"{header}\n{ours}\n{theirs}\n{summary}\n")
    assert [(r.out_trade_no, r.amount_fen, r.at) for r in rows] == [
        ("SB1", 40000, dt.datetime(2026, 11, 23, 12, 0, 1, tzinfo=SHANGHAI))
    ]
    with pytest.raises(ProviderError, match="summary"):
        provider.parse_bill(f"{header}\n{ours}\n")  # cut short
    with pytest.raises(ProviderError, match="header"):
        provider.parse_bill("")


# -- through the payment core -----------------------------------------------------------------


@pytest.fixture
def settled_in_wechat(client, world, wechat_oauth, wechat_pay):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    number = go_pay(client, method_page(client, choose(client, "medical"))).location.split("/")[-1]
    wechat_pay.pay(number)
    assert post_notify(client, wechat_pay, number).status_code == 204
    return number


def test_a_refund_application_reaches_wechat_pay_with_the_order_total(app, settled_in_wechat, wechat_pay):
    with app.app_context():
        paid = db.session.scalar(select(Order).filter_by(order_no=settled_in_wechat))
        refunds.request_refund(paid, f"{paid.order_no}A1", 10000, "退费申请 审核通过")
        db.session.commit()
        assert refunds.complete_refunds(paid.id) == 1
    body = wechat_pay.requests[-1][2]
    assert body["amount"] == {"refund": 10000, "total": 35200, "currency": "CNY"}


def test_reconciling_a_wechat_day_matches_our_books(app, settled_in_wechat):
    from sbweb.services import reconciliation

    with app.app_context():
        run = reconciliation.reconcile(dt.datetime.now(SHANGHAI).date(), "wechat")
        assert run.summary["bill_pays"] == 1 and run.summary["unknown_here"] == 0
        assert run.summary["absent_there"] == 0 and run.summary["amount_differs"] == 0
