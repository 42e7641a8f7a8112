"""Webhooks: each API client may have one endpoint (`flask api-client webhook set|clear`), to which
every event of the feed it may read is POSTed, signed (sbweb.webhook_signing).

The mail outbox's pattern (sbweb.mail): the row is the truth, the huey task only a wake-up call.
The sequencer, in the transaction that gives events their positions, writes one
`webhook_deliveries` row per event × endpoint (`fan_out`), so a delivery exists exactly when its
event is in the feed. An attempt first claims the row (attempts + 1, next_attempt_at pushed out
by a lease) in one write transaction, POSTs with no transaction open, then records the outcome in
another: a 2xx answer makes it `sent`; anything else waits BASE × 2^(n−1) seconds (at most CAP)
and tries again, until after MAX_ATTEMPTS it is `failed` — listed in the back office, where an
admin sends it again (`resend`). A lost task, a process that died mid-POST or a crash before
the outcome was written leaves a queued row whose time passes, and the minutely sweep sends it
again: at least once. Each delivery carries its event's id (X-SB-Event-Id) for de-duplication."""

import datetime as dt
import json
import logging
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import or_, select

from sbweb import webhook_signing
from sbweb.db import db, write_transaction
from sbweb.models import ApiClient, ApiEvent, WebhookDelivery, WebhookEndpoint
from sbweb.models.base import utcnow
from sbweb.services.api_clients import ApiClientError, seal, unseal
from sbweb.services.staff import audit
from sbweb.taskqueue import huey, in_app_context

log = logging.getLogger(__name__)
SWEEP_BATCH = 200


@dataclass(frozen=True)
class EndpointSet:
    endpoint: WebhookEndpoint
    secret: str  # shown once


# -- the endpoints (CLI) ----------------------------------------------------------------------


def _check_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        raise ApiClientError("推送地址须为 http:// 或 https:// 开头的完整网址（500 字符以内）")
    return url


def _client(client_id: str) -> ApiClient:
    client = db.session.scalar(select(ApiClient).filter_by(client_id=client_id).with_for_update())
    if client is None:
        raise ApiClientError(f"没有客户端 {client_id}")
    return client


def set_endpoint(client_id: str, url: str) -> EndpointSet:
    """The client's endpoint is `url`, with a new signing secret (and key id) from now on."""
    url = _check_url(url)
    key_id, secret = "wk_" + secrets.token_hex(10), "whsec_" + secrets.token_urlsafe(32)
    with write_transaction():
        client = _client(client_id)
        if client.revoked_at is not None:
            raise ApiClientError(f"客户端 {client_id} 已吊销")
        if "events:read" not in client.scope_set:
            raise ApiClientError(f"客户端 {client_id} 没有 events:read 权限，不能接收事件推送")
        endpoint = db.session.scalar(select(WebhookEndpoint).filter_by(api_client_id=client.id))
        before = {"url": endpoint.url} if endpoint else None
        if endpoint is None:
            endpoint = WebhookEndpoint(api_client_id=client.id)
            db.session.add(endpoint)
        endpoint.url, endpoint.key_id, endpoint.updated_at = url, key_id, utcnow()
        endpoint.secret_sealed = seal(key_id, secret)
        audit(None, "api_client.webhook_set", f"api_client:{client_id}", before, {"url": url, "key_id": key_id})
    return EndpointSet(endpoint, secret)


def clear_endpoint(client_id: str) -> int:
    """Nothing more is sent to the client's endpoint; its queued deliveries fail. How many."""
    with write_transaction():
        client = _client(client_id)
        endpoint = db.session.scalar(select(WebhookEndpoint).filter_by(api_client_id=client.id))
        if endpoint is None or endpoint.url is None:
            raise ApiClientError(f"客户端 {client_id} 没有设置推送地址")
        audit(None, "api_client.webhook_clear", f"api_client:{client_id}", {"url": endpoint.url}, {"url": None})
        endpoint.url, endpoint.updated_at = None, utcnow()
        queued = list(db.session.scalars(select(WebhookDelivery).filter_by(endpoint_id=endpoint.id, state="queued")))
        for row in queued:
            row.state, row.next_attempt_at, row.last_error = "failed", None, "推送地址已清除"
    return len(queued)


