"""The session cookie and what it holds: its flags (and those of every other cookie we set),
the 30-minute idle expiry told in words on the page the resident lands on, and secret-key
rotation that signs nobody out."""
import datetime as dt
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import func, select

from sbweb import create_app
from sbweb.auth import EXPIRED
from sbweb.db import db
from sbweb.models import Order
from tests.conftest import COLLECTING, JINJA_CACHE
from tests.journeys import choose, go_to_provider, sign_in
from tests.support import ResidentClient, form_values

MINUTE = dt.timedelta(minutes=1)


def set_cookies(response) -> dict[str, dict]:
    """Each Set-Cookie of a response: name → its attributes (lower-case), as the browser reads them."""
    found = {}
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        for name, morsel in cookie.items():
            flags = {k: v for k, v in morsel.items() if v}
            found[name] = {"header": header, **flags}
    return found


def token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


def staff_login(app, client):
    from sbweb.services import staff

    with app.app_context():
        staff.create("ops", "值班员", "correct horse battery", "admin")
    page = client.page("/admin/login")
    return client.post("/admin/login", data={**{k: v[0] for k, v in form_values(page.form()).items()},
                                             "username": "ops", "password": "correct horse battery"})


# -- cookies -----------------------------------------------------------------------------------------

def test_the_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(client, world, clock):
    page = client.page("/auth/manual?next=/selfpay/")
    response = client.post("/auth/manual", data={**{k: v[0] for k, v in form_values(page.form()).items()},
                                                 "id_type": "201", "id_number": "520102198503151246",
                                                 "name": "王芳"})
    assert response.status_code == 303
    cookie = set_cookies(response)["sbweb_session"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert "secure" not in cookie, cookie["header"]
    # The cookie outlives the 30-minute identity (12 hours), so that a later visit can say why.
    assert "Max-Age=43200" in cookie["header"] or "expires" in cookie


@pytest.mark.parametrize("app", [{"SESSION_COOKIE_SECURE": True}], indirect=True)
def test_with_secure_cookies_every_cookie_we_set_is_secure_httponly_and_lax(app, client, world):
    sign_in_response = client.post("/auth/consent", data={"csrf_token": token(client), "person": "1",
                                                          "host": "browser", "next": "/"})
    text_size = client.post("/prefs/text-size", data={"csrf_token": token(client), "size": "large", "next": "/"})
    staff = staff_login(app, app.test_client())
    cookies = {**set_cookies(sign_in_response), **set_cookies(text_size), **set_cookies(staff)}
    assert set(cookies) == {"sbweb_session", "sbweb_text", "sbweb_staff"}, cookies
    for name, cookie in cookies.items():
        assert cookie.get("secure") is True, cookie["header"]
        assert cookie.get("httponly") is True, cookie["header"]
        assert cookie.get("samesite") == "Lax", cookie["header"]


def test_secure_cookies_from_the_environment(monkeypatch):
    from sbweb.config import from_environment

    monkeypatch.setenv("SBWEB_SESSION_COOKIE_SECURE", "true")
    assert from_environment()["SESSION_COOKIE_SECURE"] is True


# -- idle expiry -------------------------------------------------------------------------------------

def test_after_30_idle_minutes_wang_fang_is_told_why_she_must_sign_in_again(client, world, clock):
    sign_in(client, "王芳")
    assert client.page("/selfpay/").h1 == "我为自己缴"
    clock.at(COLLECTING + 31 * MINUTE)
    page = client.page("/selfpay/")
    assert page.history and page.history[0].location.startswith("/auth/?next=/selfpay/")
    assert page.h1 == "授权"
    assert EXPIRED in page.text
    assert page.soup.select_one(".notice.notice-warn").get_text(strip=True) == EXPIRED
    # Said once: the next page does not repeat it, and she is signed out.
    again = client.page("/")
    assert EXPIRED not in again.text and "王芳" not in again.text


def test_an_htmx_request_after_expiry_leaves_for_the_sign_in_page_which_says_why(htmx_client, world, clock):
    htmx_client.htmx = False
    sign_in(htmx_client, "王芳")
    htmx_client.htmx = True
    clock.at(COLLECTING + 40 * MINUTE)
    response = htmx_client.get("/records/")
    assert response.status_code == 204
    target = response.headers["HX-Redirect"]
    assert target.startswith("/auth/?next=/records/")
    htmx_client.htmx = False  # HX-Redirect is a full page load
    page = htmx_client.page(target)
    assert page.h1 == "授权" and EXPIRED in page.text


def test_the_message_is_shown_on_a_public_page_too(client, world, clock):
    sign_in(client, "王芳")
    clock.at(COLLECTING + 31 * MINUTE)
    page = client.page("/")
    assert EXPIRED in page.text and "已通过证件信息查询" not in page.text


def test_activity_keeps_the_session_alive(client, world, clock):
    sign_in(client, "王芳")
    for minutes in (20, 40, 60, 80):  # never more than 20 minutes apart
        clock.at(COLLECTING + minutes * MINUTE)
        assert client.page("/selfpay/").h1 == "我为自己缴", minutes
    clock.at(COLLECTING + 80 * MINUTE + 24 * MINUTE)  # 24 minutes after the last request
    assert client.page("/selfpay/").h1 == "我为自己缴"
    clock.at(COLLECTING + 80 * MINUTE + 24 * MINUTE + 31 * MINUTE)
    assert EXPIRED in client.page("/selfpay/").text


def test_a_payment_confirmed_after_expiry_is_not_made_and_the_wizard_starts_again(app, client, world, clock):
    sign_in(client, "王芳")
    confirm = choose(client, "pension")
    method = client.submit(confirm)
    assert method.h1 == "选择缴款方式"
    clock.at(COLLECTING + 31 * MINUTE)
    page = client.submit(method, {"channel": "alipay"})
    assert page.h1 == "授权" and EXPIRED in page.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    # Signed in again, the half-made selection is gone: she starts from 我为自己缴.
    sign_in(client, "王芳")
    again = client.page("/selfpay/method")
    assert again.h1 == "我为自己缴" and "请先核对缴费信息" in again.text


def test_a_sign_in_form_posted_just_after_expiry_still_signs_in(client, world, clock):
    sign_in(client, "王芳")
    page = client.page("/auth/manual?next=/selfpay/")
    clock.at(COLLECTING + 45 * MINUTE)
    after = client.submit(page, {"id_type": "201", "id_number": "330106199207084573", "name": "李明"})
    assert after.h1 == "我为自己缴", after.text[:200]
    assert "李明" in client.page("/").text


def test_a_session_without_an_expiry_time_counts_as_ended(client, world, clock):
    """Cookies signed before sessions carried `until` must not live on for the cookie's 12 hours."""
    sign_in(client, "王芳")
    with client.session_transaction() as session:
        del session["until"]
    assert EXPIRED in client.page("/selfpay/").text


# -- secret keys -------------------------------------------------------------------------------------

def _app_with(tmp_path, app, **config):
    fresh = create_app({**{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "PAYMENT_KEY_DIR")},
                        "TESTING": True, "HUEY_IMMEDIATE": True, "INSTANCE_PATH": str(tmp_path / "other"), **config})
    fresh.jinja_env.bytecode_cache = JINJA_CACHE
    fresh.test_client_class = ResidentClient
    return fresh


