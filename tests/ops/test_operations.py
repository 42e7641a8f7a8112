"""The operator's doors (issue 19): /healthz, /readyz and /metrics, the consumer's heartbeat, the
ledger check's last result, 运行状态 in the back office, and the sample alert rules."""

import datetime as dt
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from sbweb import create_app, jobs, ops
from sbweb.db import db
from sbweb.models import Order
from tests.admin.test_admin import make_staff, staff_login
from tests.conftest import ON_POSTGRES, _base_config
from tests.support.journeys import choose, pay, sign_in

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def scrape(client, **kwargs) -> dict[tuple, float]:
    """GET /metrics parsed by prometheus_client's own parser: {(sample name, labels...): value}."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data[:300]
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, *sorted(sample.labels.items()))] = sample.value
    return found


def requests_counted(samples, endpoint, status="200", method="GET") -> float:
    return samples.get(("sbweb_http_requests_total", ("endpoint", endpoint), ("method", method), ("status", status)), 0)


def readyz(client):
    response = client.get("/readyz")
    body = response.get_json()
    assert set(body) == {"status", "checks"}
    return response.status_code, body["checks"]


# -- /healthz and /readyz ---------------------------------------------------------------------------


def test_healthz_answers_without_the_database_a_session_or_a_trusted_host(tmp_path, key_dir):
    nowhere = f"sqlite:///{tmp_path / 'never-made.sqlite3'}"  # opened, never created: no database
    app = create_app({**_base_config(tmp_path, key_dir, nowhere), "TRUSTED_HOSTS": ["pay.example.cn"]})
    client = app.test_client()
    response = client.get("/healthz", headers={"Host": "10.0.0.7:8000"})
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})
    assert "Set-Cookie" not in response.headers
    # Another path for that host is still refused.
    assert client.get("/", headers={"Host": "10.0.0.7:8000"}).status_code == 400


def test_readyz_is_200_on_the_embedded_default_and_503_naming_the_database_once_it_is_gone(app, tmp_path):
    if ON_POSTGRES:
        pytest.skip("a SQLite file moved away; PostgreSQL's case is test_readyz_on_postgresql_…")
    client = app.test_client()
    status, checks = readyz(client)
    # Tests run jobs inline (HUEY_IMMEDIATE): there is no consumer to beat.
    assert (status, checks) == (200, {"database": "ok", "migrations": "ok", "jobs": "immediate", "providers": "ok"})
    (tmp_path / "sbweb.sqlite3").rename(tmp_path / "moved.sqlite3")
    with app.app_context():
        db.engine.dispose()
    status, checks = readyz(client)
    assert status == 503
    assert checks["database"].startswith("unreachable"), checks
    assert "migrations" not in checks and checks["providers"] == "ok"
    # /metrics still answers with the request counters, and says the figures could not be read.
    samples = scrape(client)
    assert samples[("sbweb_figures_up",)] == 0 and not any(key[0] == "sbweb_orders" for key in samples)
    assert requests_counted(samples, "ops.readyz", status="503") >= 1


def test_readyz_names_a_schema_behind_the_release(app):
    def set_revision(revision):
        with app.app_context():
            db.session.execute(db.text("update alembic_version set version_num = :r"), {"r": revision})
            db.session.commit()

    (head,) = ops.migration_heads()
    set_revision("0024")
    try:
        status, checks = readyz(app.test_client())
    finally:
        set_revision(head)  # on PostgreSQL the worker's database outlives the test
    assert status == 503
    assert checks["database"] == "ok"
    assert checks["migrations"] == f"at 0024, release needs {head}: run flask db upgrade"


@pytest.fixture
def consumer_app(app_config, tmp_path, key_dir, migrated_database):
    """An app whose jobs go through a queue (huey's SQLite file in its instance folder) for a
    consumer, as `make run` has them, instead of running inline."""
    if str(migrated_database).startswith("postgresql"):
        uri = migrated_database
    else:
        shutil.copy(migrated_database, tmp_path / "sbweb.sqlite3")
        uri = f"sqlite:///{tmp_path / 'sbweb.sqlite3'}"
    application = create_app({**_base_config(tmp_path, key_dir, uri), **app_config, "HUEY_IMMEDIATE": False})
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def test_readyz_wants_a_heartbeat_of_the_consumer_younger_than_two_minutes(consumer_app, clock):
    client = consumer_app.test_client()
    status, checks = readyz(client)
    assert status == 503 and checks["jobs"] == "no heartbeat from the job consumer"
    jobs.heartbeat.call_local()  # what the consumer runs every minute; it queues a lag probe
    status, checks = readyz(client)
    assert (status, checks["jobs"]) == (200, "ok"), checks
    clock.at(clock.now + dt.timedelta(seconds=7))
    assert jobs.run_due_tasks(clock.now) == 1  # a worker takes the probe 7 s after it was queued
    clock.at(clock.now + dt.timedelta(seconds=112))
    assert readyz(client)[0] == 200
    clock.at(clock.now + dt.timedelta(seconds=61))
    status, checks = readyz(client)
    assert status == 503 and checks["jobs"] == "consumer heartbeat 180 s old (limit 120 s)"
    samples = scrape(client)
    assert samples[("sbweb_jobs_heartbeat_age_seconds",)] == 180
    assert samples[("sbweb_jobs_lag_seconds",)] == 7


@pytest.mark.parametrize(
    "app_config", [{"HUEY_REDIS_URL": "redis://127.0.0.1:1/0", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}]
)
def test_readyz_is_503_when_redis_does_not_answer(app):
    status, checks = readyz(app.test_client())
    assert status == 503
    assert checks["redis"] == "unreachable (ConnectionError)"
    assert checks["database"] == "ok"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


OWN_REDIS_PORT = _free_port()


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "HUEY_REDIS_URL": f"redis://127.0.0.1:{OWN_REDIS_PORT}/0",
            "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{OWN_REDIS_PORT}/0",
        }
    ],
)
def test_readyz_follows_a_real_redis_that_stops(app):
    """A redis-server of this test's own (the shared one stays up: other runs use it): ready while
    it answers, 503 naming Redis once it is shut down."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("SBWEB_REQUIRE_REDIS"):
            pytest.fail("redis-server is required here (SBWEB_REQUIRE_REDIS) but not installed")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    import redis

    process = subprocess.Popen(
        [server, "--port", str(OWN_REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=OWN_REDIS_PORT, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:  # until it answers
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client = app.test_client()
        status, checks = readyz(client)
        assert (status, checks["redis"]) == (200, "ok"), checks
        probe.shutdown(nosave=True)
        process.wait(timeout=10)
        status, checks = readyz(client)
        assert status == 503 and checks["redis"].startswith("unreachable"), checks
        assert checks["database"] == "ok"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _pg_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=2).close()
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.mark.postgres
def test_readyz_on_postgresql_is_503_when_it_does_not_answer_in_1_s_or_its_database_is_dropped(tmp_path, key_dir):
    """A PostgreSQL database of this test's own (the shared server stays up: other runs use it):
    migrated and ready, held up by a lock, then dropped under the app."""
    if not _pg_reachable():
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}")
    import psycopg
    from flask_migrate import upgrade

    name = f"sbweb_ops_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    app = create_app(_base_config(tmp_path, key_dir, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"))
    try:
        with app.app_context():
            upgrade()
        client = app.test_client()
        assert readyz(client) == (200, {"database": "ok", "migrations": "ok", "jobs": "immediate", "providers": "ok"})
        samples = scrape(client)  # the figures' queries run on PostgreSQL too
        assert samples[("sbweb_figures_up",)] == 1 and samples[("sbweb_lookup_keys_at_limit", ("limit", "number"))] == 0
        # A database that holds the check up (a lock here) is given up after 1 s.
        with psycopg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}") as holder:
            holder.execute("lock table alembic_version in access exclusive mode")
            started = dt.datetime.now()
            status, checks = readyz(client)
            assert (status, checks["database"]) == (503, "no answer within 1 s"), checks
            assert dt.datetime.now() - started < dt.timedelta(seconds=3)  # not the 20 s statement timeout
        assert readyz(client)[0] == 200
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'drop database "{name}" with (force)')
        started = dt.datetime.now()
        status, checks = readyz(client)
        assert status == 503 and checks["database"].startswith("unreachable"), checks
        assert dt.datetime.now() - started < dt.timedelta(seconds=3)
    finally:
        with app.app_context():
            db.engine.dispose()
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


