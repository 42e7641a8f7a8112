"""`flask backup` and `flask restore`: a consistent copy of the app's database, and putting one
back. SQLite through its online backup API (a snapshot, safe while the app writes: a plain copy
of a live WAL database can be torn), PostgreSQL through `pg_dump --format=custom` and
`pg_restore`. Copies go to instance/backups/ (files 0600, the folder 0700) unless a path is
given. A restore never replaces a database that is there without --force, and then backs it
up first; each says what it did in one line.
"""

import datetime as dt
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from sbweb import database

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore refused or failed; the message is one line for the operator."""


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def default_path(instance_path, url, note: str = "") -> Path:
    """instance/backups/sbweb-<UTC time>[-note].sqlite3 (or .dump for PostgreSQL)."""
    suffix = ".sqlite3" if database.sqlite_file(url) is not None else ".dump"
    folder, name = database.backup_folder(instance_path), f"sbweb-{_stamp()}{note}"
    path, n = folder / f"{name}{suffix}", 1
    while path.exists():  # two in one second
        n += 1
        path = folder / f"{name}-{n}{suffix}"
    return path


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _new_file_place(path: Path) -> Path:
    path = Path(path)
    if path.exists():
        raise BackupError(f"{database.shown_path(path)} exists already: give another name")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _described(revision, orders) -> str:
    return f"{orders} orders, revision {revision or 'none'}"


# -- backup ------------------------------------------------------------------------------------


def backup(engine, instance_path, path=None) -> str:
    """Copy the database to `path` (default: a new file in instance/backups/); what was done."""
    path, state = _backup(engine, instance_path, path)
    return f"backed up {database.shown(engine.url)} to {database.shown_path(path)} ({state})"


def _backup(engine, instance_path, path=None, note: str = "") -> tuple[Path, str]:
    url = engine.url
    path = _new_file_place(path or default_path(instance_path, url, note))
    source = database.sqlite_file(url)
    if source is not None:
        revision, orders = _sqlite_backup(source, path)
        return path, f"{_described(revision, orders)}, {_size(path)}"
    revision, orders = _read_state(engine)
    _run_pg_dump(url, path)
    return path, f"{_described(revision, orders)} when it began, {_size(path)}"


def _open_sqlite(path: Path, mode: str) -> sqlite3.Connection:
    """An existing SQLite file (never created here), waiting up to 20 s for a writer."""
    return sqlite3.connect(f"file:{quote(str(path))}?mode={mode}", uri=True, timeout=20)


def _sqlite_state(connection: sqlite3.Connection) -> tuple[str | None, int]:
    try:
        revision = connection.execute("select version_num from alembic_version").fetchone()
        orders = connection.execute("select count(*) from orders").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"not an sbweb database ({exc})") from None
    return (revision[0] if revision else None), orders


def _sqlite_backup(source: Path, path: Path) -> tuple[str | None, int]:
    if not source.exists():
        raise BackupError(f"{database.shown_path(source)} does not exist: there is nothing to back up")
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")  # 0600
    os.close(fd)
    try:
        live = _open_sqlite(source, "rw")
        try:
            copy = sqlite3.connect(partial)
            try:
                live.backup(copy)  # every page in one step: one consistent snapshot
                copy.execute("pragma journal_mode=delete")  # the copy is one self-contained file
                if (check := copy.execute("pragma quick_check").fetchone()[0]) != "ok":
                    raise BackupError(f"the copy of {database.shown_path(source)} is damaged: {check}")
                state = _sqlite_state(copy)
            finally:
                copy.close()
        finally:
            live.close()
        os.link(partial, path)  # never over a file that appeared meanwhile
    except sqlite3.Error as exc:
        raise BackupError(f"could not back up {database.shown_path(source)}: {exc}") from None
    finally:
        os.unlink(partial)
    return state


def _read_state(engine) -> tuple[str | None, int]:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None, 0
        revision = connection.execute(text("select version_num from alembic_version")).scalar()
        orders = connection.execute(text("select count(*) from orders")).scalar()
    return revision, orders


# -- PostgreSQL tools --------------------------------------------------------------------------


def pg_tool(name: str) -> str | None:
    """pg_dump or pg_restore: on the PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return str(candidates[-1]) if candidates else None


