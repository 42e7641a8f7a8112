"""How many times one number, or one client, may fail the manual lookup before it has to wait.

A wrong name and an unknown number already look the same; this stops trying names until one
fits. Counted per number (whoever asks) and per client address, over a sliding window."""

import datetime as dt
import hashlib
import hmac

from flask import current_app
from sqlalchemy import bindparam, delete, func, select

from sbweb.db import db, write_transaction
from sbweb.models.base import utcnow
from sbweb.models.throttle import LookupFailure


def keys(id_type: str, id_number: str, client: str | None) -> dict[str, str]:
    secret = current_app.config["SECRET_KEY"].encode()

    def digest(text: str) -> str:
        return hmac.new(secret, text.encode(), hashlib.sha256).hexdigest()

    found = {"number": digest(f"number:{id_type}:{id_number}")}
    if client:
        found["client"] = digest(f"client:{client}")
    return found


def refused_by(lookup_keys: dict[str, str], now: dt.datetime | None = None) -> str | None:
    """Which limit refuses the lookup now: "client" (this address tried too many), "number"
    (this number had too many wrong names), or None."""
    config = current_app.config
    since = (now or utcnow()) - config["LOOKUP_WINDOW"]
    limits = {"number": config["LOOKUP_FAILURES_PER_NUMBER"], "client": config["LOOKUP_FAILURES_PER_CLIENT"]}
    # Both counts in one statement, built once (every manual sign-in asks it).
    counts = db.session.execute(_COUNTS, {"keys": list(lookup_keys.values()), "since": since}).all()
    failures = dict(counts)
    refused = {kind for kind, key in lookup_keys.items() if failures.get(key, 0) >= limits[kind]}
    return "client" if "client" in refused else ("number" if refused else None)


_COUNTS = (
    select(LookupFailure.key, func.count())
    .where(LookupFailure.key.in_(bindparam("keys", expanding=True)), LookupFailure.at > bindparam("since"))
    .group_by(LookupFailure.key)
)


def record_failure(lookup_keys: dict[str, str], now: dt.datetime | None = None) -> None:
    now = now or utcnow()
    with write_transaction():
        db.session.add_all(LookupFailure(key=key, at=now) for key in lookup_keys.values())
        # Forget what no window can count any more.
        db.session.execute(delete(LookupFailure).where(LookupFailure.at < now - current_app.config["LOOKUP_WINDOW"]))
