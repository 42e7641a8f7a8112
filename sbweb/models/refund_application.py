"""退费申请 正常/特殊: a resident asks for items of a settled payment back (each a due, or part of
one for 多缴费款); staff review them item by item (待审核 → 审核通过 → 已退费, or 审核不通过). An
item is in at most one live application: `RefundItem.live_item_id` is the item's id while its
application is pending, approved or refunded and the item was not turned down, so a second one
cannot be made (NULLs never collide) — money is never sent back twice for one item.

What a refund does to the due it paid depends on the reason: `RefundReason`, a table the
agency can edit (defaults in sbweb/services/refund_reasons.py)."""

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

APPLICATION_KIND_LABELS = {"normal": "正常缴费退费", "special": "特殊缴费退费"}
APPLICATION_STATE_LABELS = {
    "pending": "待审核",
    "approved": "审核通过，退费中",
    "rejected": "审核不通过",
    "refunded": "已退费",
}


class RefundApplication(db.Model):
    __tablename__ = "refund_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_no: Mapped[str] = mapped_column(String(24), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    money_type: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(30))
    # None for an application the system made (多退 after a standard was published): 原路退回 only.
    account_id: Mapped[int | None] = mapped_column(ForeignKey("bank_accounts.id"))
    account_name: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    # How an approved refund goes back: 原路退回 through the provider, or to the bank account
    # (a treasury transfer outside the provider, confirmed by staff once made).
    method: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str | None] = mapped_column(String(200))
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    order = relationship("Order")
    account = relationship("BankAccount")
    items = relationship("RefundItem", back_populates="application", order_by="RefundItem.id")

    @property
    def kind_label(self) -> str:
        return APPLICATION_KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return APPLICATION_STATE_LABELS[self.state]


REFUND_ITEM_DECISION_LABELS = {"pending": "待审核", "approved": "审核通过", "rejected": "不予退费"}


class RefundItem(db.Model):
    """One item of an application: how much of that paid item goes back, staff's decision on it,
    the provider refund that carries it (原路退回), when the money was back, and what became of
    the due (the reason's effect, fixed when approved)."""

    __tablename__ = "refund_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("refund_applications.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"), index=True)
    live_item_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(10), default="pending")
    effect: Mapped[str | None] = mapped_column(String(10))  # reopen | void | keep
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"), index=True)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    application = relationship("RefundApplication", back_populates="items")
    item = relationship("OrderItem")
    refund = relationship("Refund")

    @property
    def decision_label(self) -> str:
        return REFUND_ITEM_DECISION_LABELS[self.decision]


class RefundReason(db.Model):
    """退费原因类型 → what the refund does to the due it paid: `reopen` (owed again: its
    declaration is voided, the period can be declared and paid again), `void` (not owed), or
    `keep` (stays paid, at the amount less what went back: 多缴费款)."""

    __tablename__ = "refund_reasons"

    id: Mapped[int] = mapped_column(primary_key=True)
    reason: Mapped[str] = mapped_column(String(30), unique=True)
    effect: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
