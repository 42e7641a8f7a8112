"""A host user waiting to be bound to a person. WeChat says who its user is to WeChat, never who
they are in law: the host's callback keeps its user in the cookie's session until the resident
has said who they are (证件信息) and answered a code sent to the contact on file. 授权
(sbweb.views.auth) and 身份验证 (sbweb.views.codecheck) both read and write it here, so neither
view imports the other."""

from flask import request, session

from sbweb.identity import hosts
from sbweb.identity.hosts.apps import detect_host
from sbweb.identity.sessions import sign_in
from sbweb.models import Person

KEY = "host_pending"


def remember_unbound(signin: hosts.HostSignIn, host_user: hosts.HostIdentity) -> None:
    """The host vouched for a user bound to no one yet: keep it until a code binds it."""
    session[KEY] = {
        "name": signin.name,
        "host": signin.host,
        "subject": host_user.subject,
        "nickname": host_user.nickname,
    }


def pending_binding() -> dict | None:
    """The host user waiting to be bound (set by the host sign-in callback), if any."""
    pending = session.get(KEY)
    if isinstance(pending, dict) and pending.get("name") in hosts.providers() and pending.get("subject"):
        return pending
    return None


def forget_binding() -> None:
    session.pop(KEY, None)


def sign_in_looked_up(person: Person) -> None:
    """证件信息 matched: a lookup-level session — in the host app a waiting host user came from
    (its id kept, paying inside WeChat needs it, and the user still waiting for its code), else in
    the one the browser says it is."""
    pending = pending_binding()
    if pending:
        sign_in(person, "lookup", pending["host"], pending["subject"])
        session[KEY] = pending  # sign_in starts a fresh session
    else:
        sign_in(person, "lookup", detect_host(request.user_agent.string))


def bind_pending(pending: dict, person: Person) -> None:
    """The code was right: the waiting host user is this person from now on (and the person's
    earlier user of that host must bind again)."""
    host_user = hosts.HostIdentity(provider=pending["name"], subject=pending["subject"])
    hosts.bind(host_user, person, replacing_others=True)