# -- /metrics ------------------------------------------------------------------------------------------


def test_metrics_count_the_requests_made_by_route_name_and_payments_as_the_database_holds_them(app, client, world):
    before = scrape(client)
    for _ in range(3):
        client.get("/")
    client.get("/orders/SB2026000000000000")  # an order nobody has: counted by route, not by path
    sign_in(client, "王芳")
    pay(client, choose(client, "medical"))
    after = scrape(client)

    assert requests_counted(after, "home.index") - requests_counted(before, "home.index") == 3
    assert not any("SB2026" in str(key) for key in after)
    assert requests_counted(after, "ops.scrape") - requests_counted(before, "ops.scrape") == 1
    count = ("sbweb_http_request_duration_seconds_count", ("endpoint", "home.index"), ("method", "GET"))
    assert after[count] - before.get(count, 0) == 3

    with app.app_context():
        settled = db.session.scalar(select(func.count()).select_from(Order).where(Order.state == "settled"))
    key = ("sbweb_payments_total", ("provider", "sandbox"), ("state", "settled"))
    assert settled == 1 and after[key] - before.get(key, 0) == settled
    assert after[("sbweb_orders", ("state", "settled"))] == 1
    assert after[("sbweb_orders_paying_stale",)] == 0
    assert after[("sbweb_figures_up",)] == 1
    assert after[("sbweb_instance_disk_free_bytes",)] > 0


