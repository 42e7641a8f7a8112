"""云闪付 through the UnionPay provider against the fake gateway over HTTP: 去支付 → our page
with the signed 前台交易 form → posted to UnionPay → paid → the notification at
/notify/unionpay settles the order once (200 only after the write); replays change nothing;
forged, tampered and foreign notifications are refused and change nothing; a lost
notification is made good by 交易状态查询; money after the order ended goes back by 撤销 the same
清算日 (UnionPay's settleDate)."""

import pytest
import requests
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import Due, Order, OrderEvent, Refund
from sbweb.payments import orders
from sbweb.payments.refunds import complete_refunds
from tests.providers.unionpay.pki import Authority
from tests.support import form_values
from tests.support.journeys import choose


def method_page(client, confirm_page):
    page = client.submit(confirm_page)
    assert page.h1 == "选择缴款方式", page.text
    return page


def order_no_of(location: str) -> str:
    return location.rstrip("/").split("/")[-1]


def to_unionpay(client, unionpay, name="王芳", insurance="medical"):
    """A resident pays through 云闪付 up to UnionPay's page: the order number, and the page."""
    leave = client.submit(
        method_page(client, choose(client, insurance)), {"channel": "unionpay"}, follow=False
    ).response
    assert leave.status_code == 303 and "/pay/form/" in leave.location, leave.location
    number = order_no_of(leave.location)
    page = client.page(leave.location)
    assert page.h1 == "云闪付"
    form = page.soup.select_one("main form[data-provider-form]")
    assert form["action"] == f"{unionpay.url}/gateway/api/frontTransReq.do"
    fields = {k: v[0] for k, v in form_values(form).items()}
    assert fields["orderId"] == number and fields["backUrl"] == "https://sb.example/notify/unionpay"
    cashier = requests.post(form["action"], data=fields, timeout=10)  # what the browser does
    assert cashier.status_code == 200 and "银联在线支付" in cashier.text, cashier.text
    return number, fields


def books(app, number):
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(order_no=number))
        return {
            "order": (order.state, order.version, tuple(order.ticket_nos), order.provider_trade_no),
            "dues": sorted((d.id, d.state, d.order_id) for d in db.session.scalars(select(Due))),
            "events": db.session.scalar(select(func.count()).select_from(OrderEvent)),
            "refunds": db.session.scalar(select(func.count()).select_from(Refund)),
        }


def notify(client, fields):
    return client.post("/notify/unionpay", data=fields)


@pytest.fixture
def signed_in(client, world):
    from tests.support.journeys import sign_in

    sign_in(client, "王芳")
    return client


def test_pay_notify_settled_and_the_replay_changes_nothing(signed_in, unionpay):
    client = signed_in
    number, fields = to_unionpay(client, unionpay)
    assert fields["txnAmt"] == str(_total(client.application, number))  # fen, as the order has it
    assert books(client.application, number)["order"][0] == "paying"
    trade = unionpay.pay(number)
    answer = notify(client, unionpay.notification(number))
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "ok")
    settled = books(client.application, number)
    assert settled["order"][0] == "settled" and settled["order"][3] == trade.query_id
    assert len(settled["order"][2][0]) == 18
    page = client.page(f"/orders/{number}")
    assert page.h1 == "缴费结果" or "缴费成功" in page.text
    for _ in range(2):  # UnionPay sends again; an attacker replays: the same, once
        assert notify(client, unionpay.notification(number)).status_code == 200
    assert books(client.application, number) == settled
    with client.application.app_context():
        events = [e.to_state for e in db.session.scalars(select(OrderEvent))]
        assert events.count("settled") == 1


def _total(app, number):
    with app.app_context():
        return db.session.scalar(select(Order.total_fen).filter_by(order_no=number))


def _stranger_signer():
    return Authority.make("STRANGER").signer()


