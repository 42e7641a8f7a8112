"""The machine API's inbound batches as answered: one row per (client, Idempotency-Key) of a
batch that was written, with the body's SHA-256 and the answer given, so that a replay of the
same batch is answered the same without writing anything (sbweb.services.api_batches)."""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class ApiBatch(db.Model):
    __tablename__ = "api_batches"
    __table_args__ = (UniqueConstraint("api_client_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    idempotency_key: Mapped[str] = mapped_column(String(80))
    # enrollments, dues, agencies, standards: a key is one batch of one kind.
    kind: Mapped[str] = mapped_column(String(20))
    body_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    answer: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
