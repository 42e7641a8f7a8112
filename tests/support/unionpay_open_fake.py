"""A local fake of UnionPay's 云闪付 open platform (open.95516.com) as a real HTTP server on
127.0.0.1: the oauth.html authorization page and the JSON calls backendToken, frontToken, token
and user.auth. It checks what we send as the guide says the real one does (appId, the SHA-256
signature over appId, nonceStr, secret and timestamp, the backendToken, single-use codes) and
encrypts the 实名 fields with its own 3DES code, not ours. Test-only switches are attributes."""

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from werkzeug.wrappers import Request, Response

from tests.support.wechat_fakes import Served

APP_ID = "0c99b92ae08a4367ac6251494ba398c5"
SECRET = "62bd2d16a02a47a7b919778cf66e7611"
SYMMETRIC_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718"


def des3(value: str, key_hex: str) -> str:
    data = value.encode()
    pad = 8 - len(data) % 8
    encryptor = Cipher(TripleDES(bytes.fromhex(key_hex)), modes.ECB()).encryptor()
    return base64.b64encode(encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()).decode()


class FakeUnionPayOpen(Served):
    def __init__(self):
        self.user: str | None = None  # the openId of whoever is signed in to 云闪付
        self.people: dict[str, tuple[str, str, str]] = {}  # openId → (realName, certId, certType)
        self.codes: dict[str, dict] = {}
        self.access: dict[str, dict] = {}
        self.backend_tokens: set[str] = set()
        self.calls: list[tuple[str, dict]] = []
        self.key = SYMMETRIC_KEY  # what it encrypts with: another key stands for a tampered answer
        self.down = False
        self.scope_given = "upapi_auth"  # what the user granted
        self.lock = threading.Lock()

    def new_user(self, name: str, cert_id: str, cert_type: str = "01") -> str:
        open_id = secrets.token_urlsafe(30)[:40]
        self.people[open_id] = (name, cert_id, cert_type)
        return open_id

    def a_code(self, open_id: str) -> str:
        code = base64.b64encode(secrets.token_bytes(16)).decode()  # like the real ones: + / =
        self.codes[code] = {"openId": open_id, "at": time.time(), "used": False}
        return code

    def handle(self, request: Request) -> Response:
        if request.path == "/s/open/html/oauth.html":
            return self._authorize(request.args)
        if self.down:
            return Response("Bad Gateway", status=502)
        call = request.path.removeprefix("/open/access/1.0/")
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return self._answer("01", "报文格式错误")
        self.calls.append((call, body))
        with self.lock:
            handler = {
                "backendToken": self._app_token,
                "frontToken": self._app_token,
                "token": self._token,
                "user.auth": self._user_auth,
            }.get(call)
            return handler(call, body) if handler else Response("not found", status=404)

    def _answer(self, resp: str, msg: str = "", params: dict | None = None) -> Response:
        body = {"resp": resp, "msg": msg, **({"params": params} if params is not None else {})}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=UTF-8")

    def _authorize(self, args) -> Response:
        if args.get("appId") != APP_ID or args.get("responseType") != "code":
            return Response("参数错误", status=400)
        target, state = args.get("redirectUri", ""), args.get("state", "")
        joiner = "&" if urlsplit(target).query else "?"
        if self.user is None:
            answer = {"state": state, "errmsg": "用户拒绝授权", "errorcode": "UP0001"}
        else:
            answer = {"code": self.a_code(self.user), "state": state}
        return Response(status=302, headers={"Location": f"{target}{joiner}{urlencode(answer)}"})

    def _app_token(self, call: str, body: dict) -> Response:
        if body.get("appId") != APP_ID:
            return self._answer("10", "appId无效")
        fields = {"appId": APP_ID, "nonceStr": body.get("nonceStr", ""), "secret": SECRET,
                  "timestamp": body.get("timestamp", "")}  # fmt: skip
        text = "&".join(f"{k}={fields[k]}" for k in sorted(fields))
        if "secret" in body or hashlib.sha256(text.encode()).hexdigest() != body.get("signature"):
            return self._answer("11", "签名验证失败")
        token = base64.b64encode(secrets.token_bytes(16)).decode()
        if call == "backendToken":
            self.backend_tokens.add(token)
        return self._answer("00", "", {call: token, "expiresIn": 7200})

    def _token(self, call: str, body: dict) -> Response:
        if body.get("backendToken") not in self.backend_tokens:
            return self._answer("12", "backendToken无效")
        if body.get("appId") != APP_ID or body.get("grantType") != "authorization_code":
            return self._answer("10", "参数错误")
        grant = self.codes.get(body.get("code", ""))
        if grant is None or grant["used"] or time.time() - grant["at"] > 300:
            return self._answer("13", "code无效")
        grant["used"] = True
        token = secrets.token_urlsafe(32)
        self.access[token] = {"openId": grant["openId"], "scope": self.scope_given}
        params = {"accessToken": token, "expiresIn": 3600, "openId": grant["openId"], "scope": self.scope_given}
        return self._answer("00", "", params)

    def _user_auth(self, call: str, body: dict) -> Response:
        if body.get("backendToken") not in self.backend_tokens:
            return self._answer("12", "backendToken无效")
        grant = self.access.get(body.get("accessToken", ""))
        if grant is None or grant["openId"] != body.get("openId") or grant["scope"] != "upapi_auth":
            return self._answer("14", "accessToken无效")
        name, cert_id, cert_type = self.people[grant["openId"]]
        fields = {"realName": name, "certId": cert_id, "certType": cert_type}
        return self._answer("00", "", {k: des3(v, self.key) for k, v in fields.items()})
