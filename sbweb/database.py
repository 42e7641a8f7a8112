"""The app's database stays where it is, or the app says so; it is never silently replaced by an
empty one.

- At run time a SQLite database is opened, never created (`mode=rw`, set by
  `open_existing_only`): a file that vanished under a running app gives 503s, not a new empty
  database that then fills with orders while the old ones are lost.
- Only `flask db upgrade` (sbweb/migrations/env.py) creates one, and only for an instance that
  never had it: every database it migrated is recorded in instance/databases.txt, and a
  recorded one that is missing, or has lost its tables, is refused with how to restore it.
- `flask serve`, `flask jobs run` and gunicorn's master refuse to start (`start_problem`) on a
  database that is missing or not at this release's latest revision.
"""

import datetime as dt
import os
from pathlib import Path
from urllib.parse import quote, unquote, urlencode

import click
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

LEDGER = "databases.txt"
BACKUPS = "backups"
MIGRATIONS = Path(__file__).parent / "migrations"


# -- where the database is ----------------------------------------------------------------------


def open_existing_only(uri: str, instance_path) -> str:
    """The SQLite URL `uri` as one that opens the file only if it exists (a relative path is in the
    instance folder, as Flask-SQLAlchemy has it); any other URL as it is."""
    url = make_url(uri)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:") or url.query.get("uri"):
        return uri
    path = Path(instance_path, url.database).absolute()
    # Quoted twice: the URL parser takes one level off, SQLite's URI parser the other.
    query = urlencode({**url.query, "mode": "rw", "uri": "true"})
    return f"{url.drivername}:///file:{quote(quote(str(path), safe='/'), safe='/')}?{query}"


def sqlite_file(url) -> Path | None:
    """The file of a SQLite URL (plain or `file:` URI form); None for memory or another database."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    name = url.database
    if url.query.get("uri"):
        if not name.startswith("file:") or url.query.get("mode") == "memory":
            return None
        name, _, params = name[len("file:") :].partition("?")
        if "mode=memory" in params:
            return None
        name = unquote(name[len("//") :] if name.startswith("//") else name)
        if name in ("", ":memory:"):
            return None
    return Path(name)


def shown(url) -> str:
    """The database as an operator recognises it: the file (relative to the working folder when
    it is inside it), or the server URL without its password."""
    path = sqlite_file(url)
    if path is not None:
        return shown_path(path)
    return without_password(url).render_as_string(hide_password=False)


def without_password(url):
    """A server URL as libpq and people read it: no password, no `+driver`. (URL.set() cannot
    remove a password: it takes None as "unchanged".)"""
    url = make_url(url)
    return url._replace(password=None).set(drivername=url.get_backend_name())


def shown_path(path: Path) -> str:
    """A file as the operator typing the next command finds it: relative to the working folder."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def identity(url, instance_path) -> str:
    """How instance/databases.txt names the database: a SQLite file relative to the instance
    folder (so a moved checkout still knows its file), or the server URL without password."""
    path = sqlite_file(url)
    if path is None:
        return without_password(url).set(query={}).render_as_string(hide_password=False)
    path = path.absolute()
    try:
        return str(path.relative_to(Path(instance_path).absolute()))
    except ValueError:
        return str(path)


# -- the record of databases made -------------------------------------------------------------

LEDGER_HEADER = (
    "# Databases `flask db upgrade` has migrated for this instance, one a line: when first, which.\n"
    "# One of them missing or emptied is refused, never made afresh: restore it (`flask restore`).\n"
    "# To start an empty database there on purpose, delete its line.\n"
)


def ledger_path(instance_path) -> Path:
    return Path(instance_path) / LEDGER


def made_on(instance_path, url) -> str | None:
    """When this instance first migrated the database (UTC, ISO), or None if it never did."""
    path = ledger_path(instance_path)
    if not path.exists():
        return None
    wanted = identity(url, instance_path)
    for line in path.read_text().splitlines():
        when, _, which = line.partition(" ")
        if not line.startswith("#") and which.strip() == wanted:
            return when
    return None


def record(instance_path, url) -> None:
    """Note in instance/databases.txt that this instance has the database (once)."""
    from sbweb.instance_files import write_private

    if made_on(instance_path, url) is not None:
        return
    path = ledger_path(instance_path)
    before = path.read_text() if path.exists() else LEDGER_HEADER
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_private(path, f"{before}{now} {identity(url, instance_path)}\n".encode())


# -- backups, for the advice ---------------------------------------------------------------------


def backup_folder(instance_path) -> Path:
    return Path(instance_path) / BACKUPS


