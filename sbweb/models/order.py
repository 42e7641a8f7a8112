"""缴费订单: one payment attempt covering one or more dues, and its recorded history.

The state only changes through `sbweb.payments.orders.transition`, which checks the edge
against ORDER_TRANSITIONS and records an OrderEvent for it.
"""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

ORDER_STATE_LABELS = {
    "created": "待支付",
    "paying": "支付中",
    "settled": "缴费成功",
    "failed": "缴费失败",
    "closed": "已关闭",
    "refunded": "原路退回",
}

# Every allowed edge. Money that arrives for a failed or closed order is sent back, hence
# the edges from failed and closed to refunded.
ORDER_TRANSITIONS = {
    ("created", "paying"),
    ("created", "closed"),
    ("paying", "settled"),
    ("paying", "failed"),
    ("paying", "closed"),
    ("settled", "refunded"),
    ("failed", "refunded"),
    ("closed", "refunded"),
}
ACTIVE_STATES = ("created", "paying")
# The cause an order ends with when the provider has given the money back on its own.
RETURNED_BY_PROVIDER = "已付款后转入退款"

# pending → (sent) succeeded | processing → succeeded | failed; "open" ones are sent or asked after.
REFUND_STATE_LABELS = {"pending": "待发送", "processing": "处理中", "succeeded": "已退回", "failed": "退款异常"}
OPEN_REFUND_STATES = ("pending", "processing")

CHANNEL_LABELS = {"alipay": "支付宝", "wechat": "微信支付", "unionpay": "云闪付", "bank": "银行协议扣款"}
# How many 工作日 原路退回 takes to reach the payer's account once sent, by channel: the
# seeds' 2–5 (Guizhou, 微信支付) and 1–5 (Guizhou, 云闪付); a pilot's provider may say otherwise.
REFUND_WORKING_DAYS = {"alipay": (2, 5), "wechat": (2, 5), "unionpay": (1, 5), "bank": (2, 5)}


class IssuedNumber(db.Model):
    """A row per order number or ticket number ever issued: the autoincrement id is the
    sequence, so numbers are unique and never reused, on SQLite and PostgreSQL alike."""

    __tablename__ = "issued_numbers"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(db.Model):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("payer_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    # One key per confirm page shown: a double tap or a second tab posts the same key.
    idempotency_key: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default="created", index=True)
    total_fen: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    refunded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    provider_trade_no: Mapped[str | None] = mapped_column(String(64))
    last_queried_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Bumped by every transition; a transition only applies to the version it read.
    version: Mapped[int] = mapped_column(Integer, default=1)

    payer = relationship("Person")
    items = relationship("OrderItem", back_populates="order", order_by="OrderItem.id")
    events = relationship("OrderEvent", back_populates="order", order_by="OrderEvent.id")
    refunds = relationship("Refund", back_populates="order", order_by="Refund.id")
    # One 票证号码 per 主管税务机关 of its items, issued when it settles (none before).
    tickets = relationship("Ticket", back_populates="order", order_by="Ticket.id")

    @property
    def state_label(self) -> str:
        return ORDER_STATE_LABELS[self.state]

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)

    @property
    def refund_wait_label(self) -> str:
        """原路退回 to this order's payment account: 2–5 个工作日 (or this channel's own)."""
        low, high = REFUND_WORKING_DAYS.get(self.channel, REFUND_WORKING_DAYS["bank"])
        return f"{low}–{high} 个工作日"

    @property
    def returned_by_provider(self) -> bool:
        """Paid, then the money given back by the provider outside sbweb (WeChat Pay's REFUND):
        not 未扣款, so the page must not say so."""
        return self.state in ("failed", "closed") and any(RETURNED_BY_PROVIDER in e.cause for e in self.events)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def ticket_nos(self) -> list[str]:
        return [t.ticket_no for t in self.tickets]

    def groups(self) -> list["ItemGroup"]:
        """The items by ticket (with its tax office) and, within it, by person: what the result
        page and the voucher show. Before settlement there are no tickets: one group."""
        by_ticket: dict = {}
        for item in self.items:
            by_ticket.setdefault(item.ticket, []).append(item)
        groups = []
        for ticket, items in by_ticket.items():
            people: dict = {}
            for item in items:
                people.setdefault(item.due.enrollment.person, []).append(item)
            groups.append(ItemGroup(ticket, [(person, its) for person, its in people.items()]))
        return groups


@dataclass(frozen=True)
class ItemGroup:
    ticket: "Ticket | None"
    people: list  # [(Person, [OrderItem])]

    @property
    def total_fen(self) -> int:
        return sum(item.amount_fen for _person, items in self.people for item in items)


class Ticket(db.Model):
    """票证号码 (电子税票号码): what one 主管税务机关 issues for the items of a settled order that
    fall under it; a 完税证明 certifies one ticket."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(18), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    tax_office_id: Mapped[int] = mapped_column(ForeignKey("tax_offices.id"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("Order", back_populates="tickets")
    tax_office = relationship("TaxOffice")
    items = relationship("OrderItem", back_populates="ticket", order_by="OrderItem.id")


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (UniqueConstraint("order_id", "due_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    due_id: Mapped[int] = mapped_column(ForeignKey("dues.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    # What has gone back to the payer of this item (退费 by item; never more than amount_fen).
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The ticket of the tax office of the due's agency, set when the order settles.
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)

    order = relationship("Order", back_populates="items")
    due = relationship("Due")
    ticket = relationship("Ticket", back_populates="items")

    @property
    def kept_fen(self) -> int:
        return self.amount_fen - self.refunded_fen

    @property
    def refund_label(self) -> str:
        """已退费 / 部分退费 / '' for what the item's money did after settlement."""
        if self.refunded_fen == 0:
            return ""
        return "已退费" if self.refunded_fen >= self.amount_fen else "部分退费"


class OrderEvent(db.Model):
    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    cause: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    order = relationship("Order", back_populates="events")


class Refund(db.Model):
    """原路退回 of an order's money, idempotent on out_request_no."""

    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    out_request_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    # Tries that the provider refused or could not take, and why the last one failed: money
    # owed to a resident is retried until it is sent, and staff can see what holds it up.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # How the provider was asked to return it, where it has more than one way: UnionPay's 消费撤销
    # ("cancel", the whole trade, only on the day it was paid) or 退货 ("return"). None otherwise.
    sent_as: Mapped[str | None] = mapped_column(String(8))

    order = relationship("Order", back_populates="refunds")

    @property
    def state_label(self) -> str:
        return REFUND_STATE_LABELS.get(self.state, self.state)

    @property
    def open(self) -> bool:
        """Still to be sent or asked after: the money is not back yet."""
        return self.state in OPEN_REFUND_STATES
