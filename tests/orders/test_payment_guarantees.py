"""The payment core's promises, each with a test that would catch its loss: one charge per
due whatever the resident, the network or the provider does; only verified notifies count;
money we cannot keep goes back where it came from; nothing stays 支付中 for ever."""

import datetime as dt
import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from sbweb.db import db
from sbweb.jobs import run_due_tasks
from sbweb.models import Due, Order, OrderEvent, Refund, SandboxNotify, SandboxRefund, SandboxTrade
from sbweb.models.base import utcnow
from sbweb.payments import orders, sandbox, signing
from tests.support import form_values
from tests.support.journeys import choose, go_to_provider, sandbox_pay, sign_in


def count(model, **where):
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def method_page(client, insurance="medical"):
    confirm = choose(client, insurance)
    page = client.submit(confirm)
    assert page.h1 == "选择缴款方式"
    return page


def post_go_pay(client, page, channel="alipay"):
    values = form_values(page.form())
    values["channel"] = [channel]
    return client.post(page.url, data=MultiDict([(k, v) for k, vs in values.items() for v in vs]))


def sandbox_params(**fields):
    """A notify as the sandbox would sign it (we own the simulator's key in tests)."""
    params = {k: v for k, v in fields.items() if v is not None}
    params["sign"] = signing.sign(sandbox.platform_key(), signing.signing_string(params, exclude=("sign", "sign_type")))
    return params


