"""How a request to the machine API is signed (docs/api.md says the same in words): HMAC-SHA256
with the client's secret over a canonical string of the method, the path, the query, the
timestamp, the nonce and the body's SHA-256. Pure functions, shared by the server's check
(sbweb.views.api.auth) and by clients and tests (`signed_headers`)."""

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qsl, quote

ALGORITHM = "SBWEB-HMAC-SHA256"
KEY_ID, TIMESTAMP, NONCE, DIGEST, SIGNATURE = (
    "X-SB-Key-Id",
    "X-SB-Timestamp",
    "X-SB-Nonce",
    "X-SB-Content-SHA256",
    "X-SB-Signature",
)
HEADERS = (KEY_ID, TIMESTAMP, NONCE, DIGEST, SIGNATURE)


def body_digest(body: bytes) -> str:
    """Lower-case hex SHA-256 of the body as sent (of b"" for a GET)."""
    return hashlib.sha256(body).hexdigest()


def canonical_query(query: str) -> str:
    """The query's pairs, decoded, sorted by name then value, each percent-encoded again
    (RFC 3986 unreserved characters left as they are) and joined with '&'."""
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def canonical_string(method: str, path: str, query: str, timestamp: str, nonce: str, digest: str) -> str:
    return "\n".join([ALGORITHM, method.upper(), path, canonical_query(query), timestamp, nonce, digest])


def signature(secret: str, canonical: str) -> str:
    """Base64 (standard alphabet, padded) of HMAC-SHA256(secret, canonical string)."""
    mac = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def signed_headers(
    client_id: str,
    secret: str,
    method: str,
    path: str,
    query: str = "",
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that sign one request (what an agency's client sends)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    digest = body_digest(body)
    canonical = canonical_string(method, path, query, stamp, nonce, digest)
    return {
        KEY_ID: client_id,
        TIMESTAMP: stamp,
        NONCE: nonce,
        DIGEST: digest,
        SIGNATURE: signature(secret, canonical),
    }


def same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), (given or "").encode())
