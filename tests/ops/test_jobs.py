"""Jobs survive in their storage: SQLite by default, Redis when configured; and the embedded
server (`make run`) consumes them itself."""

import datetime as dt
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from sbweb.db import db
from sbweb.jobs import huey, run_due_tasks
from sbweb.models import Order, SandboxNotify, SandboxTrade
from sbweb.models.base import utcnow
from sbweb.payments import sandbox
from tests.support.journeys import choose, go_to_provider, sign_in

CLEAR_PAUSES = """
from sqlalchemy import select
from sbweb import create_app
from sbweb.db import db, write_transaction
from sbweb.models import Region
from sbweb.services import standards
with create_app().app_context():
    with write_transaction():
        for region in db.session.scalars(select(Region)):
            standards.save_region(region.code, region.name, None)
"""

ROOT = Path(__file__).resolve().parents[2]


def redis_url():
    url = os.environ.get("SBWEB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("SBWEB_REQUIRE_REDIS"):
            pytest.fail(f"Redis required but not reachable at {url}: {exc}")
        print(f"SKIP reason: no Redis at {url} ({exc})")
        pytest.skip(f"no Redis at {url}")
    return url


def late_notify_is_stored_then_delivered(client, app):
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    with app.app_context():
        trade_no = db.session.scalar(select(SandboxTrade.trade_no))
        sandbox.pay(trade_no, late=True)
        assert huey.pending_count() + huey.scheduled_count() == 1  # waiting in the storage
        assert run_due_tasks(utcnow()) == 0  # not yet: it is late on purpose
        assert db.session.scalar(select(Order.state)) == "paying"
    with app.app_context():
        ran = run_due_tasks(utcnow() + dt.timedelta(minutes=1))
        assert ran == 1
        db.session.rollback()
        assert db.session.scalar(select(Order.state)) == "settled"
        assert db.session.scalar(select(SandboxNotify.delivered_at)) is not None


@pytest.mark.parametrize("app", [{"HUEY_IMMEDIATE": False}], indirect=True)
def test_a_late_notify_waits_in_sqlite_storage(app, client, world):
    assert type(huey.storage).__name__ == "SqliteStorage"
    huey.storage.flush_all()
    late_notify_is_stored_then_delivered(client, app)


def test_a_late_notify_waits_in_redis_storage(app, client, world, tmp_path):
    url = redis_url()
    app.config.update(HUEY_IMMEDIATE=False, HUEY_REDIS_URL=url)
    from sbweb import jobs

    jobs.init_app(app)
    assert type(huey.storage).__name__ == "RedisStorage"
    huey.storage.flush_all()
    try:
        late_notify_is_stored_then_delivered(client, app)
    finally:
        huey.storage.flush_all()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_embedded_server_delivers_notifies_with_its_own_consumer(tmp_path, key_dir):
    """`flask serve` (what `make run` runs) pays a due end to end over real HTTP, and its
    in-process consumer delivers the sandbox's notify without anyone opening the order."""
    import requests

    env = {
        **os.environ,
        "SBWEB_INSTANCE_PATH": str(tmp_path),
        "FLASK_APP": "app",
        "SBWEB_PAYMENT_KEY_DIR": str(key_dir),
    }
    env.pop("DATABASE_URL", None)
    flask = [sys.executable, "-m", "flask"]
    for step in (["db", "upgrade"], ["demo", "load"]):
        subprocess.run(flask + step, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    # The demo regions pause payments 22:50-00:10 Shanghai time (对账时段); this real server runs
    # on the wall clock, so the windows are cleared first, as the load run does.
    subprocess.run(
        [sys.executable, "-c", CLEAR_PAUSES], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120
    )
    port = free_port()
    server = subprocess.Popen(
        flask + ["serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        web = requests.Session()
        deadline = time.monotonic() + 30
        while True:
            try:
                if web.get(base + "/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the embedded server did not start"
            time.sleep(0.2)

        def csrf(html):
            return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)

        page = web.get(base + "/auth/manual?next=/selfpay/")
        web.post(
            base + "/auth/manual",
            data={
                "csrf_token": csrf(page.text),
                "id_type": "201",
                "id_number": "520102198503151246",
                "name": "王芳",
                "next": "/selfpay/",
            },
        )
        dues = web.get(base + "/selfpay/520102200000012346/dues")
        ids = re.findall(r'name="dues" value="(\d+)"', dues.text)
        confirm = web.post(dues.url, data={"csrf_token": csrf(dues.text), "dues": ids})
        shown = re.search(r'name="shown"[^>]*value="([^"]+)"', confirm.text).group(1)
        method = web.post(base + "/selfpay/confirm", data={"csrf_token": csrf(confirm.text), "shown": shown})
        selection = re.search(r'name="selection"[^>]*value="([^"]+)"', method.text).group(1)
        cashier = web.post(
            base + "/selfpay/method",
            data={"csrf_token": csrf(method.text), "channel": "alipay", "selection": selection},
        )
        assert "付款详情" in cashier.text
        trade_no = re.search(r"/sandbox/cashier/(\d+)", cashier.text).group(1)
        paid = web.post(
            f"{base}/sandbox/cashier/{trade_no}",
            data={"csrf_token": csrf(cashier.text), "action": "pay"},
            allow_redirects=False,
        )
        assert paid.status_code == 303

        database = tmp_path / "sbweb.sqlite3"
        deadline = time.monotonic() + 20
        while True:
            with sqlite3.connect(database) as conn:
                state = conn.execute("select state from orders").fetchone()[0]
                delivered = conn.execute("select delivered_at from sandbox_notifies").fetchone()
            if state == "settled" and delivered and delivered[0]:
                break
            assert time.monotonic() < deadline, f"order still {state}; notify {delivered}"
            time.sleep(0.2)
    finally:
        server.terminate()
        try:
            output = server.communicate(timeout=10)[0].decode("utf-8", "replace")
        except subprocess.TimeoutExpired:
            server.kill()
            output = server.communicate()[0].decode("utf-8", "replace")
    assert "Traceback" not in output, output
    assert "520102198503151246" not in output  # the access log never shows an ID number
