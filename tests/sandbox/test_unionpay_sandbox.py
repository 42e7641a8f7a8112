"""云闪付 in the embedded defaults: our real UnionPay client (sbweb.payments.unionpay) against
the sandbox's 银联 gateway (sbweb.payments.sandbox_unionpay), in the same app. 去支付 → our
page with the signed 前台交易 form → the sandbox's 银联 cashier → 确认付款 → the signed
notification at /notify/unionpay → the browser posted back to frontUrl → 缴费成功; each test
switch; 交易状态查询 and 退货 through the client; a tampered signature refused both ways."""

import pytest
from sqlalchemy import func, select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import OrderEvent, Refund, SandboxNotify, SandboxTrade
from sbweb.payments import InvalidNotice, ProviderError, sandbox, sandbox_unionpay
from sbweb.payments.sandbox_unionpay import MER_ID
from sbweb.payments.unionpay import UnionPayProvider, parse_answer
from tests.support.journeys import choose, order, sign_in


@pytest.fixture
def signed_in(client, world, ctx):
    sign_in(client, "王芳")
    return client


def to_cashier(client):
    """去支付 with 云闪付: our page with the signed form, posted (as the browser does) to the
    sandbox's frontTransReq.do: its 银联 cashier, and the order's number."""
    method = client.submit(choose(client, "medical"))
    assert method.h1 == "选择缴款方式"
    form_page = client.submit(method, {"channel": "unionpay"})
    assert form_page.h1 == "云闪付", form_page.text
    form = form_page.form("main form[data-provider-form]")
    assert form["action"] == "/sandbox/unionpay/gateway/api/frontTransReq.do"
    cashier = client.submit(form_page, selector="main form[data-provider-form]")
    assert cashier.status == 200 and cashier.h1 == "付款详情", cashier.text
    assert "银联在线支付" in cashier.text and "云闪付" in cashier.text and "支付宝" not in cashier.text
    number = cashier.soup.select_one("main dd.mono").get_text(strip=True)
    return cashier, number


def confirm(client, cashier, **switches):
    """确认付款 with the switches; the page the cashier answers (the return page or itself)."""
    data = {k: "on" for k, v in switches.items() if v}
    return client.submit(cashier, data, button="确认付款")


def back_to_merchant(client, page):
    """The return page's form to frontUrl (posted by its script, or its button)."""
    assert page.h1 in ("支付成功", "返回商户"), page.text
    return client.submit(page, selector="main form[data-up-return]")


def provider(app) -> UnionPayProvider:
    return app.extensions["sbweb.providers"]["unionpay"]


def test_the_embedded_default_serves_unionpay_with_the_real_client(app):
    client = provider(app)
    assert type(client).__mro__[1] is UnionPayProvider and client.merchant.mer_id == MER_ID
    assert not client.takes_real_money and client.gateway == "/sandbox/unionpay"
    assert app.config["PAYMENT_CHANNELS"]["unionpay"] == "unionpay"


