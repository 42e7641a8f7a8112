"""One-time codes sent to the contact on file (验证码), and notification nonces already seen.

Both are small tables because several app processes must agree on them: a code asked for in
one process is checked in another, and a notification replayed to a second process must be
refused there too."""

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class VerificationCode(db.Model):
    """A 6-digit code mailed to a person's address on file; only its keyed hash is kept."""

    __tablename__ = "verification_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: a decoy, answered like a real code while a number's lookups are locked (so the answer
    # never says whether the name matched); it can never succeed.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class NotifyNonce(db.Model):
    """A signed notification's nonce, kept for the replay window: the unique constraint makes
    a second delivery of the same nonce fail, whichever process it reaches."""

    __tablename__ = "notify_nonces"
    __table_args__ = (UniqueConstraint("provider", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
