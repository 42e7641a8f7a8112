"""The session cookie and what it holds: its flags (and those of every other cookie we set),
the 30-minute idle expiry told in words on the page the resident lands on, and secret-key
rotation that signs nobody out."""

import datetime as dt
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import func, select

from sbweb import create_app
from sbweb.db import db
from sbweb.identity.sessions import EXPIRED
from sbweb.models import AuditEntry, LoginSession, Order, Person, Staff
from tests.conftest import COLLECTING, JINJA_CACHE
from tests.support import ResidentClient, form_values, identity_of
from tests.support.journeys import choose, post_manual_sign_in, sign_in

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
    return client.post(
        "/admin/login",
        data={
            **{k: v[0] for k, v in form_values(page.form()).items()},
            "username": "ops",
            "password": "correct horse battery",
        },
    )


# -- cookies -----------------------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_lax_and_not_secure_over_plain_http(client, world, clock):
    page = client.page("/auth/manual?next=/selfpay/")
    response = post_manual_sign_in(client, page)
    assert response.status_code == 303
    cookie = set_cookies(response)["sbweb_session"]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert "secure" not in cookie, cookie["header"]
    # The cookie outlives the 30-minute identity (12 hours), so that a later visit can say why.
    assert "Max-Age=43200" in cookie["header"] or "expires" in cookie


@pytest.mark.parametrize("app", [{"SESSION_COOKIE_SECURE": True}], indirect=True)
def test_with_secure_cookies_every_cookie_we_set_is_secure_httponly_and_lax(app, client, world):
    sign_in_response = client.post(
        "/auth/consent", data={"csrf_token": token(client), "person": "1", "host": "browser", "next": "/"}
    )
    text_size = client.post("/prefs/text-size", data={"csrf_token": token(client), "size": "large", "next": "/"})
    staff = staff_login(app, app.test_client())
    cookies = {**set_cookies(sign_in_response), **set_cookies(text_size), **set_cookies(staff)}
    assert set(cookies) == {"sbweb_session", "sbweb_text", "sbweb_staff"}, cookies
    for cookie in cookies.values():
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


def test_the_idle_limit_is_the_servers_not_the_cookies(app, client, world, clock):
    """A cookie kept from before the 30 minutes ran out opens nothing after them either."""
    sign_in(client, "王芳")
    copy = client.get_cookie("sbweb_session").value
    clock.at(COLLECTING + 31 * MINUTE)
    stale = app.test_client()
    stale.set_cookie("sbweb_session", copy)
    assert stale.page("/selfpay/").h1 == "授权"
    assert client.page("/selfpay/").h1 == "授权"
    with app.app_context():
        row = db.session.scalar(select(LoginSession))
        assert (row.end_reason, row.ended_at is not None) == ("idle", True)


# -- sessions kept on the server ---------------------------------------------------------------------


def copy_of(app, client):
    """Another browser holding a copy of this one's session cookie."""
    app.test_client_class = ResidentClient
    other = app.test_client()
    other.set_cookie("sbweb_session", client.get_cookie("sbweb_session").value)
    return other


def test_a_copied_cookie_opens_nothing_after_wang_fang_signs_out(app, client, world):
    sign_in(client, "王芳", verified=True, next_url="/bank/")
    thief = copy_of(app, client)
    assert thief.page("/bank/").h1 == "银行账户与缴费协议"  # the copy works while she is signed in
    client.post("/auth/sign-out", data={"csrf_token": token(client)})
    for path in ("/bank/", "/queries/paid", "/records/", "/selfpay/"):
        page = thief.page(path)
        assert page.h1 == "授权", path
        assert identity_of(thief) == {}
    with app.app_context():
        row = db.session.scalar(select(LoginSession))
        assert row.end_reason == "sign-out"


def test_using_a_session_slides_the_idle_limit_but_not_past_12_hours(client, world, clock):
    sign_in(client, "王芳")
    for minutes in range(20, 12 * 60, 20):
        clock.at(COLLECTING + minutes * MINUTE)
        assert client.page("/selfpay/").h1 == "我为自己缴", minutes
    clock.at(COLLECTING + 12 * 60 * MINUTE)
    page = client.page("/selfpay/")
    assert page.h1 == "授权" and "登录已超过12小时" in page.text


