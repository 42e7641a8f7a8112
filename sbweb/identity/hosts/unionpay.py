"""云闪付 sign-in (用户联登, scope upapi_auth): the resident agrees in the 云闪付 app, which sends
the browser back with a code (or hands it to our page through its JS bridge, upsdk.appletAuth);
we exchange it on UnionPay's open platform (open.95516.com) for the user's openId and 实名 data.

The calls, as UnionPay's open-platform guide (§4 OAUTH2用户联登, §6.1.1 backendToken) describes
them — JSON posted to {api_url}/<name>, answered {"resp": "00", "msg": …, "params": {…}}:

- backendToken {appId, nonceStr, timestamp, signature}: the app's server token; signature is the
  SHA-256 hex of "appId=…&nonceStr=…&secret=…&timestamp=…" (keys sorted, the secret never sent).
  UnionPay limits how many a day, so it is kept until half its expiresIn has passed.
- token {appId, backendToken, code, grantType=authorization_code} → accessToken, openId, scope.
- user.auth {appId, accessToken, openId, backendToken} → the 实名 data (姓名, 证件号码, 证件类型),
  each field encrypted under the app's 对称密钥.
- frontToken {appId, nonceStr, timestamp, signature}: the token the page's upsdk.config is
  signed with (SHA-256 hex of "fronttoken=…&noncestr=…&timestamp=…&url=…").

Gaps in the public material, decided here and to be checked against the guide UnionPay hands a
pilot with its appId: (1) user.auth's field names — we read realName, certId and certType
(certType "01" = 居民身份证; any other type gives the openId alone, bound later like a WeChat
user); (2) the encryption — 3DES (DESede/ECB/PKCS5), the 对称密钥 as 48 hex digits, the fields
base64; (3) what resp code says a backendToken went stale — we do not retry on one, the cache
renews it before it ends. UnionPay shares 实名 data only with apps of the trades it opens
upapi_auth to (政务 and social insurance are among them); without it the answer is refused and
the resident types 证件信息 instead.
"""

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from sbweb import id_numbers
from sbweb.identity.hosts.base import HostIdentity, HostSignInError

AUTHORIZE_URL = "https://open.95516.com/s/open/html/oauth.html"
API_URL = "https://open.95516.com/open/access/1.0"
SCOPE = "upapi_auth"
# How a call reaches the open platform: (URL, JSON body) → (HTTP status, answer bytes). Over the
# network by default; the sandbox may answer in-process.
Post = Callable[[str, dict], tuple[int, bytes]]
# user.auth's certType → our 证件类型 (sbweb.id_numbers).
CERT_TYPES = {"01": id_numbers.RESIDENT_CARD}


def sign(params: Mapping[str, str]) -> str:
    """The open platform's signature: SHA-256 hex of the non-empty k=v pairs, keys sorted."""
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if v not in (None, ""))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _cipher(key_hex: str):
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    return Cipher(TripleDES(bytes.fromhex(key_hex)), modes.ECB())  # noqa: S305 - UnionPay's choice, not ours


def encrypt_field(value: str, key_hex: str) -> str:
    """How the open platform hides a field (the sandbox speaks it too)."""
    from cryptography.hazmat.primitives import padding

    padder = padding.PKCS7(64).padder()
    data = padder.update(value.encode("utf-8")) + padder.finalize()
    encryptor = _cipher(key_hex).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def decrypt_field(value: str, key_hex: str) -> str:
    from cryptography.hazmat.primitives import padding

    try:
        data = base64.b64decode(value, validate=True)
        decryptor = _cipher(key_hex).decryptor()
        unpadder = padding.PKCS7(64).unpadder()
        plain = unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()
        return plain.decode("utf-8")
    except ValueError:  # not base64, a partial block, bad padding, not UTF-8: another key, or tampered
        raise HostSignInError("user.auth: a field that does not decrypt under our 对称密钥") from None


def http_post(timeout: float) -> Post:
    def post(url: str, body: dict) -> tuple[int, bytes]:
        import requests

        try:
            response = requests.post(url, json=body, timeout=timeout)
        except requests.RequestException as exc:
            raise HostSignInError(f"{url.rsplit('/', 1)[-1]}: {exc.__class__.__name__}") from None
        return response.status_code, response.content

    return post


