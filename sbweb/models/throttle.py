"""Failed manual lookups, to limit guessing a name for a number. Keys are hashed: the table
never holds an identity number or an address in clear."""

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class LookupFailure(db.Model):
    __tablename__ = "lookup_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