def test_metrics_count_refused_notifies_and_show_failed_mails_and_open_differences(app, client, world, clock):
    from sbweb.models import OutboxMail, ReconDifference, ReconRun

    before = scrape(client)
    assert client.post("/notify/sandbox", data={"out_trade_no": "SB1", "sign": "forged"}).status_code == 200
    with app.app_context():
        db.session.add(
            OutboxMail(
                person_id=world.people["王芳"],
                to_addr="wf@example.cn",
                subject="s",
                body="b",
                state="failed",
                attempts=6,
            )
        )
        run = ReconRun(provider="sandbox", day=dt.date(2026, 11, 22), matched=0, differences=1)
        db.session.add(run)
        db.session.flush()
        db.session.add(ReconDifference(run_id=run.id, kind="missing_here", out_trade_no="SB2", provider_fen=100))
        db.session.commit()
    after = scrape(client)
    key = ("sbweb_notify_refused_total", ("provider", "sandbox"), ("reason", "invalid"))
    assert after[key] - before.get(key, 0) == 1
    assert after[("sbweb_outbox_mails", ("state", "failed"))] == 1
    assert after[("sbweb_reconciliation_differences_open",)] == 1

    make_staff(app, "guanli", role="admin")
    staff_login(client, "guanli")
    warned = [row.get_text(" ", strip=True) for row in client.page("/admin/status").soup.select("td.warn")]
    assert "需处理： 待发送 0 封，发送失败 1 封" in warned and "需处理： 1 条" in warned, warned


def test_metrics_refuse_an_address_not_allowed(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    app.config["METRICS_ALLOW"] = ("203.0.113.0/24",)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert client.get("/metrics").status_code == 403


def test_the_ledger_checks_result_and_time_reach_metrics_and_the_status_page(app, client, world, clock):
    result = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    samples = scrape(client)
    assert samples[("sbweb_ledger_check_violations",)] == 0
    assert samples[("sbweb_ledger_check_timestamp_seconds",)] == clock.now.timestamp()

    make_staff(app, "guanli", role="admin")
    staff_login(client, "guanli")
    page = client.page("/admin/status")
    text = page.soup.get_text(" ", strip=True)
    assert "运行状态" in text and "服务正常，可以缴费" in text
    assert "账目核对（flask ledger check） 0 秒前：账目一致 每天运行，结果一致" in text
    assert "支付中超过 10 分钟的订单 0 笔 应为 0 笔；超过 10 笔告警" in text
    assert page.soup.select_one("nav.admin-nav a[href='/admin/status']") is not None


def test_the_status_page_is_for_admins_only(app, client, world):
    make_staff(app, "shenhe", role="reviewer")
    staff_login(client, "shenhe")
    assert client.get("/admin/status").status_code == 403


# -- the alert rules -------------------------------------------------------------------------------------


def test_the_alert_rules_pass_promtool_and_name_only_metrics_the_app_exports(app, client, world):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    done = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run(
        [promtool, "check", "config", str(RULES.with_name("prometheus.yml"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    exported = {family.name for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}
    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    named = {name.removesuffix("_total") for rule in rules for name in re.findall(r"\bsbweb_\w+", rule["expr"])}
    assert named and named <= exported, named - exported
    assert {rule["alert"] for rule in rules} >= {
        "SbwebPaymentsFailing",
        "SbwebPayingPilingUp",
        "SbwebJobConsumerDown",
        "SbwebOutboxFailing",
        "SbwebLedgerCheckFailing",
        "SbwebDiskFilling",
    }
    readme = (ROOT / "README.md").read_text()
    for rule in rules:
        assert f"`{rule['alert']}`" in readme, f"the README says nothing of {rule['alert']}"
