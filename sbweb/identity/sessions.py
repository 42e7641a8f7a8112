"""Who is using the app, at which level. The identity lives on the server (a LoginSession row,
sbweb.identity.login_sessions); the signed cookie holds only its random token beside the
page state (CSRF secret, a half-made selection, messages). So 退出 ends the identity wherever the
cookie was copied, and the idle and absolute limits are the server's.

- `verified`: the host app vouched for the person (授权), or a one-time code did.
- `lookup`: the person typed 证件类型 + 证件号码 + 姓名. May see what is owed and pay it, and see
  the orders made in this session; nothing more (sbweb.identity.access says what each level may do).
"""

from urllib.parse import urlsplit

from flask import Flask, current_app, flash, g, request, session

from sbweb.db import db
from sbweb.htmx import CARRY_PREFIX
from sbweb.identity import login_sessions
from sbweb.identity.login_sessions import OpenLogin
from sbweb.models import Person

TOKEN_KEY = "sid"
EXPIRED = "您已较长时间未操作，为保护您的信息安全，请重新授权"
TOO_LONG = "登录已超过{hours}小时，为保护您的信息安全，请重新授权"
REVOKED = "您的登录已失效，请重新授权"
# What survives the end of an identity: the CSRF secret, so that a form posted just then (the
# sign-in form itself) is still read as coming from this browser.
KEPT_AFTER_EXPIRY = ("csrf_token",)
# Kept on the request, not on `g`: the embedded sandbox answers API calls by an in-process request
# to this same app, which shares the app context (and `g`) with the request that makes the call.
LOGIN = "sbweb.login"
# The sign-in as a POST left it, handed on to the GET that sbweb.htmx.one_round_trip runs in its
# place (the same browser request): that GET checks it (end, limits) as it would the row it
# read, without reading it again — unless the cookie names another, or sessions ended since.
CARRIED = CARRY_PREFIX + "login"
# Routes that never load a session: static files, and the operator's health and metrics doors.
SESSIONLESS = {"static", "ops.healthz", "ops.readyz", "ops.scrape"}


def _idle():
    return current_app.config["SESSION_IDLE_TIMEOUT"]


def _ended(message: str | None) -> None:
    kept = {key: session[key] for key in KEPT_AFTER_EXPIRY if key in session}
    session.clear()
    session.update(kept)
    session.permanent = True
    if message:
        flash(message, "expired")


def load_login() -> None:
    """Before each request: the session the cookie's token names, if it is still open. One that
    ran past its idle or absolute limit ends here, and the page says why; one ended elsewhere
    (退出 in another tab, or a copied cookie after 退出) simply holds no identity."""
    request.environ[LOGIN] = None
    token = session.get(TOKEN_KEY)
    if token is None or request.endpoint in SESSIONLESS:
        return
    row = _carried(token) or login_sessions.find(token, "resident")
    if row is None:
        _ended(None)
        return
    if row.ended_at is not None:
        _ended({"idle": EXPIRED, "absolute": EXPIRED, "revoked": REVOKED}.get(row.end_reason))
        return
    why = login_sessions.expiry(row, _idle())
    if why is not None:
        login_sessions.end(row.id, why)
        hours = int(current_app.config["SESSION_ABSOLUTE_TIMEOUT"].total_seconds() // 3600)
        _ended(EXPIRED if why == "idle" else TOO_LONG.format(hours=hours))
        return
    login_sessions.touch(row)
    _hold(row, token)


def _hold(row: OpenLogin, token: str) -> None:
    request.environ[LOGIN] = row
    request.environ[CARRIED] = (row, login_sessions.token_hash(token), login_sessions.endings())


def _carried(token: str) -> OpenLogin | None:
    """The sign-in a POST handed on to this GET (one_round_trip), if it is the cookie's."""
    row, hashed, endings = request.environ.get(CARRIED) or (None, None, None)
    if row is None or endings != login_sessions.endings() or row.kind != "resident":
        return None  # none handed on, or sessions were ended since (perhaps this one)
    return row if hashed == login_sessions.token_hash(token) else None


def current_login() -> OpenLogin | None:
    return request.environ.get(LOGIN) if request else None


def sign_in(person: Person, level: str, host: str, host_subject: str | None = None) -> None:
    """A new server-side session for `person` (its token a new one: every level change gets a new
    id, and the session it replaces ends). `host_subject` is the host app's own id for its user
    (an Alipay user id, a WeChat openid) when the host vouched for them: paying inside WeChat
    needs it."""
    row, token = login_sessions.start(
        "resident",
        lifetime=current_app.config["SESSION_ABSOLUTE_TIMEOUT"],
        person_id=person.id,
        level=level,
        host=host,
        host_subject=host_subject,
        address=request.remote_addr,
        agent=request.user_agent.string,
        replacing=current_login(),
    )
    session.clear()
    session.permanent = True
    session[TOKEN_KEY] = token
    _hold(row, token)


def sign_out() -> None:
    row = current_login()
    if row is not None:
        login_sessions.end(row.id, "sign-out")
    request.environ[LOGIN] = request.environ[CARRIED] = None
    session.clear()


def init_app(app: Flask) -> None:
    app.before_request(load_login)


def current_person() -> Person | None:
    """The signed-in Person row, loaded on first use in a request."""
    wanted = person_id()
    # Cached per request; keyed by id because a test may hold one app context across requests.
    if g.get("person_id") != wanted or "person" not in g:
        g.person_id = wanted
        g.person = db.session.get(Person, wanted) if wanted is not None else None
    return g.person


def person_id() -> int | None:
    row = current_login()
    return row.person_id if row is not None else None


def level() -> str | None:
    row = current_login()
    return row.level if row is not None else None


def is_verified() -> bool:
    return level() == "verified"


def host() -> str:
    row = current_login()
    return (row.host if row is not None else None) or "browser"


def host_subject() -> str | None:
    row = current_login()
    return row.host_subject if row is not None else None


def remember_order(order_no: str) -> None:
    row = current_login()
    if row is not None:
        login_sessions.remember_order(row, order_no)


def remember_order_within(order_no: str) -> list | None:
    """`remember_order` in the caller's write transaction (the one that makes the order): the
    list written, to hand to `remembered` once that transaction has committed."""
    row = current_login()
    return login_sessions.remember_order_within(row, order_no) if row is not None else None


def remembered(orders: list | None) -> None:
    """This request's identity learns the order list `remember_order_within` committed."""
    row = current_login()
    if row is not None and orders is not None:
        login_sessions.remembered(row, orders)


def may_see_order(order) -> bool:
    if person_id() is None or order.payer_id != person_id():
        return False
    return may_see_order_no(order.order_no)


def may_see_order_no(order_no: str) -> bool:
    """Verified: any of the person's orders (the caller checks the payer); looked up: only the
    orders this session made."""
    return is_verified() or (person_id() is not None and order_no in (current_login().orders or []))


def safe_next(target: str | None, default: str = "/") -> str:
    """Only paths inside this app; anything else (//evil, http://…, a backslash some browsers
    read as a slash, a control character that cannot stand in a Location header) goes home."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return default
    return target
