"""Rate limits per client address (flask-limiter) on what can be used to guess or to flood: the
lookups by 证件号码 + 姓名, the 验证码 images and their audio, the one-time codes, whatever sends
mail, the staff sign-in, 证明核验. The limits are configuration (RATE_LIMIT_*); the counters live
in memory (one process) or in Redis (RATELIMIT_STORAGE_URI, shared by every process). Behind a
reverse proxy the client address is the one the proxy passes on (PROXY_FIX_X_FOR), which the
lookup throttle counts by too.

A refusal is the 429 page with when to try again (sbweb.views.errors). If Redis is down the
counting goes on in each process's memory, never a 500."""

import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix


def _submits() -> bool:
    """A form sent, or a query by number: what a page merely shown does not count."""
    return request.method == "POST" or "id_number" in request.args


def _always() -> bool:
    return True


# scope → (setting, when a request counts, the endpoints sharing the one counter)
SCOPES = {
    "lookup": (
        "RATE_LIMIT_LOOKUP",
        _submits,
        ("auth.manual", "codecheck.identity", "proxy.add", "certificates.proxy", "queries.proxy_paid"),
    ),
    "captcha": (
        "RATE_LIMIT_CAPTCHA",
        _always,
        (
            "certificates.captcha_image",
            "certificates.captcha_audio",
            "certificates.payment",
            "certificates.tax",
            "certificates.proxy",
        ),
    ),
    "mail": ("RATE_LIMIT_MAIL", _submits, ("certificates.send", "certificates.retry", "reminders.index")),
    "staff-login": ("RATE_LIMIT_STAFF_LOGIN", _submits, ("admin.login",)),
    "verify": ("RATE_LIMIT_VERIFY", _always, ("certificates.verify",)),
    "code": ("RATE_LIMIT_CODE", _submits, ("codecheck.send", "codecheck.check", "codecheck.blind")),
}


def init_app(app: Flask) -> Limiter:
    """Run after the blueprints are registered: the limits wrap their view functions."""
    x_for, x_proto = app.config["PROXY_FIX_X_FOR"], app.config["PROXY_FIX_X_PROTO"]
    if x_for or x_proto:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=x_for, x_proto=x_proto, x_host=0, x_port=0, x_prefix=0)

    # One Limiter per app (its storage is per instance), so that test apps never share counters.
    limiter = Limiter(get_remote_address, app=app)
    app.extensions["sbweb_limiter"] = limiter
    limited = set()
    for scope, (setting, counts, endpoints) in SCOPES.items():
        shared = limiter.shared_limit(
            lambda setting=setting: current_app.config[setting],
            scope=scope,
            exempt_when=lambda counts=counts: not counts(),
        )
        for endpoint in endpoints:
            if endpoint in app.view_functions:  # (the sandbox and others may be switched off)
                app.view_functions[endpoint] = shared(app.view_functions[endpoint])
                limited.add(endpoint)
    limited |= _limit_api_clients(app, limiter)
    if not any(app.config.get(f"RATELIMIT_{kind}") for kind in ("DEFAULT", "APPLICATION", "META")):
        # Only the endpoints above have limits: every other request skips flask-limiter's hooks,
        # whose work of finding that it has none was 7 % of a page as busy as the dues list.
        _only_where_limited(app, limiter, limited)
    return limiter


def _limit_api_clients(app: Flask, limiter: Limiter) -> set[str]:
    """The machine API's operations, one counter per API client (its key id, known once the
    signature is checked: the view runs after sbweb.views.api.auth.authenticate)."""
    from sbweb.views.api.auth import client_key

    per_client = limiter.shared_limit(lambda: current_app.config["RATE_LIMIT_API"], scope="api", key_func=client_key)
    endpoints = {e for e in app.view_functions if e.startswith("api.")}
    for endpoint in endpoints:
        app.view_functions[endpoint] = per_client(app.view_functions[endpoint])
    return endpoints


def _only_where_limited(app: Flask, limiter: Limiter, limited: set[str]) -> None:
    """flask-limiter's before- and after-request hooks, run only for the limited endpoints (each
    limit is checked by its view's wrapper; the hooks add no limit of their own when no default,
    application or meta limit is configured)."""

    def own(hook) -> bool:
        # a bound method of the limiter, or a functools.partial over it
        return getattr(hook, "__self__", None) is limiter or getattr(hook, "args", (None,))[:1] == (limiter,)

    def before(hook):
        return lambda: hook() if request.endpoint in limited else None

    def after(hook):
        return lambda response: hook(response) if request.endpoint in limited else response

    for hooks, guard in ((app.before_request_funcs[None], before), (app.after_request_funcs[None], after)):
        hooks[:] = [guard(hook) if own(hook) else hook for hook in hooks]
    limiter.request_filter(lambda: request.endpoint not in limited)  # and the views' own checks


def retry_after_seconds() -> int | None:
    """How long until the limit this request broke lets it through (None: none broken, or the
    counters cannot say)."""
    limiter = current_app.extensions.get("sbweb_limiter")
    limit = limiter.current_limit if limiter is not None else None
    if limit is None or not limit.breached:
        return None
    try:
        return max(1, int(limit.reset_at - time.time()))
    except Exception:  # noqa: BLE001 - the storage went away (any backend's error): no figure, no 500
        return None
