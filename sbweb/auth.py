"""Who is using the app, at which level, kept in the signed session cookie.

- `verified`: the host app vouched for the person (授权), or a one-time code did. May see
  and change personal data.
- `lookup`: the person typed 证件类型 + 证件号码 + 姓名. May see what is owed and pay; sees
  only the orders made in this session.
"""
import functools
from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, request, session, url_for

from sbweb import clock
from sbweb.db import db
from sbweb.models import Person

LEVELS = {"lookup": 1, "verified": 2}
SESSION_ORDERS_KEPT = 20
SESSION_REFRESH = 300  # seconds: the idle expiry slides, the cookie is re-sent at most this often
EXPIRED = "您已较长时间未操作，为保护您的信息安全，请重新授权"
# What survives the end of an identity: the CSRF secret, so that a form posted just then (the
# sign-in form itself) is still read as coming from this browser.
KEPT_AFTER_EXPIRY = ("csrf_token",)


def _now() -> int:
    return int(clock.utcnow().timestamp())


def _idle_seconds() -> int:
    return int(current_app.config["SESSION_IDLE_TIMEOUT"].total_seconds())


def sign_in(person: Person, level: str, host: str, host_subject: str | None = None) -> None:
    """`host_subject` is the host app's own id for its user (an Alipay user id, a WeChat
    openid) when the host vouched for them: paying inside WeChat needs it."""
    session.clear()
    session.permanent = True
    session.update(person_id=person.id, level=level, host=host, orders=[], until=_now() + _idle_seconds())
    if host_subject:
        session["host_subject"] = host_subject


def end_idle_session() -> None:
    """Before each request: an identity past its `until` ends here, with everything the session
    held for it (a half-made selection, the 验证码), and the next page says why. The browser
    still sends the cookie because the cookie lives longer than the identity in it; a session
    without `until` (made before it existed) counts as ended."""
    if "person_id" not in session or request.endpoint == "static":
        return
    until = session.get("until")
    if isinstance(until, int) and _now() <= until:
        return
    kept = {key: session[key] for key in KEPT_AFTER_EXPIRY if key in session}
    session.clear()
    session.update(kept)
    session.permanent = True
    flash(EXPIRED, "expired")


def keep_session_alive() -> None:
    """Slide the idle expiry, but re-send the session cookie only when the last refresh is
    SESSION_REFRESH old, not on every response: signing a cookie per request costs more than
    the page's query. So a resident is signed out 25 to 30 minutes after their last request."""
    if session.get("person_id") is None or not isinstance(session.get("until"), int):
        return
    now, idle = _now(), _idle_seconds()
    if session["until"] - now < idle - SESSION_REFRESH:
        session["until"] = now + idle


def sign_out() -> None:
    session.clear()


def init_app(app: Flask) -> None:
    app.before_request(end_idle_session)


def current_person() -> Person | None:
    """The signed-in Person row, loaded on first use in a request (pages that only need the
    id use person_id() and never read it)."""
    wanted = person_id()
    # Cached per request; keyed by id because a test may hold one app context across requests.
    if g.get("person_id") != wanted or "person" not in g:
        g.person_id = wanted
        g.person = db.session.get(Person, wanted) if wanted is not None else None
    return g.person


def person_id() -> int | None:
    """The signed-in person's id, from the signed session alone (no database read)."""
    value = session.get("person_id")
    return value if isinstance(value, int) and session.get("level") in LEVELS else None


def level() -> str | None:
    return session.get("level") if person_id() is not None else None


def is_verified() -> bool:
    return level() == "verified"


def host() -> str:
    return session.get("host") or "browser"


def host_subject() -> str | None:
    return session.get("host_subject") if person_id() is not None else None


def remember_order(order_no: str) -> None:
    orders = [o for o in session.get("orders", []) if o != order_no]
    session["orders"] = (orders + [order_no])[-SESSION_ORDERS_KEPT:]


def may_see_order(order) -> bool:
    if person_id() is None or order.payer_id != person_id():
        return False
    return is_verified() or order.order_no in session.get("orders", [])


def safe_next(target: str | None, default: str = "/") -> str:
    """Only paths inside this app; anything else (//evil, http://…, a backslash some browsers
    read as a slash, a control character that cannot stand in a Location header) goes home."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return default
    return target


def identity_required(minimum: str = "lookup"):
    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            have = level()
            if have is None or LEVELS[have] < LEVELS[minimum]:
                from sbweb.htmx import leave_app

                target = url_for("auth.authorize", next=request.full_path.rstrip("?"),
                                 need=minimum if minimum != "lookup" else None)
                return leave_app(target)
            return view(*args, **kwargs)

        return wrapped

    return decorator
