"""The money of a 退费申请's approved items is back with the payer (`money_back`): each item
records it, the documents listing it are voided, its due follows the reason, and the order is
原路退回 once all its items are. Called by the payment core when a provider's refund succeeds
(sbweb.payments.orders) and by a confirmed bank transfer (sbweb.services.refund_applications),
so it builds on neither: only on the order's state machine, the dues and the documents.
"""

import datetime as dt

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Declaration, Due, Order, OrderItem, RefundApplication, RefundItem
from sbweb.models.base import utcnow
from sbweb.money import fen_display
from sbweb.payments.order_states import transition
from sbweb.services import api_events, documents, dues


def money_back(items: list[RefundItem], at: dt.datetime, how: str) -> None:
    """The money of these approved items is back with the payer: each item records it, every valid
    document listing it is 已作废, its due moves as the reason says, and the order is 原路退回
    once all its items are. Call inside the
    write transaction that learnt it (idempotent: an item done already is left alone)."""
    order = None
    for refund_item in items:
        if refund_item.done_at is not None or refund_item.decision != "approved":
            continue
        application = refund_item.application
        item = db.session.get(OrderItem, refund_item.item_id, with_for_update=True, populate_existing=True)
        item.refunded_fen += refund_item.amount_fen
        refund_item.done_at = at
        db.session.flush()
        api_events.refund_done(refund_item, item)  # the API feed's outbox, same transaction (issue 17)
        # Certificates follow the money: whatever lists this item no longer holds.
        documents.void_covering([item.id], at, f"费款已退费（退费申请 {application.application_no}）")
        _follow_due(item, refund_item, application)
        order = item.order
    if order is None:
        return
    order = db.session.get(Order, order.id, populate_existing=True)
    if order.state == "settled" and all(i.refunded_fen >= i.amount_fen for i in order.items):
        transition(order, "refunded", how, refunded_at=at)


def _follow_due(item: OrderItem, refund_item: RefundItem, application: RefundApplication) -> None:
    """What the refund does to the due the item paid (the effect fixed at approval)."""
    due = db.session.get(Due, item.due_id, populate_existing=True)
    why = f"退费申请 {application.application_no}（{application.reason}）"
    if refund_item.effect == "keep" or item.refunded_fen < item.amount_fen:
        # 多缴费款: still paid, at what was kept.
        dues.transition(
            due,
            "paid",
            f"{why}：退回 {fen_display(refund_item.amount_fen)} 元",
            amount_fen=due.amount_fen - refund_item.amount_fen,
        )
        return
    if due.state != "paid":
        return
    for declaration in db.session.scalars(
        select(Declaration).where(Declaration.due_id == due.id, Declaration.state == "valid")
    ):
        declaration.state, declaration.voided_at = "void", utcnow()
        declaration.void_reason = ("退费后重新申报" if refund_item.effect == "reopen" else "已退费")[:40]
    if refund_item.effect == "reopen":
        dues.transition(
            due,
            "open",
            f"{why}：重新应缴",
            order_id=None,
            reopened_reason=f"已退费（{application.reason}），请重新申报或缴纳"[:100],
        )
    else:
        dues.transition(due, "void", f"{why}：不再应缴")
