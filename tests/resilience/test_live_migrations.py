"""`flask db upgrade` on a PostgreSQL database the app is using: every revision applies, one at a
time, on top of real data while the app reads; and a migration that cannot get its table lock
gives up with a clear error instead of queueing forever (with the app's queries behind it)."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from sbweb import create_app
from sbweb.db import db
from sbweb.models import Due, Order, Person
from tests.conftest import ON_POSTGRES, _base_config
from tests.support import ResidentClient
from tests.support.databases import scratch_postgres
from tests.support.journeys import World, choose, pay, sign_in

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = sorted((ROOT / "sbweb/migrations/versions").glob("0*.py"))
REVISIONS = [p.name.split("_")[0] for p in VERSIONS]
# Revisions that change a table already there (and so need its exclusive lock); one that only
# creates new tables waits for no one.
ALTERING = [
    p.name.split("_")[0]
    for p in VERSIONS
    if any(op in p.read_text() for op in ("add_column", "alter_column", "drop_column"))
]


@pytest.fixture
def empty_database():
    """A PostgreSQL database of this test's own, dropped afterwards."""
    if not ON_POSTGRES:
        print("SKIP reason: migrations on a live database are a PostgreSQL matter (set DATABASE_URL)")
        pytest.skip("needs PostgreSQL (DATABASE_URL=postgresql+psycopg://…)")
    with scratch_postgres("migrate") as url:
        yield url


def _app(tmp_path, key_dir, uri, **config):
    app = create_app({**_base_config(tmp_path, key_dir, uri), **config})
    app.test_client_class = ResidentClient
    return app


def _revision(app) -> str:
    with app.app_context():
        version = db.session.scalar(text("select version_num from alembic_version"))
        db.session.remove()
        return version


class Reader(threading.Thread):
    """The live app meanwhile: short read transactions on the busiest tables, back to back."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app, self.stop, self.reads, self.errors = app, threading.Event(), 0, []

    def run(self):
        with self.app.app_context():
            while not self.stop.is_set():
                try:
                    db.session.scalar(select(func.count()).select_from(Person))
                    db.session.scalar(select(func.count()).select_from(Due).where(Due.state == "open"))
                    self.reads += 1
                except Exception as exc:  # noqa: BLE001 - a table mid-change may be missing
                    self.errors.append(exc.__class__.__name__)
                finally:
                    db.session.rollback()
                time.sleep(0.01)
            db.session.remove()


def test_every_revision_upgrades_one_at_a_time_under_reads_with_data_kept(tmp_path, key_dir, empty_database):
    from flask_migrate import downgrade, upgrade

    app = _app(tmp_path, key_dir, empty_database)
    with app.app_context():
        upgrade()
        World.load()
    client = app.test_client()
    sign_in(client, "王芳")
    paid = pay(client, choose(client, "medical"))
    assert paid.h1 == "缴费结果", paid.text
    with app.app_context():
        before = {
            "persons": db.session.scalar(select(func.count()).select_from(Person)),
            "paid dues": db.session.scalar(select(func.count()).select_from(Due).where(Due.state == "paid")),
            "settled": db.session.scalar(select(func.count()).select_from(Order).where(Order.state == "settled")),
        }
        assert before["paid dues"] >= 1 and before["settled"] == 1
        db.session.commit()  # our own read must not hold the tables the downgrade alters
        downgrade(revision=REVISIONS[0])  # back to the first schema; its tables keep their rows
        db.session.remove()
    assert _revision(app) == REVISIONS[0]

    reader = Reader(app)
    reader.start()
    try:
        for revision in REVISIONS[1:]:
            with app.app_context():
                upgrade(revision="+1")
            assert _revision(app) == revision
    finally:
        reader.stop.set()
        reader.join(timeout=10)
    assert reader.reads > 0 and not reader.errors, reader.errors

    with app.app_context():
        after = {
            "persons": db.session.scalar(select(func.count()).select_from(Person)),
            "paid dues": db.session.scalar(select(func.count()).select_from(Due).where(Due.state == "paid")),
            "settled": db.session.scalar(select(func.count()).select_from(Order).where(Order.state == "settled")),
        }
        db.session.remove()
    assert after == before
    other = app.test_client()  # and the upgraded database serves a payment
    sign_in(other, "王芳")
    assert pay(other, choose(other, "pension")).h1 == "缴费结果"


def test_a_migration_blocked_by_an_open_transaction_gives_up_with_a_clear_error(tmp_path, key_dir, empty_database):
    import psycopg
    from flask_migrate import upgrade

    last = ALTERING[-1]
    previous = REVISIONS[REVISIONS.index(last) - 1]
    app = _app(tmp_path, key_dir, empty_database)
    with app.app_context():
        upgrade(revision=previous)
        db.session.remove()
        db.engine.dispose()
    # A transaction of the live app that has read every table and not ended: whatever table the
    # revision alters, it cannot have its exclusive lock while this is open.
    blocker = psycopg.connect(
        make_url(empty_database).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    tables = [r[0] for r in blocker.execute("select tablename from pg_tables where schemaname = 'public'")]
    for table in tables:
        blocker.execute(f'select 1 from "{table}" limit 1')
    env = {
        **os.environ,
        "FLASK_APP": "app",
        "DATABASE_URL": empty_database,
        "SBWEB_INSTANCE_PATH": str(tmp_path / "instance"),
        "SBWEB_PAYMENT_KEY_DIR": str(key_dir),
        "SBWEB_SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
        "SBWEB_HUEY_IMMEDIATE": "1",
        "SBWEB_MIGRATION_LOCK_TIMEOUT": "1",
    }
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "db", "upgrade", last],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("flask db upgrade was still waiting for its lock after 60 s")
    finally:
        blocker.rollback()
        blocker.close()
    took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert "migration gave up: a table lock was not granted within 1 s (MIGRATION_LOCK_TIMEOUT)" in done.stderr
    assert "no revision was applied" in done.stderr
    assert "Traceback" not in done.stderr
    assert took < 30
    assert _revision(app) == previous  # the revision that gave up left nothing behind
    with app.app_context():  # and once the transaction has ended, it goes through
        upgrade(revision=last)
        db.session.remove()
    assert _revision(app) == last