def test_the_session_id_changes_when_the_level_does_and_the_old_one_ends(app, client, world):
    sign_in(client, "王芳")
    looked_up = identity_of(client)
    before = copy_of(app, client)
    sign_in(client, "王芳", verified=True)
    verified = identity_of(client)
    assert verified["level"] == "verified" and verified["session_id"] != looked_up["session_id"]
    assert before.page("/selfpay/").h1 == "授权"
    with app.app_context():
        assert db.session.get(LoginSession, looked_up["session_id"]).end_reason == "replaced"


def test_wang_fang_reads_her_sign_ins_with_the_address_masked(app, client, world):
    sign_in(client, "王芳")
    client.post("/auth/sign-out", data={"csrf_token": token(client)})
    sign_in(client, "王芳", verified=True, next_url="/auth/sign-ins", host="alipay")
    page = client.page("/auth/sign-ins")
    assert page.h1 == "登录记录"
    rows = [li.get_text(" ", strip=True) for li in page.soup.select("ul.sign-ins li")]
    assert len(rows) == 2, rows
    assert "已验证身份 · 支付宝" in rows[0] and "本次登录" in rows[0]
    assert "证件信息查询 · 浏览器" in rows[1] and "已退出" in rows[1]
    assert "地址 127.0.0.*" in rows[0]
    assert "127.0.0.1" not in page.text


def test_wang_fang_ends_a_sign_in_she_does_not_recognise(app, client, world):
    stranger = app.test_client()
    sign_in(stranger, "王芳")
    sign_in(client, "王芳", verified=True)
    page = client.page("/auth/sign-ins")
    done = client.submit(page, selector="main form[action$='/end-others']")
    assert done.h1 == "登录记录" and "已结束其他 1 个登录" in done.text
    assert identity_of(stranger) == {} and stranger.page("/selfpay/").h1 == "授权"
    assert identity_of(client)["level"] == "verified"


def test_binding_a_new_wechat_account_ends_what_the_old_one_opened(app, world):
    from sbweb.identity import hosts, login_sessions

    with app.app_context():
        person = db.session.scalar(select(Person).filter_by(name="王芳"))
        old, _ = login_sessions.start(
            "resident",
            lifetime=dt.timedelta(hours=12),
            person_id=person.id,
            level="verified",
            host="wechat",
            host_subject="openid-old",
        )
        mine, _ = login_sessions.start(
            "resident",
            lifetime=dt.timedelta(hours=12),
            person_id=person.id,
            level="verified",
            host="alipay",
            host_subject="2088-alipay",
        )
        hosts.bind(hosts.HostIdentity(provider="wechat", subject="openid-new"), person, replacing_others=True)
        ended = {r.id: r.end_reason for r in db.session.scalars(select(LoginSession))}
    assert ended[old.id] == "revoked"
    assert ended[mine.id] is None  # her sign-in through another host app goes on


def test_a_looked_up_resident_is_sent_to_verify_for_the_sign_ins(client, world):
    sign_in(client, "王芳")
    page = client.page("/auth/sign-ins")
    assert page.h1 == "授权" and "登录记录" in page.text


def test_housekeeping_closes_sessions_past_their_limits(app, world, clock):
    from sbweb.identity import login_sessions

    with app.app_context():
        person = db.session.scalar(select(Person).filter_by(name="王芳"))
        row, _token = login_sessions.start(
            "resident", lifetime=dt.timedelta(hours=12), person_id=person.id, level="lookup"
        )
        clock.at(COLLECTING + 31 * MINUTE)
        assert login_sessions.prune(dt.timedelta(minutes=30))["closed"] == 1
        assert db.session.get(LoginSession, row.id, populate_existing=True).end_reason == "idle"


# -- staff sessions --------------------------------------------------------------------------------------


def staff_client(app, username="ops", password="correct horse battery", role="admin", create=True):
    from sbweb.services import staff

    if create:
        with app.app_context():
            staff.create(username, username + "名", password, role)
    app.test_client_class = ResidentClient
    client = app.test_client()
    page = client.page("/admin/login")
    done = client.post(
        "/admin/login",
        data={**{k: v[0] for k, v in form_values(page.form()).items()}, "username": username, "password": password},
    )
    assert done.status_code == 303, done.status_code
    return client


