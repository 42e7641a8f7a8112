"""云闪付's money going back, in the embedded defaults: our real UnionPay client against the
sandbox's 银联 gateway. A whole trade goes back by 消费撤销 (txnType 31) within the 清算日 it was
paid in — money that came after the order ended, a 退费申请 of every item the same day — and by
退货 (04) after it or for a part; the gateway refuses a late or partial 撤销 as UnionPay does.
Each one's own notification (backUrl) completes the refund; forged, tampered and foreign ones
are refused and change nothing, a replay or one after the query's answer changes nothing, and
one that could not be written is not answered 200. The ledger check is clean after each."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import (
    DueEvent,
    OrderEvent,
    Person,
    ReconDifference,
    Refund,
    SandboxNotify,
    SandboxRefund,
    SandboxTrade,
)
from sbweb.payments import refunds, sandbox, sandbox_unionpay, unionpay
from sbweb.services import bank, ledger, refund_applications, staff
from tests.sandbox.test_unionpay_sandbox import confirm, provider, to_cashier
from tests.support import form_values
from tests.support.journeys import order, sign_in

NOON = dt.datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)


@pytest.fixture
def signed_in(client, world, ctx, clock):
    clock.at(NOON)
    sign_in(client, "王芳", verified=True)
    return client


def _token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


def paid_by_unionpay(client) -> str:
    cashier, number = to_cashier(client)
    assert confirm(client, cashier).h1 == "支付成功"
    db.session.expire_all()
    assert order(number).state == "settled"
    return number


def refund_by_application(app, world, number: str, *, part: bool = False) -> Refund:
    """王芳 applies for every item of the order (or 1 元 of the first, 多缴费款), staff approve:
    原路退回 through UnionPay. The refund, as the database holds it afterwards."""
    person = db.session.get(Person, world.people["王芳"])
    account = bank.report(
        person, bank_name="中国工商银行", kind="card", account_no="6222020200000000006", account_name="王芳"
    )
    paid = order(number)
    items = refund_applications.refundable_items(paid, "normal")
    amounts = {items[0].id: 100} if part else {item.id: None for item in items}
    application = refund_applications.apply(
        person,
        number,
        "normal",
        items=amounts,
        money_type=refund_applications.MONEY_TYPES[0 if part else 1],
        reason=refund_applications.reasons()[0],
        account_id=account.id,
        account_name="王芳",
    )
    reviewer = staff.create(f"r{application.id}", "审核员", "correct horse battery", "admin").id
    refund_applications.approve(reviewer, application.id)
    db.session.expire_all()
    return db.session.scalar(select(Refund).filter_by(out_request_no=application.application_no))


def sandbox_return(refund: Refund) -> SandboxRefund:
    return db.session.scalar(select(SandboxRefund).filter_by(out_request_no=refund.out_request_no))


def notifications_of(refund: Refund) -> list[SandboxNotify]:
    found = []
    for notify in db.session.scalars(select(SandboxNotify).order_by(SandboxNotify.id)):
        if f'"orderId": "{refund.out_request_no}"' in notify.params:
            found.append(notify)
    return found


def books():
    db.session.expire_all()
    return (
        [(r.out_request_no, r.state, r.completed_at, r.sent_as) for r in db.session.scalars(select(Refund))],
        db.session.scalar(select(func.count()).select_from(OrderEvent)),
        db.session.scalar(select(func.count()).select_from(DueEvent)),
    )


# -- 撤销 or 退货 --------------------------------------------------------------------------------


def test_money_after_the_order_ended_is_cancelled_the_same_day(signed_in, app):
    client = signed_in
    cashier, number = to_cashier(client)
    client.post(f"/orders/{number}/cancel", data={"csrf_token": _token(client)})
    db.session.expire_all()
    assert order(number).state == "closed"
    # The payer was still on the cashier: paid, and told so, though the money is already on its way back.
    assert confirm(client, cashier).h1 == "支付成功"
    db.session.expire_all()
    closed = order(number)
    refund = db.session.scalar(select(Refund).filter_by(order_id=closed.id))
    # The payment's notification recorded R1 and sent it: a 撤销, whose own notification came back.
    assert refund.sent_as == "cancel" and refund.state == "succeeded" and closed.state == "refunded"
    made = sandbox_return(refund)
    assert made.txn_type == "31" and made.amount_fen == closed.total_fen
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    assert trade.refunded_fen == trade.total_fen and trade.status == "TRADE_CLOSED"
    [told] = notifications_of(refund)
    assert told.delivered_at is not None and told.last_response == "ok"
    assert ledger.check() == []


AT = lambda day, h, m: dt.datetime(2026, 11, day, h, m, tzinfo=SHANGHAI)  # noqa: E731


@pytest.mark.parametrize(
    "paid_at, refunded_at, part, sent_as, txn_type",
    [
        (AT(23, 12, 0), AT(23, 14, 0), False, "cancel", "31"),  # the whole trade, the same 清算日: 撤销
        (AT(23, 23, 10), AT(24, 10, 0), False, "cancel", "31"),  # paid after 23:00: the next 清算日's
        (AT(23, 12, 0), AT(24, 10, 0), False, "return", "04"),  # the next 清算日: 退货
        (AT(23, 12, 0), AT(23, 22, 55), False, "return", "04"),  # 5 minutes before the cut-off: 退货
        (AT(23, 12, 0), AT(23, 14, 0), True, "return", "04"),  # a part, the same day: 退货
    ],
)
def test_a_refund_application_goes_back_by_cancel_or_return(
    signed_in, app, world, clock, paid_at, refunded_at, part, sent_as, txn_type
):
    clock.at(paid_at)
    sign_in(signed_in, "王芳", verified=True)  # a session of that hour
    number = paid_by_unionpay(signed_in)
    clock.at(refunded_at)
    refund = refund_by_application(app, world, number, part=part)
    assert (refund.sent_as, sandbox_return(refund).txn_type) == (sent_as, txn_type)
    assert refund.state == "succeeded" and refund.completed_at is not None  # by its notification
    assert order(number).state == ("settled" if part else "refunded")
    assert ledger.check() == []


def test_the_gateway_refuses_a_cancel_after_the_day_or_of_a_part(signed_in, app, clock):
    number = paid_by_unionpay(signed_in)
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=number))
    client_ = provider(app)

    def cancel(order_id, amount_fen):
        fields = unionpay.return_request(
            client_.merchant,
            unionpay.CANCEL,
            order_id=order_id,
            orig_qry_id=trade.trade_no,
            amount_fen=amount_fen,
            txn_time=clock.now,
            back_url="http://127.0.0.1/notify/unionpay",
        )
        return unionpay.parse_answer(client_.post(f"{client_.gateway}{unionpay.BACK_PATH}", fields).decode())

    assert cancel("CANCELPART0001", trade.total_fen - 1)["respCode"] == "33"
    clock.at(NOON.replace(hour=23, minute=1))  # the 清算日 turned at 23:00
    refused = cancel("CANCELLATE0001", trade.total_fen)
    assert refused["respCode"] == "35" and "退货" in refused["respMsg"]
    db.session.expire_all()
    assert not db.session.scalar(select(SandboxRefund.id)) and trade.refunded_fen == 0


def test_the_clearing_day_turns_at_23_and_no_cancel_close_to_it():
    at = lambda h, m: dt.datetime(2026, 11, 23, h, m, tzinfo=SHANGHAI)  # noqa: E731
    assert unionpay.settle_day(at(22, 59)) == dt.date(2026, 11, 23)
    assert unionpay.settle_day(at(23, 0)) == dt.date(2026, 11, 24)
    assert unionpay.may_cancel("1123", at(12, 0), at(11, 0))
    assert not unionpay.may_cancel("1123", at(22, 55), at(11, 0))  # within 10 minutes of the cut-off
    assert not unionpay.may_cancel("1122", at(12, 0), at(11, 0))
    assert not unionpay.may_cancel(None, at(12, 0), at(11, 0))
    assert not unionpay.may_cancel("1123", at(12, 0), at(12, 0) - dt.timedelta(days=365))  # MMDD of a year ago
    assert unionpay.may_cancel("1124", at(23, 30), at(23, 20))


# -- the returns' own notifications --------------------------------------------------------------


@pytest.fixture
def held_notifications(monkeypatch):
    """From when the test calls it, notifications the gateway would deliver at once are kept for
    the test to deliver: the list of them."""
    held = []

    def hold():
        monkeypatch.setattr(sandbox_unionpay.sandbox, "schedule_delivery", lambda pk, delay: held.append(pk))
        return held

    return hold


def test_the_notification_completes_the_refund_once_and_a_replay_changes_nothing(
    signed_in, app, world, clock, held_notifications
):
    number = paid_by_unionpay(signed_in)
    held = held_notifications()
    clock.at(clock.now + dt.timedelta(days=1))
    refund = refund_by_application(app, world, number)
    assert refund.state == "processing" and order(number).state == "settled"  # 00: accepted only
    [pk] = held
    assert sandbox.deliver(pk) is True  # answered 200 after the write
    done = books()
    assert done[0] == [(refund.out_request_no, "succeeded", done[0][0][2], "return")]
    assert order(number).state == "refunded" and ledger.check() == []
    fields = dict(sandbox_unionpay.return_notify_fields(sandbox_return(refund)))
    for _ in range(2):  # UnionPay sends again; an attacker replays: taken, nothing moves
        assert signed_in.post("/notify/unionpay", data=fields).status_code == 200
    assert books() == done
    refunds.complete_refunds()  # and the job finds nothing left to ask
    assert books() == done


def test_after_the_query_answered_the_notification_changes_nothing(signed_in, app, world, clock, held_notifications):
    number = paid_by_unionpay(signed_in)
    held = held_notifications()
    clock.at(clock.now + dt.timedelta(days=1))
    refund_by_application(app, world, number)
    refunds.complete_refunds()  # the job asks: queryTrans says 00
    done = books()
    assert done[0][0][1] == "succeeded" and order(number).state == "refunded"
    assert sandbox.deliver(held[0]) is True
    assert books() == done
    assert ledger.check() == []


def _stranger_signed(fields: dict) -> dict:
    from tests.providers.unionpay.pki import Authority, pem

    signer = Authority.make("STRANGER").signer()
    clean = {k: v for k, v in fields.items() if k not in ("signature", "signPubKeyCert", "certId")}
    return signer.sign({**clean, "signPubKeyCert": pem(signer.certificate).decode()})


# what is wrong → (fields from the genuine ones, what our log says)
REFUSED = {
    "signed by a stranger": (_stranger_signed, "not issued by a configured intermediate"),
    "the amount changed after signing": (lambda f: {**f, "txnAmt": "1"}, "bad signature"),
    "signed, another amount": (lambda f: sandbox_unionpay.sign({**f, "txnAmt": "1"}), "wrong amount"),
    "signed, sent as 退货 but said 撤销": (lambda f: sandbox_unionpay.sign({**f, "txnType": "31"}), "sent as return"),
    "signed, another txnTime": (
        lambda f: sandbox_unionpay.sign({**f, "txnTime": "20261101120000"}),
        "a txnTime that is not the refund's",
    ),
    "signed, no refund of ours": (
        lambda f: sandbox_unionpay.sign({**f, "orderId": "SB2026NOSUCHREFUND"}),
        "not a refund",
    ),
    "signed, another merchant": (lambda f: sandbox_unionpay.sign({**f, "merId": "777290058000999"}), "not our merId"),
}


@pytest.mark.parametrize("what", list(REFUSED))
def test_a_forged_or_foreign_refund_notification_is_refused_and_changes_nothing(
    signed_in, app, world, clock, held_notifications, caplog, what
):
    number = paid_by_unionpay(signed_in)
    held_notifications()
    clock.at(clock.now + dt.timedelta(days=1))
    refund = refund_by_application(app, world, number)
    before = books()
    genuine = dict(sandbox_unionpay.return_notify_fields(sandbox_return(refund)))
    make, reason = REFUSED[what]
    answer = signed_in.post("/notify/unionpay", data=make(genuine))
    assert (answer.status_code, answer.get_data(as_text=True)) == (400, "fail")
    assert reason in caplog.text
    assert books() == before and before[0][0][1] == "processing"
    assert signed_in.post("/notify/unionpay", data=genuine).status_code == 200  # the real one still works
    assert books()[0][0][1] == "succeeded"


def test_a_refund_notification_that_could_not_be_written_is_not_answered_200(
    signed_in, app, world, clock, held_notifications, monkeypatch
):
    number = paid_by_unionpay(signed_in)
    held_notifications()
    clock.at(clock.now + dt.timedelta(days=1))
    refund = refund_by_application(app, world, number)
    fields = dict(sandbox_unionpay.return_notify_fields(sandbox_return(refund)))
    real = refunds._money_back

    def database_gone(*args, **kwargs):
        raise RuntimeError("server closed the connection unexpectedly")

    monkeypatch.setattr(refunds, "_money_back", database_gone)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert signed_in.post("/notify/unionpay", data=fields).status_code >= 500
    assert books()[0][0][1] == "processing"
    monkeypatch.setattr(refunds, "_money_back", real)
    assert signed_in.post("/notify/unionpay", data=fields).status_code == 200  # UnionPay's retry is taken
    assert books()[0][0][1] == "succeeded" and ledger.check() == []


def test_the_days_reconciliation_with_unionpays_file_finds_the_cancels_in_order(signed_in, app, world, clock):
    """Money after the order ended, returned by 撤销, and a settled payment returned whole by 撤销
    the same day: the next day's 对账 with the 银联 对账文件 (txnType 31 rows) finds no difference."""
    from sbweb.services import reconciliation

    client = signed_in
    cashier, late = to_cashier(client)
    client.post(f"/orders/{late}/cancel", data={"csrf_token": _token(client)})
    assert confirm(client, cashier).h1 == "支付成功"
    number = paid_by_unionpay(client)
    clock.at(NOON + dt.timedelta(hours=2))
    refund_by_application(app, world, number)
    db.session.expire_all()
    assert sorted(r.sent_as for r in db.session.scalars(select(Refund))) == ["cancel", "cancel"]
    assert sorted(m.txn_type for m in db.session.scalars(select(SandboxRefund))) == ["31", "31"]
    clock.at(NOON + dt.timedelta(days=1))
    run = reconciliation.reconcile(NOON.date(), "unionpay")
    found = db.session.scalars(select(ReconDifference).filter_by(run_id=run.id))
    assert run.differences == 0, [(d.kind, d.out_trade_no, d.provider_fen, d.our_fen) for d in found]
    assert run.matched >= 4, run.summary  # two payments, two 撤销
    assert ledger.check() == []
