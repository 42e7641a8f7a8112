"""退费申请 正常/特殊: a resident asks for a settled payment back; staff review it (待审核 →
审核通过 → 已退费, or 审核不通过). One live application per payment: `live_order_id` is the
order's id while the application is pending, approved or refunded, so a second one cannot be
made (NULLs never collide) — a refund is never issued twice."""
import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

APPLICATION_KIND_LABELS = {"normal": "正常缴费退费", "special": "特殊缴费退费"}
APPLICATION_STATE_LABELS = {"pending": "待审核", "approved": "审核通过，退费中", "rejected": "审核不通过",
                            "refunded": "已退费"}


class RefundApplication(db.Model):
    __tablename__ = "refund_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_no: Mapped[str] = mapped_column(String(24), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    live_order_id: Mapped[int | None] = mapped_column(Integer, unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    money_type: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(30))
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"))
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

    @property
    def kind_label(self) -> str:
        return APPLICATION_KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return APPLICATION_STATE_LABELS[self.state]
