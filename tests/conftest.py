"""Fixtures that build the world the way the app does: a migrated database (SQLite, or
PostgreSQL when DATABASE_URL says so), the app, a resident's client, the demo residents.
The browser fixtures (live_server, page, shot, axe) are in tests/support/browser.py, the page
checks in tests/support/__init__.py; tests/<journey>/ holds the tests of sbweb/views/<journey>.py."""

import datetime as dt
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from jinja2 import BytecodeCache
from sqlalchemy import text

from sbweb import create_app
from sbweb.db import db
from tests.support import ResidentClient, snapshots

pytest_plugins = ["tests.support.browser"]  # Chromium, the app over HTTP, screenshots, axe-core

DATABASE_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = DATABASE_URL.startswith("postgresql")
KEEP_TABLES = {"alembic_version"}


class MemoryBytecodeCache(BytecodeCache):
    """Compiled templates shared by every test's app in this process."""

    def __init__(self):
        self.store = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket):
        self.store[bucket.key] = bucket.bytecode_to_string()


JINJA_CACHE = MemoryBytecodeCache()


def pytest_report_header(config):
    return f"database: {'PostgreSQL ' + DATABASE_URL if ON_POSTGRES else 'SQLite (set DATABASE_URL for PostgreSQL)'}"


@pytest.fixture(scope="session")
def key_dir(tmp_path_factory):
    """One set of sandbox keys for the whole run (RSA key generation is the slow part)."""
    return tmp_path_factory.mktemp("keys")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _base_config(tmp_path: Path, key_dir: Path, database_uri: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "PAYMENT_KEY_DIR": str(key_dir),
        # The static files' versions, written once per run (beside the keys), not once per test.
        "ASSET_DIR": str(key_dir.parent / "assets"),
        "HUEY_IMMEDIATE": True,
        "SERVER_NAME": None,
    }


def _postgres_worker_url() -> str:
    """A database of its own per xdist worker, made on first use."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(DATABASE_URL)
    name = f"{url.database}_{_worker()}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'create database "{name}"')
        # A test's commit need not wait for the disk (a crash loses nothing a test needs); on a
        # slow disk every commit's WAL flush otherwise costs milliseconds, thousands of times.
        conn.execute(f'alter database "{name}" set synchronous_commit = off')
    return url.set(database=name, drivername="postgresql+psycopg").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory, key_dir):
    """Run the real migrations once: into a template SQLite file copied for each test, or into
    this worker's PostgreSQL database that each test then empties."""
    from flask_migrate import upgrade

    base = tmp_path_factory.mktemp("db")
    if ON_POSTGRES:
        uri = _postgres_worker_url()
        app = create_app(_base_config(base, key_dir, uri))
        with app.app_context():
            with db.engine.begin() as conn:
                conn.execute(text("drop schema public cascade"))
                conn.execute(text("create schema public"))
                snapshots.drop_kept_schemas(conn)
            upgrade()
            db.engine.dispose()
        return uri
    template = base / "template.sqlite3"
    app = create_app(_base_config(base, key_dir, f"sqlite:///{template}"))
    with app.app_context():
        upgrade()
        db.session.remove()
        db.engine.dispose()
    with sqlite3.connect(template) as conn:
        conn.execute("pragma wal_checkpoint(truncate)")
    return template


_EMPTYING: list[str] = []  # the statement that empties the worker's database, made once


def _empty_postgres():
    """Every table emptied and every sequence restarted, as TRUNCATE … RESTART IDENTITY would,
    in one round trip of DELETEs (TRUNCATE of 43 tables costs ~0.15 s, this ~0.015 s). Foreign
    keys are off for the transaction (superuser, as in CI); without that right, TRUNCATE."""
    if not _EMPTYING:
        sequences = db.session.execute(
            text("select sequencename from pg_sequences where schemaname = 'public'")
        ).scalars()
        tables = [t.name for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]
        statements = ["set local session_replication_role = replica"]
        statements += [f'delete from "{name}"' for name in reversed(tables)]
        statements += [f'alter sequence "{name}" restart' for name in sequences]
        _EMPTYING.append("; ".join(statements))
        _EMPTYING.append(f"truncate {', '.join(tables)} restart identity cascade")
    try:
        db.session.connection().exec_driver_sql(_EMPTYING[0])
    except Exception as error:  # no superuser: the slower statement from now on
        if "session_replication_role" not in str(error):
            raise
        db.session.rollback()
        _EMPTYING.pop(0)
        db.session.connection().exec_driver_sql(_EMPTYING[0])
    db.session.commit()


@pytest.fixture
def app_config():
    """Settings every app of a test gets on top of the base ones: a folder's conftest or a
    module overrides this (e.g. a real provider's adapter pointed at a local fake)."""
    return {}


@pytest.fixture
def app(tmp_path, key_dir, migrated_database, request, app_config):
    if ON_POSTGRES:
        uri = migrated_database
    else:
        path = tmp_path / "sbweb.sqlite3"
        shutil.copy(migrated_database, path)
        uri = f"sqlite:///{path}"
    config = _base_config(tmp_path, key_dir, uri)
    config.update(app_config)
    config.update(getattr(request, "param", None) or {})
    config.setdefault("TEST_WORLD_COPIES", True)  # World.load copies the worker's first load in
    application = create_app(config)
    application.jinja_env.bytecode_cache = JINJA_CACHE  # templates compile once per run
    with application.app_context():
        if ON_POSTGRES:
            _empty_postgres()
        if application.config["TEST_WORLD_COPIES"]:
            snapshots.note_pristine(snapshots.database_key(), lambda: snapshots.row_counts())
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    app.test_client_class = ResidentClient
    return app.test_client()


@pytest.fixture
def htmx_client(app):
    app.test_client_class = ResidentClient
    c = app.test_client()
    c.htmx = True
    return c


@pytest.fixture
def world(app):
    """The demo residents with their dues, loaded by the demo loader (dated today)."""
    from tests.support.journeys import World

    with app.app_context():
        return World.load()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


# 2026-11-23 12:00 in Shanghai: flexible 2026 months and residents' 2027 year are being collected
# (sbweb/data/standards.toml); tests that depend on the standards' windows run at this time.
COLLECTING = dt.datetime(2026, 11, 23, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    """Set the app's clock: `clock.at(datetime)`; it stands still until set again."""
    from sbweb import clock as app_clock

    class Clock:
        now = COLLECTING

        def at(self, moment: dt.datetime):
            self.now = moment
            app_clock.set_source(lambda: self.now)
            return moment

    c = Clock()
    c.at(COLLECTING)
    yield c
    app_clock.set_source(None)
