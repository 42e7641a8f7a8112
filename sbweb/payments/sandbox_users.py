"""The sandbox's 支付宝 users and their authorizations: the open platform's side of host sign-in
(the publicAppAuthorize page, alipay.system.oauth.token, alipay.user.info.share), for the demo
residents only — the sandbox never vouches for anyone else.

On our 授权 page the tester picks who is signed in to the host app (the sandbox box); 同意授权
then takes the browser through this authorization like Alipay's: a single-use auth_code for
that user back to our callback, which our Alipay sign-in (sbweb.identity.hosts.alipay) exchanges
for a token and the user's 实名 data, signed by the sandbox like every other answer.
"""

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from flask import current_app
from sqlalchemy import select

from sbweb.clock import utcnow
from sbweb.db import db, write_transaction
from sbweb.demo import demo_identities
from sbweb.identity.hosts.alipay import AlipaySignIn
from sbweb.models import SandboxGrant
from sbweb.payments.alipay import provider_time
from sbweb.payments.sandbox_base import Call, SandboxError, gateway_url, sandbox_app, transport_for

AUTHORIZE_PATH = "/sandbox/oauth2/publicAppAuthorize.htm"
CODE_LIFETIME = dt.timedelta(minutes=10)  # Alipay's codes live 3 minutes to a day, once
TOKEN_LIFETIME = dt.timedelta(hours=1)
# Our 证件类型 → Alipay's cert_type, for the demo residents' papers.
CERT_TYPES = {"201": "0", "516": "11", "511": "12", "208": "16"}


def user_id_for(id_number: str) -> str:
    """The sandbox's Alipay user id (2088 + 12 digits) of a demo resident: stable, and not
    the 证件号码 (which never travels in a URL)."""
    digest = hashlib.sha256(f"sbweb sandbox user {id_number}".encode()).digest()
    return f"2088{int.from_bytes(digest[:8], 'big') % 10**12:012d}"


def users() -> dict[str, tuple[str, str, str]]:
    """user id → (证件类型, 证件号码, 姓名) of every demo resident."""
    return {user_id_for(number): (id_type, number, name) for id_type, number, name in demo_identities()}


def _cert_type(id_type: str, number: str) -> str:
    if id_type == "237":  # 港澳台居民居住证: Alipay tells Taiwan's (830000…) from Hong Kong's and Macao's
        return "13" if number.startswith("83") else "14"
    return CERT_TYPES.get(id_type, "10")


class SandboxSignIn(AlipaySignIn):
    """Our Alipay sign-in pointed at the sandbox. The tester says who is signed in to the host
    app; the sandbox's authorization page takes that as the user who agreed."""

    def authorize_url_for(self, redirect_uri: str, state: str, id_number: str) -> str:
        return f"{self.authorize_url(redirect_uri, state)}&{urlencode({'sandbox_user': user_id_for(id_number)})}"


def signin_for(app) -> SandboxSignIn:
    gateway = urlsplit(gateway_url(app.config))
    origin = f"{gateway.scheme}://{gateway.netloc}" if gateway.netloc else ""
    return SandboxSignIn(
        name="sandbox",
        host="alipay",
        client=sandbox_app(app).client(transport_for(app)),
        authorize_url=origin + AUTHORIZE_PATH,
    )


# -- the sandbox's side ---------------------------------------------------------------------


def check_request(args: Mapping[str, str], our_hosts: set[str]) -> None:
    """Refuse, as Alipay does, an authorization request for an unknown app, a scope it does
    not grant, or a redirect_uri off the app's own hosts."""
    if args.get("app_id") != current_app.config["SANDBOX_APP_ID"]:
        raise SandboxError("isv.invalid-app-id", "应用不存在或未上线", code="40002")
    if not {"auth_user", "auth_base"} & set(args.get("scope", "").split(",")):
        raise SandboxError("isv.invalid-scope", "授权范围无效", code="40002")
    target = urlsplit(args.get("redirect_uri", ""))
    if target.scheme not in ("http", "https") or target.netloc not in our_hosts:
        raise SandboxError("isv.invalid-redirect-uri", "授权回调地址与应用配置不一致", code="40002")


def _back(args: Mapping[str, str], **answer) -> str:
    redirect_uri = args["redirect_uri"]
    if args.get("state"):
        answer["state"] = args["state"]
    return f"{redirect_uri}{'&' if urlsplit(redirect_uri).query else '?'}{urlencode(answer)}"


def agree(args: Mapping[str, str]) -> str:
    """The user (`sandbox_user`) agreed: back to the app's redirect_uri with a single-use
    auth_code, app_id, scope, source and state. Call after check_request."""
    user_id = args.get("sandbox_user", "")
    if user_id not in users():
        raise SandboxError("sandbox.no-user", "沙箱：请选择宿主应用的登录用户", code="40002")
    code = secrets.token_hex(16)
    with write_transaction():
        db.session.add(SandboxGrant(auth_code=code, app_id=args["app_id"], user_id=user_id, scope=args["scope"][:64]))
    return _back(args, app_id=args["app_id"], source="alipay_wallet", scope=args["scope"], auth_code=code)


def refuse(args: Mapping[str, str]) -> str:
    """The user declined (拒绝): back to the app without a code, as the sandbox's way of saying no."""
    return _back(args, app_id=args["app_id"], error="access_denied")


def api_oauth_token(call: Call) -> dict:
    """alipay.system.oauth.token: a fresh, unused auth_code of this app → an access token."""
    if call.params.get("grant_type") != "authorization_code":
        raise SandboxError("isv.grant-type-invalid", "授权类型无效（沙箱只支持 authorization_code）", code="40002")
    now = utcnow()
    with write_transaction():
        grant = db.session.scalar(
            select(SandboxGrant).filter_by(auth_code=str(call.params.get("code", ""))[:64]).with_for_update()
        )
        if (
            grant is None
            or grant.app_id != call.params.get("app_id")
            or grant.code_used_at is not None
            or now - grant.created_at > CODE_LIFETIME
        ):
            raise SandboxError("isv.code-invalid", "授权码code无效", code="40002")
        grant.code_used_at = now
        grant.access_token = f"authusrB{secrets.token_hex(16)}"
        grant.token_expires_at = now + TOKEN_LIFETIME
    return {
        "user_id": grant.user_id,
        "access_token": grant.access_token,
        "expires_in": int(TOKEN_LIFETIME.total_seconds()),
        "auth_start": provider_time(now),
    }


def api_user_info(call: Call) -> dict:
    """alipay.user.info.share: the 实名 data of the user a live access token belongs to."""
    grant = db.session.scalar(select(SandboxGrant).filter_by(access_token=str(call.params.get("auth_token", ""))[:64]))
    user = users().get(grant.user_id) if grant is not None else None
    if user is None or grant.token_expires_at is None or grant.token_expires_at < utcnow():
        raise SandboxError("aop.invalid-auth-token", "无效的访问令牌", code="20001")
    id_type, number, name = user
    return {
        "user_id": grant.user_id,
        "nick_name": name[:1] + "*" * (len(name) - 1),
        "cert_type": _cert_type(id_type, number),
        "cert_no": number,
        "user_name": name,
    }


API_METHODS = {
    "alipay.system.oauth.token": api_oauth_token,
    "alipay.user.info.share": api_user_info,
}
