#!/usr/bin/env python3
"""A small client of sbweb's machine API, as an agency's or the tax bureau's system would run it.
Standard library only (urllib), Python 3.11+; it imports nothing of sbweb, so it can be copied
out and run elsewhere. What it shows (docs/api.md says the same in words):

- signing each request: HMAC-SHA256 with the client's secret over the canonical string;
- reading the event feed from a saved cursor: the cursor file is written (whole, atomically) after
  each page has been handled, so a reader that stops anywhere starts again where it left off and
  sees no event twice (de-duplicate by `id` all the same: handling a page and saving its cursor
  are two steps);
- downloading a daily settlement file, checked against the SHA-256 the list gives;
- verifying a webhook's signature (see WEBHOOK_* below: written to the format as described to us
  while the webhooks were being built; check it against docs/api.md).

    python agency_client.py --base-url https://… --key-id ak_… --secret sk_… feed --cursor-file cursor.txt
    python agency_client.py … settlement --day 2026-11-22 --tax-office 15201020000 --format csv --out f.csv
    (the secret may come from the environment instead: SBWEB_API_SECRET)
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

ALGORITHM = "SBWEB-HMAC-SHA256"

# Webhooks (docs/api.md, "Webhooks"): the signature is Base64 of HMAC-SHA256 with the endpoint's
# secret over `timestamp + "." + body`, sent with the timestamp and the id of the key that signed
# it; de-duplicate on X-SB-Event-Id (delivery is at least once).
WEBHOOK_KEY_ID = "X-SB-Webhook-Key-Id"
WEBHOOK_TIMESTAMP = "X-SB-Webhook-Timestamp"
WEBHOOK_SIGNATURE = "X-SB-Webhook-Signature"
WEBHOOK_TOLERANCE = 300  # seconds: an older (or future) delivery is refused as a possible replay


class ApiError(Exception):
    def __init__(self, status: int, problem: dict):
        super().__init__(f"{status} {problem.get('type', '')}: {problem.get('detail', '')}")
        self.status, self.problem = status, problem


def canonical_query(query: str) -> str:
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)


def sign(key_id: str, secret: str, method: str, path: str, query: str = "", body: bytes = b"") -> dict:
    """The five X-SB-* headers of one request (docs/api.md, "Signing a request")."""
    stamp, nonce, digest = str(int(time.time())), secrets.token_hex(16), hashlib.sha256(body).hexdigest()
    canonical = "\n".join([ALGORITHM, method.upper(), path, canonical_query(query), stamp, nonce, digest])
    mac = hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).digest()
    return {
        "X-SB-Key-Id": key_id,
        "X-SB-Timestamp": stamp,
        "X-SB-Nonce": nonce,
        "X-SB-Content-SHA256": digest,
        "X-SB-Signature": base64.b64encode(mac).decode(),
    }


class Client:
    def __init__(self, base_url: str, key_id: str, secret: str, timeout: float = 30):
        self.base_url, self.key_id, self.secret, self.timeout = base_url.rstrip("/"), key_id, secret, timeout

    def get(self, path: str, params: dict | None = None) -> tuple[bytes, dict]:
        """GET a path of the API, signed; (body, headers), or ApiError with the problem details."""
        query = urlencode(params or {})
        url = self.base_url + path + (f"?{query}" if query else "")
        parts = urlsplit(url)
        request = urllib.request.Request(url, headers=sign(self.key_id, self.secret, "GET", parts.path, parts.query))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as error:
            body = error.read()
            try:
                problem = json.loads(body)
            except ValueError:
                problem = {"detail": body[:200].decode("utf-8", "replace")}
            raise ApiError(error.code, problem) from None

    def get_json(self, path: str, params: dict | None = None) -> dict:
        return json.loads(self.get(path, params)[0])

    # -- the event feed --------------------------------------------------------------------

    def read_feed(self, cursor_file: str, handle, limit: int = 1000) -> int:
        """Every event after the saved cursor, page by page, to `handle(event)`; the cursor is
        saved after each page. Returns how many events were handled."""
        cursor = _read_cursor(cursor_file)
        handled = 0
        while True:
            page = self.get_json("/api/v1/events", {"after": cursor, "limit": limit})
            for event in page["events"]:
                handle(event)
                handled += 1
            cursor = page["next"]
            _save_cursor(cursor_file, cursor)
            if not page["has_more"]:
                return handled

    # -- settlement files ------------------------------------------------------------------

    def settlement_files(self, day: str, days: int = 1) -> list[dict]:
        return self.get_json("/api/v1/settlement-files", {"from": day, "days": days})["files"]

    def download_settlement(self, day: str, tax_office: str, extension: str = "csv") -> bytes:
        """One office's file of one day, checked against the SHA-256 the list gives for it."""
        [listed] = [f for f in self.settlement_files(day) if f["tax_office"]["code"] == tax_office] or [None]
        if listed is None:
            raise ApiError(404, {"detail": f"no settlement file of {tax_office} on {day}"})
        body, _headers = self.get(listed[f"{extension}_url"])
        if hashlib.sha256(body).hexdigest() != listed[f"{extension}_sha256"]:
            raise ApiError(0, {"detail": "the file downloaded is not the one listed (SHA-256 differs)"})
        return body


def _read_cursor(path: str) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip() or "0"
    except FileNotFoundError:
        return "0"


def _save_cursor(path: str, cursor: str) -> None:
    """Whole or not at all: a crash leaves the old cursor, never half of a new one."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".cursor.")
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(cursor)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def verify_webhook(headers: dict, body: bytes, secrets_by_key_id: dict, now: float | None = None) -> bool:
    """True when a webhook delivery is signed by one of our keys, recently; `body` as received."""
    given = {k.lower(): v for k, v in headers.items()}
    key_id = given.get(WEBHOOK_KEY_ID.lower(), "")
    stamp = given.get(WEBHOOK_TIMESTAMP.lower(), "")
    signature = given.get(WEBHOOK_SIGNATURE.lower(), "").strip()
    secret = secrets_by_key_id.get(key_id)
    if secret is None or not stamp.isdigit() or not signature:
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > WEBHOOK_TOLERANCE:
        return False
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).digest()
    return hmac.compare_digest(signature, base64.b64encode(mac).decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="sbweb machine API: an agency's client")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--key-id", required=True)
    parser.add_argument("--secret", default=os.environ.get("SBWEB_API_SECRET"))
    commands = parser.add_subparsers(dest="command", required=True)
    feed = commands.add_parser("feed", help="read the event feed from a saved cursor; one event a line (JSON)")
    feed.add_argument("--cursor-file", required=True)
    feed.add_argument("--limit", type=int, default=1000)
    files = commands.add_parser("settlement", help="download one tax office's settlement file of a day")
    files.add_argument("--day", required=True)
    files.add_argument("--tax-office", required=True)
    files.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    files.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error("--secret or SBWEB_API_SECRET is needed")
    client = Client(args.base_url, args.key_id, args.secret)
    try:
        if args.command == "feed":
            count = client.read_feed(args.cursor_file, lambda e: print(json.dumps(e, ensure_ascii=False)), args.limit)
            print(f"{count} event(s); cursor saved in {args.cursor_file}", file=sys.stderr)
        else:
            data = client.download_settlement(args.day, args.tax_office, args.format)
            with open(args.out, "wb") as f:
                f.write(data)
            print(f"{len(data)} bytes written to {args.out}", file=sys.stderr)
    except ApiError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
