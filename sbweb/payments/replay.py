"""A replay window of our own for signed notifications (WeChat Pay's Wechatpay-Timestamp and
Wechatpay-Nonce): a signature proves who sent a message, not that it is the first time we see
it. A timestamp further than WINDOW from now is refused, and so is a nonce already seen.

Seen nonces are rows of `notify_nonces`, in the database every app process already shares:
its unique constraint decides a race between two processes, on SQLite and PostgreSQL alike,
and the embedded default needs no Redis. Rows older than twice the window can never match an
acceptable timestamp again and are deleted as new ones arrive.

The clock is the system's real time, not sbweb.clock (which tests and replays of a past day
move): the timestamp was taken by another machine's real clock."""

import datetime as dt
import time

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from sbweb.db import db, write_transaction
from sbweb.models import NotifyNonce
from sbweb.payments import InvalidNotice

WINDOW = 300  # seconds either side of now


def check_timestamp(text: str, *, now: float | None = None, window: int = WINDOW) -> int:
    """The timestamp (seconds since the epoch) if it is within the window, else InvalidNotice."""
    now = time.time() if now is None else now
    if not (text or "").isdigit() or len(text) > 12:
        raise InvalidNotice("no readable timestamp")
    stamp = int(text)
    if abs(now - stamp) > window:
        raise InvalidNotice(f"timestamp {int(now - stamp)} s from now, outside the replay window")
    return stamp


def remember_nonce(provider: str, nonce: str, *, now: float | None = None, window: int = WINDOW) -> None:
    """Record a verified notification's nonce; InvalidNotice if it was seen already."""
    if not nonce or len(nonce) > 64 or not nonce.isascii() or not nonce.isprintable():
        raise InvalidNotice("no usable nonce")
    seen_at = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
    try:
        with write_transaction():
            db.session.execute(
                delete(NotifyNonce).where(NotifyNonce.seen_at < seen_at - dt.timedelta(seconds=2 * window))
            )
            db.session.add(NotifyNonce(provider=provider, nonce=nonce, seen_at=seen_at))
    except IntegrityError:
        raise InvalidNotice("nonce seen before: a replayed notification") from None


def forget_nonce(provider: str, nonce: str) -> None:
    """A notification whose outcome could not be written (the database went away mid-way) is not
    a replay when it comes again: its nonce is let go, so the provider's retry is taken."""
    with write_transaction():
        db.session.execute(delete(NotifyNonce).where(NotifyNonce.provider == provider, NotifyNonce.nonce == nonce))
