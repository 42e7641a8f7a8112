"""WeChat sign-in (网页授权) and binding a WeChat user to a person with a code mailed to the
address on file: the OAuth adapter against the fake, and the resident's pages."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.identity import hosts
from sbweb.models import HostAccount, VerificationCode
from tests.support.wechat_fakes import code_of
from tests.support.wechat_steps import (
    agree,
    bind,
    enter_code,
    get_code,
    inside_wechat,
    mails_to,
    resident,
    sent_codes,
    token,
    type_identity,
)


def signin(app):
    with app.app_context():
        return hosts.providers()["wechat"]


def a_code(wechat_oauth, openid, scope="snsapi_base"):
    """What WeChat gives the browser after the user agrees (to `scope`): a code for our callback."""
    import requests

    wechat_oauth.user = openid
    answer = requests.get(
        f"{wechat_oauth.url}/connect/oauth2/authorize",
        allow_redirects=False,
        timeout=5,
        params={
            "appid": "wx8888888888888888",
            "redirect_uri": "http://127.0.0.1/cb",
            "response_type": "code",
            "scope": scope,
            "state": "s",
        },
    )
    return code_of(answer.headers["Location"])


# -- the adapter ------------------------------------------------------------------------------


def test_the_authorize_url_is_wechats_oauth_page_with_our_callback(app):
    url = signin(app).authorize_url("https://sb.example/auth/host/wechat/callback", "st4te")
    assert url.startswith(app.config["HOST_SIGNIN"]["wechat"]["authorize_url"] + "?")
    assert "appid=wx8888888888888888" in url and "response_type=code" in url and "scope=snsapi_base" in url
    assert "redirect_uri=https%3A%2F%2Fsb.example%2Fauth%2Fhost%2Fwechat%2Fcallback" in url
    assert "state=st4te" in url and url.endswith("#wechat_redirect")


def test_a_code_gives_the_openid_once(app, wechat_oauth):
    openid = wechat_oauth.new_user("小王")
    wechat_oauth.unionids[openid] = "oUnion123456"
    code = a_code(wechat_oauth, openid)
    identity = signin(app).identify({"code": code, "state": "s"})
    assert identity.subject == openid and identity.unionid == "oUnion123456" and not identity.names_person
    with pytest.raises(hosts.HostSignInError, match="40163"):
        signin(app).identify({"code": code})


@pytest.mark.parametrize(
    "spoil, says",
    [
        (lambda oauth, code: "not-a-code-wechat-gave", "40029"),
        (lambda oauth, code: (oauth.expire_codes(), code)[1], "40029"),
        (lambda oauth, code: "", "declined"),
        (lambda oauth, code: (setattr(oauth, "down", True), code)[1], "HTTP 502"),
        (lambda oauth, code: (setattr(oauth, "secret", "0" * 32), code)[1], "40125"),
    ],
)
def test_a_code_wechat_does_not_vouch_for_is_refused(app, wechat_oauth, spoil, says):
    code = spoil(wechat_oauth, a_code(wechat_oauth, wechat_oauth.new_user("小王")))
    with pytest.raises(hosts.HostSignInError, match=says):
        signin(app).identify({"code": code})


def test_wechat_unreachable_is_a_sign_in_error(app, wechat_oauth):
    code = a_code(wechat_oauth, wechat_oauth.new_user("小王"))
    wechat_oauth.stop()
    try:
        with pytest.raises(hosts.HostSignInError, match="ConnectionError"):
            signin(app).identify({"code": code})
    finally:
        wechat_oauth.start()


def test_snsapi_userinfo_asks_for_the_nickname(app, wechat_oauth):
    from sbweb.identity.hosts.wechat import from_settings

    settings = {**app.config["HOST_SIGNIN"]["wechat"], "scope": "snsapi_userinfo"}
    provider = from_settings("wechat", settings, app)
    assert "scope=snsapi_userinfo" in provider.authorize_url("http://127.0.0.1/cb", "s")
    openid = wechat_oauth.new_user("王芳的微信")
    identity = provider.identify({"code": a_code(wechat_oauth, openid, scope="snsapi_userinfo")})
    assert identity.nickname == "王芳的微信" and identity.subject == openid


# -- the resident's pages ---------------------------------------------------------------------


def bindings(app):
    with app.app_context():
        return {(a.subject, a.person_id) for a in db.session.scalars(select(HostAccount))}


def test_wang_fang_binds_her_wechat_with_the_code_mailed_to_her(client, world, wechat_oauth):
    inside_wechat(client)
    openid = wechat_oauth.user = wechat_oauth.new_user("小王")
    page = agree(client, "/records/")
    assert page.h1 == "身份验证" and "首次在微信中使用" in page.text
    page = type_identity(client, page, "王芳")
    assert page.h1 == "获取验证码"
    assert "w***@example.com" in page.text and "wangfang@example.com" not in page.text
    page, code = get_code(client, page)
    assert page.h1 == "输入验证码" and mails_to(client.application) == ["wangfang@example.com"]
    wrong = enter_code(client, page, f"{(int(code) + 1) % 10**6:06d}")
    assert wrong.status == 422 and wrong.field_error("code") == "验证码不正确，还可以输入4次"
    page = enter_code(client, wrong, code)
    assert page.h1 == "缴费记录", page.text  # the page that needed a verified session
    assert bindings(client.application) == {(openid, world.people["王芳"])}

    client.post("/auth/sign-out", data={"csrf_token": token(client)})
    again = agree(client, "/records/")
    assert again.h1 == "缴费记录"  # bound: WeChat's word is enough now
    assert len(sent_codes(client.application)) == 1


def test_a_code_is_typed_with_full_width_digits_and_spaces_too(client, world, wechat_oauth):
    inside_wechat(client)
    wechat_oauth.user = wechat_oauth.new_user("小王")
    page = type_identity(client, agree(client, "/records/"), "王芳")
    page, code = get_code(client, page)
    wide = " ".join(chr(ord(c) + 0xFEE0) for c in code)
    assert enter_code(client, page, wide).h1 == "缴费记录"


def test_an_expired_code_is_refused(client, world, wechat_oauth, clock):
    inside_wechat(client)
    wechat_oauth.user = wechat_oauth.new_user("小王")
    page = type_identity(client, agree(client, "/records/"), "王芳")
    page, code = get_code(client, page)
    clock.at(clock.now + dt.timedelta(minutes=10, seconds=1))
    late = enter_code(client, page, code)
    assert late.status == 422 and late.summary() == ["验证码已过期，请重新获取"]
    assert bindings(client.application) == set()
    assert late.h1 == "获取验证码"  # the dead code is forgotten: ask for a new one


def test_five_wrong_codes_end_that_code(client, world, wechat_oauth):
    inside_wechat(client)
    wechat_oauth.user = wechat_oauth.new_user("小王")
    page = type_identity(client, agree(client, "/records/"), "王芳")
    page, code = get_code(client, page)
    wrong = f"{(int(code) + 7) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        page = enter_code(client, page, wrong)
        assert page.field_error("code") == f"验证码不正确，还可以输入{left}次"
    page = enter_code(client, page, wrong)
    assert page.summary() == ["验证码错误次数过多，请重新获取"] and page.h1 == "获取验证码"
    # The right code is no use now, even typed on the page from before.
    response = client.post("/auth/verify/code", data={"code": code, "csrf_token": token(client), "next": "/"})
    assert response.status_code == 303 and bindings(client.application) == set()
    with client.application.app_context():
        assert db.session.scalar(select(VerificationCode.attempts)) == 5


def test_codes_per_person_and_hour_are_limited(client, world, wechat_oauth):
    inside_wechat(client)
    wechat_oauth.user = wechat_oauth.new_user("小王")
    page = type_identity(client, agree(client, "/records/"), "王芳")
    for _ in range(3):
        page, _code = get_code(client, page)
    refused = client.submit(page, selector="main form[action$='/send']")
    assert refused.status == 429 and "获取验证码过于频繁" in refused.summary()[0]
    assert len(sent_codes(client.application)) == 3


def test_a_person_without_an_email_is_told_what_to_do(client, world, wechat_oauth):
    inside_wechat(client)
    wechat_oauth.user = wechat_oauth.new_user("老赵")
    page = type_identity(client, agree(client, "/records/"), "赵秀英")
    assert page.h1 == "获取验证码"
    assert "没有登记电子邮箱" in page.text and "支付宝中打开本服务并授权登录" in page.text and "经办机构" in page.text
    assert page.soup.select("main form[action$='/send']") == []
    refused = client.post("/auth/verify/send", data={"csrf_token": token(client), "next": "/"})
    assert refused.status_code == 422 and mails_to(client.application) == []
    # Still identified by 证件信息: she can see her dues and pay.
    assert client.page("/selfpay/").h1 == "我为自己缴"


def test_a_second_wechat_user_binding_the_same_person_replaces_the_first(app, world, wechat_oauth):
    first, second = resident(app, wechat=True), resident(app, wechat=True)
    one = wechat_oauth.user = wechat_oauth.new_user("旧手机")
    assert "已绑定，今后在微信中授权即可直接登录" in bind(first, "王芳").text
    assert bindings(app) == {(one, world.people["王芳"])}
    two = wechat_oauth.user = wechat_oauth.new_user("新手机")
    assert "已绑定" in bind(second, "王芳").text
    assert bindings(app) == {(two, world.people["王芳"])}
    third = resident(app, wechat=True)
    wechat_oauth.user = one
    assert agree(third, "/records/").h1 == "身份验证"  # the old phone must bind again


def test_a_lookup_resident_in_a_browser_gets_verified_by_code(client, world):
    from tests.support.journeys import sign_in

    sign_in(client, "王芳")
    needs = client.page("/proxy/")  # 我帮他人缴 shows personal data: verified only
    assert needs.h1 == "授权" and "使用验证码验证" in needs.text
    page = client.page(needs.links()["获取验证码"])
    assert page.h1 == "获取验证码" and "w***@example.com" in page.text
    page, code = get_code(client, page)
    page = enter_code(client, page, code)
    assert page.h1 == "我帮他人缴" and "身份验证成功" in page.text
    assert bindings(client.application) == set()  # no host user to bind in a browser


def test_a_code_is_only_good_for_the_session_that_asked(app, world):
    from tests.support.journeys import sign_in

    asked, other = resident(app), resident(app)
    sign_in(asked, "王芳")
    sign_in(other, "王芳")
    _page, code = get_code(asked, asked.page("/auth/verify/code?next=/proxy/"))
    response = other.post("/auth/verify/code", data={"code": code, "csrf_token": token(other), "next": "/proxy/"})
    assert response.status_code == 303 and "/auth/verify/code" in response.location
    assert other.page("/proxy/").h1 == "授权"
    assert asked.page("/proxy/").h1 == "授权"  # nor did the other session's try use it up
    assert enter_code(asked, asked.page("/auth/verify/code?next=/proxy/"), code).h1 == "我帮他人缴"


def test_the_steps_are_fragments_for_htmx(client, world):
    from tests.support.journeys import sign_in

    sign_in(client, "王芳")
    client.htmx = True
    for url, heading in (("/auth/verify/code?next=/", "获取验证码"), ("/auth/verify/identity?next=/", "身份验证")):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200 and "<html" not in html and f"<h1>{heading}</h1>" in html
        assert "HX-Request" in response.headers["Vary"]


def test_codes_are_kept_only_as_keyed_hashes(client, world, wechat_oauth):
    from tests.support.journeys import sign_in

    sign_in(client, "王芳")
    _page, code = get_code(client, client.page("/auth/verify/code?next=/"))
    with client.application.app_context():
        row = db.session.scalar(select(VerificationCode))
        assert code not in row.code_hash and len(row.code_hash) == 64
        assert db.session.scalar(select(func.count()).select_from(VerificationCode)) == 1


def test_a_code_mail_keeps_no_code_once_sent_and_does_not_use_up_the_mail_limit(client, world):
    from sbweb import mail
    from sbweb.models import OutboxMail
    from tests.support.journeys import sign_in

    client.application.config.update(MAIL_RATE_LIMIT=1)  # one mail an hour: a code must not take it
    sign_in(client, "王芳")
    page = client.page("/auth/verify/code?next=/")
    for _ in range(2):
        page, code = get_code(client, page)
    with client.application.app_context():
        rows = list(db.session.scalars(select(OutboxMail)))
        assert [(r.state, r.holds_secret, r.body) for r in rows] == [
            ("sent", True, "")
        ] * 2  # the code: only in the mail
        person_id = rows[0].person_id
        document_mail = mail.queue(person_id, "wangfang@example.cn", "缴费证明", "附件为您的缴费证明。")
        assert document_mail.holds_secret is False and document_mail.body  # the one mail of the hour
        with pytest.raises(mail.MailRateLimited):
            mail.queue(person_id, "wangfang@example.cn", "缴费证明", "again")
        rows[0].state = "failed"
        db.session.commit()
        with pytest.raises(mail.MailError, match="验证码邮件不能重发"):
            mail.retry(person_id, rows[0].id)


def test_a_looked_up_resident_in_wechat_binds_when_a_page_needs_it(client, world, wechat_oauth):
    from tests.support.journeys import sign_in

    sign_in(inside_wechat(client), "王芳")  # 拒绝授权 → 证件信息 inside WeChat
    needs = client.page("/proxy/")
    assert needs.h1 == "授权"
    openid = wechat_oauth.user = wechat_oauth.new_user("小王")
    page = agree(client, "/proxy/", need="verified")
    assert page.h1 == "获取验证码" and "当前微信账号将与该参保人绑定" in page.text  # she was known already
    page, code = get_code(client, page)
    assert enter_code(client, page, code).h1 == "我帮他人缴"
    assert bindings(client.application) == {(openid, world.people["王芳"])}
