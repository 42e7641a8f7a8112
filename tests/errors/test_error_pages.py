"""An unexpected exception is a Chinese 系统繁忙 page (or fragment) with a reference that is
also in the log line; never a traceback, an exception's words or a setting — also with DEBUG
left on and with the error page itself broken. 400/404/405/413/429 are Chinese pages too."""

import logging
import re

import pytest
from werkzeug.test import Client

from sbweb import create_app
from sbweb.identity import access
from tests.conftest import JINJA_CACHE
from tests.support import ResidentClient, check_page
from tests.support.journeys import post_manual_sign_in

SECRET_WORDS = "secret: 520102198503151246 postgresql://admin:hunter2@db"
LEAKS = (
    "Traceback",
    "RuntimeError",
    "hunter2",
    "520102198503151246",
    "test-secret",
    'File "',
    "werkzeug",
    "SQLALCHEMY",
    "sbweb/",
)


def app_with_a_broken_route(app_config, **config):
    """The test app plus a route that raises (it exists only here)."""
    app = create_app({**app_config, **config})
    app.jinja_env.bytecode_cache = JINJA_CACHE
    app.test_client_class = ResidentClient

    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError(SECRET_WORDS)

    access.classify(app, "boom", read=access.PUBLIC)

    return app


@pytest.fixture
def base_config(app):
    return {
        k: app.config[k]
        for k in (
            "SQLALCHEMY_DATABASE_URI",
            "PAYMENT_KEY_DIR",
            "SECRET_KEY",
            "INSTANCE_PATH",
            "TESTING",
            "HUEY_IMMEDIATE",
        )
    }


def assert_no_leak(body: str):
    for word in LEAKS:
        assert word not in body, word


def reference_on(body: str) -> str:
    found = re.search(r"参考编号：(?:<[^>]+>)?([0-9a-f]{12})", body)
    assert found, body[:500]
    return found.group(1)


