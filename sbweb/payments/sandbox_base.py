"""What the sandbox gateway (sbweb.payments.sandbox) and its users' side of sign-in
(sbweb.payments.sandbox_users) share: the sandbox's keys and ours, how our client reaches the
gateway, one API call as the gateway received it, and a refusal. The gateway answers the
users' API methods too, so both build on this module rather than on each other.
"""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from flask import current_app
from werkzeug.test import Client
from werkzeug.wrappers import Response

from sbweb.payments import ProviderError, signing
from sbweb.payments.alipay import AlipayApp, Transport, http_transport

PLATFORM_KEY = "sandbox_platform"  # the sandbox's own key (Alipay's, in real life)
MERCHANT_KEY = "sandbox_merchant"  # our app's key, registered with the sandbox


class SandboxError(Exception):
    """A request the sandbox refuses; `code`/`sub_code` as Alipay answers them: 40002 is a
    refusal of the call itself (answered as `error_response`), 40004 a business failure."""

    def __init__(self, sub_code: str, message: str, code: str = "40004"):
        super().__init__(message)
        self.code, self.sub_code, self.message = code, sub_code, message


def key_dir() -> Path:
    return Path(current_app.config["PAYMENT_KEY_DIR"])


def platform_key():
    return signing.load_or_create_keypair(key_dir(), PLATFORM_KEY)


def merchant_key():
    return signing.load_or_create_keypair(key_dir(), MERCHANT_KEY)


# -- transports: how our client reaches the gateway, and how the gateway reaches us ------


def wsgi_transport(app) -> Transport:
    """Call the gateway inside this process through the whole WSGI stack (no socket), so a
    single-process pilot never waits on itself."""

    def get(url: str) -> bytes:
        parts = urlsplit(url)
        response = Client(app, Response).get(parts.path, query_string=parts.query)
        if response.status_code != 200:
            raise ProviderError(f"gateway answered {response.status_code}")
        return response.get_data()

    return get


def transport_for(app) -> Transport:
    return wsgi_transport(app) if app.config["SANDBOX_TRANSPORT"] == "wsgi" else http_transport(10)


def gateway_url(config) -> str:
    return config.get("SANDBOX_GATEWAY_URL") or "/sandbox/gateway.do"


def sandbox_app(app) -> AlipayApp:
    """Our app as registered with the sandbox: its ids, our merchant key, the sandbox's key."""
    with app.app_context():
        private, platform = merchant_key(), platform_key().public_key()
    return AlipayApp(
        app_id=app.config["SANDBOX_APP_ID"],
        gateway=gateway_url(app.config),
        timeout=10,
        app_private_key=private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        alipay_public_key=signing.public_pem(platform),
    )


@dataclass(frozen=True)
class Call:
    """One verified API call as the gateway received it."""

    method: str
    params: dict  # the public parameters (the OAuth APIs take theirs here, not in biz_content)
    biz: dict  # biz_content
    base_url: str = ""  # where the gateway was reached, for the URLs it hands out