class _Token:
    """One of the app's tokens (backendToken, frontToken), fetched when missing or half-aged."""

    def __init__(self):
        self.value, self.renew_at, self.lock = None, 0.0, threading.Lock()


class UnionPaySignIn:
    host = "unionpay"

    def __init__(
        self,
        *,
        name: str,
        app_id: str,
        secret: str,
        symmetric_key: str,
        authorize_url: str = AUTHORIZE_URL,
        api_url: str = API_URL,
        timeout: float = 10,
        post: Post | None = None,
    ):
        self.name = name
        self.app_id = app_id
        self._secret = secret
        self._symmetric_key = symmetric_key
        self._authorize_url = authorize_url
        self._api_url = api_url.rstrip("/")
        self._post_json = post or http_post(timeout)
        self._tokens = {"backendToken": _Token(), "frontToken": _Token()}

    def __repr__(self) -> str:  # never the secret or the key
        return f"<UnionPaySignIn {self.name} appId={self.app_id}>"

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        query = {"appId": self.app_id, "redirectUri": redirect_uri, "responseType": "code", "scope": SCOPE}
        return f"{self._authorize_url}?{urlencode({**query, 'state': state})}"

    def _post(self, call: str, body: dict) -> dict:
        """One call to the open platform: its params, or HostSignInError (network, resp ≠ 00)."""
        status, content = self._post_json(f"{self._api_url}/{call}", body)
        if status != 200:
            raise HostSignInError(f"{call}: HTTP {status}")
        try:
            answer = json.loads(content.decode("utf-8"))
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise HostSignInError(f"{call}: unreadable answer")
        if answer.get("resp") != "00":
            raise HostSignInError(f"{call}: resp {str(answer.get('resp'))[:8]} {str(answer.get('msg') or '')[:60]}")
        params = answer.get("params")
        if not isinstance(params, dict):
            raise HostSignInError(f"{call}: an answer without params")
        return params

    def _token(self, call: str) -> str:
        token = self._tokens[call]
        with token.lock:
            if token.value is None or time.monotonic() >= token.renew_at:
                body = {"appId": self.app_id, "nonceStr": secrets.token_hex(8), "timestamp": str(int(time.time()))}
                body["signature"] = sign({**body, "secret": self._secret})
                params = self._post(call, body)
                value, expires_in = params.get(call), params.get("expiresIn")
                if not isinstance(value, str) or not value:
                    raise HostSignInError(f"{call}: no token in the answer")
                lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else 600
                token.value, token.renew_at = value, time.monotonic() + lifetime / 2
            return token.value

    def bridge_config(self, url: str) -> dict:
        """What the page's upsdk.config needs to use the bridge on `url` (the page's own URL)."""
        config = {"noncestr": secrets.token_hex(8), "timestamp": str(int(time.time())), "url": url}
        signature = sign({**config, "fronttoken": self._token("frontToken")})
        return {"appId": self.app_id, "nonceStr": config["noncestr"], "timestamp": config["timestamp"],
                "signature": signature}  # fmt: skip

    def identify(self, args: Mapping[str, str]) -> HostIdentity:
        """The callback's code (from the redirect, or passed on by our bridge script) → openId and
        the 实名 data. No code (errorcode/errmsg instead): the user did not agree."""
        code = args.get("code", "")
        if not code or args.get("errorcode"):
            raise HostSignInError(f"no code: errorcode {str(args.get('errorcode', ''))[:16]}")
        if len(code) > 256 or not code.isascii() or not code.isprintable():
            raise HostSignInError("a code that cannot be UnionPay's")
        backend = self._token("backendToken")
        token = self._post(
            "token", {"appId": self.app_id, "backendToken": backend, "code": code, "grantType": "authorization_code"}
        )
        open_id, access = token.get("openId"), token.get("accessToken")
        if not isinstance(open_id, str) or not re.fullmatch(r"[0-9A-Za-z+/=_-]{8,128}", open_id) or not access:
            raise HostSignInError("token: an answer without an openId")
        if SCOPE not in str(token.get("scope", SCOPE)):
            return HostIdentity(provider=self.name, subject=open_id)  # the user gave less than 实名
        info = self._post(
            "user.auth", {"appId": self.app_id, "accessToken": access, "openId": open_id, "backendToken": backend}
        )
        return self._identity(open_id, info)

    def _identity(self, open_id: str, info: dict) -> HostIdentity:
        fields = {k: info.get(k) for k in ("realName", "certId", "certType")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            return HostIdentity(provider=self.name, subject=open_id)
        plain = {k: decrypt_field(v, self._symmetric_key) for k, v in fields.items()}
        id_type = CERT_TYPES.get(plain["certType"])
        try:
            number = id_numbers.validate(id_type, plain["certId"]) if id_type else None
        except id_numbers.InvalidIdNumber:
            number = None
        if number is None:
            return HostIdentity(provider=self.name, subject=open_id)
        return HostIdentity(
            provider=self.name, subject=open_id, id_type=id_type, id_number=number, name=plain["realName"].strip()
        )


SETTINGS = {"kind", "app_id", "secret_file", "symmetric_key_file", "authorize_url", "api_url", "timeout"}


def _read(where: str, app, settings: Mapping, key: str, pattern: str, what: str) -> str:
    if not settings.get(key):
        raise RuntimeError(f"{where}: missing {key} ({what}, in a file in the instance folder)")
    path = Path(app.instance_path) / str(settings[key])
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(f"{where}[{key!r}]: cannot read {path} ({exc.strerror or exc.__class__.__name__})") from None
    if not re.fullmatch(pattern, value):
        raise RuntimeError(f"{where}[{key!r}]: the file does not hold {what}")
    return value


def _url(where: str, settings: Mapping, key: str, default: str) -> str:
    url = str(settings.get(key) or default)
    parts = urlsplit(url)
    if parts.scheme != "https" and parts.hostname not in ("127.0.0.1", "localhost"):
        raise RuntimeError(f"{where}[{key!r}]: must be an https URL (default {default})")
    return url


def from_settings(name: str, settings: Mapping, app) -> UnionPaySignIn:
    """hosts.KINDS["unionpay"]: HOST_SIGNIN[name] =
    {"kind": "unionpay", "app_id": "…32 hex…", "secret_file": "unionpay/open_secret.txt",
     "symmetric_key_file": "unionpay/open_symmetric_key.txt", "timeout": 10}
    (`authorize_url` and `api_url` point it elsewhere, e.g. at a local fake in tests).
    RuntimeError names the setting that is wrong, never what a secret is."""
    where = f"HOST_SIGNIN[{name!r}]"
    unknown = set(settings) - SETTINGS
    if unknown:
        raise RuntimeError(f"{where}: unknown settings {sorted(unknown)} (known: {sorted(SETTINGS)})")
    app_id = str(settings.get("app_id", ""))
    if not re.fullmatch(r"[0-9a-f]{32}", app_id):
        raise RuntimeError(f"{where}['app_id']: expected the 云闪付 open platform's appId (32 hex digits)")
    secret = _read(where, app, settings, "secret_file", r"[0-9A-Za-z]{16,64}", "the app's secret")
    key = _read(where, app, settings, "symmetric_key_file", r"[0-9A-Fa-f]{48}", "the 对称密钥 (48 hex digits)")
    timeout = settings.get("timeout", 10)
    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and 0 < timeout <= 60):
        raise RuntimeError(f"{where}['timeout']: seconds, more than 0 and at most 60")
    try:
        import requests  # noqa: F401
    except ImportError:
        raise RuntimeError(f"{where}: 云闪付 sign-in needs requests: pip install 'sbweb[wechat]'") from None
    return UnionPaySignIn(
        name=name,
        app_id=app_id,
        secret=secret,
        symmetric_key=key,
        authorize_url=_url(where, settings, "authorize_url", AUTHORIZE_URL),
        api_url=_url(where, settings, "api_url", API_URL),
        timeout=timeout,
    )
