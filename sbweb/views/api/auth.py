"""Who is calling the machine API: every request signed with its client's secret
(sbweb.api_signing), checked before the view runs — key id known and not revoked, timestamp in
the replay window, body digest matching, signature right, nonce never seen — then the scope the
view needs (`require`). No cookie, no session, no CSRF token: the signature is the proof."""

import re
import time
from functools import wraps

from flask import current_app, g, request

from sbweb import api_signing as signing
from sbweb.services import api_clients, api_nonces
from sbweb.views.api.problems import Problem

NONCE = re.compile(r"^[A-Za-z0-9_-]{16,40}$")


def _header(name: str) -> str:
    value = request.headers.get(name, "")
    if not value:
        raise Problem(401, f"缺少签名请求头 {name}", "signature-missing")
    return value


def _check_timestamp(text: str) -> None:
    window = current_app.config["API_REPLAY_WINDOW"]
    if not text.isdigit() or len(text) > 12:
        raise Problem(401, f"{signing.TIMESTAMP} 应为 Unix 时间戳（秒）", "timestamp-invalid")
    if abs(time.time() - int(text)) > window:
        raise Problem(
            401, f"请求时间戳与服务器时间相差超过 {window // 60} 分钟，请校准时钟后重新签名", "timestamp-outside-window"
        )


def authenticate():
    """Before every API view: g.api_client, or a 401 problem."""
    key_id, stamp, nonce, digest, given = (_header(name) for name in signing.HEADERS)
    client = api_clients.find(key_id)
    if client is None:
        raise Problem(401, "未知的客户端（X-SB-Key-Id）", "unknown-client")
    if client.revoked_at is not None:
        raise Problem(401, "该客户端已被停用", "client-revoked")
    _check_timestamp(stamp)
    if not NONCE.match(nonce):
        raise Problem(401, f"{signing.NONCE} 应为 16–40 位字母、数字、- 或 _", "nonce-invalid")
    if not signing.same(signing.body_digest(request.get_data(cache=True)), digest.lower()):
        raise Problem(401, f"请求体的 SHA-256 与 {signing.DIGEST} 不符", "digest-mismatch")
    secret = api_clients.open_secret(client)
    canonical = signing.canonical_string(
        request.method, request.path, request.query_string.decode("latin-1"), stamp, nonce, digest.lower()
    )
    if secret is None or not signing.same(signing.signature(secret, canonical), given):
        raise Problem(401, "签名不正确", "signature-invalid")
    try:
        api_nonces.take(client.id, nonce, current_app.config["API_REPLAY_WINDOW"])
    except api_nonces.ReplayedNonce:
        raise Problem(401, "该请求的 nonce 已使用过：重放的请求不予处理", "nonce-replayed") from None
    g.api_client = client


def require(scope: str):
    """The view needs `scope` among its client's."""

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if scope not in g.api_client.scope_set:
                raise Problem(403, f"该客户端没有 {scope} 权限", "scope-missing", scope=scope)
            return view(*args, **kwargs)

        checked.required_scope = scope
        return checked

    return decorate


def client_key() -> str:
    """The per-client rate limit's key (the views run after `authenticate`)."""
    client = g.get("api_client")
    return f"api-client:{client.client_id}" if client is not None else f"api-address:{request.remote_addr}"
