"""Bad input on the pages and endpoints WeChat added: no 5xx, a Chinese page or WeChat Pay's
failure answer, and nothing written."""

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import HostAccount, NotifyNonce, Order, OutboxMail, VerificationCode
from tests.support.journeys import sign_in
from tests.support.wechat_steps import get_code, inside_wechat, token

# (Full-width digits and spaces are a code still: test_wechat_signin types one so.)
GARBAGE = [
    "",
    " ",
    "abcdef",
    "12345",
    "1234567",
    "-12345",
    "1e308",
    "NaN",
    "٣٣٣٣٣٣",
    "<script>",
    "x" * 30_000,
    "12 34 5",
    "\u202e123456",
    "123456" * 2,
]


def stored(app):
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (HostAccount, NotifyNonce, Order, OutboxMail, VerificationCode)
        }


@pytest.fixture
def asked(client, world):
    """王芳 (looked up) has asked for a code."""
    sign_in(client, "王芳")
    get_code(client, client.page("/auth/verify/code?next=/proxy/"))
    return client


@pytest.mark.parametrize("typed", GARBAGE)
def test_garbage_for_a_code_is_told_and_uses_no_try(asked, typed):
    before = stored(asked.application)
    response = asked.post("/auth/verify/code", data={"code": typed, "csrf_token": token(asked), "next": "/proxy/"})
    page = asked._to_page(response, "/auth/verify/code", False)
    assert response.status_code == 422 and page.field_error("code") in ("请输入验证码", "验证码为6位数字")
    assert stored(asked.application) == before
    with asked.application.app_context():
        assert db.session.scalar(select(VerificationCode.attempts)) == 0


@pytest.mark.parametrize(
    "url, data",
    [
        ("/auth/verify/code", {"code": "123456"}),
        ("/auth/verify/send", {}),
        ("/auth/verify/identity", {"id_type": "201", "id_number": "520102198503151246", "name": "王芳"}),
    ],
)
def test_a_post_without_its_csrf_token_is_refused(asked, url, data):
    before = stored(asked.application)
    response = asked.post(url, data=data)
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert stored(asked.application) == before


@pytest.mark.parametrize(
    "data",
    [
        {"id_type": "99", "id_number": "x", "name": ""},
        {"id_type": "201", "id_number": "5" * 40, "name": "王" * 41},
        {"id_type": "201", "id_number": "520102198503151246", "name": "王小芳"},
        {"next": "//evil.example/"},
    ],
)
def test_bad_identities_are_told_in_chinese(client, world, data):
    before = stored(client.application)
    response = client.post("/auth/verify/identity", data={**data, "csrf_token": token(client)})
    page = client._to_page(response, "/auth/verify/identity", False)
    assert response.status_code in (422, 429) and page.summary()
    assert stored(client.application) == before


def test_an_identity_then_a_next_elsewhere_stays_here(client, world):
    response = client.post(
        "/auth/verify/identity",
        data={
            "id_type": "201",
            "id_number": "520102198503151246",
            "name": "王芳",
            "next": "https://evil.example/",
            "csrf_token": token(client),
        },
    )
    assert response.status_code == 303 and response.location == "/auth/verify/code?next=/"


@pytest.mark.parametrize(
    "path", ["/pay/wechat/SB000", "/pay/wechat/" + "9" * 300, "/pay/wechat/%00", "/pay/wechat/SB' OR '1'='1"]
)
def test_no_such_order_has_no_wechat_pay_page(client, world, path):
    sign_in(inside_wechat(client), "王芳")
    response = client.get(path)
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)


def test_signed_out_pages_go_to_the_authorize_sheet(client, world):
    for path in ("/auth/verify/code", "/pay/wechat/SB202611230000000001"):
        response = client.get(path)
        assert response.status_code == 303 and response.location.startswith("/auth/?next=")
    response = client.post("/auth/verify/send", data={"csrf_token": token(client)})
    assert response.status_code == 303 and response.location.startswith("/auth/?next=")


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"", "application/json"),
        (b"{}", "application/json"),
        (b"[]", "application/json"),
        (b'{"resource": "x"}', "application/json"),
        (b"\x00" * 10, "application/octet-stream"),
        (b"a=" + b"x" * 70_000, "application/x-www-form-urlencoded"),
    ],
)
def test_garbage_notifies_are_refused_without_a_trace(client, world, body, content_type):
    before = stored(client.application)
    response = client.post(
        "/notify/wechat",
        data=body,
        headers={
            "Content-Type": content_type,
            "Wechatpay-Timestamp": "x",
            "Wechatpay-Nonce": "\u202e",
            "Wechatpay-Serial": "PUB_KEY_ID_0119000001092026120100111800000001",
            "Wechatpay-Signature": "%%%",
        },
    )
    assert response.status_code in (400, 413)
    assert stored(client.application) == before


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?out_trade_no=",
        "?out_trade_no=" + "9" * 5000,
        "?out_trade_no=%00",
        "?out_trade_no=SB1&out_trade_no=SB2",
        "?out_trade_no=<b>",
    ],
)
def test_garbage_returns_are_bad_requests_or_nothing(client, world, query):
    assert client.get("/pay/return/wechat" + query).status_code in (303, 400)