# what is wrong → (the notification's fields, the reason in our log)
FORGED = {
    "signed under another root": (
        lambda pay, n: pay.notification(n, signer=_stranger_signer()),
        "not issued by a configured intermediate",
    ),
    "signed by a certificate not UnionPay's": (
        lambda pay, n: pay.notification(n, signer=pay.pki.authority.signer(cn="041@Z12@某某支付有限公司@00000001")),
        "not 中国银联股份有限公司's",
    ),
    "signed by our own merchant certificate": (
        lambda pay, n: pay.notification(n, signer=pay.pki.merchant),
        "not 中国银联股份有限公司's",
    ),
    "an amount changed after signing": (lambda pay, n: pay.notification(n, after={"txnAmt": "1"}), "bad signature"),
    "a respCode changed after signing": (
        lambda pay, n: pay.notification(n, respCode="05", after={"respCode": "00"}),
        "bad signature",
    ),
    "no signature": (lambda pay, n: pay.notification(n, after={"signature": ""}), "no signature"),
    "another merchant": (lambda pay, n: pay.notification(n, merId="898000000000999"), "not our merId"),
    "a refund's notification about no refund of ours": (
        lambda pay, n: pay.notification(n, txnType="04"),
        "not a refund of ours",
    ),
}
WRONG_FOR_US = {
    "a wrong amount": (lambda pay, n: pay.notification(n, txnAmt="1", settleAmt="1"), "wrong amount"),
    "an unknown order": (lambda pay, n: pay.notification(n, orderId="SB20261207999999999"), "unknown order"),
}


@pytest.mark.parametrize("what", list(FORGED) + list(WRONG_FOR_US))
def test_a_forged_or_wrong_notification_changes_nothing_and_is_refused(signed_in, unionpay, what, caplog):
    client = signed_in
    number, _ = to_unionpay(client, unionpay)
    unionpay.pay(number)
    before = books(client.application, number)
    make, reason = {**FORGED, **WRONG_FOR_US}[what]
    answer = notify(client, make(unionpay, number))
    assert (answer.status_code, answer.get_data(as_text=True)) == (400, "fail")
    assert reason in caplog.text
    assert books(client.application, number) == before and before["order"][0] == "paying"
    assert notify(client, unionpay.notification(number)).status_code == 200  # the real one still works
    assert books(client.application, number)["order"][0] == "settled"


def test_a_notification_that_could_not_be_written_is_not_answered_200(signed_in, unionpay, monkeypatch):
    client = signed_in
    number, _ = to_unionpay(client, unionpay)
    unionpay.pay(number)
    fields = unionpay.notification(number)

    def database_gone(*args, **kwargs):
        raise RuntimeError("server closed the connection unexpectedly")

    real = orders.apply_trade_state
    monkeypatch.setattr(orders, "apply_trade_state", database_gone)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    assert notify(client, fields).status_code >= 500
    assert books(client.application, number)["order"][0] == "paying"
    monkeypatch.setattr(orders, "apply_trade_state", real)
    assert notify(client, fields).status_code == 200  # UnionPay's retry is taken
    assert books(client.application, number)["order"][0] == "settled"


def test_a_lost_notification_is_made_good_by_the_trade_query(signed_in, unionpay):
    client = signed_in
    number, fields = to_unionpay(client, unionpay)
    client.post(f"/orders/{number}/check", data={"csrf_token": _token(client)})
    assert books(client.application, number)["order"][0] == "paying"  # not paid: 查无此交易
    trade = unionpay.pay(number)
    client.post(f"/orders/{number}/check", data={"csrf_token": _token(client)})
    assert books(client.application, number)["order"][:1] == ("settled",)
    assert books(client.application, number)["order"][3] == trade.query_id
    queries = [f for f in unionpay.received if f.get("txnType") == "00"]
    assert queries and all(f["txnTime"] == fields["txnTime"] for f in queries)  # the trade's own txnTime


def test_the_front_return_is_never_taken_as_paid(signed_in, unionpay):
    client = signed_in
    number, _ = to_unionpay(client, unionpay)
    # UnionPay's page posts the browser back to frontUrl, here with a claim of success.
    back = client.post("/pay/return/unionpay", data={"orderId": number, "respCode": "00"})
    assert back.status_code == 303 and back.location.endswith(f"/orders/{number}")
    assert books(client.application, number)["order"][0] == "paying"
    assert client.post("/pay/return/unionpay", data={"orderId": "../x"}).status_code == 400


