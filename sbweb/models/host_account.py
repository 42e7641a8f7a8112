"""A host app's user known to be one of our persons (授权 through that host's OAuth)."""

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class HostAccount(db.Model):
    __tablename__ = "host_accounts"
    __table_args__ = (UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))  # the HOST_SIGNIN name
    subject: Mapped[str] = mapped_column(String(128))  # the host's id for its user
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
