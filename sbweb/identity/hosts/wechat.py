"""WeChat sign-in (网页授权) for pages opened inside WeChat: the 公众号's OAuth gives the user's
openid (and unionid when the account has one), never who they are in law — so a WeChat user is
bound to a person once, by a code sent to the contact on file (sbweb.views.codecheck).

Configuration, HOST_SIGNIN[name] (the secret's file relative to the instance folder):

    {"kind": "wechat",
     "appid": "wx…",                        # the 公众号 (the same appid WeChat Pay's JSAPI pays to)
     "secret_file": "wechat/appsecret.txt", # its AppSecret
     "scope": "snsapi_base",                # or snsapi_userinfo (asks the user, gives a nickname)
     "timeout": 10}

`authorize_url` and `api_url` (defaults: open.weixin.qq.com and api.weixin.qq.com) point it at
a local fake in tests.
"""

import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from sbweb.identity.hosts.base import HostIdentity, HostSignInError

AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
API_URL = "https://api.weixin.qq.com"
SCOPES = ("snsapi_base", "snsapi_userinfo")
# errcodes worth naming in the log; any other is logged by number.
ERRORS = {
    40029: "invalid code",
    40163: "code already used",
    40125: "invalid appsecret",
    40013: "invalid appid",
    42003: "code expired",
    40001: "invalid access_token",
}


class _HideSecret(logging.Filter):
    """WeChat wants the AppSecret in the query string of a GET, and urllib3 logs request lines
    at DEBUG: the secret is cut out of them before any handler sees one."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call: logging's own error path reports it
            return True
        if "secret=" in message:
            record.msg, record.args = re.sub(r"secret=[^&\s]+", "secret=***", message), ()
        return True


def _hide_secret_in_http_logs() -> None:
    http_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _HideSecret) for f in http_log.filters):
        http_log.addFilter(_HideSecret())


class WeChatSignIn:
    host = "wechat"

    def __init__(
        self,
        *,
        name: str,
        appid: str,
        secret: str,
        scope: str = "snsapi_base",
        authorize_url: str = AUTHORIZE_URL,
        api_url: str = API_URL,
        timeout: float = 10,
    ):
        self.name = name
        self.appid = appid
        self._secret = secret
        self.scope = scope
        self._authorize_url = authorize_url
        self._api_url = api_url.rstrip("/")
        self._timeout = timeout
        _hide_secret_in_http_logs()

    def __repr__(self) -> str:  # never the secret
        return f"<WeChatSignIn {self.name} appid={self.appid} {self.scope}>"

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = urlencode(
            {
                "appid": self.appid,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": self.scope,
                "state": state,
            }
        )
        return f"{self._authorize_url}?{query}#wechat_redirect"

    def _get(self, path: str, params: dict) -> dict:
        """One call to WeChat's API: its answer, or HostSignInError (network, errcode)."""
        import requests

        try:
            response = requests.get(self._api_url + path, params=params, timeout=self._timeout)
        except requests.RequestException as exc:
            raise HostSignInError(f"{path}: {exc.__class__.__name__}") from None
        if response.status_code != 200:
            raise HostSignInError(f"{path}: HTTP {response.status_code}")
        try:  # JSON, whatever the Content-Type says (WeChat often says text/plain)
            answer = json.loads(response.content.decode("utf-8"))
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise HostSignInError(f"{path}: unreadable answer")
        if answer.get("errcode"):  # WeChat answers errors with HTTP 200 and an errcode
            code = answer.get("errcode")
            raise HostSignInError(f"{path}: errcode {code} {ERRORS.get(code, '')}".rstrip())
        return answer

    def identify(self, args: Mapping[str, str]) -> HostIdentity:
        """The callback's code → access_token → openid (+ unionid); with snsapi_userinfo, the
        nickname from /sns/userinfo. No code: the user did not allow it."""
        code = args.get("code", "")
        if not code:
            raise HostSignInError("no code: the user declined")
        if len(code) > 128 or not code.isascii() or not code.isprintable():
            raise HostSignInError("a code that cannot be WeChat's")
        token = self._get(
            "/sns/oauth2/access_token",
            {"appid": self.appid, "secret": self._secret, "code": code, "grant_type": "authorization_code"},
        )
        openid = token.get("openid")
        if not isinstance(openid, str) or not re.fullmatch(r"[0-9A-Za-z_-]{6,128}", openid):
            raise HostSignInError("access_token answer without an openid")
        unionid = token.get("unionid") if isinstance(token.get("unionid"), str) else None
        nickname = None
        if self.scope == "snsapi_userinfo" and "snsapi_userinfo" in str(token.get("scope", "")):
            info = self._get(
                "/sns/userinfo", {"access_token": token.get("access_token", ""), "openid": openid, "lang": "zh_CN"}
            )
            if info.get("openid") != openid:
                raise HostSignInError("userinfo about another user")
            nickname = str(info.get("nickname") or "")[:32] or None
            unionid = unionid or (info.get("unionid") if isinstance(info.get("unionid"), str) else None)
        return HostIdentity(provider=self.name, subject=openid, unionid=unionid, nickname=nickname)


def from_settings(name: str, settings: dict, app) -> WeChatSignIn:
    """hosts.KINDS["wechat"]: the sign-in of HOST_SIGNIN[name], or RuntimeError naming the
    setting that is wrong (never what the secret is)."""
    where = f"HOST_SIGNIN[{name!r}]"
    appid = str(settings.get("appid", ""))
    if not re.fullmatch(r"wx[0-9A-Za-z]{16}", appid):
        raise RuntimeError(f"{where}['appid']: expected an appid like wx followed by 16 letters or digits")
    scope = settings.get("scope", "snsapi_base")
    if scope not in SCOPES:
        raise RuntimeError(f"{where}['scope']: one of {', '.join(SCOPES)}")
    if not settings.get("secret_file"):
        raise RuntimeError(f"{where}: missing secret_file (the AppSecret, in a file in the instance folder)")
    path = Path(app.instance_path) / str(settings["secret_file"])
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(
            f"{where}['secret_file']: cannot read {path} ({exc.strerror or exc.__class__.__name__})"
        ) from None
    if not re.fullmatch(r"[0-9A-Za-z]{16,64}", secret):
        raise RuntimeError(f"{where}['secret_file']: the file does not hold an AppSecret (letters and digits)")
    timeout = settings.get("timeout", 10)
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout <= 60):
        raise RuntimeError(f"{where}['timeout']: seconds, more than 0 and at most 60")
    try:
        import requests  # noqa: F401
    except ImportError:
        raise RuntimeError(f"{where}: WeChat sign-in needs requests: pip install 'sbweb[wechat]'") from None
    return WeChatSignIn(
        name=name,
        appid=appid,
        secret=secret,
        scope=scope,
        authorize_url=str(settings.get("authorize_url", AUTHORIZE_URL)),
        api_url=str(settings.get("api_url", API_URL)),
        timeout=timeout,
    )
