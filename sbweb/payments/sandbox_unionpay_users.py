"""The sandbox's 云闪付 users and their authorizations: the open platform's side of 云闪付 sign-in
(the oauth.html authorization page, backendToken, frontToken, token, user.auth and the app's
appletAuth bridge call), for the demo residents only — the sandbox never vouches for anyone else.

Our real 云闪付 sign-in (sbweb.identity.hosts.unionpay) runs against it unchanged, as
"sandbox-unionpay": inside a 云闪付 user agent, 同意授权 goes to the sandbox's authorization page,
where the tester picks who is signed in to 云闪付; the single-use code comes back to our callback
and our server exchanges it over the open platform's JSON calls. The app's secret and 对称密钥
are derived from SECRET_KEY (every process agrees, nothing is committed); tokens are HMACs of
the hour they were made, so every process can check them without a table. Grants reuse the
Alipay sandbox's table (app_id tells them apart).
"""

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from flask import current_app
from sqlalchemy import select
from werkzeug.test import Client
from werkzeug.wrappers import Response

from sbweb.clock import utcnow
from sbweb.db import db, write_transaction
from sbweb.demo import demo_identities
from sbweb.identity.hosts.unionpay import SCOPE, UnionPaySignIn, encrypt_field, http_post, sign
from sbweb.models import SandboxGrant

NAME = "sandbox-unionpay"
APP_ID = "5a0d1b7e3c9f4e21a8b6c0d2e4f61738"
PREFIX = "/sandbox/unionpay/open"
AUTHORIZE_PATH = PREFIX + "/html/oauth.html"
API_PATH = PREFIX + "/access/1.0"
CODE_LIFETIME = dt.timedelta(minutes=5)
TOKEN_LIFETIME = dt.timedelta(hours=1)  # accessToken: 3600 s, as the guide says
APP_TOKEN_SECONDS = 7200
CERT_TYPE = "01"  # 居民身份证: the only type user.auth names here


class OpenPlatformError(Exception):
    def __init__(self, resp: str, msg: str):
        super().__init__(msg)
        self.resp, self.msg = resp, msg


def _derived(label: str) -> bytes:
    return hmac.new(
        current_app.config["SECRET_KEY"].encode(), f"sbweb sandbox 云闪付 {label}".encode(), "sha256"
    ).digest()


def app_secret() -> str:
    return _derived("secret").hex()[:32]


def symmetric_key() -> str:
    return _derived("symmetric key").hex()[:48]


def open_id_for(id_number: str) -> str:
    """The sandbox's 云闪付 openId of a demo resident: stable, and not the 证件号码."""
    return hashlib.sha256(f"sbweb sandbox 云闪付 user {id_number}".encode()).hexdigest()[:28]


def users() -> dict[str, tuple[str, str, str]]:
    """openId → (证件类型, 证件号码, 姓名) of every demo resident (云闪付 names only 身份证 holders)."""
    return {open_id_for(number): (t, number, name) for t, number, name in demo_identities() if t == "201"}