def test_money_after_the_order_ended_goes_back_by_refund(signed_in, unionpay):
    client = signed_in
    number, _ = to_unionpay(client, unionpay)
    client.post(f"/orders/{number}/cancel", data={"csrf_token": _token(client)})
    assert books(client.application, number)["order"][0] == "closed"
    trade = unionpay.pay(number)  # the payer was still on UnionPay's page
    assert notify(client, unionpay.notification(number)).status_code == 200
    with client.application.app_context():
        refund = db.session.scalar(select(Refund))
        assert refund is not None and refund.amount_fen == trade.amount_fen
    refunds = [t for t in unionpay.trades.values() if t.kind == "refund"]
    assert len(refunds) == 1 and refunds[0].orig_qry_id == trade.query_id
    assert refunds[0].amount_fen == trade.amount_fen
    assert refunds[0].txn_type == "31"  # the whole trade, the day it was paid: 消费撤销
    # Sent again (a retry, the job): asked about, never a second 退货.
    with client.application.app_context():
        complete_refunds()
    assert len([t for t in unionpay.trades.values() if t.kind == "refund"]) == 1


def test_cancel_does_not_close_what_unionpay_has_paid(signed_in, unionpay):
    client = signed_in
    number, _ = to_unionpay(client, unionpay)
    unionpay.pay(number)
    answer = client.post(f"/orders/{number}/cancel", data={"csrf_token": _token(client)})
    assert answer.status_code == 303
    assert books(client.application, number)["order"][0] == "paying"  # not closed: UnionPay has it paid
    assert "该订单可能已付款" in client.page(answer.location).text
    assert books(client.application, number)["order"][0] == "settled"  # and the order page's query settled it
    assert not [t for t in unionpay.trades.values() if t.kind == "refund"]


def _token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


def test_the_key_and_its_password_never_reach_the_log(signed_in, unionpay, caplog):
    import logging

    from cryptography.hazmat.primitives import serialization

    from tests.providers.unionpay.pki import PFX_PASSWORD

    caplog.set_level(logging.DEBUG)
    number, _ = to_unionpay(signed_in, unionpay)
    unionpay.pay(number)
    notify(signed_in, unionpay.notification(number, after={"txnAmt": "1"}))
    notify(signed_in, unionpay.notification(number))
    key = unionpay.pki.merchant.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert "refused" in caplog.text  # the log was written
    for secret in (PFX_PASSWORD, key.splitlines()[1], "PRIVATE KEY"):
        assert secret not in caplog.text


def test_the_cancels_own_notification_completes_the_refund_once(signed_in, unionpay):
    """Money after the order ended goes back by 撤销; UnionPay's notification about the 撤销 (at the
    same backUrl) completes it; a replay changes nothing; one saying 退货 for it is refused."""
    client = signed_in
    number, _ = to_unionpay(client, unionpay)
    client.post(f"/orders/{number}/cancel", data={"csrf_token": _token(client)})
    trade = unionpay.pay(number)
    assert notify(client, unionpay.notification(number)).status_code == 200
    with client.application.app_context():
        refund = db.session.scalar(select(Refund))
        assert (refund.state, refund.sent_as) == ("processing", "cancel")  # 00: accepted only
    [sent] = [f for f in unionpay.received if f.get("txnType") == "31"]
    assert sent["origQryId"] == trade.query_id and sent["txnAmt"] == str(trade.amount_fen)
    told = {"txnType": "31", "txnSubType": "00", "origQryId": trade.query_id}
    wrong = notify(client, unionpay.notification(refund.out_request_no, **{**told, "txnType": "04"}))
    assert wrong.status_code == 400
    answer = notify(client, unionpay.notification(refund.out_request_no, **told))
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "ok")
    done = books(client.application, number)
    assert done["order"][0] == "refunded"
    with client.application.app_context():
        assert db.session.scalar(select(Refund.state)) == "succeeded"
    assert notify(client, unionpay.notification(refund.out_request_no, **told)).status_code == 200  # a replay
    assert books(client.application, number) == done
