"""How a webhook delivery is signed and how a receiver checks it (docs/api.md says the same in
words, with this check as its Python snippet): HMAC-SHA256 with the endpoint's secret over
`<timestamp>.<body>`, the endpoint's key id in a header, and a replay window the receiver keeps.
Pure functions, shared by the sender (sbweb.services.webhooks) and by receivers and tests."""

import base64
import hashlib
import hmac
import time

KEY_ID, TIMESTAMP, SIGNATURE, EVENT_ID, DELIVERY_ID = (
    "X-SB-Webhook-Key-Id",
    "X-SB-Webhook-Timestamp",
    "X-SB-Webhook-Signature",
    "X-SB-Event-Id",
    "X-SB-Delivery-Id",
)
REPLAY_WINDOW = 300  # seconds either side of the receiver's clock


class Rejected(ValueError):
    """The delivery does not verify; the message says why (for the receiver's log)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Base64 (standard, padded) of HMAC-SHA256(secret as UTF-8, timestamp + "." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def signed_headers(key_id: str, secret: str, body: bytes, event_id: str, delivery_id: int, now=None) -> dict:
    timestamp = str(int(time.time() if now is None else now))
    return {
        KEY_ID: key_id,
        TIMESTAMP: timestamp,
        SIGNATURE: signature(secret, timestamp, body),
        EVENT_ID: event_id,
        DELIVERY_ID: str(delivery_id),
        "Content-Type": "application/json",
    }


def verify(secrets_by_key_id: dict[str, str], headers, body: bytes, now=None, window: int = REPLAY_WINDOW) -> str:
    """What a receiver does with a delivery: the event id when it verifies, else Rejected.
    `headers` is any mapping with .get (case-insensitive in every web framework)."""
    secret = secrets_by_key_id.get(headers.get(KEY_ID) or "")
    if secret is None:
        raise Rejected("unknown key id")
    timestamp = headers.get(TIMESTAMP) or ""
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > window:
        raise Rejected("timestamp outside the replay window")
    if not hmac.compare_digest(signature(secret, timestamp, body), headers.get(SIGNATURE) or ""):
        raise Rejected("bad signature")
    return headers.get(EVENT_ID) or ""
