"""Server-side sessions: start one at sign-in, find it by the cookie's token, end it (退出, idle,
the absolute limit, a newer sign-in, staff revoking it, a password change), list them.

No request in here: sbweb.identity.sessions (residents) and the back office (staff) pass the address and the
user agent in. Every change is its own write transaction.
"""

import datetime as dt
import hashlib
import ipaddress
import secrets
from contextvars import ContextVar
from dataclasses import dataclass, fields

from sqlalchemy import bindparam, delete, select, update

from sbweb.db import db, write_transaction
from sbweb.models import CaptchaChallenge, LoginSession, VerificationCode
from sbweb.models.base import utcnow
from sbweb.models.login_session import END_LABELS, LEVEL_LABELS

# last_seen_at is written at most this often: the idle limit is enforced to within a minute
# without a write on every request.
TOUCH_EVERY = dt.timedelta(seconds=60)
# Ended sign-ins stay this long as 登录记录, then go.
KEPT_FOR = dt.timedelta(days=180)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def masked_address(address: str | None) -> str:
    """203.0.113.* / 2001:db8:85a3:* — enough for a resident to recognise a place, not a device."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return ""
    if ip.version == 4:
        return ".".join(str(ip).split(".")[:3]) + ".*"
    return ":".join(ip.exploded.split(":")[:3]) + ":*"


@dataclass(slots=True)
class OpenLogin:
    """A request's own login session: the row's values, read with one Core SELECT before every
    signed-in request (an ORM object cost as much again to load). Not attached to the ORM session:
    every change goes through this module's UPDATEs, which tell the copy what they wrote."""

    id: int
    kind: str
    person_id: int | None
    staff_id: int | None
    level: str | None
    host: str | None
    host_subject: str | None
    signed_in_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None
    end_reason: str | None
    orders: list

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS.get(self.level or "", "")

    @property
    def end_label(self) -> str:
        return END_LABELS.get(self.end_reason or "", "")


_COLUMNS = [LoginSession.__table__.c[f.name] for f in fields(OpenLogin)]


def start(
    kind: str,
    *,
    lifetime: dt.timedelta,
    person_id: int | None = None,
    staff_id: int | None = None,
    level: str | None = None,
    host: str | None = None,
    host_subject: str | None = None,
    address: str | None = None,
    agent: str | None = None,
    replacing: OpenLogin | None = None,
) -> tuple[OpenLogin, str]:
    """A new session and the token for its cookie; the one it replaces (a level change) ends."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with write_transaction():
        if replacing is not None:
            _end_where(LoginSession.id == replacing.id, "replaced", now)
        row = LoginSession(
            token_hash=_hash(token),
            kind=kind,
            person_id=person_id,
            staff_id=staff_id,
            level=level,
            host=host,
            host_subject=host_subject,
            address=masked_address(address),
            agent=(agent or "")[:120],
            signed_in_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
            orders=[],
        )
        db.session.add(row)
        db.session.flush()
        opened = OpenLogin(**{f.name: getattr(row, f.name) for f in fields(OpenLogin)})
    return opened, token


# Run before every signed-in request: a Core SELECT built once with bind parameters (building
# it cost more than running it), on the request's own connection.
_FIND = select(*_COLUMNS).where(
    LoginSession.token_hash == bindparam("token_hash"), LoginSession.kind == bindparam("kind")
)


def find(token: str | None, kind: str) -> OpenLogin | None:
    """The session the token names — ended or not: the caller says why it ended — or None
    (unknown, or of the other kind)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    row = db.session.connection().execute(_FIND, {"token_hash": _hash(token), "kind": kind}).first()
    return None if row is None else OpenLogin(*row)


def expiry(row: OpenLogin | LoginSession, idle: dt.timedelta, now: dt.datetime | None = None) -> str | None:
    """Why the session is over now ("idle" or "absolute"), or None while it lasts."""
    now = now or utcnow()
    if now >= row.expires_at:
        return "absolute"
    if now - row.last_seen_at > idle:
        return "idle"
    return None


def touch(row: OpenLogin, now: dt.datetime | None = None) -> None:
    """Slide the idle limit (at most once a TOUCH_EVERY)."""
    now = now or utcnow()
    if now - row.last_seen_at < TOUCH_EVERY:
        return
    with write_transaction():
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.id == row.id, LoginSession.ended_at.is_(None))
            .values(last_seen_at=now)
        )
    _known(row, last_seen_at=now)


def _known(row: OpenLogin, **values) -> None:
    """What an UPDATE just wrote, told to the request's copy."""
    for key, value in values.items():
        setattr(row, key, value)


# How many times this thread has ended sessions: a sign-in handed from a POST to the GET run in
# its place (sbweb.identity.sessions.CARRIED) is read again if any ended in between.
_ENDINGS = ContextVar("sbweb_session_endings", default=0)


def endings() -> int:
    return _ENDINGS.get()


def token_hash(token: str) -> str:
    return _hash(token)


def _end_where(condition, reason: str, now: dt.datetime) -> int:
    _ENDINGS.set(_ENDINGS.get() + 1)
    return db.session.execute(
        update(LoginSession).where(condition, LoginSession.ended_at.is_(None)).values(ended_at=now, end_reason=reason)
    ).rowcount