def staff_copy(app, client):
    app.test_client_class = ResidentClient
    other = app.test_client()
    other.set_cookie("sbweb_staff", client.get_cookie("sbweb_staff", path="/admin").value, path="/admin")
    return other


def admin_token(client, path="/admin/account") -> str:
    return form_values(client.page(path).soup.select_one("main form[method=post]"))["csrf_token"][0]


def test_a_copied_staff_cookie_opens_nothing_after_logout(app, world):
    ops = staff_client(app)
    copy = staff_copy(app, ops)
    assert copy.page("/admin/audit").h1 == "审计日志"
    ops.post("/admin/logout", data={"csrf_token": admin_token(ops)})
    page = copy.page("/admin/audit")
    assert page.h1 == "后台登录"


def test_staff_sessions_end_after_30_idle_minutes_and_after_8_hours(app, world, clock):
    ops = staff_client(app)
    clock.at(COLLECTING + 31 * MINUTE)
    page = ops.page("/admin/")
    assert page.h1 == "后台登录" and "登录已超时" in page.text
    ops = staff_client(app, create=False)
    for minutes in range(31 + 20, 31 + 8 * 60, 20):
        clock.at(COLLECTING + minutes * MINUTE)
        assert ops.page("/admin/").h1 == "后台", minutes
    clock.at(COLLECTING + (31 + 8 * 60) * MINUTE)
    assert ops.page("/admin/").h1 == "后台登录"


def test_a_staff_member_sees_their_sessions_and_ends_the_other_one(app, world):
    desk = staff_client(app)
    laptop = staff_client(app, create=False)
    page = desk.page("/admin/account")
    assert page.h1 == "账号与登录设备" and "当前登录（2）" in page.text
    with app.app_context():
        other = db.session.scalar(
            select(LoginSession).where(LoginSession.kind == "staff").order_by(LoginSession.id.desc())
        )
    desk.post(f"/admin/account/sessions/{other.id}/end", data={"csrf_token": admin_token(desk)})
    assert laptop.page("/admin/").h1 == "后台登录"
    assert desk.page("/admin/").h1 == "后台"
    assert "当前登录（1）" in desk.page("/admin/account").text


def test_a_staff_member_cannot_end_someone_elses_session(app, world):
    ops = staff_client(app)
    reviewer = staff_client(app, "rev", role="reviewer")
    with app.app_context():
        theirs = db.session.scalar(
            select(LoginSession).where(LoginSession.kind == "staff").order_by(LoginSession.id.desc())
        )
    response = ops.post(f"/admin/account/sessions/{theirs.id}/end", data={"csrf_token": admin_token(ops)})
    assert response.status_code == 404
    assert reviewer.page("/admin/").h1 == "后台"


def test_an_admin_ends_every_session_of_a_staff_account(app, world):
    ops = staff_client(app)
    reviewer_desk = staff_client(app, "rev", role="reviewer")
    reviewer_phone = staff_client(app, "rev", role="reviewer", create=False)
    page = ops.page("/admin/staff")
    assert page.h1 == "工作人员"
    with app.app_context():
        rev = db.session.scalar(select(Staff).filter_by(username="rev"))
    ops.post(f"/admin/staff/{rev.id}/end-sessions", data={"csrf_token": admin_token(ops, "/admin/staff")})
    assert reviewer_desk.page("/admin/").h1 == "后台登录"
    assert reviewer_phone.page("/admin/").h1 == "后台登录"
    assert ops.page("/admin/").h1 == "后台"
    with app.app_context():
        assert (
            db.session.scalar(select(func.count()).select_from(AuditEntry).filter_by(action="staff.sessions_ended"))
            == 1
        )
    # A reviewer may not.
    reviewer = staff_client(app, "rev", role="reviewer", create=False)
    assert reviewer.get("/admin/staff").status_code == 403


def test_a_password_change_ends_every_other_session(app, world):
    desk = staff_client(app)
    phone = staff_client(app, create=False)
    page = desk.page("/admin/account")
    password_form = 'main form[action="/admin/account"]'
    wrong = desk.submit(
        page,
        {"current": "not my password", "new": "a new long passphrase", "again": "a new long passphrase"},
        selector=password_form,
    )
    assert wrong.status == 422 and wrong.field_error("current") == "当前密码不正确"
    assert phone.page("/admin/").h1 == "后台"
    done = desk.submit(
        page,
        {"current": "correct horse battery", "new": "a new long passphrase", "again": "a new long passphrase"},
        selector=password_form,
    )
    assert done.h1 == "账号与登录设备" and "其他 1 个登录已结束" in done.text
    assert phone.page("/admin/").h1 == "后台登录"
    assert desk.page("/admin/").h1 == "后台"
    staff_client(app, password="a new long passphrase", create=False)