def endpoint_of(client: ApiClient) -> WebhookEndpoint | None:
    return db.session.scalar(select(WebhookEndpoint).filter_by(api_client_id=client.id))


# -- fan-out (inside the sequencer's transaction) ------------------------------------------------


def fan_out(events: list[ApiEvent]) -> list[int]:
    """One queued delivery per event × live endpoint whose client may read it; their ids."""
    if not events:
        return []
    endpoints = db.session.execute(
        select(WebhookEndpoint.id, ApiClient)
        .join(ApiClient, ApiClient.id == WebhookEndpoint.api_client_id)
        .where(WebhookEndpoint.url.is_not(None), ApiClient.revoked_at.is_(None))
    ).all()
    now = utcnow()
    rows = []
    for endpoint_id, client in endpoints:
        if "events:read" not in client.scope_set:
            continue
        office = client.agency.tax_office_id if client.agency else None
        for event in events:
            if office is None or event.tax_office_id == office:
                rows.append(WebhookDelivery(event_id=event.id, endpoint_id=endpoint_id, next_attempt_at=now))
    db.session.add_all(rows)
    db.session.flush()
    return [r.id for r in rows]


def enqueue(delivery_ids) -> None:
    for delivery_id in delivery_ids:
        try:
            deliver_webhook(delivery_id)
        except Exception:  # the job storage is down: the row is kept and the sweep sends it
            log.exception("webhook delivery %s: could not enqueue; the sweep will", delivery_id)


# -- delivery ----------------------------------------------------------------------------------


def retry_delay(attempt: int) -> dt.timedelta:
    """The wait after failed attempt `attempt` (1, 2, …): exponential, capped."""
    config = current_app.config
    seconds = config["WEBHOOK_RETRY_BASE"] * 2 ** min(attempt - 1, 30)
    return dt.timedelta(seconds=min(seconds, config["WEBHOOK_RETRY_CAP"]))


def _lease(attempt: int) -> dt.timedelta:
    """How long a claimed attempt owns its delivery: if nothing is recorded by then (the process
    died), the sweep sends it again. Never shorter than a slow receiver may take."""
    return max(retry_delay(attempt), dt.timedelta(seconds=6 * current_app.config["WEBHOOK_TIMEOUT"]))


@dataclass(frozen=True)
class Attempt:
    number: int
    url: str
    body: bytes
    headers: dict


def body_of(event: ApiEvent) -> bytes:
    """The delivery's body: the event exactly as the feed gives it."""
    return json.dumps(event.wire(), ensure_ascii=False, separators=(",", ":")).encode()


def _claim(delivery_id: int, now: dt.datetime) -> Attempt | None:
    with write_transaction():
        row = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update())
        if row is None or row.state != "queued":
            return None
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            return None
        endpoint = row.endpoint
        secret = unseal(endpoint.key_id, bytes(endpoint.secret_sealed)) if endpoint.url else None
        if endpoint.url is None or endpoint.client.revoked_at is not None or secret is None:
            row.state, row.next_attempt_at = "failed", None
            row.last_error = "推送地址已清除或客户端已吊销" if secret or not endpoint.url else "签名密钥无法解开"
            return None
        row.attempts += 1
        row.next_attempt_at = now + _lease(row.attempts)
        body = body_of(row.event)
        headers = webhook_signing.signed_headers(endpoint.key_id, secret, body, row.event.key, row.id)
        return Attempt(row.attempts, endpoint.url, body, headers)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: tried again later, never followed (a POST would
    turn into a GET without its body)."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(attempt: Attempt) -> tuple[int | None, str | None]:
    """(HTTP status, error or None when 2xx)."""
    request = urllib.request.Request(
        attempt.url, data=attempt.body, headers={**attempt.headers, "User-Agent": "sbweb-webhooks/1"}, method="POST"
    )
    try:
        with _opener.open(request, timeout=current_app.config["WEBHOOK_TIMEOUT"]) as answer:
            answer.read(1024)
            return answer.status, None
    except urllib.error.HTTPError as exc:
        exc.close()  # the answer's connection, not read
        return exc.code, f"HTTP {exc.code}"
    except Exception as exc:  # noqa: BLE001 - refused, reset, timed out, bad name: all retried alike
        return None, f"{exc.__class__.__name__}: {exc}"[:300]