def _pg_command(name: str, url, *args) -> tuple[list[str], dict]:
    tool = pg_tool(name)
    if tool is None:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client tools (Debian: apt-get install postgresql-client)"
        )
    url = make_url(url)
    # The password goes by the environment, never on a command line other users can read.
    conninfo = database.without_password(url).render_as_string(hide_password=False)
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    return [tool, "--no-password", f"--dbname={conninfo}", *args], env


def _pg_run(name: str, url, *args) -> subprocess.CompletedProcess:
    command, env = _pg_command(name, url, *args)
    return subprocess.run(command, env=env, capture_output=True, text=True)


def _pg_run_watched(engine, lock_timeout: dt.timedelta, name: str, *args) -> subprocess.CompletedProcess:
    """Run a tool that takes table locks, cancelling it once it has waited `lock_timeout` for one
    (pg_restore sets its own lock_timeout to 0, so the server will not): a transaction left open
    on a table must not hold the restore, and every query queued behind it, for ever."""
    command, env = _pg_command(name, engine.url, *args)
    env["PGAPPNAME"] = label = f"sbweb {name} {os.getpid()}"
    limit = lock_timeout.total_seconds()
    with tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=errors, text=True)
        waiting_since, cancelled = None, False
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
            while process.poll() is None:
                blocked = (
                    watcher.execute(
                        text(
                            "select pid from pg_stat_activity where application_name = :label "
                            "and wait_event_type = 'Lock'"
                        ),
                        {"label": label},
                    )
                    .scalars()
                    .all()
                )
                now = time.monotonic()
                waiting_since = (waiting_since or now) if blocked else None
                if blocked and not cancelled and now - waiting_since > limit:
                    for pid in blocked:
                        watcher.execute(text("select pg_cancel_backend(:pid)"), {"pid": pid})
                    cancelled = True
                time.sleep(0.2)
        errors.seek(0)
        done = subprocess.CompletedProcess(command, process.returncode, "", errors.read())
    if cancelled and done.returncode != 0:
        done.stderr += (
            f"\nit waited more than {limit:g} s for a table an open transaction holds "
            "(lock timeout): try again when the app is quieter"
        )
    return done


