"""WeChat Pay's payment notifications: a good one settles the order once and is answered 204;
every wrong one — signature, key serial, timestamp, replayed nonce, mchid, appid, amount, a
resource that does not decrypt, an unknown order — changes nothing and is answered as the
failure WeChat Pay understands (4xx, {"code": "FAIL"}), so it retries or gives up."""

import time

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import Due, NotifyNonce, Order, OrderEvent, Refund
from sbweb.payments import orders
from tests.support.journeys import choose
from tests.support.wechat_steps import bound_and_signed_in, go_pay, method_page, post_notify


@pytest.fixture
def paid_in_wechat(client, world, wechat_oauth, wechat_pay):
    """王芳 inside WeChat has paid her medical due at WeChat Pay; no notify has reached us."""
    bound_and_signed_in(client, wechat_oauth, "王芳")
    leave = go_pay(client, method_page(client, choose(client, "medical")))
    number = leave.location.split("/")[-1]
    wechat_pay.pay(number)
    return number


def books(app, number):
    """Everything a notification could change."""
    with app.app_context():
        found = db.session.scalar(select(Order).filter_by(order_no=number))
        return {
            "order": (found.state, found.version, tuple(found.ticket_nos)),
            "dues": sorted((d.id, d.state, d.order_id) for d in db.session.scalars(select(Due))),
            "events": db.session.scalar(select(func.count()).select_from(OrderEvent)),
            "refunds": db.session.scalar(select(func.count()).select_from(Refund)),
            "nonces": db.session.scalar(select(func.count()).select_from(NotifyNonce)),
        }


def refused(answer):
    assert answer.status_code == 400
    assert answer.is_json and answer.get_json()["code"] == "FAIL" and answer.get_json()["message"]


def test_a_good_notify_settles_the_order_and_is_answered_204(client, paid_in_wechat, wechat_pay):
    answer = post_notify(client, wechat_pay, paid_in_wechat)
    assert answer.status_code == 204
    with client.application.app_context():
        paid = db.session.scalar(select(Order).filter_by(order_no=paid_in_wechat))
        assert paid.state == "settled" and len(paid.ticket_nos[0]) == 18
        assert paid.provider_trade_no == wechat_pay.trades[paid_in_wechat].transaction_id


def _resource(wechat_pay, number, **changes):
    transaction = wechat_pay.trades[number].as_transaction(wechat_pay.mchid, wechat_pay.appid)
    for key, value in changes.items():
        if key == "total":
            transaction["amount"]["total"] = value(transaction["amount"]["total"])
        else:
            transaction[key] = value
    return transaction


# what is wrong → (how the fake makes it, the reason in our log)
WRONG = {
    "a bad signature": (lambda pay, number: {"bad_signature": True}, "bad signature"),
    "an unknown key serial": (
        lambda pay, number: {"serial": "PUB_KEY_ID_0119000001092099010100000000000000"},
        "unknown key serial",
    ),
    "a timestamp 6 minutes old": (lambda pay, number: {"stamp": int(time.time()) - 360}, "replay window"),
    "a timestamp 6 minutes ahead": (lambda pay, number: {"stamp": int(time.time()) + 360}, "replay window"),
    "a resource encrypted with another key": (lambda pay, number: {"key": "0" * 32}, "does not decrypt"),
    "another mchid": (lambda pay, number: {"resource": _resource(pay, number, mchid="1900000999")}, "not our mchid"),
    "another appid": (
        lambda pay, number: {"resource": _resource(pay, number, appid="wx9999999999999999")},
        "not our appid",
    ),
    "a refund event": (lambda pay, number: {"event_type": "REFUND.SUCCESS"}, "not a payment notification"),
    "no amount": (lambda pay, number: {"resource": {**_resource(pay, number), "amount": {}}}, "no readable amount"),
}
# Verified as WeChat Pay's own, then refused by the payment core (its nonce is remembered).
WRONG_FOR_US = {
    "a wrong amount": (
        lambda pay, number: {"resource": _resource(pay, number, total=lambda t: t + 100)},
        "wrong amount",
    ),
    "an unknown order": (
        lambda pay, number: {"resource": _resource(pay, number, out_trade_no="SB202611239999999999")},
        "unknown order",
    ),
}