def newest_backup(instance_path, url) -> Path | None:
    suffix = ".sqlite3" if sqlite_file(url) is not None else ".dump"
    found = sorted(backup_folder(instance_path).glob(f"*{suffix}"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def restore_advice(instance_path, url) -> str:
    newest = newest_backup(instance_path, url)
    if newest is None:
        return f"restore a backup with `flask restore FILE` ({shown_path(backup_folder(instance_path))}/ has none)"
    return f"restore the newest backup with `flask restore {shown_path(newest)}`"


# -- before and after migrating (sbweb/migrations/env.py) ------------------------------------------


def prepare_to_migrate(engine, instance_path) -> None:
    """Before a migration command connects: refuse a SQLite file this instance had and lost, else
    create a missing one (empty, mode 0600) so that the run-time URL, which never creates, opens it."""
    path = sqlite_file(engine.url)
    if path is None or path.exists():
        return
    if lost := missing_file(path, instance_path, engine.url):
        raise click.ClickException(lost)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # SQLite reads it as empty
    except FileNotFoundError:
        raise click.ClickException(f"cannot create {shown_path(path)}: its folder does not exist") from None


def missing_file(path: Path, instance_path, url) -> str | None:
    """What to say of a missing SQLite file this instance had (it is recorded, or its -wal file is
    still there); None for one it never had."""
    ledger = shown_path(ledger_path(instance_path))
    made = made_on(instance_path, url)
    wal = Path(f"{path}-wal")
    if made is None and not wal.exists():
        return None
    said = f"{shown_path(path)} is missing"
    if made is not None:
        said += f", but this instance made it on {made} ({ledger})"
    if wal.exists():
        said += (
            f"{' and' if made else ', but'} its {wal.name} is still there: if it was moved, move it back "
            "beside it with the app stopped, or"
        )
    else:
        said += ":"
    said += f" {restore_advice(instance_path, url)}"
    if made is not None:
        said += f"; or, to start an empty database on purpose, delete its line from {ledger}"
    else:
        said += f"; or, to start an empty database on purpose, delete {shown_path(wal)}"
    return said


def refuse_emptied(connection, instance_path) -> None:
    """A database this instance migrated that has no alembic_version table any more (a new empty
    PostgreSQL database, an emptied file) is refused rather than migrated from scratch."""
    made = made_on(instance_path, connection.engine.url)
    if made is None:
        return
    has_schema = inspect(connection).has_table("alembic_version")
    connection.rollback()  # end the read: each revision runs in a transaction of its own
    if has_schema:
        return
    ledger = shown_path(ledger_path(instance_path))
    raise click.ClickException(
        f"{shown(connection.engine.url)} has no tables, but this instance migrated it on {made} ({ledger}): "
        f"{restore_advice(instance_path, connection.engine.url)}; or, to start an empty database on "
        f"purpose, delete its line from {ledger}"
    )


def record_migrated(connection, instance_path) -> None:
    """After a migration command: a database with a schema is recorded as this instance's."""
    if inspect(connection).has_table("alembic_version"):
        record(instance_path, connection.engine.url)


# -- at start ----------------------------------------------------------------------------------


def start_problem(app) -> str | None:
    """Why the app must not serve on its database (one line for the operator), or None: the
    database is missing, cannot be opened, or is not at this release's latest revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import DBAPIError

    instance = app.instance_path
    with app.app_context():
        # The app's own SQLAlchemy (sbweb.db builds on this module, so it is not imported here).
        engine = app.extensions["sqlalchemy"].engine
        url, name = engine.url, shown(engine.url)
        path = sqlite_file(url)
        if path is not None and not path.exists():
            return missing_file(path, instance, url) or f"{name} does not exist: run `flask db upgrade` to create it"
        try:
            with engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_heads()
        except DBAPIError as exc:
            said = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
            return f"cannot open the database {name}: {said[0]}"
        finally:
            engine.dispose()
    script = ScriptDirectory(str(MIGRATIONS))
    heads = script.get_heads()
    if not current:
        if made_on(instance, url):
            return f"{name} has no tables, though this instance migrated it: {restore_advice(instance, url)}"
        return f"{name} has no tables yet: run `flask db upgrade`"
    if set(current) == set(heads):
        return None
    known = {revision.revision for revision in script.walk_revisions()}
    unknown = [revision for revision in current if revision not in known]
    if unknown:
        return (
            f"{name} is at revision {', '.join(unknown)}, which this release does not know (a newer one "
            "migrated it?): run that release, or restore a backup made with this one"
        )
    return (
        f"{name} is at revision {', '.join(current)} but this release needs {', '.join(heads)}: run `flask db upgrade`"
    )
