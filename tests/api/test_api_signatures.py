"""An agency's system signs every request; what is not signed right, not fresh, replayed, from a
revoked client or outside the client's scopes is refused with a problem+json in Chinese."""

import time

import pytest
from sqlalchemy import func, select

from sbweb import api_signing
from sbweb.db import db
from sbweb.models import ApiClient, AuditEntry, NotifyNonce

FEED = "/api/v1/events?after=0&limit=10"


def refused(answer, status, slug):
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/problem+json"
    body = answer.get_json()
    assert body["status"] == status and body["type"].endswith("/" + slug), body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), body["detail"]  # Chinese
    return body


def test_a_signed_request_reads_the_feed(system):
    answer = system.get(FEED)
    assert answer.status_code == 200
    assert answer.get_json() == {"events": [], "next": "0", "has_more": False}
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers


def test_an_unsigned_request_is_refused(system):
    refused(system.http.get(FEED), 401, "signature-missing")


def test_a_body_changed_after_signing_is_refused(system):
    headers = system.headers("GET", FEED, b'{"limit": 1}')
    refused(system.http.get(FEED, headers=headers, data=b'{"limit": 9}'), 401, "digest-mismatch")
    # The digest made to match the new body: the signature no longer does.
    headers = system.headers("GET", FEED, b'{"limit": 1}')
    headers[api_signing.DIGEST] = api_signing.body_digest(b'{"limit": 9}')
    refused(system.http.get(FEED, headers=headers, data=b'{"limit": 9}'), 401, "signature-invalid")


def test_a_query_changed_after_signing_is_refused(system):
    headers = system.headers("GET", FEED)
    refused(system.http.get(FEED.replace("limit=10", "limit=11"), headers=headers), 401, "signature-invalid")


def test_a_request_signed_with_another_key_is_refused(system, make_system):
    other = make_system("另一系统")
    headers = api_signing.signed_headers(system.client_id, other.secret, "GET", "/api/v1/events", "after=0&limit=10")
    refused(system.http.get(FEED, headers=headers), 401, "signature-invalid")
    headers = system.headers("GET", FEED)
    headers[api_signing.KEY_ID] = "ak_00000000000000000000"
    refused(system.http.get(FEED, headers=headers), 401, "unknown-client")


@pytest.mark.parametrize("seconds, status", [(-301, 401), (301, 401), (-290, 200), (290, 200)])
def test_the_timestamp_must_be_within_five_minutes(system, seconds, status):
    answer = system.get(FEED, timestamp=int(time.time()) + seconds)
    if status == 401:
        refused(answer, 401, "timestamp-outside-window")
    else:
        assert answer.status_code == 200


@pytest.mark.parametrize(
    "app_config",
    [{}, {"API_NONCE_REDIS_URL": "redis://127.0.0.1:6379/15"}, {"API_NONCE_REDIS_URL": "redis://127.0.0.1:1/0"}],
    ids=["database", "redis", "redis-down-database"],
)
def test_a_replayed_request_is_refused(app, system, app_config):
    headers = system.headers("GET", FEED)
    assert system.http.get(FEED, headers=headers).status_code == 200
    refused(system.http.get(FEED, headers=headers), 401, "nonce-replayed")
    # The same nonce signed afresh (a new timestamp) is a replay all the same.
    again = system.headers("GET", FEED, nonce=headers[api_signing.NONCE], timestamp=int(time.time()) + 1)
    refused(system.http.get(FEED, headers=again), 401, "nonce-replayed")
    # Another nonce goes through.
    assert system.get(FEED).status_code == 200
    with app.app_context():  # where the nonces were kept: Redis when it answers, else the database
        kept = db.session.scalar(select(func.count()).select_from(NotifyNonce).filter_by(provider="api"))
    assert kept == (0 if app_config.get("API_NONCE_REDIS_URL", "").endswith("6379/15") else 2)


def test_a_revoked_client_is_refused(app, system):
    assert system.get(FEED).status_code == 200
    result = app.test_cli_runner().invoke(args=["api-client", "revoke", system.client_id])
    assert result.exit_code == 0, result.output
    refused(system.get(FEED), 401, "client-revoked")


def test_a_client_without_the_scope_is_refused(make_system):
    dues_only = make_system("缴费数据推送", scopes=("dues:write",))
    body = refused(dues_only.get(FEED), 403, "scope-missing")
    assert body["scope"] == "events:read" and "events:read" in body["detail"]


def test_bad_parameters_are_named(system):
    body = refused(system.get("/api/v1/events?after=x&limit=5000"), 422, "invalid-parameters")
    assert {p["name"] for p in body["invalid_params"]} == {"after", "limit"}


@pytest.mark.parametrize("app_config", [{"RATE_LIMIT_API": "3 per minute"}])
def test_the_rate_limit_counts_per_client(system, make_system, app_config):
    other = make_system("另一系统")
    assert [system.get(FEED).status_code for _ in range(3)] == [200] * 3
    refused(system.get(FEED), 429, "too-many-requests")
    assert other.get(FEED).status_code == 200


def test_the_cli_shows_the_secret_once_and_keeps_it_sealed(app, world, ctx):
    runner = app.test_cli_runner()
    made = runner.invoke(args=["api-client", "create", "贵阳市社保", "--scope", "events:read", "--agency", "52010201"])
    assert made.exit_code == 0, made.output
    key_id = made.output.split("key id: ")[1].split()[0]
    secret = made.output.split("secret: ")[1].split()[0]
    listed = runner.invoke(args=["api-client", "list"])
    assert key_id in listed.output and secret not in listed.output and "52010201" in listed.output
    row = db.session.scalar(select(ApiClient).filter_by(client_id=key_id))
    assert secret.encode() not in row.secret_sealed and row.scope_set == {"events:read"}
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target == f"api_client:{key_id}")).all()
    assert actions == ["api_client.create"]
    bad = runner.invoke(args=["api-client", "create", "x", "--scope", "events:read", "--agency", "nope"])
    assert bad.exit_code != 0 and "没有代码为 nope 的社保经办机构" in bad.output


def test_a_secret_sealed_under_a_rotated_key_still_verifies(app, system):
    from sbweb import create_app

    rotated = create_app(
        {**app.config, "SECRET_KEY": "a-new-key-0123456789abcdef", "SECRET_KEY_FALLBACKS": [app.config["SECRET_KEY"]]}
    )
    with rotated.app_context():
        system.http = rotated.test_client()
        assert system.get(FEED).status_code == 200
    replaced = create_app({**app.config, "SECRET_KEY": "another-key-0123456789abcdef", "SECRET_KEY_FALLBACKS": []})
    system.http = replaced.test_client()
    refused(system.get(FEED), 401, "signature-invalid")
