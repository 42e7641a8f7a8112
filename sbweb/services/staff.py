"""Staff accounts and the audit log: passwords hashed (werkzeug, scrypt/pbkdf2), a lock-out after
repeated wrong passwords, and `audit()` — called in the same transaction as the change it
records, so an action and its entry commit together or not at all."""

import datetime as dt

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from sbweb.db import db, write_transaction
from sbweb.models import AuditEntry, Staff
from sbweb.models.base import utcnow

MAX_FAILURES = 5
LOCK_FOR = dt.timedelta(minutes=15)
ROLES = ("reviewer", "admin")
WRONG_CURRENT = "当前密码不正确"


class StaffError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def create(username: str, name: str, password: str, role: str) -> Staff:
    if role not in ROLES:
        raise StaffError("role must be reviewer or admin")
    if len(password) < 10:
        raise StaffError("密码至少10位")
    with write_transaction():
        if db.session.scalar(select(Staff).filter_by(username=username)):
            raise StaffError("该用户名已存在")
        staff = Staff(
            username=username, name=name, password_hash=generate_password_hash(password), role=role, active=True
        )
        db.session.add(staff)
        db.session.flush()
        audit(None, "staff.create", f"staff:{staff.id}", None, {"username": username, "role": role})
    return staff


def _refuse_if_locked(staff: Staff, now: dt.datetime) -> None:
    if staff.locked_until and staff.locked_until > now:
        minutes = int((staff.locked_until - now).total_seconds() // 60) + 1
        raise StaffError(f"密码错误次数过多，账号已锁定，请{minutes}分钟后再试")


def _count_wrong(staff: Staff, now: dt.datetime) -> None:
    """A wrong password (at sign-in or when changing it); the MAX_FAILURES-th locks the account."""
    staff.failed_logins += 1
    if staff.failed_logins >= MAX_FAILURES:
        staff.failed_logins, staff.locked_until = 0, now + LOCK_FOR
        audit(staff.id, "staff.locked", f"staff:{staff.id}", None, {"until": staff.locked_until.isoformat()})


def authenticate(username: str, password: str, now: dt.datetime | None = None) -> Staff:
    """The staff member, or StaffError: the same words for an unknown name and a wrong password;
    after MAX_FAILURES wrong passwords the account is locked for LOCK_FOR."""
    now = now or utcnow()
    wrong = StaffError("用户名或密码不正确")
    with write_transaction():
        staff = db.session.scalar(select(Staff).filter_by(username=(username or "")[:40]).with_for_update())
        if staff is None or not staff.active:
            check_password_hash(generate_password_hash("x"), password or "")  # same time either way
            raise wrong
        _refuse_if_locked(staff, now)
        if not check_password_hash(staff.password_hash, password or ""):
            _count_wrong(staff, now)
        else:
            staff.failed_logins, staff.locked_until = 0, None
            audit(staff.id, "staff.login", f"staff:{staff.id}", None, None)
            return staff
    raise wrong


def change_password(staff_id: int, current: str, new: str, *, keep_session: int | None) -> int:
    """The staff member's own password change (the current one asked again); every other session
    of theirs ends. Returns how many ended."""
    from sbweb.identity import login_sessions

    if len(new or "") < 10:
        raise StaffError("新密码至少10位")
    if len(new) > 200:
        raise StaffError("新密码不超过200位")
    now = utcnow()
    with write_transaction():
        staff = db.session.get(Staff, staff_id, with_for_update=True)
        if staff is None:
            raise StaffError(WRONG_CURRENT)
        _refuse_if_locked(staff, now)
        if not check_password_hash(staff.password_hash, current or ""):
            _count_wrong(staff, now)  # as at sign-in: a borrowed session must not guess freely
            wrong = True
        else:
            wrong = False
            if check_password_hash(staff.password_hash, new):
                raise StaffError("新密码不能与当前密码相同")
            staff.password_hash, staff.failed_logins = generate_password_hash(new), 0
            audit(staff_id, "staff.password", f"staff:{staff_id}", None, None)
    if wrong:
        raise StaffError(WRONG_CURRENT)
    return login_sessions.end_staff_sessions(staff_id, "password", keep=keep_session)


def end_sessions_of(admin_id: int, staff_id: int) -> int:
    """An admin ends every session of a staff account (their own included, if they choose it)."""
    from sbweb.identity import login_sessions

    if db.session.get(Staff, staff_id) is None:
        raise StaffError("该工作人员不存在")
    ended = login_sessions.end_staff_sessions(staff_id, "revoked")
    with write_transaction():
        audit(admin_id, "staff.sessions_ended", f"staff:{staff_id}", None, {"ended": ended})
    return ended


def all_staff() -> list[Staff]:
    return list(db.session.scalars(select(Staff).order_by(Staff.username)))


def audit(staff_id: int | None, action: str, target: str, before: dict | None, after: dict | None) -> None:
    """Record one action (call inside the write transaction that does it)."""
    db.session.add(AuditEntry(staff_id=staff_id, action=action, target=target[:80], before=before, after=after))


def audit_log(limit: int = 200) -> list[AuditEntry]:
    return list(
        db.session.scalars(select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit))
    )


def money_movements(limit: int = 200) -> list:
    """Every payment settled and every refund made, newest first (the order's own event log:
    residents' payments move money without a staff action)."""
    from sbweb.models import Order, OrderEvent

    return list(
        db.session.execute(
            select(
                OrderEvent.at,
                Order.order_no,
                Order.total_fen,
                OrderEvent.from_state,
                OrderEvent.to_state,
                OrderEvent.cause,
            )
            .join(Order, Order.id == OrderEvent.order_id)
            .where(OrderEvent.to_state.in_(("settled", "refunded")))
            .order_by(OrderEvent.at.desc(), OrderEvent.id.desc())
            .limit(limit)
        )
    )
