"""Databases a test may have to itself: on PostgreSQL, one next to the test database, made
empty first and dropped afterwards (migrations down and up, an emptied database, live migrations)."""

import os
from contextlib import contextmanager


@contextmanager
def scratch_postgres(suffix: str):
    """A PostgreSQL database named after the test database, this xdist worker and `suffix`, empty:
    yields its URL, and drops it afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    from tests.conftest import DATABASE_URL

    url = make_url(DATABASE_URL)
    name = f"{url.database}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{suffix}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