def test_wrong_current_passwords_lock_the_account_like_wrong_sign_ins(app, world):
    desk = staff_client(app)
    password_form = 'main form[action="/admin/account"]'
    for _ in range(5):
        page = desk.page("/admin/account")
        desk.submit(
            page,
            {"current": "guess", "new": "a new long passphrase", "again": "a new long passphrase"},
            selector=password_form,
        )
    page = desk.page("/admin/account")
    locked = desk.submit(
        page,
        {"current": "correct horse battery", "new": "a new long passphrase", "again": "a new long passphrase"},
        selector=password_form,
    )
    assert locked.status == 422 and "账号已锁定" in locked.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEntry).filter_by(action="staff.locked")) == 1


def test_a_password_change_gives_this_session_a_new_token(app, world):
    desk = staff_client(app)
    before = desk.get_cookie("sbweb_staff", path="/admin").value
    old_copy = staff_copy(app, desk)
    page = desk.page("/admin/account")
    desk.submit(
        page,
        {"current": "correct horse battery", "new": "a new long passphrase", "again": "a new long passphrase"},
        selector='main form[action="/admin/account"]',
    )
    assert desk.get_cookie("sbweb_staff", path="/admin").value != before
    assert desk.page("/admin/").h1 == "后台"
    assert old_copy.page("/admin/").h1 == "后台登录"


# -- secret keys -------------------------------------------------------------------------------------


def _app_with(tmp_path, app, **config):
    fresh = create_app(
        {
            **{k: app.config[k] for k in ("SQLALCHEMY_DATABASE_URI", "PAYMENT_KEY_DIR")},
            "TESTING": True,
            "HUEY_IMMEDIATE": True,
            "INSTANCE_PATH": str(tmp_path / "other"),
            **config,
        }
    )
    fresh.jinja_env.bytecode_cache = JINJA_CACHE
    fresh.test_client_class = ResidentClient
    return fresh


def test_a_rotated_key_still_reads_sessions_and_forms_signed_with_the_old_one(tmp_path, app, client, world):
    sign_in(client, "王芳")
    form_page = client.page("/auth/manual?next=/selfpay/")  # a form whose CSRF token the old key signed
    cookie = client.get_cookie("sbweb_session").value

    rotated = _app_with(
        tmp_path, app, SECRET_KEY="new-secret-key-0123456789-0123456789-abc", SECRET_KEY_FALLBACKS=["test-secret"]
    )
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
        create_app(
            {
                "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                "INSTANCE_PATH": str(tmp_path / "x"),
                "SECRET_KEY": "dev",
            }
        )


@pytest.mark.parametrize(
    "setting, key, why",
    [
        ("SECRET_KEY", "change-me-to-64-hex-characters", "contains 'change'"),  # deploy/systemd/env.sample as shipped
        ("SECRET_KEY", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "too few different characters"),
        ("SECRET_KEY", "my-flask-secret-key-for-production", "contains 'secret'"),
        ("SECRET_KEY_FALLBACKS", "sbweb-old-key-2026-rotate-soon", "contains 'sbweb'"),
    ],
)
def test_a_guessable_secret_key_is_refused_outside_tests(tmp_path, app, setting, key, why):
    good = "66426f06ff94c43218bb16bbf097e934318d92513ba45637"
    config = {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "INSTANCE_PATH": str(tmp_path / "x"),
        "SECRET_KEY": key if setting == "SECRET_KEY" else good,
        "SECRET_KEY_FALLBACKS": [key] if setting == "SECRET_KEY_FALLBACKS" else [],
    }
    with pytest.raises(ValueError, match=f"{setting} .*{why}") as refused:
        create_app(config)
    assert key not in str(refused.value)  # the key itself is never printed


def test_a_random_secret_key_starts(tmp_path, app):
    import secrets

    made = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path / "x"),
            "SECRET_KEY": secrets.token_urlsafe(32),
        }
    )
    assert made.config["SECRET_KEY"]
