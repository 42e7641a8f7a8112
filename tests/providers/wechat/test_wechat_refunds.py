"""Refunds through WeChat Pay, which mostly answers 处理中 (PROCESSING): the money is not back
until a later 查询单笔退款 says SUCCESS, so the order stays as it was (its page says the money is
on its way) until then; ABNORMAL leaves the refund for the merchant platform and says so. And
a trade WeChat Pay reports as REFUND (转入退款) never settles an order of ours."""

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Due, Order, Refund
from sbweb.payments import orders
from tests.support.journeys import choose
from tests.support.wechat_steps import bound_and_signed_in, go_pay, method_page, post_notify


def _closed_then_paid(client, wechat_oauth, wechat_pay) -> str:
    """王芳's order is closed here (timed out) but she pays it at WeChat Pay all the same; its
    notify arrives: the money must go back."""
    bound_and_signed_in(client, wechat_oauth, "王芳")
    number = go_pay(client, method_page(client, choose(client, "medical"))).location.split("/")[-1]
    with client.application.app_context():
        orders.close(db.session.scalar(select(Order).filter_by(order_no=number)), "超时未支付，订单关闭")
    wechat_pay.trades[number].state = "NOTPAY"  # she had the cashier open before the close
    wechat_pay.pay(number)
    return number


def _refund(app, number) -> tuple[str, str]:
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(order_no=number))
        (refund,) = order.refunds
        return order.state, refund.state


def test_a_processing_refund_leaves_the_order_until_wechat_pay_says_it_is_done(client, wechat_oauth, wechat_pay, world):
    wechat_pay.refund_status = "PROCESSING"
    number = _closed_then_paid(client, wechat_oauth, wechat_pay)
    assert post_notify(client, wechat_pay, number).status_code == 204
    assert _refund(client.application, number) == ("closed", "processing")
    page = client.page(f"/orders/{number}")
    assert "费款正在原路退回" in page.text and "已于" not in page.text

    with client.application.app_context():  # still processing: asked, nothing changes
        assert orders.housekeeping()["refunds"] == 0
    assert wechat_pay.requests[-1][:2] == ("GET", f"/v3/refund/domestic/refunds/{number}R1")
    assert _refund(client.application, number) == ("closed", "processing")

    wechat_pay.settle_refund(f"{number}R1")
    with client.application.app_context():
        assert orders.housekeeping()["refunds"] == 1
    assert _refund(client.application, number) == ("refunded", "succeeded")
    assert "原路退回至付款账户" in client.page(f"/orders/{number}").text


def test_an_abnormal_refund_waits_for_the_merchant_platform_and_the_resident_is_told(
    client, wechat_oauth, wechat_pay, world, caplog
):
    wechat_pay.refund_status = "PROCESSING"
    number = _closed_then_paid(client, wechat_oauth, wechat_pay)
    post_notify(client, wechat_pay, number)
    wechat_pay.settle_refund(f"{number}R1", "ABNORMAL")
    with client.application.app_context():
        assert orders.housekeeping()["refunds"] == 0
        asked = len(wechat_pay.requests)
        orders.housekeeping()  # a failed refund is not asked after again: it waits for staff
        refund = db.session.scalar(select(Refund))
        assert refund.state == "failed" and "商户平台" in refund.last_error
    assert not any(path.startswith("/v3/refund") for _, path, _ in wechat_pay.requests[asked:])
    assert _refund(client.application, number) == ("closed", "failed")
    assert any("could not return the money" in r.getMessage() for r in caplog.records)
    assert "费款未能原路退回" in client.page(f"/orders/{number}").text


def test_a_trade_wechat_pay_has_refunded_never_settles_a_paying_order(client, wechat_oauth, wechat_pay, world, caplog):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    number = go_pay(client, method_page(client, choose(client, "medical"))).location.split("/")[-1]
    wechat_pay.pay(number)
    wechat_pay.trades[number].state = "REFUND"  # refunded on the merchant platform, no notify here
    with client.application.app_context():
        order = orders.refresh(db.session.scalar(select(Order).filter_by(order_no=number)))
        assert order.state == "failed" and order.ticket_nos == []
        assert db.session.scalars(select(Due.state).where(Due.order_id == order.id)).all() == []  # released
        assert order.refunds == []  # nothing more to send back: it went already
        assert "转入退款" in order.events[-1].cause
    assert any("never settled" in r.getMessage() for r in caplog.records)
    shown = client.page(f"/orders/{number}")
    assert "已由支付机构退回" in shown.text and "未扣款" not in shown.text
