"""Rate limits per client address on the lookups by 证件号码 + 姓名, the 验证码 and whatever sends
mail: a refusal is a Chinese 429 page (or fragment) saying when to try again; the counters are
shared through Redis by several processes, and a Redis that goes away makes no 500. Behind a
proxy, the client address is X-Forwarded-For only when PROXY_FIX_X_FOR says so."""

import logging
import os
import shutil
import socket
import subprocess
import time

import pytest
from sqlalchemy import select

from sbweb import create_app
from sbweb.db import db
from sbweb.identity import throttle
from sbweb.models.throttle import LookupFailure
from tests.conftest import JINJA_CACHE
from tests.support import ResidentClient, form_values, identity_of
from tests.support.journeys import sign_in

THREE = {"RATE_LIMIT_LOOKUP": "3 per hour", "RATE_LIMIT_CAPTCHA": "3 per hour", "RATE_LIMIT_MAIL": "2 per hour"}
WANG = {"id_type": "201", "id_number": "520102198503151246", "name": "王芳"}
WRONG = {"id_type": "201", "id_number": "520102198503151246", "name": "王五"}


def lookup(client, data=WRONG, headers=None, htmx=False):
    page = client.page("/auth/manual?next=/selfpay/")
    values = {k: v[0] for k, v in form_values(page.form()).items()}
    client.htmx = htmx  # (the client checks the answer as a fragment)
    try:
        return client.post("/auth/manual", data={**values, **data}, headers=headers or {})
    finally:
        client.htmx = False


def h1(response) -> str:
    from bs4 import BeautifulSoup

    return BeautifulSoup(response.get_data(as_text=True), "html.parser").h1.get_text(strip=True)


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_the_fourth_lookup_in_an_hour_is_refused_with_when_to_try_again(client, world):
    for _ in range(3):
        assert lookup(client).status_code == 422
    refused = lookup(client, WANG)  # even the right name: the address is over its limit
    assert refused.status_code == 429
    body = refused.get_data(as_text=True)
    assert h1(refused) == "操作过于频繁"
    assert "请60分钟后再试" in body and "北京时间" in body
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
    assert "Traceback" not in body and "per hour" not in body
    assert "person_id" not in identity_of(client)
    # Showing the form does not count, and it is still shown.
    assert client.get("/auth/manual").status_code == 200


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_a_refused_htmx_lookup_gets_the_message_as_a_fragment(client, world):
    for _ in range(3):
        lookup(client)
    refused = lookup(client, htmx=True)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "<html" not in body and "操作过于频繁" in body
    assert "HX-Request" in refused.headers["Vary"]


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_lookups_on_other_pages_share_the_count(client, world):
    """添加被代缴人 and 代缴已缴费查询 look people up by number too: one counter for all."""
    sign_in(client, "王芳", verified=True)  # a consent, not a lookup: not counted
    page = client.page("/proxy/add")
    for _ in range(2):
        client.submit(page, {"id_type": "201", "id_number": "330106199207084573", "name": "李四"})
    assert client.get("/queries/proxy-paid?id_type=201&id_number=330106199207084573&name=李四").status_code == 422
    assert client.get("/queries/proxy-paid").status_code == 200  # no number asked: not counted
    assert client.get("/queries/proxy-paid?id_type=201&id_number=330106199207084573&name=李四").status_code == 429
    assert lookup(client).status_code == 429


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_the_code_steps_lookup_shares_the_count(client, world):
    """证件信息 before a code is the same lookup by number and name: it counts with the others."""
    page = client.page("/auth/verify/identity?next=/")
    for _ in range(3):
        assert client.submit(page, WRONG, follow=False).status == 422
    assert client.submit(page, WANG, follow=False).status == 429
    assert lookup(client).status_code == 429


@pytest.mark.parametrize("app", [{"RATE_LIMIT_CODE": "2 per hour"}], indirect=True)
def test_codes_asked_for_and_typed_are_limited_per_address(client, world):
    sign_in(client, "王芳")
    page = client.page("/auth/verify/code?next=/")
    assert client.submit(page, selector="main form[action$='/send']", follow=False).status == 303
    page = client.page("/auth/verify/code?next=/")
    assert (
        client.submit(page, {"code": "000000"}, selector="main form[action$='/verify/code']", follow=False).status
        == 422
    )
    refused = client.submit(page, {"code": "000001"}, selector="main form[action$='/verify/code']", follow=False)
    assert refused.status == 429 and refused.h1 == "操作过于频繁"


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_captcha_images_are_limited(client, world):
    sign_in(client, "王芳", verified=True)
    statuses = [client.get("/certificates/captcha.png").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_captcha_audio_counts_with_the_images(client, world):
    """听语音验证码 is the image's answer in another form: one counter for both."""
    sign_in(client, "王芳", verified=True)
    assert [client.get("/certificates/captcha.png").status_code for _ in range(2)] == [200, 200]
    assert client.get("/certificates/captcha.wav?n=0").status_code == 404  # counted all the same
    assert client.get("/certificates/captcha.wav?n=0").status_code == 429


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_sending_mail_is_limited_per_address_too(app, client, world):
    from sbweb.services import documents
    from tests.support.journeys import paid_history

    with app.app_context():
        me = world.people["王芳"]
        order_no = paid_history(me, world.enrollment("王芳", "pension"), 1, start_year=2020)[0]
        doc_no = documents.voucher(me, order_no).doc_no
    sign_in(client, "王芳", verified=True)
    page = client.page(f"/certificates/d/{doc_no}")
    statuses = [client.submit(page, {"email": "wangfang@example.com"}, follow=False).status for _ in range(3)]
    assert statuses == [303, 303, 429]


# -- the client address behind a proxy -----------------------------------------------------------


def failure_keys(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(LookupFailure.key)))


