"""The guarantees under concurrency hold for 云闪付 as for the other channels: UnionPay's
notification arriving several times at once (its own retries crossing, or a replay racing the
real one) settles the order once, with one ticket and no refund; and dues UnionPay holds cannot
be chosen again."""

import threading

from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import Due, Order, OrderEvent, Refund
from tests.providers.unionpay.test_unionpay_payments import books, notify, signed_in, to_unionpay

__all__ = ["signed_in"]  # the fixture, used by name


def test_four_notifications_at_once_settle_once(signed_in, unionpay):
    app = signed_in.application
    number, _fields = to_unionpay(signed_in, unionpay)
    unionpay.pay(number)
    fields = unionpay.notification(number)
    answers, start = [], threading.Barrier(4)

    def post():
        client = app.test_client()
        start.wait()
        answers.append(notify(client, fields).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200] * 4
    settled = books(app, number)
    assert settled["order"][0] == "settled" and len(settled["order"][2]) == 1
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).filter_by(order_no=number))
        settles = select(func.count()).select_from(OrderEvent).filter_by(order_id=order_id, to_state="settled")
        assert db.session.scalar(settles) == 1
        assert db.session.scalar(select(func.count()).select_from(Refund)) == 0
        paid = db.session.scalars(select(Due.order_id).where(Due.state == "paid")).all()
        assert paid and set(paid) == {order_id}


def test_the_dues_unionpay_holds_cannot_be_paid_again(signed_in, unionpay):
    """Back in another tab, the resident posts the same dues again while UnionPay holds the order:
    refused with the page's reason (支付中), and no second order."""
    app = signed_in.application
    number, _fields = to_unionpay(signed_in, unionpay)
    with app.app_context():
        held = db.session.scalars(select(Due).where(Due.order_id.is_not(None))).all()
        enrollment_no = held[0].enrollment.enrollment_no
    page = signed_in.page(f"/selfpay/{enrollment_no}/dues")
    assert "支付中，请勿重复缴费" in page.text
    again = signed_in.submit(page, {"dues": [str(d.id) for d in held]}, follow=False)
    errors = [li.get_text(strip=True) for li in again.soup.select(".error-summary li")]
    assert again.response.status_code == 422 and errors == ["所选内容无效，请重新选择"], again.text
    with app.app_context():
        assert db.session.scalars(select(Order.order_no)).all() == [number]
