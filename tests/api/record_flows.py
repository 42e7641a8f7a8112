"""Real flows that change records the feed reports (shared by the feed's and the webhooks' tests):
a declaration made and voided, a refund that makes a month owed again and voids its voucher."""

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Declaration, Document
from tests.declare.test_declare import declarations_of, open_form
from tests.refunds.test_refunds_by_item import apply, approve_all, three_months_paid
from tests.support.journeys import sign_in, submit_declaration


def declare_and_void(client, world) -> Declaration:
    """王芳 declares a base for two months of her 养老保险, then voids it in 申报查询."""
    sign_in(client, "王芳", verified=True)
    submit_declaration(
        client, open_form(client, "flexible-pension"), {"month_from": "1", "month_to": "2", "base": "5000"}
    )
    newest = declarations_of(world, "王芳")[-1]
    after = client.submit(client.page(f"/declare/history/{newest.id}/void"))
    assert after.h1 == "申报查询" and "申报已作废" in after.text
    db.session.rollback()
    return db.session.get(Declaration, newest.id)


def refund_reopening_a_month(app, client, world):
    """王芳 pays three months, opens her 电子缴费凭证, and gets one month back for a wrongly
    chosen base (the month is owed again; the voucher listing it is 已作废)."""
    paid, ids = three_months_paid(client, world)
    voucher = client.page(f"/orders/{paid.order_no}/voucher")
    assert voucher.h1 == "电子缴费凭证"
    application, item_id = apply(
        client, paid.order_no, ids[0], money_type="误缴费款退费", reason="缴费档次或基数选择错误"
    )
    approve_all(app, app.test_client(), application)
    doc = db.session.scalar(select(Document).where(Document.order_id.is_not(None)).order_by(Document.id))
    assert doc.state == "void"
    return paid, ids[0], item_id, doc
