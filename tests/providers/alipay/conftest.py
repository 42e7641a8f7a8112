"""Contract tests: our Alipay adapter, configured as a live account is (PAYMENT_PROVIDERS and
HOST_SIGNIN with key files in the instance folder), against a local stand-in for Alipay's
HTTP API — the sandbox gateway served over real HTTP on 127.0.0.1, which verifies our RSA2
signatures with our registered key and signs its answers with its own.

`FakeAlipay.faults` makes that gateway misbehave the ways Alipay's can: a business refusal
signed like any answer, an answer changed after signing, an unreadable answer, a gateway that
does not answer in time."""

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import make_server
from werkzeug.test import run_wsgi_app

from sbweb.payments import sandbox
from tests.support import alipay_account


class Faults:
    """WSGI in front of the gateway: each planned fault answers the next call of its method."""

    def __init__(self, app):
        self.app = app
        self.planned: dict[str, object] = {}
        self.released = threading.Event()  # lets a stalled answer go at the end of the test

    def plan(self, method: str, fault) -> None:
        self.planned[method] = fault

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/sandbox/gateway.do":
            method = parse_qs(environ.get("QUERY_STRING", "")).get("method", [""])[0]
            fault = self.planned.pop(method, None)
            if fault is not None:
                return fault(self, method, environ, start_response)
        return self.app(environ, start_response)

    def real_answer(self, environ) -> bytes:
        body, _status, _headers = run_wsgi_app(self.app, environ, buffered=True)
        return b"".join(body)


def refusal(sub_code: str, sub_msg: str, code: str = "40004"):
    """Alipay refuses the call (signed, as its business failures are)."""

    def fault(faults, method, environ, start_response):
        with faults.app.app_context():
            text = sandbox.envelope(
                method,
                {
                    "code": code,
                    "msg": sandbox.MESSAGES.get(code, "Business Failed"),
                    "sub_code": sub_code,
                    "sub_msg": sub_msg,
                },
            )
        start_response("200 OK", [("Content-Type", "application/json;charset=utf-8")])
        return [text.encode()]

    return fault


def signed_answer(payload: dict):
    """Alipay answers with exactly this object, signed."""

    def fault(faults, method, environ, start_response):
        with faults.app.app_context():
            text = sandbox.envelope(method, payload)
        start_response("200 OK", [("Content-Type", "application/json;charset=utf-8")])
        return [text.encode()]

    return fault


def tampered(old: str, new: str):
    """The real answer with `old` changed to `new` after it was signed (a man in the middle)."""

    def fault(faults, method, environ, start_response):
        body = faults.real_answer(environ).decode()
        assert old in body, body
        start_response("200 OK", [("Content-Type", "application/json;charset=utf-8")])
        return [body.replace(old, new, 1).encode()]

    return fault


def garbled(faults, method, environ, start_response):
    start_response("502 Bad Gateway", [("Content-Type", "text/html")])
    return [b"<html><body>502 Bad Gateway</body></html>"]


def unreadable(faults, method, environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"alipay_trade_query_response":{"code":"10000"']


def stalled(faults, method, environ, start_response):
    faults.released.wait(timeout=15)  # longer than the client's timeout; released at teardown
    start_response("200 OK", [("Content-Type", "application/json")])
    return [faults.real_answer(environ)]


@dataclass
class FakeAlipay:
    base: str
    app: object
    world: object
    faults: Faults
    keys: Path
    settings: dict = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return f"{self.base}/sandbox/gateway.do"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stranger_key():
    """An RSA key nobody registered with the gateway."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake_alipay(app, world):
    """The gateway over HTTP, and our app as a live Alipay merchant of it: the "alipay" payment
    provider (channel 支付宝, and 协议扣款) and the "alipay" host sign-in, from key files."""
    from sbweb.identity.hosts import init_host_signin
    from sbweb.payments.registry import init_providers

    faults = Faults(app)
    server = make_server("127.0.0.1", 0, faults, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    account = alipay_account(app, base)
    keys = Path(app.instance_path) / "keys" / "alipay"
    app.config.update(
        PUBLIC_BASE_URL=base,
        SANDBOX_TRANSPORT="http",
        SANDBOX_GATEWAY_URL=f"{base}/sandbox/gateway.do",
        PAYMENT_PROVIDERS={"alipay": {"kind": "alipay", "seller_id": app.config["SANDBOX_SELLER_ID"], **account}},
        PAYMENT_CHANNELS={"alipay": "alipay", "wechat": "sandbox", "unionpay": "sandbox"},
        WITHHOLD_PROVIDER="alipay",
        HOST_SIGNIN={
            "alipay": {"kind": "alipay", **account, "authorize_url": f"{base}/sandbox/oauth2/publicAppAuthorize.htm"}
        },
    )
    init_providers(app)
    init_host_signin(app)
    thread = threading.Thread(target=server.serve_forever, name="fake-alipay", daemon=True)
    thread.start()
    yield FakeAlipay(base, app, world, faults, keys, account)
    faults.released.set()
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()