def test_an_unexpected_error_is_a_chinese_page_with_a_reference_that_is_in_the_log(base_config, caplog):
    app = app_with_a_broken_route(base_config)
    caplog.set_level(logging.ERROR, logger="sbweb")
    response = app.test_client().get("/test-only/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    soup = check_page(body, fragment=False)
    assert soup.h1.get_text() == "系统繁忙" and "您的费款不会被重复扣缴" in body
    assert_no_leak(body)
    reference = reference_on(body)
    assert response.headers["X-Request-ID"] == reference
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and logged[0].exc_info, caplog.text  # the traceback is in the log, not the page
    assert "520102198503151246" not in caplog.text  # and masked there


def test_an_unexpected_error_in_an_htmx_request_is_a_fragment(base_config):
    app = app_with_a_broken_route(base_config)
    client = app.test_client()
    client.htmx = True
    response = client.get("/test-only/boom", headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/"})
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "<html" not in body and "系统繁忙" in body
    assert_no_leak(body)
    assert reference_on(body) == response.headers["X-Request-ID"]


def test_a_safe_request_id_from_the_proxy_is_the_reference(base_config):
    app = app_with_a_broken_route(base_config)
    response = app.test_client().get("/test-only/boom", headers={"X-Request-ID": "edge-4f2a9c1b"})
    assert '参考编号：<span class="mono">edge-4f2a9c1b</span>' in response.get_data(as_text=True)
    # One that could smuggle markup or a line break into a log is replaced by ours.
    # So is one the log would mask (its digits look like a 台胞证 number): the page and the log
    # must show the same reference.
    for unsafe in ("<script>x</script>", "an id with spaces; x=1", "short", "x" * 200, "edge-12345678"):
        got = app.test_client().get("/", headers={"X-Request-ID": unsafe}).headers["X-Request-ID"]
        assert got != unsafe and re.fullmatch(r"[0-9a-f]{12}", got)


def test_every_answer_names_its_request(client):
    first, second = client.get("/").headers["X-Request-ID"], client.get("/").headers["X-Request-ID"]
    assert first != second and re.fullmatch(r"[0-9a-f]{12}", first)


@pytest.mark.parametrize(
    "misconfigured",
    [
        {"DEBUG": True},
        {"PROPAGATE_EXCEPTIONS": True},
        {"TESTING": False, "SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637"},
    ],
)
def test_misconfigured_the_page_still_leaks_nothing(base_config, misconfigured):
    app = app_with_a_broken_route(base_config, **misconfigured)
    response = app.test_client().get("/test-only/boom")
    assert response.status_code == 500
    assert_no_leak(response.get_data(as_text=True))


def test_when_the_error_page_itself_fails_a_fixed_chinese_page_is_sent(base_config, caplog):
    app = app_with_a_broken_route(base_config, DEBUG=True)

    @app.context_processor
    def broken():  # every template fails, the error page's too (as with a database gone)
        raise RuntimeError("context " + SECRET_WORDS)

    from werkzeug.debug import DebuggedApplication

    # As `flask run --debug` would serve it: the debugger outside, showing any trace it gets.
    served = Client(DebuggedApplication(app, evalex=False))
    response = served.get("/test-only/boom")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    soup = check_page(body, fragment=False)
    assert soup.h1.get_text() == "系统繁忙"
    assert_no_leak(body)
    assert reference_on(body) == response.headers["X-Request-ID"]
    htmx = served.get("/", headers={"HX-Request": "true"})
    assert htmx.status_code == 500 and "<html" not in htmx.get_data(as_text=True)
    assert "系统繁忙" in htmx.get_data(as_text=True)


@pytest.mark.parametrize("debug", [False, True])
def test_an_error_after_the_view_is_the_same_page(base_config, debug):
    """Raised by a response hook: Flask's own 500 (without DEBUG), or nothing inside Flask at all
    (with DEBUG, it re-raises): the outermost layer answers."""
    app = app_with_a_broken_route(
        base_config, DEBUG=debug, TESTING=False, SECRET_KEY="66426f06ff94c43218bb16bbf097e934318d92513ba45637"
    )

    @app.after_request
    def broken(response):
        raise RuntimeError("after " + SECRET_WORDS)

    response = Client(app).get("/")
    body = response.get_data(as_text=True)
    assert response.status_code == 500 and "系统繁忙" in body
    assert_no_leak(body)
    assert reference_on(body)


@pytest.mark.parametrize(
    "method, path, data, status, title",
    [
        ("GET", "/no/such/page", None, 404, "页面不存在"),
        ("DELETE", "/", None, 405, "操作无效"),
        ("POST", "/auth/manual", {"csrf_token": "x"}, 400, "页面已过期"),
        ("POST", "/auth/manual", {"filler": "9" * 100_000}, 413, "提交内容过长"),
        ("GET", "/?q=%00", None, 400, "请求无效"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_http_errors_are_chinese_pages_and_fragments(client, method, path, data, status, title, htmx):
    client.htmx = htmx
    response = client.open(path, method=method, data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == status
    soup = check_page(body, fragment=htmx)
    assert soup.h1.get_text() == title
    assert ("<html" in body) is not htmx
    assert_no_leak(body)
    if status == 405:
        assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("htmx", [False, True])
def test_a_database_that_cannot_be_reached_is_a_503_to_retry_not_a_fault(base_config, caplog, htmx):
    # A PostgreSQL address where nothing listens: every query fails to connect, as while the
    # database restarts. The sign-in form needs no database to show; looking the person up does.
    app = app_with_a_broken_route(base_config, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:9/none")
    client = app.test_client()
    page = client.page("/auth/manual")
    client.htmx = htmx
    caplog.set_level(logging.ERROR, logger="sbweb")
    response = post_manual_sign_in(client, page)
    body = response.get_data(as_text=True)
    # Retry-After: at least ours (the rate limiter may name its own window's end, if later).
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 10
    soup = check_page(body, fragment=htmx)
    assert soup.h1.get_text() == "系统繁忙" and "系统繁忙，请稍后再试" in body
    assert_no_leak(body)
    assert response.headers["X-Request-ID"] == reference_on(body)
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in caplog.records if "database unavailable" in r.getMessage())


def test_a_missing_table_is_a_fault_with_its_traceback_not_an_outage(base_config, caplog):
    # A release whose migration did not run: a 500 with the traceback in the log, not a 503.
    app = app_with_a_broken_route(base_config)

    @app.get("/test-only/no-table")
    def no_table():
        from sqlalchemy import text

        from sbweb.db import db

        db.session.execute(text("select * from a_table_no_migration_made"))

    access.classify(app, "no_table", read=access.PUBLIC)

    caplog.set_level(logging.ERROR, logger="sbweb")
    response = app.test_client().get("/test-only/no-table")
    assert response.status_code == 500 and "Retry-After" not in response.headers
    assert any(r.exc_info for r in caplog.records if "unhandled error" in r.getMessage())
