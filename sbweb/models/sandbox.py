"""The sandbox payment provider's own books. It is a separate party: it never reads or
writes our orders, and we never read these tables outside sbweb.payments.sandbox."""

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class SandboxTrade(db.Model):
    __tablename__ = "sandbox_trades"

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    out_trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    seller_id: Mapped[str] = mapped_column(String(32))
    total_fen: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str] = mapped_column(String(256))
    notify_url: Mapped[str] = mapped_column(String(512))
    return_url: Mapped[str] = mapped_column(String(512))
    quit_url: Mapped[str | None] = mapped_column(String(512))
    time_expire: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="WAIT_BUYER_PAY")
    buyer_id: Mapped[str | None] = mapped_column(String(32))
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    notifies = relationship("SandboxNotify", back_populates="trade", order_by="SandboxNotify.id")


class SandboxRefund(db.Model):
    __tablename__ = "sandbox_refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("sandbox_trades.id"), index=True)
    out_request_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # UnionPay's side: the transaction that returned it, 退货 (04) or 消费撤销 (31); None for Alipay's.
    txn_type: Mapped[str | None] = mapped_column(String(2))


class SandboxNotify(db.Model):
    """One async notification and its delivery attempts (retried until we answer success)."""

    __tablename__ = "sandbox_notifies"

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_id: Mapped[int] = mapped_column(ForeignKey("sandbox_trades.id"), index=True)
    notify_id: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_response: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    trade = relationship("SandboxTrade", back_populates="notifies")


class SandboxGrant(db.Model):
    """A sandbox user's authorization of an app (授权): the single-use auth_code it gave, and
    the access token that code became."""

    __tablename__ = "sandbox_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    auth_code: Mapped[str] = mapped_column(String(64), unique=True)
    app_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    code_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    access_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
