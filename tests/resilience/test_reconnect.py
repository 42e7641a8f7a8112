"""A PostgreSQL restart (or a connection the server ended) must cost the requests in flight, not
the next request of every worker: pooled connections are checked before use."""

import pytest
from sqlalchemy import text

from sbweb.db import db
from tests.conftest import ON_POSTGRES
from tests.support.journeys import choose, sign_in


def _end_every_other_connection():
    """What a server restart does to the app's pooled connections (as pg_ctl restart -m fast)."""
    import psycopg

    url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as conn:
        ended = conn.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        ).fetchone()[0]
    return ended


def test_the_next_request_after_the_database_dropped_its_connections_is_served(app, client, world):
    if not ON_POSTGRES:
        print("SKIP reason: needs PostgreSQL (DATABASE_URL=postgresql+psycopg://…)")
        pytest.skip("needs PostgreSQL: its server ends connections; SQLite has none to end")
    sign_in(client, "王芳")
    assert choose(client, "medical").h1 == "缴费信息确认"  # the pool now holds a used connection
    with app.app_context():
        db.session.execute(text("select 1"))
        db.session.commit()
        assert db.engine.pool.checkedin() >= 1
        assert _end_every_other_connection() >= 1
    page = client.page("/selfpay/")
    assert page.status == 200 and page.h1 == "我为自己缴"