def _origin(app) -> str:
    parts = urlsplit(app.config.get("SANDBOX_GATEWAY_URL") or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _wsgi_post(app):
    def post(url: str, body: dict) -> tuple[int, bytes]:
        response = Client(app, Response).post(urlsplit(url).path, json=body)
        return response.status_code, response.get_data()

    return post


def signin_for(app) -> UnionPaySignIn:
    """Our 云闪付 sign-in, registered with the sandbox's open platform."""
    with app.app_context():
        secret, key = app_secret(), symmetric_key()
    origin = _origin(app)
    wsgi = app.config["SANDBOX_TRANSPORT"] == "wsgi"
    return UnionPaySignIn(
        name=NAME,
        app_id=APP_ID,
        secret=secret,
        symmetric_key=key,
        authorize_url=origin + AUTHORIZE_PATH,
        api_url=origin + API_PATH,
        post=_wsgi_post(app) if wsgi else http_post(10),
    )


# -- the open platform's side ---------------------------------------------------------------------


def check_request(args: Mapping[str, str], our_hosts: set[str]) -> None:
    """Refuse, as the open platform does, an unknown appId, a scope we do not grant, a
    redirectUri off the app's own hosts, or a state that is not a-zA-Z0-9 (≤ 128)."""
    if args.get("appId") != APP_ID:
        raise OpenPlatformError("E1", "应用不存在（appId 无效）")
    if args.get("responseType") != "code" or args.get("scope") not in ("upapi_base", SCOPE):
        raise OpenPlatformError("E2", "授权范围无效")
    target = urlsplit(args.get("redirectUri", ""))
    if target.scheme not in ("http", "https") or target.netloc not in our_hosts:
        raise OpenPlatformError("E3", "授权回调地址与应用配置不一致")
    state = args.get("state", "")
    if len(state) > 128 or not (state.isascii() and (state.isalnum() or not state)):
        raise OpenPlatformError("E4", "state 只能是字母和数字，最多128字节")


def _back(args: Mapping[str, str], **answer) -> str:
    redirect_uri = args["redirectUri"]
    if args.get("state"):
        answer["state"] = args["state"]
    return f"{redirect_uri}{'&' if urlsplit(redirect_uri).query else '?'}{urlencode(answer)}"


def grant(open_id: str, scope: str) -> str:
    """A single-use code for this user's authorization of our app."""
    if open_id not in users():
        raise OpenPlatformError("E5", "沙箱：请选择云闪付的登录用户")
    code = secrets.token_urlsafe(18)
    with write_transaction():
        db.session.add(SandboxGrant(auth_code=code, app_id=APP_ID, user_id=open_id, scope=scope[:64]))
    return code


def agree(args: Mapping[str, str]) -> str:
    """The user (`sandbox_user`) agreed: back to redirectUri with the code and state."""
    return _back(args, code=grant(args.get("sandbox_user", ""), args["scope"]))


def refuse(args: Mapping[str, str]) -> str:
    return _back(args, errorcode="UP0001", errmsg="用户拒绝授权")


def _app_token(kind: str, hour: int) -> str:
    return hmac.new(_derived("tokens"), f"{kind}:{hour}".encode(), "sha256").hexdigest()[:32]


def _check_app_token(kind: str, value: str) -> None:
    hour = int(time.time()) // 3600
    if not any(hmac.compare_digest(_app_token(kind, h), str(value)) for h in (hour, hour - 1)):
        raise OpenPlatformError("E11", f"{kind} 无效或已过期")


def _app_token_call(kind: str, body: Mapping) -> dict:
    if body.get("appId") != APP_ID:
        raise OpenPlatformError("E1", "应用不存在（appId 无效）")
    fields = {k: str(body.get(k, "")) for k in ("appId", "nonceStr", "timestamp")}
    if not fields["nonceStr"] or not fields["timestamp"].isdigit() or abs(time.time() - int(fields["timestamp"])) > 300:
        raise OpenPlatformError("E12", "nonceStr 或 timestamp 无效")
    if not hmac.compare_digest(sign({**fields, "secret": app_secret()}), str(body.get("signature", ""))):
        raise OpenPlatformError("E13", "签名验证失败")
    return {kind: _app_token(kind, int(time.time()) // 3600), "expiresIn": APP_TOKEN_SECONDS}


def api_token(body: Mapping) -> dict:
    """token: a fresh, unused code of this app → accessToken and openId."""
    _check_app_token("backendToken", body.get("backendToken", ""))
    if body.get("appId") != APP_ID or body.get("grantType") != "authorization_code":
        raise OpenPlatformError("E14", "appId 或 grantType 无效")
    now = utcnow()
    with write_transaction():
        found = db.session.scalar(
            select(SandboxGrant).filter_by(auth_code=str(body.get("code", ""))[:64], app_id=APP_ID).with_for_update()
        )
        if found is None or found.code_used_at is not None or now - found.created_at > CODE_LIFETIME:
            raise OpenPlatformError("E15", "code 无效或已使用")
        found.code_used_at = now
        found.access_token = secrets.token_urlsafe(24)
        found.token_expires_at = now + TOKEN_LIFETIME
    return {
        "accessToken": found.access_token,
        "expiresIn": int(TOKEN_LIFETIME.total_seconds()),
        "openId": found.user_id,
        "scope": found.scope,
    }


def api_user_auth(body: Mapping) -> dict:
    """user.auth: the 实名 data of the user a live accessToken of scope upapi_auth belongs to,
    each field encrypted under the app's 对称密钥."""
    _check_app_token("backendToken", body.get("backendToken", ""))
    found = db.session.scalar(
        select(SandboxGrant).filter_by(access_token=str(body.get("accessToken", ""))[:64], app_id=APP_ID)
    )
    if found is None or found.token_expires_at is None or found.token_expires_at < utcnow():
        raise OpenPlatformError("E16", "accessToken 无效或已过期")
    if found.user_id != body.get("openId") or found.scope != SCOPE:
        raise OpenPlatformError("E17", "openId 与授权不符，或未授权实名信息")
    _type, number, name = users()[found.user_id]
    key = symmetric_key()
    return {k: encrypt_field(v, key) for k, v in (("realName", name), ("certId", number), ("certType", CERT_TYPE))}


API_CALLS = {
    "backendToken": lambda body: _app_token_call("backendToken", body),
    "frontToken": lambda body: _app_token_call("frontToken", body),
    "token": api_token,
    "user.auth": api_user_auth,
}


def answer(call: str, raw: bytes) -> str:
    """The open platform's JSON answer to one call: {"resp": "00", "params": …} or an error."""
    try:
        body = json.loads(raw.decode("utf-8"))
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return json.dumps({"resp": "E10", "msg": "报文格式错误"}, ensure_ascii=False)
    handler = API_CALLS.get(call)
    if handler is None:
        return json.dumps({"resp": "E09", "msg": "接口不存在"}, ensure_ascii=False)
    try:
        return json.dumps({"resp": "00", "msg": "", "params": handler(body)}, ensure_ascii=False)
    except OpenPlatformError as exc:
        return json.dumps({"resp": exc.resp, "msg": exc.msg}, ensure_ascii=False)


def applet_auth(open_id: str, config: Mapping) -> str:
    """What the 云闪付 app's upsdk.appletAuth gives a page whose upsdk.config (appId, nonceStr,
    timestamp, signature over the frontToken and the page's url) holds: a code for the signed-in
    user. The sandbox's stand-in for the app, which the browser tests' bridge calls."""
    if config.get("appId") != APP_ID:
        raise OpenPlatformError("E1", "应用不存在（appId 无效）")
    fields = {"noncestr": str(config.get("nonceStr", "")), "timestamp": str(config.get("timestamp", "")),
              "url": str(config.get("url", ""))}  # fmt: skip
    hour = int(time.time()) // 3600
    signatures = (sign({**fields, "fronttoken": _app_token("frontToken", h)}) for h in (hour, hour - 1))
    if not any(hmac.compare_digest(s, str(config.get("signature", ""))) for s in signatures):
        raise OpenPlatformError("E13", "upsdk.config 签名验证失败")
    return grant(open_id, SCOPE)