def _record(delivery_id: int, attempt: int, status: int | None, error: str | None) -> dt.datetime | None:
    """Write down how attempt `attempt` went; the time of the next one, if there is one."""
    now = utcnow()
    with write_transaction():
        row = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update())
        if row is None or row.state == "sent":
            return None
        row.last_status = status
        if error is None:  # delivered: whatever else happened meanwhile, it arrived
            row.state, row.sent_at, row.next_attempt_at, row.last_error = "sent", now, None, None
            return None
        if row.state != "queued" or row.attempts != attempt:
            return None  # a later attempt holds it now; its outcome counts
        row.last_error = error
        if attempt >= current_app.config["WEBHOOK_MAX_ATTEMPTS"]:
            row.state, row.next_attempt_at = "failed", None
            return None
        row.next_attempt_at = now + retry_delay(attempt)
        return row.next_attempt_at


def deliver(delivery_id: int) -> str | None:
    """One attempt at a delivery, if it is due; its state afterwards (None: not attempted)."""
    attempt = _claim(delivery_id, utcnow())
    if attempt is None:
        return None
    status, error = _post(attempt)
    if error:
        log.warning("webhook delivery %s attempt %s failed: %s", delivery_id, attempt.number, error)
    next_at = _record(delivery_id, attempt.number, status, error)
    if next_at is not None:
        deliver_webhook.schedule((delivery_id,), eta=next_at)
    state = db.session.scalar(select(WebhookDelivery.state).where(WebhookDelivery.id == delivery_id))
    db.session.commit()
    return state


@huey.task(retries=0)
@in_app_context
def deliver_webhook(delivery_id: int) -> None:
    deliver(delivery_id)


def sweep(now: dt.datetime | None = None) -> int:
    """Enqueue every queued delivery whose next attempt is due (its task lost, an attempt that
    died mid-way); how many. Run every minute (sbweb.jobs)."""
    now = now or utcnow()
    due = or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now)
    ids = list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.state == "queued", due)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(SWEEP_BATCH)
        )
    )
    db.session.commit()
    enqueue(ids)
    return len(ids)


# -- the back office -----------------------------------------------------------------------------


class ResendError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def resend(staff_id: int, delivery_id: int) -> WebhookDelivery:
    """重新发送: a failed (or still queued) delivery is tried again now, with a fresh schedule."""
    with write_transaction():
        row = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update())
        if row is None:
            raise ResendError("找不到这条推送记录")
        if row.state == "sent":
            raise ResendError("这条推送已送达，无需重新发送")
        if row.endpoint.url is None or row.endpoint.client.revoked_at is not None:
            raise ResendError("该客户端的推送地址已清除或客户端已吊销，不能重新发送")
        before = {"state": row.state, "attempts": row.attempts}
        row.state, row.attempts, row.next_attempt_at, row.last_error = "queued", 0, utcnow(), None
        audit(staff_id, "webhook.resend", f"webhook_delivery:{row.id}", before, {"state": "queued"})
    enqueue([delivery_id])
    return db.session.get(WebhookDelivery, delivery_id)


def unsent(limit: int = 200) -> list[WebhookDelivery]:
    """Deliveries not yet sent (failed first, then queued), newest first."""
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.state.in_(("failed", "queued")))
            .order_by(WebhookDelivery.state, WebhookDelivery.id.desc())  # failed < queued
            .limit(limit)
        )
    )
