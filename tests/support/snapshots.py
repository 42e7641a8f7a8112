"""The demo world loaded once per worker and date, then copied into each test's database.

Loading the demo residents through the app's services costs ~0.1 s (SQLite) to ~0.4 s
(PostgreSQL) a test, and most tests start from it. The first `World.load()` of a worker on a
given date runs the real loader and keeps a copy of the result; later ones on a database in the
state every test starts from (what the app fixture prepares, checked by counting the rows of every
table) copy it in instead. A database some fixture has already written to gets the real loader.

- SQLite: the copy is a second database file, written and read with SQLite's backup API (the
  test's file keeps its inode, which the app checks on every checkout).
- PostgreSQL: the copy is a schema of its own (`world_<date>`) in the worker's database, copied
  back with INSERT … SELECT with foreign-key triggers off for the transaction (the order↔due
  and due↔declaration references point both ways), and the sequences set as they were.
"""

import datetime as dt
import sqlite3

from sqlalchemy import text

from sbweb.database import sqlite_file
from sbweb.db import db

KEEP_TABLES = {"alembic_version"}
_kept: dict[tuple, object] = {}  # (database, date) → a SQLite file's path, or PostgreSQL's sequence values
_pristine: dict[str, tuple] = {}  # database → the row counts a test's database starts with
SCHEMA_PREFIX = "world_"


def tables() -> list[str]:
    return [t.name for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]


def row_counts() -> tuple:
    """Every table's row count, in one statement."""
    counts = ", ".join(f'(select count(*) from "{name}")' for name in tables())
    return tuple(db.session.execute(text(f"select {counts}")).one())


def note_pristine(database: str, counts) -> None:
    """What the app fixture's database holds before a test writes (counted once per worker)."""
    if database not in _pristine:
        _pristine[database] = counts()


def database_key() -> str:
    """Every test's SQLite file is a copy of one template; PostgreSQL's is the worker's database."""
    return db.engine.url.render_as_string(hide_password=True) if db.engine.dialect.name != "sqlite" else "sqlite"


def restore(today: dt.date) -> bool:
    """Copy the kept world in, if there is one for today and this database is as the fixture
    made it. True when copied."""
    key = (database_key(), today)
    if key not in _kept or _pristine.get(key[0]) != row_counts():
        return False
    if db.engine.dialect.name == "sqlite":
        db.session.remove()
        db.engine.dispose()
        with sqlite3.connect(_kept[key]) as source, sqlite3.connect(sqlite_file(db.engine.url)) as target:
            source.backup(target)
        source.close()
        target.close()
        return True
    schema = _schema(today)
    statements = ["set local session_replication_role = replica"]
    statements += [f'insert into public."{name}" select * from {schema}."{name}"' for name in tables()]
    statements += [f"select setval('public.\"{name}\"', {value}, true)" for name, value in _kept[key]]
    try:
        db.session.connection().exec_driver_sql("; ".join(statements))
    except Exception as error:  # not a superuser: the loader runs each time
        if "session_replication_role" not in str(error):
            raise
        db.session.rollback()
        _pristine.clear()
        return False
    db.session.commit()
    return True


def keep(today: dt.date, before: tuple) -> None:
    """After the real loader ran on a pristine database: keep what it wrote."""
    database = database_key()
    if _pristine.get(database) != before:
        return
    if db.engine.dialect.name == "sqlite":
        path = sqlite_file(db.engine.url)
        kept = path.parent.parent / "worlds" / f"world-{today:%Y%m%d}.sqlite3"
        kept.parent.mkdir(exist_ok=True)
        db.session.remove()
        with sqlite3.connect(path) as source, sqlite3.connect(kept) as target:
            source.backup(target)
        source.close()
        target.close()
        _kept[(database, today)] = kept
        return
    schema = _schema(today)
    conn = db.session.connection()
    conn.exec_driver_sql(f"drop schema if exists {schema} cascade; create schema {schema}")
    conn.exec_driver_sql("; ".join(f'create table {schema}."{name}" as table public."{name}"' for name in tables()))
    sequences = conn.exec_driver_sql(
        "select sequencename, last_value from pg_sequences where schemaname = 'public' and last_value is not null"
    ).all()
    db.session.commit()
    _kept[(database, today)] = [(name, value) for name, value in sequences]


def drop_kept_schemas(connection) -> None:
    """At the start of a PostgreSQL run: the last run's copies go (their sequences are not known)."""
    names = connection.execute(
        text("select schema_name from information_schema.schemata where schema_name like :prefix"),
        {"prefix": SCHEMA_PREFIX + "%"},
    ).scalars()
    for name in list(names):
        connection.execute(text(f'drop schema "{name}" cascade'))


def _schema(today: dt.date) -> str:
    return f"{SCHEMA_PREFIX}{today:%Y%m%d}"
