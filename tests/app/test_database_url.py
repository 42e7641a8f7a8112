"""The SQLite URL the app runs on opens the configured file and never creates one — also for a
relative path (in the instance folder) and a path with spaces, % or # in it; other URLs are
left as they are."""

import sqlite3

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from sbweb.database import identity, open_existing_only, shown, sqlite_file


@pytest.mark.parametrize("name", ["sbweb.sqlite3", "a folder/数据 50% #1.sqlite3"])
def test_the_url_opens_the_file_that_is_there_and_creates_none(tmp_path, name):
    path = tmp_path / name
    path.parent.mkdir(exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("create table orders (order_no text)")
        conn.execute("insert into orders values ('X1')")
    url = open_existing_only(f"sqlite:///{path}", tmp_path / "instance")
    assert "mode=rw" in url and "uri=true" in url
    assert sqlite_file(url) == path
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("select order_no from orders")).scalar() == "X1"
    engine.dispose()

    path.unlink()
    engine = create_engine(url)
    with pytest.raises(OperationalError, match="unable to open database file"):
        engine.connect()
    assert not path.exists()


def test_a_relative_path_is_in_the_instance_folder(tmp_path):
    url = open_existing_only("sqlite:///sbweb.sqlite3", tmp_path)
    assert sqlite_file(url) == tmp_path / "sbweb.sqlite3"
    assert identity(url, tmp_path) == "sbweb.sqlite3"  # so a moved checkout still knows its file
    assert open_existing_only(url, tmp_path) == url  # made once: a URL in the file: form stays


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "postgresql+psycopg://sb:hunter2@db.example:5432/sbweb",
    ],
)
def test_other_urls_are_left_alone(tmp_path, url):
    assert open_existing_only(url, tmp_path) == url
    assert sqlite_file(url) is None


def test_a_server_is_named_without_its_password():
    url = "postgresql+psycopg://sb:hunter2@db.example:5432/sbweb?sslmode=require"
    assert "hunter2" not in shown(url) and "hunter2" not in identity(url, "/srv/sbweb/instance")
    assert identity(url, "/srv/sbweb/instance") == "postgresql://sb@db.example:5432/sbweb"


def test_pg_dump_gets_the_password_by_the_environment_never_on_its_command_line():
    from sbweb import backups

    if backups.pg_tool("pg_dump") is None:
        print("SKIP reason: pg_dump is not installed")
        pytest.skip("pg_dump is not installed")
    command, env = backups._pg_command("pg_dump", "postgresql+psycopg://sb:hunter2@db.example:5432/sbweb", "-Fc")
    assert not any("hunter2" in part for part in command)
    assert "--dbname=postgresql://sb@db.example:5432/sbweb" in command and env["PGPASSWORD"] == "hunter2"
