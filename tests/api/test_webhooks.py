"""Webhooks, as an agency's system receives them: a real HTTP server on this machine gets every
event of the feed once — again after it answered 500 the first time — checks each signature with
the snippet docs/api.md gives (run here as written), and refuses a tampered or stale delivery.
What never arrives is listed in the back office, where an admin sends it again."""

import datetime as dt
import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import Headers

from sbweb import webhook_signing
from sbweb.db import db
from sbweb.jobs import run_due_tasks
from sbweb.models import AuditEntry, WebhookDelivery
from sbweb.services import api_events, webhooks
from tests.admin.test_admin import make_staff, staff_login
from tests.api.record_flows import declare_and_void, refund_reopening_a_month
from tests.api.test_api_events import read_all
from tests.support import ResidentClient

DOCS = Path(__file__).parents[2] / "docs" / "api.md"
# Ahead of the real clock, so that huey (inline in tests, running at once whatever the real clock
# says is due) keeps each retry in its schedule until run_due_tasks reaches it (as tests/certificates/test_mail.py).
T0 = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(second=0, microsecond=0)


def documented_check():
    """verify_webhook exactly as docs/api.md's webhook section prints it."""
    section = DOCS.read_text().split("\n## Webhooks\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own documentation's code
    return namespace["verify_webhook"]


@dataclass
class Got:
    event_id: str
    status: int
    headers: Headers
    body: bytes


class Receiver:
    """An agency's endpoint: checks each delivery with the documented code, keeps what came, and
    answers 401 to what does not verify, 500 to an event's first delivery while `fail_first`, 500
    to everything while `always_fail`, else 200."""

    def __init__(self):
        self.secrets, self.got = {}, []
        self.fail_first = self.always_fail = False
        self.check = documented_check()
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(receiver.answer(self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/sbweb-events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, headers, body: bytes) -> int:
        with self.lock:
            event_id = headers.get("X-SB-Event-Id", "")
            if not self.check(self.secrets, headers, body):
                status = 401
            elif self.always_fail or (self.fail_first and not any(g.event_id == event_id for g in self.got)):
                status = 500
            else:
                status = 200
            self.got.append(Got(event_id, status, Headers(list(headers.items())), body))  # case-insensitive
            return status

    def with_status(self, status) -> list[Got]:
        return [g for g in self.got if g.status == status]


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def set_webhook(app, client_id: str, url: str) -> tuple[str, str]:
    result = app.test_cli_runner().invoke(args=["api-client", "webhook", "set", client_id, url])
    assert result.exit_code == 0, result.output
    key_id = re.search(r"webhook key id: (wk_\w+)", result.output).group(1)
    secret = re.search(r"webhook secret: (whsec_\S+)", result.output).group(1)
    return key_id, secret


def at(clock, seconds: float) -> int:
    clock.at(T0 + dt.timedelta(seconds=seconds))
    return run_due_tasks(clock.now)


def deliveries() -> list[WebhookDelivery]:
    db.session.rollback()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def post(url: str, headers: dict, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_event_arrives_once_and_again_after_the_receiver_failed(app, client, world, ctx, system, receiver, clock):
    declare_and_void(client, world)
    refund_reopening_a_month(app, client, world)
    receiver.fail_first = True
    key_id, secret = set_webhook(app, system.client_id, receiver.url)
    receiver.secrets[key_id] = secret
    clock.at(T0)
    api_events.sequence_all()  # what the minutely housekeeping does: number, fan out, first attempts
    feed = {e["id"]: e for e in read_all(system, "0", limit=1000)[0]}
    kinds = {e["type"] for e in feed.values()}
    assert kinds >= {
        "payment.settled",
        "refund.completed",
        "due.reopened",
        "due.voided",
        "document.voided",
        "declaration.created",
        "declaration.voided",
    }
    # Each event's first delivery got a 500; nothing was accepted; each waits for its retry.
    assert sorted(g.event_id for g in receiver.with_status(500)) == sorted(feed)
    assert receiver.with_status(200) == [] and receiver.with_status(401) == []
    rows = deliveries()
    assert len(rows) == len(feed) and {(r.state, r.attempts, r.last_status) for r in rows} == {("queued", 1, 500)}
    assert {r.next_attempt_at for r in rows} == {T0 + webhooks.retry_delay(1)}
    # Before the retry is due nothing moves; once it is, every event arrives, once.
    assert at(clock, 10) == 0 and len(receiver.got) == len(feed)
    at(clock, 31)
    accepted = receiver.with_status(200)
    assert sorted(g.event_id for g in accepted) == sorted(feed)
    for got in accepted:  # the body is the event as the feed gives it; the headers name it
        assert json.loads(got.body) == feed[got.event_id]
        assert got.headers["X-SB-Webhook-Key-Id"] == key_id and got.headers["Content-Type"] == "application/json"
    assert {(r.state, r.attempts) for r in deliveries()} == {("sent", 2)}
    # Later sweeps and housekeeping send nothing again.
    assert at(clock, 3600) == 0 and webhooks.sweep() == 0 and api_events.sequence_all() == 0
    assert len(receiver.with_status(200)) == len(feed)
    # New events go out by themselves at the next numbering (the receiver answering at once now).
    receiver.fail_first = False
    declare_and_void(client, world)
    clock.at(T0 + dt.timedelta(hours=2))
    api_events.sequence_all()
    assert len(receiver.with_status(200)) == len(feed) + 3


def test_a_tampered_or_stale_delivery_is_refused_by_the_documented_check(
    app, client, world, ctx, system, receiver, clock
):
    declare_and_void(client, world)
    key_id, secret = set_webhook(app, system.client_id, receiver.url)
    receiver.secrets[key_id] = secret
    clock.at(T0)
    api_events.sequence_all()
    good = receiver.with_status(200)[0]
    headers = {k: v for k, v in good.headers.items() if k.lower().startswith("x-sb-") or k.lower() == "content-type"}
    # The same bytes with one figure changed: refused.
    tampered = good.body.replace(b'"amount_fen":', b'"amount_fen":1', 1)
    assert tampered != good.body and post(receiver.url, headers, tampered) == 401
    # Signed by someone without the secret: refused.
    forged = webhook_signing.signed_headers(key_id, "whsec_guessed", good.body, good.event_id, 1)
    assert post(receiver.url, forged, good.body) == 401
    # Signed right but captured six minutes ago: outside the replay window, refused.
    stale = webhook_signing.signed_headers(key_id, secret, good.body, good.event_id, 1, now=time.time() - 360)
    assert post(receiver.url, stale, good.body) == 401
    # The untouched delivery, fresh: accepted (and the receiver de-duplicates on X-SB-Event-Id).
    fresh = webhook_signing.signed_headers(key_id, secret, good.body, good.event_id, 1)
    assert post(receiver.url, fresh, good.body) == 200
    # The module the sender uses agrees with the documented snippet.
    assert webhook_signing.verify({key_id: secret}, fresh, good.body) == good.event_id
    with pytest.raises(webhook_signing.Rejected):
        webhook_signing.verify({key_id: secret}, good.headers, tampered)


def test_an_agency_endpoint_gets_only_its_tax_offices_events(app, client, world, ctx, make_system, receiver, clock):
    from tests.api.test_api_events import _agencies

    mine = world.enrollment("王芳", "pension").agency
    mine_office = mine.tax_office_id
    other = make_system("他处机构", agency_code=next(a.code for a in _agencies() if a.tax_office_id != mine_office))
    declare_and_void(client, world)
    key_id, secret = set_webhook(app, other.client_id, receiver.url)
    receiver.secrets[key_id] = secret
    clock.at(T0)
    api_events.sequence_all()
    expected = {e["id"] for e in read_all(other, "0", limit=1000)[0]}
    assert {g.event_id for g in receiver.got} == expected
    assert not any(e.startswith(("declaration.", "due.voided")) for e in expected)


def test_the_cli_refuses_what_cannot_receive_and_clear_stops_sending(app, ctx, make_system, system, receiver):
    runner = app.test_cli_runner()
    writer = make_system("只写客户端", scopes=("dues:write",))
    refused = runner.invoke(args=["api-client", "webhook", "set", writer.client_id, receiver.url])
    assert refused.exit_code != 0 and "events:read" in refused.output
    bad_url = runner.invoke(args=["api-client", "webhook", "set", system.client_id, "ftp://example/x"])
    assert bad_url.exit_code != 0 and "http" in bad_url.output
    set_webhook(app, system.client_id, receiver.url)
    cleared = runner.invoke(args=["api-client", "webhook", "clear", system.client_id])
    assert cleared.exit_code == 0, cleared.output
    again = runner.invoke(args=["api-client", "webhook", "clear", system.client_id])
    assert again.exit_code != 0
    db.session.rollback()
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("api_client.webhook%")))
    assert sorted(actions) == ["api_client.webhook_clear", "api_client.webhook_set"]


@dataclass(frozen=True)
class Failed:
    id: int
    key: str


def failed_delivery(app, client, world, system, receiver, clock) -> Failed:
    """An endpoint that answers 500 to everything, until the last attempt: failed."""
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    declare_and_void(client, world)
    receiver.always_fail = True
    key_id, secret = set_webhook(app, system.client_id, receiver.url)
    receiver.secrets[key_id] = secret
    clock.at(T0)
    api_events.sequence_all()
    at(clock, 31)
    rows = deliveries()
    assert rows and {(r.state, r.attempts, r.last_error) for r in rows} == {("failed", 2, "HTTP 500")}
    return Failed(rows[-1].id, rows[-1].event.key)


def test_failed_deliveries_are_listed_and_an_admin_sends_one_again(app, client, world, ctx, system, receiver, clock):
    failed = failed_delivery(app, client, world, system, receiver, clock)
    make_staff(app, "shenhe", role="reviewer")
    make_staff(app, "guanli", role="admin")
    reviewer = app.test_client()
    staff_login(reviewer, "shenhe")
    page = reviewer.page("/admin/webhooks")
    assert page.h1 == "事件推送" and failed.key in page.text and "发送失败" in page.text
    assert "HTTP 500" in page.text and page.soup.select("main form[action$='/resend']") == []
    token = page.soup.select_one("input[name=csrf_token]")["value"]
    refused = reviewer.post(f"/admin/webhooks/{failed.id}/resend", data={"csrf_token": token})
    assert refused.status_code == 403
    assert deliveries()[-1].state == "failed"  # a reviewer cannot send it again

    admin = app.test_client()
    staff_login(admin, "guanli")
    page = admin.page("/admin/webhooks")
    receiver.always_fail = False
    before = len(receiver.with_status(200))
    done = admin.submit(page, selector=f"form[action='/admin/webhooks/{failed.id}/resend']")
    assert done.h1 == "事件推送" and f"已重新发送事件 {failed.key}（已送达）" in done.text
    assert len(receiver.with_status(200)) == before + 1 and receiver.with_status(200)[-1].event_id == failed.key
    row = db.session.get(WebhookDelivery, failed.id)
    assert row.state == "sent" and row.sent_at is not None
    assert failed.key not in done.soup.select_one("table").get_text() if done.soup.select_one("table") else True
    audit = db.session.scalar(select(func.count()).select_from(AuditEntry).filter_by(action="webhook.resend"))
    assert audit == 1
    # Sent already: 重新发送 again is refused with a message, nothing sent.
    token = page.soup.select_one("input[name=csrf_token]")["value"]
    again = admin.post(f"/admin/webhooks/{failed.id}/resend", data={"csrf_token": token})
    assert again.status_code == 303 and len(receiver.with_status(200)) == before + 1
    assert "这条推送已送达，无需重新发送" in admin.page("/admin/webhooks").text


def test_the_page_and_the_resend_answer_a_fragment_to_htmx(app, client, world, ctx, system, receiver, clock):
    failed = failed_delivery(app, client, world, system, receiver, clock)
    make_staff(app, "guanli", role="admin")
    admin = app.test_client()
    assert isinstance(admin, ResidentClient)
    staff_login(admin, "guanli")
    admin.htmx = True
    page = admin.page("/admin/webhooks")
    assert "<html" not in page.response.get_data(as_text=True) and page.h1 == "事件推送"
    receiver.always_fail = False
    form = page.soup.select_one(f"form[action='/admin/webhooks/{failed.id}/resend']")
    assert form["hx-post"] == form["action"]
    done = admin.submit(page, selector=f"form[action='/admin/webhooks/{failed.id}/resend']")
    answer = done.response
    assert answer.status_code == 200 and "<html" not in answer.get_data(as_text=True)
    assert answer.headers.get("HX-Push-Url") in ("/admin/webhooks", "false")
    assert "已送达" in done.text and db.session.get(WebhookDelivery, failed.id).state == "sent"
