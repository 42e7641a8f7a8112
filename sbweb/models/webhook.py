"""Webhooks to the agencies' systems: one endpoint per API client (its URL and a signing secret of
its own, sealed like the client's), and the durable outbox of deliveries — one row per event ×
endpoint, retried with backoff until the receiver answers 2xx (sbweb.services.webhooks)."""

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

DELIVERY_STATE_LABELS = {"queued": "待发送", "sent": "已送达", "failed": "发送失败"}


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"), unique=True)
    # None once cleared (`flask api-client webhook clear`): nothing more is sent to it.
    url: Mapped[str | None] = mapped_column(String(500))
    # Sent with every delivery (X-SB-Webhook-Key-Id), so the receiver knows which secret to use
    # while it changes over from an old one.
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    client = relationship("ApiClient")


class WebhookDelivery(db.Model):
    """One event to one endpoint: queued → sent | failed (after the last attempt); failed (or
    queued) → queued again with a fresh schedule on 重新发送."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("api_events.id"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    event = relationship("ApiEvent")
    endpoint = relationship("WebhookEndpoint")

    @property
    def state_label(self) -> str:
        return DELIVERY_STATE_LABELS.get(self.state, self.state)