def test_a_rotated_key_still_reads_sessions_and_forms_signed_with_the_old_one(tmp_path, app, client, world):
    sign_in(client, "王芳")
    form_page = client.page("/auth/manual?next=/selfpay/")  # a form whose CSRF token the old key signed
    cookie = client.get_cookie("sbweb_session").value

    rotated = _app_with(tmp_path, app, SECRET_KEY="new-secret-key-0123456789-0123456789-abc", SECRET_KEY_FALLBACKS=["test-secret"])
    phone = rotated.test_client()
    phone.set_cookie("sbweb_session", cookie)
    assert phone.page("/selfpay/").h1 == "我为自己缴"
    posted = phone.submit(form_page, {"id_type": "201", "id_number": "330106199207084573", "name": "李明"})
    assert posted.h1 == "我为自己缴"
    # What the new key signs, the old one alone cannot read.
    assert phone.get_cookie("sbweb_session").value != cookie

    forgotten = _app_with(tmp_path, app, SECRET_KEY="new-secret-key-0123456789-0123456789-abc")
    stranger = forgotten.test_client()
    stranger.set_cookie("sbweb_session", cookie)
    assert stranger.page("/selfpay/").h1 == "授权"


def test_the_secret_key_is_made_once_in_the_instance_folder_and_rotated_there(tmp_path, app):
    config = {k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "PAYMENT_KEY_DIR")}
    instance = tmp_path / "pilot"
    first = create_app({**config, "INSTANCE_PATH": str(instance)})
    key = first.config["SECRET_KEY"]
    assert len(key) == 64 and (instance / "secret_key").read_text().strip() == key
    assert (instance / "secret_key").stat().st_mode & 0o077 == 0
    assert create_app({**config, "INSTANCE_PATH": str(instance)}).config["SECRET_KEY"] == key

    result = first.test_cli_runner().invoke(args=["secret-key", "rotate"])
    assert result.exit_code == 0, result.output
    after = create_app({**config, "INSTANCE_PATH": str(instance)})
    assert after.config["SECRET_KEY"] != key and after.config["SECRET_KEY_FALLBACKS"] == [key]
    assert (instance / "secret_key.old").stat().st_mode & 0o077 == 0


def test_fallback_keys_from_the_environment(monkeypatch):
    from sbweb.config import from_environment

    monkeypatch.setenv("SBWEB_SECRET_KEY_FALLBACKS", "older-key-0123456789,old-key-0123456789")
    assert from_environment()["SECRET_KEY_FALLBACKS"] == ("older-key-0123456789", "old-key-0123456789")


def test_a_short_secret_key_is_refused_outside_tests(tmp_path, app):
    with pytest.raises(ValueError, match="SECRET_KEY is shorter"):
        create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                    "INSTANCE_PATH": str(tmp_path / "x"), "SECRET_KEY": "dev"})


@pytest.mark.parametrize("setting, key, why", [
    ("SECRET_KEY", "change-me-to-64-hex-characters", "contains 'change'"),  # deploy/systemd/env.sample as shipped
    ("SECRET_KEY", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too few different characters"),
    ("SECRET_KEY", "my-flask-secret-key-for-production", "contains 'secret'"),
    ("SECRET_KEY_FALLBACKS", "sbweb-old-key-2026-rotate-soon", "contains 'sbweb'"),
])
def test_a_guessable_secret_key_is_refused_outside_tests(tmp_path, app, setting, key, why):
    good = "66426f06ff94c43218bb16bbf097e934318d92513ba45637"
    config = {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "INSTANCE_PATH": str(tmp_path / "x"),
              "SECRET_KEY": key if setting == "SECRET_KEY" else good,
              "SECRET_KEY_FALLBACKS": [key] if setting == "SECRET_KEY_FALLBACKS" else []}
    with pytest.raises(ValueError, match=f"{setting} .*{why}") as refused:
        create_app(config)
    assert key not in str(refused.value)  # the key itself is never printed


def test_a_random_secret_key_starts(tmp_path, app):
    import secrets

    made = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "INSTANCE_PATH": str(tmp_path / "x"), "SECRET_KEY": secrets.token_urlsafe(32)})
    assert made.config["SECRET_KEY"]
