"""Who is at the back office: a staff member's server-side session (a LoginSession of kind
"staff"), named by the random token in the `sbweb_staff` cookie (path /admin), apart from the
residents' session. Logout, an admin, or a password change ends it wherever the cookie went;
idle (SESSION_IDLE_TIMEOUT) and absolute (STAFF_SESSION_ABSOLUTE_TIMEOUT) limits are the
server's. A staff member is a 审核员 (reviewer: reads, reviews refunds) or a 管理员 (admin: also
changes settings, runs 对账, imports)."""

from flask import abort, current_app, flash, request, url_for

from sbweb.db import db
from sbweb.identity import login_sessions
from sbweb.identity.login_sessions import OpenLogin
from sbweb.models import Staff

COOKIE = "sbweb_staff"
EXPIRED = "登录已超时，请重新登录"


def _lifetime():
    return current_app.config["STAFF_SESSION_ABSOLUTE_TIMEOUT"]


STAFF = "sbweb.staff"  # on the request (see sbweb.identity.sessions.LOGIN)


def _found(staff=None, row=None) -> None:
    request.environ[STAFF] = (staff, row)


def _load() -> None:
    _found()
    row = login_sessions.find(request.cookies.get(COOKIE), "staff")
    if row is None:
        return
    if row.ended_at is not None:
        if row.end_reason in ("idle", "absolute"):
            flash(EXPIRED)
        return
    why = login_sessions.expiry(row, current_app.config["SESSION_IDLE_TIMEOUT"])
    if why is not None:
        login_sessions.end(row.id, why)
        flash(EXPIRED)
        return
    staff = db.session.get(Staff, row.staff_id)
    if staff is None or not staff.active:
        login_sessions.end(row.id, "disabled")
        return
    login_sessions.touch(row)
    _found(staff, row)


def current_staff() -> Staff | None:
    if STAFF not in request.environ:
        _load()
    return request.environ[STAFF][0]


def current_session() -> OpenLogin | None:
    current_staff()
    return request.environ[STAFF][1]


def gate(admin_only: bool = False):
    """For sbweb.identity.access: a staff page needs a staff session (else the login page, and back)."""
    staff = current_staff()
    if staff is None:
        from sbweb.htmx import leave_app

        return leave_app(url_for("admin.login", next=request.path))
    if admin_only and staff.role != "admin":
        abort(403)
    return None


def is_admin() -> bool:
    staff = current_staff()
    return staff is not None and staff.role == "admin"


def require_admin() -> None:
    """A page a reviewer may read but only an admin may change (its POST): 403 for a reviewer."""
    if not is_admin():
        abort(403)


def sign_in(staff: Staff, response) -> None:
    """A new session for `staff`, its token set on `response`."""
    previous = current_session()
    _row, token = login_sessions.start(
        "staff",
        lifetime=_lifetime(),
        staff_id=staff.id,
        address=request.remote_addr,
        agent=request.user_agent.string,
        replacing=previous,
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(_lifetime().total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
        path="/admin",
    )


def sign_out(response) -> None:
    row = current_session()
    if row is not None:
        login_sessions.end(row.id, "sign-out")
    response.delete_cookie(COOKIE, path="/admin")