def _last_line(process: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in process.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {process.returncode}"


def _run_pg_dump(url, path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    done = _pg_run("pg_dump", url, "--format=custom", f"--file={path}")
    if done.returncode != 0:
        path.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {_last_line(done)}")


# -- restore -----------------------------------------------------------------------------------


def restore(
    engine, instance_path, source, force: bool = False, lock_timeout: dt.timedelta = dt.timedelta(seconds=10)
) -> str:
    """Put the backup `source` back as the app's database; refuses to replace one that is there
    unless `force`, and then backs that one up first. PostgreSQL gives up after waiting
    `lock_timeout` for a table a transaction holds. What was done."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    with source.open("rb") as f:
        head = f.read(16)
    url = engine.url
    target = database.sqlite_file(url)
    if target is not None:
        if not head.startswith(SQLITE_MAGIC):
            kind = "a PostgreSQL dump" if head.startswith(PGDUMP_MAGIC) else "not a SQLite backup"
            raise BackupError(f"{source} is {kind}; the app's database {database.shown(url)} is SQLite")
        done = _sqlite_restore(engine, instance_path, source, target, force)
    else:
        if not head.startswith(PGDUMP_MAGIC):
            kind = "a SQLite backup" if head.startswith(SQLITE_MAGIC) else "not a pg_dump custom-format archive"
            raise BackupError(f"{source} is {kind}; the app's database {database.shown(url)} is PostgreSQL")
        done = _pg_restore(engine, instance_path, source, force, lock_timeout)
    database.record(instance_path, url)
    return done


def _replacing(engine, instance_path, force: bool, revision, orders) -> str:
    """Refuse to replace a database that is there, or (forced) back it up first."""
    shown = database.shown(engine.url)
    if not force:
        raise BackupError(
            f"{shown} already holds a database ({_described(revision, orders)}): restoring "
            "would replace it; add --force to replace it (it is backed up first)"
        )
    path, _ = _backup(engine, instance_path, note="-before-restore")
    return f"; the database it replaced is backed up in {database.shown_path(path)}"


def _sqlite_restore(engine, instance_path, source: Path, target: Path, force: bool) -> str:
    try:
        backup_file = _open_sqlite(source, "ro")
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read {source}: {exc}") from None
    try:
        revision, orders = _sqlite_state(backup_file)
        notes = ""
        if target.exists():
            live = _open_sqlite(target, "rw")
            try:
                notes = _replacing(engine, instance_path, force, *_sqlite_state_or_empty(live))
                # Into the live file, through SQLite: a running app sees the restored data at its
                # next transaction, and nothing is left of the old pages.
                backup_file.backup(live)
            finally:
                live.close()
        else:
            notes = _set_aside_leftovers(target)
            fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
            os.close(fd)
            try:
                fresh = sqlite3.connect(partial)
                try:
                    backup_file.backup(fresh)
                finally:
                    fresh.close()
                os.link(partial, target)  # never over a file that appeared meanwhile
            finally:
                os.unlink(partial)
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"could not restore {database.shown_path(target)}: {exc}") from None
    finally:
        backup_file.close()
    return (
        f"restored {database.shown(engine.url)} from {database.shown_path(source)} "
        f"({_described(revision, orders)}){_upgrade_advice(revision)}{notes}"
    )


def _sqlite_state_or_empty(connection) -> tuple[str | None, int]:
    try:
        return _sqlite_state(connection)
    except BackupError:
        return None, 0


def _set_aside_leftovers(target: Path) -> str:
    """A -wal or -shm file whose database is gone belongs to that database, not to the one restored
    in its place (SQLite would apply it to it): moved aside, kept."""
    moved = []
    for suffix in ("-wal", "-shm", "-journal"):
        leftover = Path(f"{target}{suffix}")
        if leftover.exists():
            aside = leftover.with_name(f"{leftover.name}.orphaned-{_stamp()}")
            leftover.rename(aside)
            moved.append(database.shown_path(aside))
    return f"; the missing database's {', '.join(moved)} set aside" if moved else ""


def _pg_restore(engine, instance_path, source: Path, force: bool, lock_timeout: dt.timedelta) -> str:
    listed = _pg_run("pg_restore", engine.url, "--list", str(source))
    if listed.returncode != 0:
        raise BackupError(f"{source} cannot be read by pg_restore: {_last_line(listed)}")
    notes = ""
    revision, orders = _read_state(engine)
    if revision is not None or orders:
        notes = _replacing(engine, instance_path, force, revision, orders)
    engine.dispose()  # no pooled connection of ours holds a lock on a table being replaced
    done = _pg_run_watched(
        engine,
        lock_timeout,
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        str(source),
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed and changed nothing: {_last_line(done)}")
    revision, orders = _read_state(engine)
    engine.dispose()
    return (
        f"restored {database.shown(engine.url)} from {database.shown_path(source)} "
        f"({_described(revision, orders)}){_upgrade_advice(revision)}{notes}"
    )


def _upgrade_advice(revision) -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory(str(database.MIGRATIONS)).get_heads()
    return (
        ""
        if revision in heads
        else f"; run `flask db upgrade` before starting the app (this release is at {', '.join(heads)})"
    )
