"""`flask backup` and `flask restore`, on SQLite and on PostgreSQL: orders made through the app's
own services are backed up, the database is lost (the file deleted, the schema dropped),
`flask db upgrade` refuses to make an empty one in its place, and the restore brings back every
order in its state and every due as paid as it was. A restore never replaces a database that is
there unless told to, and then keeps the one it replaced."""

import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy import select, text

from sbweb import backups
from sbweb.database import sqlite_file
from sbweb.db import db
from sbweb.models import Due, Order, OrderEvent
from tests.conftest import ON_POSTGRES
from tests.support.journeys import paid_history


@pytest.fixture
def tools():
    if ON_POSTGRES and not (backups.pg_tool("pg_dump") and backups.pg_tool("pg_restore")):
        print("SKIP reason: pg_dump / pg_restore are not installed (apt-get install postgresql-client)")
        pytest.skip("pg_dump / pg_restore are not installed")


def books() -> dict:
    """Every order with its state, amount, ticket and times; every due's state; the order events."""
    db.session.remove()
    found = {
        "orders": {
            o.order_no: (o.state, o.total_fen, tuple(o.ticket_nos), o.settled_at, o.refunded_at)
            for o in db.session.scalars(select(Order))
        },
        "dues": {d.id: (d.state, d.amount_fen) for d in db.session.scalars(select(Due))},
        "events": db.session.scalar(select(db.func.count()).select_from(OrderEvent)),
    }
    db.session.remove()  # no transaction left open for a restore to wait on
    return found


def history(world) -> list[str]:
    """王芳's paid months, a failed payment and a refunded one, as the app makes them."""
    wang = world.person("王芳").id
    pension = world.enrollment("王芳", "pension")
    return (
        paid_history(wang, pension, 3)
        + paid_history(wang, pension, 1, start_year=2001, state="failed")
        + paid_history(wang, pension, 1, start_year=2002, state="refunded")
    )


def lose_the_database(app):
    """What the tester did: the file gone (SQLite), or every table gone (PostgreSQL)."""
    db.session.remove()
    db.engine.dispose()
    if ON_POSTGRES:
        with db.engine.begin() as connection:
            connection.execute(text("drop schema public cascade"))
            connection.execute(text("create schema public"))
        db.engine.dispose()
    else:
        path = sqlite_file(db.engine.url)
        path.unlink()
        assert not Path(f"{path}-wal").exists()  # the last connection closed: all in the file


def run(app, *args):
    result = app.test_cli_runner().invoke(args=list(args))
    return result.exit_code, result.stdout.strip(), result.stderr.strip()


def test_a_backup_brings_back_every_order_after_the_database_is_lost(app, ctx, world, tools):
    numbers = history(world)
    before = books()
    assert set(before["orders"]) == set(numbers) and len(numbers) == 5
    assert {state for state, *_ in before["orders"].values()} == {"settled", "failed", "refunded"}
    assert run(app, "db", "upgrade")[0] == 0  # as `make run` does: the database is recorded as this instance's

    code, said, _ = run(app, "backup")
    assert code == 0, said
    made = list((Path(app.instance_path) / "backups").iterdir())
    assert len(made) == 1 and made[0].name.startswith("sbweb-")
    assert made[0].suffix == (".dump" if ON_POSTGRES else ".sqlite3")
    assert said.startswith("backed up") and made[0].name in said and "5 orders" in said

    lose_the_database(app)
    code, _, error = run(app, "db", "upgrade")
    assert code == 1 and len(error.splitlines()) == 1
    assert "flask restore " in error and made[0].name in error
    if ON_POSTGRES:
        with db.engine.connect() as connection:
            assert connection.execute(text("select count(*) from pg_tables where schemaname = 'public'")).scalar() == 0
        db.engine.dispose()
    else:
        assert not sqlite_file(db.engine.url).exists()  # refused, and made no empty file either

    code, said, error = run(app, "restore", str(made[0]))
    assert code == 0, error
    assert said.startswith("restored") and "5 orders" in said and "flask db upgrade" not in said
    assert books() == before
    assert run(app, "db", "upgrade")[0] == 0


def test_a_restore_replaces_a_database_only_when_told_and_keeps_the_one_it_replaced(app, ctx, world, tools):
    wang = world.person("王芳").id
    first = paid_history(wang, world.enrollment("王芳", "pension"), 2)
    code, said, _ = run(app, "backup", str(Path(app.instance_path) / "two-orders.bak"))
    assert code == 0, said
    later = paid_history(wang, world.enrollment("王芳", "medical"), 1, start_year=2001)
    with_all = books()
    assert set(with_all["orders"]) == {*first, *later}

    code, _, error = run(app, "restore", str(Path(app.instance_path) / "two-orders.bak"))
    assert code == 1 and "--force" in error and "3 orders" in error and len(error.splitlines()) == 1
    assert books() == with_all  # nothing replaced

    code, said, error = run(app, "restore", "--force", str(Path(app.instance_path) / "two-orders.bak"))
    assert code == 0, error
    assert set(books()["orders"]) == set(first)
    kept = [p for p in (Path(app.instance_path) / "backups").iterdir() if "before-restore" in p.name]
    assert len(kept) == 1 and kept[0].name in said
    # …and that copy is the database as it was before the restore, every order in it.
    assert run(app, "restore", "--force", str(kept[0]))[0] == 0
    assert books()["orders"] == with_all["orders"]


def test_a_restore_refuses_what_is_not_a_backup_of_this_kind_of_database(app, ctx, tools, tmp_path):
    stranger = tmp_path / "notes.txt"
    stranger.write_text("not a database\n")
    code, _, error = run(app, "restore", str(stranger))
    assert code == 1 and len(error.splitlines()) == 1
    assert "not a pg_dump" in error if ON_POSTGRES else "not a SQLite backup" in error
    wrong_kind = tmp_path / "other.bak"
    wrong_kind.write_bytes(backups.SQLITE_MAGIC if ON_POSTGRES else backups.PGDUMP_MAGIC + b"\0" * 16)
    code, _, error = run(app, "restore", "--force", str(wrong_kind))
    assert code == 1 and ("is a SQLite backup" if ON_POSTGRES else "is a PostgreSQL dump") in error


def test_a_restore_that_would_wait_on_an_open_transaction_gives_up_having_changed_nothing(app, ctx, world, tools):
    if not ON_POSTGRES:
        print("SKIP reason: table locks are PostgreSQL's; SQLite's restore waits on its busy timeout")
        pytest.skip("PostgreSQL only: pg_restore's lock timeout")
    app.config["MIGRATION_LOCK_TIMEOUT"] = dt.timedelta(seconds=1)
    wang = world.person("王芳").id
    paid_history(wang, world.enrollment("王芳", "pension"), 1)
    code, said, _ = run(app, "backup")
    assert code == 0, said
    paid_history(wang, world.enrollment("王芳", "medical"), 1, start_year=2001)
    before = books()
    with db.engine.connect() as reader:  # a request that read the orders and has not finished
        reader.execute(text("select count(*) from orders"))
        started = time.monotonic()
        code, _, error = run(app, "restore", "--force", str(next((Path(app.instance_path) / "backups").iterdir())))
        waited = time.monotonic() - started
    assert code == 1 and "lock timeout" in error and "changed nothing" in error and len(error.splitlines()) == 1
    assert waited < 30
    assert books() == before