def notify_for(order_row, app, **overrides):
    fields = {
        "notify_time": "2026-11-23 10:00:00",
        "notify_type": "trade_status_sync",
        "notify_id": "n-" + order_row.order_no,
        "app_id": app.config["SANDBOX_APP_ID"],
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": "T" + order_row.order_no,
        "out_trade_no": order_row.order_no,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": f"{order_row.total_fen // 100}.{order_row.total_fen % 100:02d}",
        "seller_id": app.config["SANDBOX_SELLER_ID"],
        "gmt_payment": "2026-11-23 10:00:00",
    }
    fields.update(overrides)
    return sandbox_params(**fields)


# -- double taps, two tabs, many submits ---------------------------------------------------


def test_a_double_tap_on_go_pay_makes_one_order(client, world, ctx):
    sign_in(client, "王芳")
    page = method_page(client)
    first, second = post_go_pay(client, page), post_go_pay(client, page)
    assert first.status_code == second.status_code == 303
    assert count(Order) == 1
    assert trade_of(first.location) == trade_of(second.location) == db.session.scalar(select(Order.order_no))


def trade_of(pay_url):
    """The out_trade_no a pay URL asks the provider for (its timestamp differs per request)."""
    query = parse_qs(urlsplit(pay_url).query)
    return json.loads(query["biz_content"][0])["out_trade_no"]


def test_a_second_device_cannot_start_a_second_payment_of_the_same_due(app, world, ctx):
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    phone, tablet = app.test_client(), app.test_client()
    for c in (phone, tablet):
        sign_in(c, "王芳")
    phone_page, tablet_page = method_page(phone), method_page(tablet)
    assert post_go_pay(phone, phone_page).status_code == 303
    answer = post_go_pay(tablet, tablet_page)
    # A looked-up session sees only the orders it made: told, not taken to the phone's order.
    assert answer.status_code == 422 and "该笔费款已在支付中，请勿重复缴费" in answer.get_data(as_text=True)
    assert count(Order) == 1


def test_a_second_verified_device_is_taken_to_the_payment_in_progress(app, world, ctx):
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    phone, tablet = app.test_client(), app.test_client()
    for c in (phone, tablet):
        sign_in(c, "王芳", verified=True)
    phone_page, tablet_page = method_page(phone), method_page(tablet)
    assert post_go_pay(phone, phone_page).status_code == 303
    answer = post_go_pay(tablet, tablet_page)
    assert answer.status_code == 303 and answer.location.startswith("/orders/")
    assert count(Order) == 1
    shown = tablet.page(answer.location)
    assert "该笔费款已在支付中" in shown.text and shown.h1 == "支付中"


@pytest.mark.parametrize("shared_session", [True, False], ids=["one-session", "twenty-sessions"])
def test_twenty_concurrent_submits_make_one_order(app, world, shared_session):
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    if shared_session:
        one = app.test_client()
        sign_in(one, "王芳")
        page = method_page(one)
        clients = [(one, page)] * 20
    else:
        clients = []
        for _ in range(20):
            c = app.test_client()
            sign_in(c, "王芳")
            clients.append((c, method_page(c)))
    start = threading.Barrier(20)
    statuses = []

    def submit(c, p):
        start.wait()
        statuses.append(post_go_pay(c, p).status_code)

    threads = [threading.Thread(target=submit, args=cp) for cp in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # Every tap lands somewhere sensible, none 500: the session's own order (the one session's
    # double taps all reach it), or — another looked-up session — 该笔费款已在支付中.
    if shared_session:
        assert statuses.count(303) == 20, statuses
    else:
        assert statuses.count(303) == 1 and statuses.count(422) == 19, statuses
    with app.app_context():
        assert count(Order) == 1
        held = db.session.scalars(select(Due.order_id).where(Due.order_id.is_not(None))).all()
        assert len(set(held)) == 1


def test_two_notifies_at_once_settle_once(app, client, world):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    with app.app_context():
        trade_no = db.session.scalar(select(SandboxTrade.trade_no))
    with app.app_context():
        sandbox.pay(trade_no, silent=True)
        row = db.session.scalar(select(Order))
        params = notify_for(row, app)
    answers = []
    start = threading.Barrier(4)

    def post():
        c = app.test_client()
        start.wait()
        answers.append(c.post("/notify/sandbox", data=params).get_data(as_text=True))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == ["success"] * 4
    with app.app_context():
        settled = db.session.scalar(select(Order))
        assert settled.state == "settled"
        assert count(OrderEvent, order_id=settled.id, to_state="settled") == 1
        assert count(Refund) == 0


# -- what a notify must prove ----------------------------------------------------------------


def started_order(client, app):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    return db.session.scalar(select(Order))


@pytest.mark.parametrize("tamper", ["signature", "app_id", "seller_id", "amount", "unknown_order", "no_sign"])
def test_an_unproven_notify_changes_nothing_and_is_answered_fail(client, app, world, ctx, tamper):
    row = started_order(client, app)
    if tamper == "signature":
        params = notify_for(row, app)
        params["total_amount"] = "0.01"  # changed after signing
    elif tamper == "app_id":
        params = notify_for(row, app, app_id="2026999999999999")
    elif tamper == "seller_id":
        params = notify_for(row, app, seller_id="2088999999999999")
    elif tamper == "amount":
        params = notify_for(row, app, total_amount="0.01")
    elif tamper == "unknown_order":
        params = notify_for(row, app, out_trade_no="SB209901010000000001")
    else:
        params = notify_for(row, app)
        del params["sign"]
    answer = client.post("/notify/sandbox", data=params)
    assert answer.get_data(as_text=True) == "fail"
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "paying"
    assert count(Due, state="paid") == 0


def test_replayed_notifies_settle_once_and_keep_one_ticket(client, app, world, ctx):
    row = started_order(client, app)
    params = notify_for(row, app)
    answers = [client.post("/notify/sandbox", data=params).get_data(as_text=True) for _ in range(5)]
    assert answers == ["success"] * 5
    db.session.rollback()
    settled = db.session.get(Order, row.id)
    assert settled.state == "settled" and settled.ticket_nos
    assert count(OrderEvent, order_id=row.id, to_state="settled") == 1
    assert count(Due, state="paid") == 1


def test_a_closed_notify_after_success_does_not_undo_the_payment(client, app, world, ctx):
    row = started_order(client, app)
    client.post("/notify/sandbox", data=notify_for(row, app))
    late_closed = notify_for(row, app, trade_status="TRADE_CLOSED", notify_id="older")
    assert client.post("/notify/sandbox", data=late_closed).get_data(as_text=True) == "success"
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "settled"
    assert count(Due, state="paid") == 1


def test_the_sync_return_alone_never_settles(client, app, world, ctx):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    trade = db.session.scalar(select(SandboxTrade))
    # A correctly signed return for a trade nobody paid: the browser is sent to the order page,
    # which asks the provider and keeps 支付中.
    page = client.page(
        "/pay/return/sandbox?"
        + "&".join(f"{k}={v}" for k, v in sandbox.return_params(trade).items()).replace("+", "%2B")
    )
    assert page.h1 == "支付中"
    db.session.rollback()
    assert db.session.scalar(select(Order)).state == "paying"
    assert count(Due, state="paid") == 0
    forged = client.get("/pay/return/sandbox?out_trade_no=" + trade.out_trade_no + "&sign=AAAA&app_id=x")
    assert forged.status_code == 400


# -- money we must not keep -----------------------------------------------------------------


def test_money_for_a_closed_order_goes_back_and_the_payer_sees_it(client, app, world, ctx):
    row = started_order(client, app)
    page = client.page(f"/orders/{row.order_no}")
    page = client.submit(page, selector=f"form[action='/orders/{row.order_no}/cancel']")
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "closed"
    assert count(Due, state="open", order_id=None) >= 1

    sandbox.force_pay(row.order_no)  # the provider takes the money anyway, then notifies

    db.session.rollback()
    refunded = db.session.get(Order, row.id)
    assert refunded.state == "refunded" and refunded.refunded_at
    assert db.session.scalar(select(SandboxRefund.amount_fen)) == refunded.total_fen
    assert count(Due, state="paid") == 0
    shown = client.page(f"/orders/{row.order_no}")
    assert "原路退回" in shown.text
    assert "原路退回" in client.page("/records/").text


def test_money_for_a_due_paid_by_another_order_goes_back(client, app, world, ctx):
    first = started_order(client, app)
    client.submit(client.page(f"/orders/{first.order_no}"), selector=f"form[action='/orders/{first.order_no}/cancel']")
    second_result = sandbox_pay(client, go_to_provider(client, choose(client, "medical")))
    assert "缴费成功" in second_result.text

    sandbox.force_pay(first.order_no)

    db.session.rollback()
    assert db.session.get(Order, first.id).state == "refunded"
    assert count(Order, state="settled") == 1
    paid = db.session.scalars(select(Due).filter_by(state="paid")).all()
    assert len(paid) == 1 and paid[0].order_id != first.id


def test_a_refund_the_provider_cannot_take_now_is_retried_by_housekeeping(client, app, world, ctx, monkeypatch):
    row = started_order(client, app)
    client.submit(client.page(f"/orders/{row.order_no}"), selector=f"form[action='/orders/{row.order_no}/cancel']")
    real_refund = type(orders.provider_for(row)).refund

    def provider_down(*args, **kwargs):
        raise orders.ProviderError("connection refused")

    monkeypatch.setattr(type(orders.provider_for(row)), "refund", provider_down)
    sandbox.force_pay(row.order_no)
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "closed"
    pending = db.session.scalar(select(Refund))
    assert pending.state == "pending" and pending.attempts == 1 and "connection refused" in pending.last_error
    assert "正在原路退回" in client.page(f"/orders/{row.order_no}").text

    monkeypatch.setattr(type(orders.provider_for(row)), "refund", real_refund)
    orders.housekeeping()
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "refunded"
    assert count(SandboxRefund) == 1
    orders.housekeeping()  # nothing is refunded twice
    assert count(SandboxRefund) == 1


def test_a_refund_whose_answer_was_lost_is_done_once_and_only_marked_done_once_alipay_says_so(
    client, app, world, ctx, monkeypatch
):
    row = started_order(client, app)
    client.submit(client.page(f"/orders/{row.order_no}"), selector=f"form[action='/orders/{row.order_no}/cancel']")
    provider_class = type(orders.provider_for(row))
    real_refund = provider_class.refund

    def answer_lost(self, *args, **kwargs):
        real_refund(self, *args, **kwargs)  # the money goes back, but the answer never reaches us
        raise orders.ProviderError("read timed out")

    monkeypatch.setattr(provider_class, "refund", answer_lost)
    sandbox.force_pay(row.order_no)
    monkeypatch.setattr(provider_class, "refund", real_refund)
    db.session.rollback()
    assert count(SandboxRefund) == 1 and db.session.scalar(select(Refund.state)) == "pending"

    orders.housekeeping()  # sent again: Alipay answers fund_change N (no money moved this time)
    db.session.rollback()
    assert db.session.scalar(select(Refund.state)) == "processing"
    assert db.session.get(Order, row.id).state == "closed"
    orders.housekeeping()  # alipay.trade.fastpay.refund.query: REFUND_SUCCESS
    db.session.rollback()
    assert db.session.scalar(select(Refund.state)) == "succeeded"
    assert db.session.get(Order, row.id).state == "refunded" and count(SandboxRefund) == 1


# -- nothing stays 支付中 ---------------------------------------------------------------------


def test_a_payment_without_notify_is_settled_by_the_stuck_order_job(client, app, world, ctx):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    trade_no = db.session.scalar(select(SandboxTrade.trade_no))
    sandbox.pay(trade_no, silent=True)
    db.session.rollback()
    assert db.session.scalar(select(Order)).state == "paying"

    counts = orders.housekeeping(now=utcnow() + dt.timedelta(minutes=2))

    assert counts["resolved"] == 1
    db.session.rollback()
    assert db.session.scalar(select(Order)).state == "settled"


def test_the_paying_page_asks_the_provider(client, world, app, ctx):
    sign_in(client, "王芳")
    cashier = go_to_provider(client, choose(client, "medical"))
    result = sandbox_pay(client, cashier, silent=True)
    assert result.h1 == "缴费结果" and "缴费成功" in result.text


def test_an_unpaid_order_expires_releases_its_dues_and_the_provider_refuses_it(client, app, world, ctx):
    row = started_order(client, app)
    later = utcnow() + app.config["ORDER_TIMEOUT"] + dt.timedelta(minutes=1)
    db.session.execute(Order.__table__.update().values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    db.session.commit()

    orders.housekeeping(now=later)

    db.session.rollback()
    assert db.session.get(Order, row.id).state == "closed"
    assert count(Due, order_id=row.id) == 0
    trade = db.session.scalar(select(SandboxTrade))
    assert trade.status == "TRADE_CLOSED"
    with pytest.raises(sandbox.SandboxError):
        sandbox.pay(trade.trade_no)


def test_notifies_are_retried_until_we_answer_success(client, app, world, ctx, monkeypatch):
    row = started_order(client, app)
    trade_no = db.session.scalar(select(SandboxTrade.trade_no))
    real_apply = orders.apply_trade_state
    calls = {"n": 0}

    def database_down_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database unavailable")
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(orders, "apply_trade_state", database_down_once)
    sandbox.pay(trade_no)
    db.session.rollback()
    notify = db.session.scalar(select(SandboxNotify))
    assert notify.attempts == 1 and notify.delivered_at is None
    assert db.session.get(Order, row.id).state == "paying"

    ran = run_due_tasks(now=utcnow() + dt.timedelta(minutes=5))

    assert ran == 1
    db.session.rollback()
    notify = db.session.scalar(select(SandboxNotify))
    assert notify.attempts == 2 and notify.delivered_at is not None
    assert db.session.get(Order, row.id).state == "settled"


def test_notify_twice_switch_still_settles_once(client, world, app, ctx):
    sign_in(client, "王芳")
    result = sandbox_pay(client, go_to_provider(client, choose(client, "medical")), twice=True)
    assert "缴费成功" in result.text
    assert count(SandboxNotify) == 2
    assert all(n.last_response == "success" for n in db.session.scalars(select(SandboxNotify)))
    assert count(OrderEvent, to_state="settled") == 1


def test_a_failed_payment_releases_the_dues_for_another_try(client, world, app, ctx):
    sign_in(client, "王芳")
    result = sandbox_pay(client, go_to_provider(client, choose(client, "medical")), fail=True)
    assert result.h1 == "缴费结果" and "缴费失败" in result.text
    assert db.session.scalar(select(Order)).state == "failed"
    again = sandbox_pay(client, go_to_provider(client, choose(client, "medical")))
    assert "缴费成功" in again.text
    assert count(Order) == 2 and count(Due, state="paid") == 1


# -- numbers ---------------------------------------------------------------------------------


def test_order_and_ticket_numbers_are_never_reused(app, world, ctx):
    from sbweb.db import write_transaction
    from sbweb.models import IssuedNumber

    with write_transaction():
        first = orders.issue_number("order")
    with write_transaction():
        db.session.execute(IssuedNumber.__table__.delete())
    with write_transaction():
        second = orders.issue_number("order")
    assert second > first


def test_cancel_racing_a_notify_never_keeps_money_without_the_due_paid(app, client, world):
    """The resident taps 取消支付 while the provider's success notify arrives: either the
    payment stands (settled, due paid once) or it goes back (refunded) — nothing else."""
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    with app.app_context():
        row = db.session.scalar(select(Order))
        order_no = row.order_no
    cancel_page = client.page(f"/orders/{order_no}", follow=False)  # shown while unpaid
    with app.app_context():
        trade_no = db.session.scalar(select(SandboxTrade.trade_no))
        sandbox.pay(trade_no, silent=True)
        params = notify_for(db.session.scalar(select(Order)), app)
    start = threading.Barrier(2)
    results = {}

    def cancel():
        start.wait()
        results["cancel"] = client.submit(cancel_page, selector=f"form[action='/orders/{order_no}/cancel']").status

    def notify():
        start.wait()
        results["notify"] = app.test_client().post("/notify/sandbox", data=params).get_data(as_text=True)

    threads = [threading.Thread(target=cancel), threading.Thread(target=notify)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results == {"cancel": 200, "notify": "success"}
    with app.app_context():
        final = db.session.scalar(select(Order))
        paid = count(Due, state="paid")
        if final.state == "settled":
            assert paid == 1 and count(SandboxRefund) == 0
        else:
            assert final.state == "refunded" and paid == 0 and count(SandboxRefund) == 1


def test_go_pay_on_an_older_tab_does_not_pay_a_newer_tabs_selection(client, world, app):
    """Tab 1 shows 选择缴款方式 for the medical due; tab 2 (same session) then confirms the
    pension dues; 去支付 in tab 1 must not silently pay tab 2's choice."""
    sign_in(client, "王芳")
    tab1 = method_page(client, "medical")
    method_page(client, "pension")  # tab 2 overwrites the selection
    answer = post_go_pay(client, tab1)
    assert answer.status_code == 303 and answer.location.endswith("/selfpay/confirm")
    with app.app_context():
        assert count(Order) == 0
    shown = client.page(answer.location)
    assert "缴费信息已在其他页面更改" in shown.text and "880.00" in shown.text


def test_housekeeping_goes_on_past_an_order_it_cannot_resolve(client, world, app, monkeypatch):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    go_to_provider(client, choose(client, "pension"))
    with app.app_context():
        first, second = db.session.scalars(select(Order).order_by(Order.id)).all()
        for trade in db.session.scalars(select(SandboxTrade)):
            sandbox.pay(trade.trade_no, silent=True)
        real_query = type(orders.provider_for(first)).query

        def broken_for_first(self, out_trade_no):
            if out_trade_no == first.order_no:
                raise KeyError("unreadable answer")
            return real_query(self, out_trade_no)

        monkeypatch.setattr(type(orders.provider_for(first)), "query", broken_for_first)
        counts = orders.housekeeping(now=utcnow() + dt.timedelta(minutes=2))
        assert counts["errors"] == 1 and counts["resolved"] == 1
        db.session.rollback()
        assert db.session.get(Order, second.id).state == "settled"


def test_a_due_changed_under_its_order_is_not_marked_paid_and_the_money_goes_back(client, world, app):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "pension"))
    with app.app_context():
        row = db.session.scalar(select(Order))
        held = db.session.scalars(select(Due).filter_by(order_id=row.id)).all()
        assert len(held) == 2
        # Something outside the payment core changes one held due (a future 作废, a bad import).
        db.session.execute(Due.__table__.update().where(Due.id == held[0].id).values(amount_fen=1))
        db.session.commit()
        trade_no = db.session.scalar(select(SandboxTrade.trade_no))
        sandbox.pay(trade_no)
        db.session.rollback()
        assert db.session.get(Order, row.id).state == "refunded"
        assert count(Due, state="paid") == 0  # all or none: the other due is not left paid


def test_money_for_a_closed_order_whose_notify_was_lost_is_found_and_sent_back(client, world, app):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    with app.app_context():
        row = db.session.scalar(select(Order))
    client.submit(client.page(f"/orders/{row.order_no}"), selector=f"form[action='/orders/{row.order_no}/cancel']")
    with app.app_context():
        # The provider took the money after all and every notify of it was lost.
        trade = db.session.scalar(select(SandboxTrade))
        trade.status, trade.paid_at = "TRADE_SUCCESS", utcnow()
        db.session.commit()
        orders.housekeeping(now=utcnow() + dt.timedelta(minutes=15))  # looked at again within the day
        db.session.rollback()
        assert db.session.get(Order, row.id).state == "refunded"
        assert count(SandboxRefund) == 1
        orders.housekeeping(now=utcnow() + dt.timedelta(minutes=30))  # and only once
        assert count(SandboxRefund) == 1
