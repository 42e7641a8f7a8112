"""Host-app sign-in (授权): the city-service app a resident opens us in vouches for its user
through its own OAuth, and we turn that into a verified session.

A host sign-in provider sends the browser to the host's authorization page and, when the
browser comes back with a code, asks the host who that is. Some hosts say who the person
is in law (Alipay's 实名 data: 证件号码 + 姓名); others only give their own id for the user
(WeChat's openid), which we trust once it has been bound to a person (`HostAccount`).
Providers are configuration (HOST_SIGNIN), built once per app like the payment providers.
"""

from collections.abc import Mapping
from typing import Protocol

from flask import current_app
from sqlalchemy import delete, select
from werkzeug.utils import import_string

from sbweb.db import db, write_transaction
from sbweb.identity.hosts.base import HostIdentity, HostSignInError  # noqa: F401 (HostSignInError: for the views)
from sbweb.identity.people import find_person
from sbweb.models import HostAccount, Person
from sbweb.models.base import utcnow

# kind (HOST_SIGNIN[name]["kind"]) → "module:factory(name, settings, app)"
KINDS: dict[str, str] = {
    "wechat": "sbweb.identity.hosts.wechat:from_settings",
    "alipay": "sbweb.identity.hosts.alipay:from_settings",
    "unionpay": "sbweb.identity.hosts.unionpay:from_settings",
}
# The host-app sandbox's sign-in (the sandbox box of the 授权 page): reached only from there.
SANDBOX = "sandbox"
# The sandbox's 云闪付 open platform: 同意授权 inside a 云闪付 user agent goes through it, unless a
# real 云闪付 sign-in is configured.
SANDBOX_UNIONPAY = "sandbox-unionpay"


class HostSignIn(Protocol):
    name: str
    host: str  # which host app it belongs to (sbweb.identity.hosts.apps: "alipay", "wechat", …)

    def authorize_url(self, redirect_uri: str, state: str) -> str: ...
    def identify(self, args: Mapping[str, str]) -> HostIdentity: ...


def init_host_signin(app) -> None:
    from sbweb.identity.hosts.apps import init_tax_app_hosts

    init_tax_app_hosts(app)  # the configured tax apps: hosts without a sign-in of their own
    signins = {}
    if app.config["HOST_SANDBOX_ENABLED"] and app.config["SANDBOX_ENABLED"]:
        # The demo residents sign in through the sandbox's Alipay-style authorization.
        from sbweb.payments import sandbox_users

        signins[SANDBOX] = sandbox_users.signin_for(app)
        if not any(s.get("kind") == "unionpay" for s in app.config["HOST_SIGNIN"].values()):
            from sbweb.payments import sandbox_unionpay_users

            signins[SANDBOX_UNIONPAY] = sandbox_unionpay_users.signin_for(app)
    for name, settings in app.config["HOST_SIGNIN"].items():
        kind = settings.get("kind")
        if kind not in KINDS:
            raise RuntimeError(f"HOST_SIGNIN[{name!r}]: unknown kind {kind!r} (known: {sorted(KINDS)})")
        if name in signins:
            raise RuntimeError(f"HOST_SIGNIN[{name!r}]: the name is taken by the host-app sandbox")
        signins[name] = import_string(KINDS[kind])(name, settings, app)
    app.extensions["sbweb.host_signin"] = signins


def providers() -> dict[str, HostSignIn]:
    return current_app.extensions["sbweb.host_signin"]


def for_host(host: str) -> HostSignIn | None:
    """The sign-in of the host app the page is open in, if one is configured (the sandbox's
    is not: its user is chosen in the sandbox box). A configured one before the sandbox's 云闪付."""
    found = [(name == SANDBOX_UNIONPAY, p) for name, p in providers().items() if p.host == host and name != SANDBOX]
    return min(found, key=lambda pair: pair[0])[1] if found else None


def person_for(identity: HostIdentity) -> Person | None:
    """Who the host vouched for: by its 实名 data (remembering the binding), else by an
    earlier binding of its user id. None: not known here (yet)."""
    if identity.names_person:
        person = find_person(identity.id_type, identity.id_number, identity.name)
        if person is not None:
            bind(identity, person)
        return person
    account = db.session.scalar(select(HostAccount).filter_by(provider=identity.provider, subject=identity.subject))
    if account is None:
        return None
    with write_transaction():
        db.session.get(HostAccount, account.id).last_used_at = utcnow()
    return db.session.get(Person, account.person_id)


def bind(identity: HostIdentity, person: Person, *, replacing_others: bool = False) -> None:
    """Remember that this host user is this person (a host user is one person; the newest
    binding wins, e.g. after a host account changed hands with its 实名 data).
    `replacing_others`: the person keeps only this user of the host (a binding by one-time
    code: the person's earlier WeChat account must bind again to be trusted)."""
    with write_transaction():
        if replacing_others:
            db.session.execute(
                delete(HostAccount).where(
                    HostAccount.provider == identity.provider,
                    HostAccount.person_id == person.id,
                    HostAccount.subject != identity.subject,
                )
            )
            # The earlier host user is no longer trusted: its open sessions as this person end too.
            from sbweb.identity import login_sessions

            signin = providers().get(identity.provider)
            login_sessions.end_sessions_of_other_host_users(
                person.id, signin.host if signin else identity.provider, identity.subject
            )
        account = db.session.scalar(
            select(HostAccount).filter_by(provider=identity.provider, subject=identity.subject).with_for_update()
        )
        if account is None:
            db.session.add(
                HostAccount(
                    provider=identity.provider, subject=identity.subject, person_id=person.id, last_used_at=utcnow()
                )
            )
        else:
            account.person_id, account.last_used_at = person.id, utcnow()