def end(session_id: int, reason: str) -> bool:
    with write_transaction():
        return _end_where(LoginSession.id == session_id, reason, utcnow()) == 1


def end_other_resident_sessions(person_id: int, keep: int) -> int:
    """结束其他登录: every open session of the person but the one asking; how many ended."""
    with write_transaction():
        return _end_where(
            (LoginSession.person_id == person_id) & (LoginSession.kind == "resident") & (LoginSession.id != keep),
            "revoked",
            utcnow(),
        )


def end_sessions_of_other_host_users(person_id: int, host: str, subject: str) -> int:
    """When the person's binding in `host` moves to the host user `subject`, the sessions that
    earlier users of that host opened as this person end (call inside the binding's write
    transaction)."""
    return _end_where(
        (LoginSession.person_id == person_id)
        & (LoginSession.host == host)
        & LoginSession.host_subject.is_not(None)
        & (LoginSession.host_subject != subject),
        "revoked",
        utcnow(),
    )


def end_staff_sessions(staff_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every open session of a staff account (but `keep`, the one asking); how many ended."""
    condition = LoginSession.staff_id == staff_id
    if keep is not None:
        condition = condition & (LoginSession.id != keep)
    with write_transaction():
        return _end_where(condition, reason, utcnow())


def end_one_of_staff(staff_id: int, session_id: int) -> bool:
    """A staff member ends one of their own sessions (only theirs)."""
    with write_transaction():
        return (
            _end_where((LoginSession.id == session_id) & (LoginSession.staff_id == staff_id), "revoked", utcnow()) == 1
        )


def set_host(row: OpenLogin, host: str, subject: str | None) -> None:
    """The host app the session is in now knows its user (a WeChat openid bound later)."""
    with write_transaction():
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.id == row.id, LoginSession.ended_at.is_(None))
            .values(host=host, host_subject=subject)
        )
    _known(row, host=host, host_subject=subject)


def remember_order(row: OpenLogin, order_no: str, kept: int = 20) -> None:
    """Add an order this session made to its list (read and written in one transaction, so two
    tabs paying at once both land)."""
    with write_transaction():
        orders = remember_order_within(row, order_no, kept)
    if orders is not None:
        _known(row, orders=orders)


def remember_order_within(row: OpenLogin, order_no: str, kept: int = 20) -> list | None:
    """`remember_order` inside the caller's write transaction (the one that makes the order);
    the list as written, or None when the session has ended meanwhile. The request's copy learns
    it by `remembered` once that transaction has committed."""
    held = db.session.scalar(_ORDERS_HELD, {"id": row.id})
    if held is None:
        return None
    orders = ([o for o in held if o != order_no] + [order_no])[-kept:]
    db.session.execute(_ORDERS_KEPT, {"w_id": row.id, "v_orders": orders})
    return orders


def remembered(row: OpenLogin, orders: list) -> None:
    """The request's copy learns the order list `remember_order_within` committed."""
    _known(row, orders=orders)


# Built once (Core): every order made runs them.
_SESSIONS = LoginSession.__table__
_ORDERS_HELD = (
    select(_SESSIONS.c.orders)
    .where(_SESSIONS.c.id == bindparam("id"), _SESSIONS.c.ended_at.is_(None))
    .with_for_update()
)
_ORDERS_KEPT = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("w_id"))
    .values(orders=bindparam("v_orders", type_=_SESSIONS.c.orders.type))
)


def open_sessions_of_staff(staff_id: int, idle: dt.timedelta) -> list[LoginSession]:
    now = utcnow()
    rows = db.session.scalars(
        select(LoginSession)
        .where(LoginSession.staff_id == staff_id, LoginSession.ended_at.is_(None))
        .order_by(LoginSession.last_seen_at.desc())
    )
    return [r for r in rows if expiry(r, idle, now) is None]


def history_of_person(person_id: int, limit: int = 30) -> list[LoginSession]:
    """The resident's 登录记录: newest first."""
    return list(
        db.session.scalars(
            select(LoginSession)
            .where(LoginSession.person_id == person_id, LoginSession.kind == "resident")
            .order_by(LoginSession.signed_in_at.desc(), LoginSession.id.desc())
            .limit(limit)
        )
    )


def prune(idle: dt.timedelta, now: dt.datetime | None = None) -> dict[str, int]:
    """Housekeeping: close sessions past their limits (so lists show them ended) and forget
    those ended more than KEPT_FOR ago."""
    now = now or utcnow()
    with write_transaction():
        closed = _end_where(LoginSession.expires_at <= now, "absolute", now)
        closed += _end_where(LoginSession.last_seen_at < now - idle, "idle", now)
        db.session.execute(delete(CaptchaChallenge).where(CaptchaChallenge.expires_at < now - dt.timedelta(days=1)))
        db.session.execute(delete(VerificationCode).where(VerificationCode.expires_at < now - dt.timedelta(days=1)))
        forgotten = db.session.execute(delete(LoginSession).where(LoginSession.ended_at < now - KEPT_FOR)).rowcount
    return {"closed": closed, "forgotten": forgotten}
