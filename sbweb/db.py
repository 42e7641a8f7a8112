"""The database handle and the one way the app writes: `write_transaction()`.

SQLite only lets one writer in at a time; a read transaction that later writes can fail at
once with "database is locked" whatever the busy timeout. So on SQLite a write transaction
starts with BEGIN IMMEDIATE (it queues for the write lock up front) and reads use plain
BEGIN. PostgreSQL needs neither: its row locks and the conditional updates in the payment
core decide races there.

A pooled SQLite connection stays with the file it opened even when that file is moved away or
replaced (a restore): so each checkout checks that the file at the path is still the one it
opened, and reconnects if not — which, the URL opening existing files only (sbweb.database),
fails while the file is gone, and the request gets a 503 instead of writing into a file nobody
will find again.
"""

import os
from contextlib import contextmanager
from contextvars import ContextVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, object_mapper
from sqlalchemy.orm.attributes import set_committed_value

from sbweb.database import sqlite_file

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

_immediate = ContextVar("sbweb_begin_immediate", default=False)
# The rows a write transaction's commit must not expire (see `hold_after_commit`).
_held: ContextVar[list | None] = ContextVar("sbweb_held_after_commit", default=None)


def _is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def prepare_sqlite(engine: Engine) -> None:
    """Take transaction control from pysqlite so BEGIN can be IMMEDIATE when writing."""
    if not _is_sqlite(engine):
        return

    path = sqlite_file(engine.url)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, record):
        record.info["sbweb_file"] = _file_id(path)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")  # (the busy timeout is pysqlite's `timeout`: SQLITE_BUSY_TIMEOUT)
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "checkout")
    def _same_file(_dbapi_connection, record, _proxy):
        if path is not None and _file_id(path) != record.info.get("sbweb_file"):
            raise DisconnectionError(f"{path} was moved, deleted or replaced since this connection opened it")

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


def _file_id(path) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_dev, found.st_ino


@contextmanager
def write_transaction():
    """Run a unit of work that writes, committing at the end or rolling back on error.

    Any read transaction the request had open is ended first, so the write starts fresh
    (and, on SQLite, holds the write lock from its first statement)."""
    if _immediate.get():
        raise RuntimeError("write_transaction() does not nest")
    session = db.session
    session.commit()
    token, held = _immediate.set(True), _held.set([])
    try:
        yield session
        session.flush()
        kept = [(obj, _loaded_columns(obj)) for obj in _held.get()]
        session.commit()
        for obj, values in kept:
            for key, value in values.items():
                set_committed_value(obj, key, value)
    except BaseException:
        session.rollback()
        raise
    finally:
        _held.reset(held)
        _immediate.reset(token)


def hold_after_commit(*objs) -> None:
    """Inside a write transaction: these rows keep, after its commit, the column values they hold
    at its end (what this transaction wrote or read under its locks) instead of being expired
    and read again one by one on next use. Only for rows the transaction itself wrote or locked,
    so that what they hold is what was committed; a column the database sets by itself (onupdate)
    is expired by `written` and so read again if used. Relationships are expired as usual."""
    held = _held.get()
    if held is None:
        raise RuntimeError("hold_after_commit() outside a write transaction")
    held.extend(objs)


def _loaded_columns(obj) -> dict:
    state = inspect(obj)
    loaded = state.dict
    return {prop.key: loaded[prop.key] for prop in state.mapper.column_attrs if prop.key in loaded}


def written(obj, known: dict, others=()) -> None:
    """After a conditional UPDATE of `obj`'s row (synchronize_session=False) that matched: hold
    the `known` values it wrote (state, version + 1) without reading the row back, and expire
    the `others` it wrote and the columns updated by the database itself (onupdate), which are
    read again only if used."""
    for key, value in known.items():
        set_committed_value(obj, key, value)
    stale = set(others) | {
        column.key
        for column in object_mapper(obj).column_attrs
        if any(c.onupdate is not None or c.server_onupdate is not None for c in column.columns)
    }
    if stale:
        db.session.expire(obj, list(stale))
