"""对账: each day's provider bill matched with our orders, and every difference found — paid
there but unknown here, settled here but absent there, amounts that differ — until staff
resolve it (settle, refund) with an audit entry."""

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

DIFFERENCE_LABELS = {
    "unknown_here": "对方有款、本方无记录",
    "absent_there": "本方已缴、对方账单无记录",
    "amount_differs": "金额不一致",
}
DIFFERENCE_STATE_LABELS = {"open": "待处理", "resolved": "已处理"}


class ReconRun(db.Model):
    __tablename__ = "recon_runs"
    __table_args__ = (UniqueConstraint("provider", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    day: Mapped[dt.date] = mapped_column(Date)
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    differences: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[dict | None] = mapped_column(JSON)

    items = relationship("ReconDifference", back_populates="run", order_by="ReconDifference.id")


class ReconDifference(db.Model):
    __tablename__ = "recon_differences"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    out_trade_no: Mapped[str] = mapped_column(String(64), index=True)
    provider_trade_no: Mapped[str | None] = mapped_column(String(64))
    provider_fen: Mapped[int | None] = mapped_column(Integer)
    our_fen: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default="open", index=True)
    resolution: Mapped[str | None] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(String(200))
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    run = relationship("ReconRun", back_populates="items")

    @property
    def kind_label(self) -> str:
        return DIFFERENCE_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return DIFFERENCE_STATE_LABELS[self.state]
