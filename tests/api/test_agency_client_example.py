"""examples/agency_client.py run as an agency would run it — a separate Python process over real
HTTP to the live server: it reads the feed from its cursor file (again: nothing new; after another
payment: just that one), downloads a settlement file (the very bytes kept), is refused with the
problem details when its key is revoked; and its webhook check accepts a delivery signed the
described way and refuses a tampered, stale or unknown-key one."""

import datetime as dt
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sbweb import webhook_signing
from sbweb.db import db
from sbweb.services import api_clients, settlement_files
from tests.api.test_settlement_files import settle_at
from tests.support.journeys import paid_history

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agency_client.py"


def run(live_server, system, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, str(EXAMPLE), "--base-url", live_server.url, "--key-id", system.client_id, *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, env={"SBWEB_API_SECRET": system.secret, "PATH": ""}
    )


def events(done) -> list[dict]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_example_reads_the_feed_from_its_cursor_and_downloads_a_file(
    app, live_server, world, ctx, system, tmp_path
):
    person, enrollment = world.person("王芳"), world.enrollment("王芳", "medical")
    cursor = tmp_path / "cursor.txt"
    # What the feed holds already (the world's declarations): read to its end first.
    before = events(run(live_server, system, "feed", "--cursor-file", str(cursor)))
    start = int(before[-1]["position"]) if before else 0
    paid_history(person.id, enrollment, 3)
    first = events(run(live_server, system, "feed", "--cursor-file", str(cursor), "--limit", "2"))
    assert [e["position"] for e in first] == [str(start + n) for n in (1, 2, 3)]
    assert {e["type"] for e in first} == {"payment.settled"} and cursor.read_text() == str(start + 3)
    assert events(run(live_server, system, "feed", "--cursor-file", str(cursor))) == []
    paid_history(person.id, world.enrollment("王芳", "pension"), 1, start_year=2001)
    later = events(run(live_server, system, "feed", "--cursor-file", str(cursor)))
    assert [e["position"] for e in later] == [str(start + 4)] and later[0]["type"] == "payment.settled"
    # A settlement file, downloaded and checked against the list's SHA-256.
    ticket = settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), 35200, "2026-09")
    office = ticket.tax_office.code
    settlement_files.make_day(dt.date(2026, 11, 20))
    db.session.commit()
    out = tmp_path / "f.xlsx"
    done = run(
        live_server,
        system,
        "settlement",
        "--day",
        "2026-11-20",
        "--tax-office",
        office,
        "--format",
        "xlsx",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == bytes(settlement_files.find(dt.date(2026, 11, 20), office).xlsx)
    # Revoked: refused, and told why.
    api_clients.revoke(system.client_id)
    refused = run(live_server, system, "feed", "--cursor-file", str(cursor))
    assert refused.returncode == 1 and "client-revoked" in refused.stderr and cursor.read_text() == str(start + 4)


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("agency_client", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def delivery(secret: str, body: bytes, stamp: int, key_id: str = "wk_1") -> dict:
    """A webhook as sbweb sends it (sbweb.webhook_signing, what the outbox signs with)."""
    return webhook_signing.signed_headers(key_id, secret, body, "payment.settled:1", 1, now=stamp)


def test_the_examples_webhook_check(example):
    body, now = b'{"type":"payment.settled","id":"payment.settled:1"}', int(time.time())
    keys = {"wk_1": "whsec_one", "wk_2": "whsec_two"}
    assert example.verify_webhook(delivery("whsec_one", body, now), body, keys)
    assert example.verify_webhook(delivery("whsec_two", body, now, "wk_2"), body, keys)  # a key rotated in
    assert not example.verify_webhook(delivery("whsec_one", body, now), body.replace(b"1", b"2"), keys)  # tampered
    assert not example.verify_webhook(delivery("whsec_one", body, now - 301), body, keys)  # stale: a replay
    assert not example.verify_webhook(delivery("whsec_one", body, now, "wk_9"), body, keys)  # unknown key
    assert not example.verify_webhook(delivery("whsec_two", body, now, "wk_1"), body, keys)  # wrong secret
    assert not example.verify_webhook({}, body, keys)