def test_pay_through_the_yinlian_cashier(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    assert order(number).state == "paying" and order(number).provider == "unionpay"
    done = confirm(client, cashier)
    assert done.h1 == "支付成功"
    fields = {k: v for k, v in ((i["name"], i["value"]) for i in done.soup.select("form[data-up-return] input"))}
    assert fields["orderId"] == number and fields["respCode"] == "00" and fields["signPubKeyCert"]
    # The notification reached /notify/unionpay and was answered 200: the order is settled.
    db.session.expire_all()
    settled = order(number)
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    assert settled.state == "settled" and settled.provider_trade_no == trade.trade_no
    notify = db.session.scalar(select(SandboxNotify).filter_by(trade_id=trade.id))
    assert notify.delivered_at is not None and notify.last_response == "ok"
    result = back_to_merchant(client, done)
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    # The cashier will not take the money twice.
    again = client.post(f"/sandbox/unionpay/cashier/{trade.trade_no}", data={"action": "pay"})
    assert again.status_code == 400  # no CSRF token: refused before anything
    assert sandbox.payable(trade) == "该订单已支付，请勿重复付款"


def test_insufficient_balance_fails_the_attempt_and_the_payer_may_pay_again(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    failed = confirm(client, cashier, fail=True)
    assert failed.h1 == "付款详情" and "卡上的余额不足" in failed.text
    db.session.expire_all()
    assert order(number).state == "paying"
    assert db.session.scalar(select(SandboxNotify)) is None  # UnionPay notifies only a payment
    with app.test_request_context():
        assert provider(app).query(number).status == "waiting"  # origRespCode 64: not the end
    done = confirm(client, failed)
    assert back_to_merchant(client, done).h1 == "缴费结果"
    db.session.expire_all()
    assert order(number).state == "settled"


def test_a_late_notification_is_scheduled_and_the_query_settles_meanwhile(signed_in, app, monkeypatch):
    scheduled = []
    monkeypatch.setattr(sandbox.deliver_notify, "schedule", lambda args, delay: scheduled.append((args, delay)))
    client = signed_in
    cashier, number = to_cashier(client)
    result = back_to_merchant(client, confirm(client, cashier, late=True))
    assert [delay for _, delay in scheduled] == [app.config["SANDBOX_LATE_NOTIFY"].total_seconds()]
    # The return is never trusted, but it makes us ask: queryTrans says paid.
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    db.session.expire_all()
    assert order(number).state == "settled"
    # The late notification, delivered at last, changes nothing and is taken (200).
    events = db.session.scalar(select(func.count()).select_from(OrderEvent))
    assert sandbox.deliver(scheduled[0][0][0]) is True
    db.session.expire_all()
    assert order(number).state == "settled"
    assert db.session.scalar(select(func.count()).select_from(OrderEvent)) == events


def test_a_repeated_notification_settles_once(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    confirm(client, cashier, twice=True)
    db.session.expire_all()
    notifies = list(db.session.scalars(select(SandboxNotify)))
    assert len(notifies) == 2 and all(n.delivered_at is not None for n in notifies)
    assert order(number).state == "settled"


def test_no_notification_the_query_finds_the_payment(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    done = confirm(client, cashier, silent=True)
    db.session.expire_all()
    assert db.session.scalar(select(SandboxNotify)) is None and order(number).state == "paying"
    with app.test_request_context():
        state = provider(app).query(number)
    assert state.status == "success" and state.amount_fen == order(number).total_fen
    assert back_to_merchant(client, done).h1 == "缴费结果"
    db.session.expire_all()
    assert order(number).state == "settled"


def test_cancel_returns_to_the_order_unpaid(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    back = client.submit(cashier, button="取消支付，返回商户")
    assert back.h1 == "返回商户"
    shown = back_to_merchant(client, back)
    assert shown.h1 == "支付中"
    with app.test_request_context():
        assert provider(app).query(number).status == "missing"  # never paid: 查无此交易


def test_refund_through_backtransreq_and_its_query(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    confirm(client, cashier)
    db.session.expire_all()
    paid = order(number)
    client_ = provider(app)
    with app.test_request_context():
        refund = Refund(
            order_id=paid.id,
            out_request_no=f"{number}R1",
            amount_fen=paid.total_fen,
            reason="测试退货",
            state="pending",
        )
        db.session.add(refund)
        db.session.commit()
        assert client_.refund_state(number, refund.out_request_no) == "missing"
        said = client_.refund(number, paid.total_fen, refund.out_request_no, "测试退货", total_fen=paid.total_fen)
        assert said == "processing"  # accepted (00); its outcome is asked for
        assert client_.refund_state(number, refund.out_request_no) == "succeeded"
        # Again: asked, not sent twice.
        assert client_.refund(number, 1, refund.out_request_no, "x", total_fen=paid.total_fen) == "succeeded"
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    assert trade.refunded_fen == paid.total_fen and trade.status == "TRADE_CLOSED"


def test_a_tampered_request_is_refused_and_a_tampered_answer_too(signed_in, app, monkeypatch):
    client = signed_in
    cashier, number = to_cashier(client)
    confirm(client, cashier)
    db.session.expire_all()
    with app.test_request_context():
        fields = provider(app).merchant.query_request(order_id=number, txn_time=order(number).created_at)
    # Our signature, one field changed after it: the gateway refuses (11) in a signed answer.
    answer = parse_answer(client.post("/sandbox/unionpay/gateway/api/queryTrans.do", data=fields).text)
    assert answer["respCode"] == "00"
    tampered = {**fields, "orderId": number[:-1] + ("1" if number[-1] != "1" else "2")}
    refused = parse_answer(client.post("/sandbox/unionpay/gateway/api/queryTrans.do", data=tampered).text)
    assert refused["respCode"] == "11" and "签名" in refused["respMsg"]
    refused_cashier = client.post("/sandbox/unionpay/gateway/api/frontTransReq.do", data=tampered)
    assert refused_cashier.status_code == 400 and "验证签名失败" in refused_cashier.text
    # The sandbox's answer, one field changed after it was signed: our client refuses it.
    real_post = provider(app).post

    def tamper(url, sent):
        raw = parse_answer(real_post(url, sent).decode())
        raw["txnAmt"] = "1"
        return "&".join(f"{k}={v}" for k, v in raw.items()).encode()

    monkeypatch.setattr(provider(app), "post", tamper)
    with app.test_request_context(), pytest.raises(ProviderError, match="bad signature"):
        provider(app).query(number)
    # And a notification tampered after signing is refused at /notify/unionpay.
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    with app.test_request_context():
        signed = sandbox_unionpay.notify_fields(trade)
        with pytest.raises(InvalidNotice):
            provider(app).trust.verify({**signed, "txnAmt": "1"})
    assert client.post("/notify/unionpay", data={**signed, "txnAmt": "1"}).status_code == 400
    assert client.post("/notify/unionpay", data=signed).status_code == 200  # as signed: taken (a replay)


def test_the_chain_is_served_and_the_alipay_side_ignores_unionpay_trades(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    confirm(client, cashier)
    root = client.get("/sandbox/unionpay/acp_root.cer")
    assert root.status_code == 200 and root.data.startswith(b"-----BEGIN CERTIFICATE-----")
    assert client.get("/sandbox/unionpay/acp_key.cer").status_code == 404
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    day = trade.paid_at.astimezone(SHANGHAI).date()
    with app.test_request_context():
        assert all(t.out_trade_no != number for _, t, *_ in sandbox.bill_entries(day))
        with pytest.raises(sandbox.SandboxError):  # the Alipay gateway knows no such trade
            sandbox.api_query(sandbox.Call("alipay.trade.query", {}, {"out_trade_no": number}))


def test_configuration_the_sandbox_adds_its_unionpay_client_only_where_nothing_else_serves_the_name(app):
    """(A live UnionPay merchant beside the sandbox is refused: tests/providers/unionpay.)"""
    from sbweb.payments import registry

    base = dict(app.config)
    # 云闪付 routed to the Alipay-style sandbox, as before: no UnionPay client is added.
    app.config["PAYMENT_CHANNELS"] = {**base["PAYMENT_CHANNELS"], "unionpay": "sandbox"}
    registry.init_providers(app)
    assert "unionpay" not in app.extensions["sbweb.providers"]
    # Without the sandbox, the default 云闪付 channel has no provider until one is configured.
    app.config.update(PAYMENT_CHANNELS={"unionpay": "unionpay"}, SANDBOX_ENABLED=False, WITHHOLD_PROVIDER=None)
    with pytest.raises(RuntimeError, match="not configured: {'unionpay'}"):
        registry.init_providers(app)
    # A UnionPay merchant configured under the name takes it: the sandbox adds none.
    app.config.update(SANDBOX_ENABLED=True, PAYMENT_PROVIDERS={"unionpay": {"kind": "unionpay"}})
    assert sandbox_unionpay.providers_for(app) == {}