def client_key(app, address) -> str:
    with app.app_context():
        return throttle.keys(WRONG["id_type"], WRONG["id_number"], address)["client"]


@pytest.mark.parametrize("app", [THREE], indirect=True)
def test_without_proxy_fix_x_forwarded_for_is_ignored(app, client, world):
    for n in range(3):
        assert lookup(client, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code == 422
    assert lookup(client, headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429
    assert client_key(app, "127.0.0.1") in failure_keys(app)
    assert client_key(app, "203.0.113.0") not in failure_keys(app)


@pytest.mark.parametrize("app", [{**THREE, "PROXY_FIX_X_FOR": 1}], indirect=True)
def test_with_proxy_fix_each_forwarded_client_is_counted_on_its_own(app, client, world):
    for _ in range(3):
        assert lookup(client, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 422
    assert lookup(client, headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert lookup(client, headers={"X-Forwarded-For": "203.0.113.8"}).status_code == 422
    # A client that adds its own X-Forwarded-For gets only the last entry, the proxy's.
    assert lookup(client, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}).status_code == 429
    keys = failure_keys(app)
    assert client_key(app, "203.0.113.7") in keys and client_key(app, "203.0.113.8") in keys
    assert client_key(app, "127.0.0.1") not in keys


# -- Redis: shared by processes, and gone ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own on a free port (never the shared one), to stop at will."""

    def __init__(self, tmp_path):
        self.port, self.tmp_path = _free_port(), tmp_path
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self):
        tmp_path = self.tmp_path
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(tmp_path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.05)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    if shutil.which("redis-server") is None:
        if os.environ.get("SBWEB_REQUIRE_REDIS"):
            pytest.fail("SBWEB_REQUIRE_REDIS is set but redis-server is not installed")
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


def _process(app, tmp_path, name, **config):
    """Another app process on the same database and Redis (as gunicorn's workers are)."""
    other = create_app(
        {
            **{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "PAYMENT_KEY_DIR", "SECRET_KEY")},
            "TESTING": True,
            "HUEY_IMMEDIATE": True,
            "INSTANCE_PATH": str(tmp_path / name),
            **THREE,
            **config,
        }
    )
    other.jinja_env.bytecode_cache = JINJA_CACHE
    other.test_client_class = ResidentClient
    return other


def test_two_processes_share_the_counters_in_redis_and_a_dead_redis_makes_no_500(
    app, world, tmp_path, own_redis, caplog
):
    first = _process(app, tmp_path, "one", RATELIMIT_STORAGE_URI=own_redis.url)
    second = _process(app, tmp_path, "two", RATELIMIT_STORAGE_URI=own_redis.url)
    a, b = first.test_client(), second.test_client()
    assert [lookup(a).status_code, lookup(b).status_code, lookup(a).status_code] == [422, 422, 422]
    assert lookup(b).status_code == 429  # the third was counted by the other process

    own_redis.stop()
    caplog.set_level(logging.WARNING)
    fresh = first.test_client()
    answers = [lookup(fresh, WANG if n == 0 else WRONG).status_code for n in range(5)]
    # Counted in this process's memory from now on: signed in, two refusals, then refused.
    assert answers[0] == 303 and 500 not in answers, answers
    assert answers[-1] == 429, answers
    assert "falling back to in-memory storage" in caplog.text

    # Back: the limiter looks for Redis again after 1, 2, 4 … seconds, and counts there again.
    import redis

    own_redis.start()
    caplog.set_level(logging.INFO, logger="flask-limiter")
    deadline = time.monotonic() + 20
    while "Rate limit storage recovered" not in caplog.text:
        assert time.monotonic() < deadline, "the limiter never went back to Redis"
        assert lookup(fresh).status_code in (422, 429)
        time.sleep(0.2)
    lookup(first.test_client())
    assert redis.Redis.from_url(own_redis.url).keys("LIMITS:LIMITER/sbweb/*/lookup/*"), (
        "nothing counted in Redis after it came back"
    )


def test_redis_from_the_environment_counts_in_redis(monkeypatch):
    from sbweb.config import from_environment

    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6399/12")
    assert from_environment()["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6399/12"
    monkeypatch.setenv("SBWEB_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6399/13")
    assert from_environment()["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6399/13"