@pytest.mark.parametrize("what", list(WRONG) + list(WRONG_FOR_US))
def test_a_wrong_notify_changes_nothing_and_is_answered_as_a_failure(client, paid_in_wechat, wechat_pay, what, caplog):
    before = books(client.application, paid_in_wechat)
    make, reason = {**WRONG, **WRONG_FOR_US}[what]
    refused(post_notify(client, wechat_pay, paid_in_wechat, **make(wechat_pay, paid_in_wechat)))
    assert reason in caplog.text
    after = books(client.application, paid_in_wechat)
    if what in WRONG_FOR_US:
        assert after.pop("nonces") == before.pop("nonces") + 1
    assert after == before and after["order"][0] == "paying"
    assert post_notify(client, wechat_pay, paid_in_wechat).status_code == 204  # the real one still works


def test_a_signature_type_wechat_pay_does_not_use_is_refused(client, paid_in_wechat, wechat_pay):
    headers, body = wechat_pay.notify(wechat_pay.trades[paid_in_wechat])
    headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
    before = books(client.application, paid_in_wechat)
    refused(client.post("/notify/wechat", data=body, headers=headers))
    assert books(client.application, paid_in_wechat) == before


def test_a_replayed_notify_is_refused_even_though_its_signature_is_good(client, paid_in_wechat, wechat_pay):
    headers, body = wechat_pay.notify(wechat_pay.trades[paid_in_wechat])
    assert client.post("/notify/wechat", data=body, headers=headers).status_code == 204
    settled = books(client.application, paid_in_wechat)
    refused(client.post("/notify/wechat", data=body, headers=headers))
    # The same nonce on a freshly signed message is a replay too.
    refused(post_notify(client, wechat_pay, paid_in_wechat, nonce=headers["Wechatpay-Nonce"]))
    assert books(client.application, paid_in_wechat) == settled


def test_a_notify_that_could_not_be_applied_is_taken_when_wechat_pay_retries_it(
    client, paid_in_wechat, wechat_pay, monkeypatch
):
    headers, body = wechat_pay.notify(wechat_pay.trades[paid_in_wechat])
    real = orders.apply_trade_state

    def database_gone(*args, **kwargs):
        raise RuntimeError("server closed the connection unexpectedly")

    monkeypatch.setattr(orders, "apply_trade_state", database_gone)
    before = books(client.application, paid_in_wechat)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    assert client.post("/notify/wechat", data=body, headers=headers).status_code >= 500
    assert books(client.application, paid_in_wechat) == before  # its nonce not kept either
    monkeypatch.setattr(orders, "apply_trade_state", real)
    assert client.post("/notify/wechat", data=body, headers=headers).status_code == 204  # the same retry
    assert books(client.application, paid_in_wechat)["order"][0] == "settled"
    refused(client.post("/notify/wechat", data=body, headers=headers))  # and now it is a replay


def test_repeated_notifies_with_fresh_nonces_settle_once(client, paid_in_wechat, wechat_pay):
    for _ in range(3):
        assert post_notify(client, wechat_pay, paid_in_wechat).status_code == 204
    with client.application.app_context():
        events = [e.to_state for e in db.session.scalars(select(OrderEvent).order_by(OrderEvent.id))]
        assert events.count("settled") == 1


def test_a_body_that_is_not_wechats_json_is_refused(client, paid_in_wechat):
    refused(client.post("/notify/wechat", data=b"\xff\xfe not json", headers={"Content-Type": "application/json"}))
    refused(
        client.post(
            "/notify/wechat",
            data="trade_status=TRADE_SUCCESS&out_trade_no=" + paid_in_wechat,
            content_type="application/x-www-form-urlencoded",
        )
    )


def test_old_nonces_are_forgotten_once_no_timestamp_could_match(app, world):
    from sbweb.payments import InvalidNotice, replay

    now = time.time()
    with app.app_context():
        replay.remember_nonce("wechat", "n1", now=now - 700)
        replay.remember_nonce("wechat", "n2", now=now)
        assert set(db.session.scalars(select(NotifyNonce.nonce))) == {"n2"}
        with pytest.raises(InvalidNotice, match="replayed"):
            replay.remember_nonce("wechat", "n2", now=now)
        replay.remember_nonce("sandbox", "n2", now=now)  # another provider's nonces are its own
