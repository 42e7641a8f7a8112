"""Garbled, tampered and oversized requests: each gets a clear Chinese message (or a 400, 404
or 413 page in Chinese), never a 500, and nothing is written."""

from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from sbweb.db import db
from sbweb.models import Due, Order, OrderItem, Person
from tests.support import form_values, identity_of
from tests.support.journeys import choose, go_to_provider, pay, sign_in

WECHAT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)


def what_is_stored(app):
    """Every row a bad request might touch, as plain values."""
    with app.app_context():
        dues = db.session.execute(
            select(Due.id, Due.state, Due.order_id, Due.amount_fen, Due.revision).order_by(Due.id)
        ).all()
        orders = db.session.execute(select(Order.id, Order.state, Order.version).order_by(Order.id)).all()
        return {
            "orders": orders,
            "order_items": db.session.scalar(select(func.count()).select_from(OrderItem)),
            "dues": dues,
            "persons": db.session.scalar(select(func.count()).select_from(Person)),
        }


@pytest.fixture
def unchanged(app, world):
    """Asserts, after the test, that the database holds exactly what it held before."""
    before = what_is_stored(app)
    yield before
    assert what_is_stored(app) == before


def form_data(page, data=None, drop=(), selector="main form[method=post]"):
    values = {k: v for k, v in form_values(page.form(selector)).items() if k not in drop}
    values.update({k: (v if isinstance(v, list) else [v]) for k, v in (data or {}).items()})
    return MultiDict([(k, v) for k, vs in values.items() for v in vs])


def token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


def signed_in(client) -> bool:
    return "person_id" in identity_of(client)


def due_id(app, world, name, insurance, index=0) -> int:
    with app.app_context():
        return world.dues(name, insurance)[index].id


def assert_chinese_page(page, status, title):
    assert page.status == status, page.text[:300]
    assert page.h1 == title
    assert page.soup.html["lang"] == "zh-CN"
    assert "返回首页" in page.text


# -- 授权信息确认 ---------------------------------------------------------------------------------


def test_a_manual_form_with_every_field_missing_asks_for_each(client, unchanged):
    client.page("/auth/manual")
    response = client.post("/auth/manual", data={"csrf_token": token(client)})
    page = client._to_page(response, "/auth/manual", False)
    assert page.status == 422
    assert page.summary() == ["请选择证件类型", "请输入证件号码", "请输入姓名"]
    assert not signed_in(client)


def test_an_id_type_not_on_the_list_is_refused_in_chinese(client, unchanged):
    for id_type in ["abc", "", "201' or '1'='1", "2010"]:
        page = client.submit(
            client.page("/auth/manual"), {"id_type": id_type, "id_number": "520102198503151246", "name": "王芳"}
        )
        assert page.status == 422, id_type
        assert page.field_error("id_type") in ("所选内容无效，请重新选择", "请选择证件类型"), id_type
        assert not signed_in(client)


def test_an_overlong_number_and_name_are_refused_in_chinese(client, unchanged):
    page = client.submit(client.page("/auth/manual"), {"id_number": "5" * 41, "name": "王" * 41})
    assert page.status == 422
    assert page.field_error("id_number") == "证件号码格式不正确"
    assert page.field_error("name") == "姓名不能超过40个字"


def test_a_name_with_control_characters_is_a_plain_no_match(client, unchanged):
    page = client.submit(client.page("/auth/manual"), {"id_number": "520102198503151246", "name": "王\u0007芳"})
    assert page.status == 422
    assert "证件号码与姓名不一致" in page.text
    assert not signed_in(client)


def test_a_nul_byte_in_any_field_is_a_bad_request_in_chinese(client, unchanged):
    """PostgreSQL text cannot hold NUL: every form and query refuses it before a view runs."""
    page = client.submit(client.page("/auth/manual"), {"id_number": "520102198503151246", "name": "王\x00芳"})
    assert page.status == 400 and "页面提交的内容无法识别" in page.text
    assert client.get("/records/?year=\x00").status_code in (303, 400)
    assert not signed_in(client)


# -- 同意授权 ------------------------------------------------------------------------------------


def test_consenting_as_someone_not_on_the_list_is_refused_in_chinese(client, unchanged):
    for person in ["abc", "", "1.5", "99999", "-1"]:
        page = client.submit(client.page("/auth/"), {"person": person})
        assert page.status == 422, person
        assert page.field_error("person") == "所选内容无效，请重新选择", person
        assert page.summary() == ["所选内容无效，请重新选择"], person
        assert not signed_in(client)


def test_consenting_from_an_unknown_host_app_is_refused_in_chinese(client, world, unchanged):
    page = client.submit(client.page("/auth/"), {"person": str(world.people["王芳"]), "host": "evilpay"})
    assert page.status == 422
    assert page.field_error("host") == "所选内容无效，请重新选择"
    assert not signed_in(client)


# -- choosing dues --------------------------------------------------------------------------

DUES_URL = "/selfpay/520102100000012345/dues"  # 王芳's flexible pension


def post_dues(client, dues):
    page = client.page(DUES_URL)
    response = client.post(DUES_URL, data=form_data(page, {"dues": dues}))
    return client._to_page(response, DUES_URL, False)


def assert_refused_choice(client, page, message="所选内容无效，请重新选择"):
    assert page.status == 422
    assert page.summary() == [message]
    assert message in page.soup.select_one("fieldset.due-list").get_text()
    with client.session_transaction() as session:
        assert "selection" not in session


def test_a_due_id_that_is_not_a_whole_number_is_refused(client, world, unchanged):
    sign_in(client, "王芳")
    for value in ["abc", "1.0", "0x10", "1; DROP TABLE dues"]:
        assert_refused_choice(client, post_dues(client, [value]))


def test_an_empty_due_id_is_no_choice_at_all(client, world, unchanged):
    sign_in(client, "王芳")
    assert_refused_choice(client, post_dues(client, [""]), "请至少选择一笔要缴纳的费款")


def test_a_due_id_of_someone_else_is_refused(client, app, world, unchanged):
    sign_in(client, "王芳")
    li_mings = due_id(app, world, "李明", "pension")
    assert_refused_choice(client, post_dues(client, [li_mings]))


def test_a_due_id_of_her_other_enrollment_is_refused_on_this_one(client, app, world, unchanged):
    sign_in(client, "王芳")
    assert_refused_choice(client, post_dues(client, [due_id(app, world, "王芳", "medical")]))


def test_a_valid_due_with_an_invalid_one_is_refused_as_a_whole(client, app, world, unchanged):
    sign_in(client, "王芳")
    mine, theirs = due_id(app, world, "王芳", "pension"), due_id(app, world, "张伟", "pension")
    assert_refused_choice(client, post_dues(client, [mine, theirs]))


def test_a_huge_due_id_is_refused(client, world, unchanged):
    sign_in(client, "王芳")
    assert_refused_choice(client, post_dues(client, ["9" * 40]))


def test_a_due_already_paid_cannot_be_chosen_again(client, app, world):
    sign_in(client, "王芳")
    first_month = due_id(app, world, "王芳", "pension")
    old_page = client.page(DUES_URL)  # still open in another tab
    pay(client, choose(client, "pension", due_ids=[first_month]))
    before = what_is_stored(app)

    response = client.post(DUES_URL, data=form_data(old_page, {"dues": [first_month]}))
    page = client._to_page(response, DUES_URL, False)

    assert page.status == 422
    assert page.summary() == ["所选内容无效，请重新选择"]
    assert what_is_stored(app) == before


# -- confirm and method ---------------------------------------------------------------------


def test_a_confirm_form_without_its_fingerprint_is_refused_with_a_message(client, world, unchanged):
    sign_in(client, "王芳")
    confirm = choose(client, "medical")
    response = client.post("/selfpay/confirm", data=form_data(confirm, drop=("shown",)))
    page = client._to_page(response, "/selfpay/confirm", False)
    assert page.status == 422
    assert page.summary(), "a refused form must say why"
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in message) for message in page.summary())
    assert client.get("/selfpay/method").status_code == 303  # not confirmed


def test_a_confirm_form_with_a_made_up_fingerprint_shows_the_real_figures(client, world, unchanged):
    sign_in(client, "王芳")
    confirm = choose(client, "medical")
    response = client.post("/selfpay/confirm", data=form_data(confirm, {"shown": "x" * 64}))
    page = client._to_page(response, "/selfpay/confirm", False)
    assert page.status in (409, 422)
    assert "352.00" in page.text
    assert client.get("/selfpay/method").status_code == 303


def test_alipay_is_refused_inside_wechat_and_nothing_is_charged(client, world, unchanged):
    client.environ_base["HTTP_USER_AGENT"] = WECHAT
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    assert "在微信中无法使用此方式" in method.text
    assert method.soup.select_one("#channel-alipay").has_attr("disabled")

    response = client.post("/selfpay/method", data=form_data(method, {"channel": "alipay"}))
    page = client._to_page(response, "/selfpay/method", False)

    assert page.status == 422
    assert page.field_error("channel") == "所选内容无效，请重新选择"
    assert "在微信中无法使用此方式" in page.text


def test_a_channel_that_does_not_exist_is_refused(client, world, unchanged):
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    for channel in ["bitcoin", "", "ALIPAY"]:
        response = client.post("/selfpay/method", data=form_data(method, {"channel": channel}))
        page = client._to_page(response, "/selfpay/method", False)
        assert page.status == 422, channel
        assert page.field_error("channel") in ("所选内容无效，请重新选择", "请选择缴款方式"), channel


# -- size, CSRF -----------------------------------------------------------------------------


def test_a_post_larger_than_the_limit_gets_a_413_page_in_chinese(client, app, world, unchanged):
    sign_in(client, "王芳")
    client.submit(choose(client, "medical"))
    huge = "王" * (app.config["MAX_CONTENT_LENGTH"] // 2)
    for url in ["/auth/manual", "/selfpay/520102100000012345/dues", "/selfpay/confirm", "/selfpay/method"]:
        response = client.post(url, data={"csrf_token": token(client), "name": huge, "dues": "1", "channel": "alipay"})
        assert_chinese_page(client._to_page(response, url, False), 413, "提交内容过长")
        assert "提交的内容超出限制" in response.get_data(as_text=True)
    assert signed_in(client)


def test_a_post_without_its_csrf_token_gets_the_page_expired_page(client, world, unchanged):
    sign_in(client, "王芳")
    client.submit(choose(client, "medical"))
    for url in [
        "/auth/manual",
        "/auth/consent",
        "/selfpay/520102100000012345/dues",
        "/selfpay/confirm",
        "/selfpay/method",
        "/auth/sign-out",
        "/prefs/text-size",
    ]:
        response = client.post(
            url,
            data={
                "id_number": "520102198503151246",
                "name": "王芳",
                "person": "1",
                "dues": "1",
                "channel": "alipay",
                "size": "large",
            },
        )
        page = client._to_page(response, url, False)
        assert_chinese_page(page, 400, "页面已过期")
        assert "请返回上一页刷新后重新提交" in page.text
        assert "sbweb_text" not in response.headers.get("Set-Cookie", "")
    assert signed_in(client)  # sign-out without a token did nothing
    assert client.page("/selfpay/method").h1 == "选择缴款方式"  # and the selection is intact


def test_a_csrf_token_from_another_session_is_refused(app, client, world, unchanged):
    stranger = app.test_client()
    foreign = token(stranger)
    sign_in(client, "王芳")
    response = client.post("/selfpay/520102100000012345/dues", data={"csrf_token": foreign, "dues": "1"})
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)


# -- other people's things look like nothing ------------------------------------------------


@pytest.fixture
def li_mings_order(app, world):
    """李明 has gone to the provider for his medical due: an order in 支付中."""
    phone = app.test_client()
    sign_in(phone, "李明")
    go_to_provider(phone, choose(phone, "medical"))
    with app.app_context():
        return db.session.scalar(select(Order.order_no))


def test_wang_fang_cannot_see_li_mings_order(client, li_mings_order, world):
    sign_in(client, "王芳", verified=True)
    page = client.page(f"/orders/{li_mings_order}")
    assert_chinese_page(page, 404, "页面不存在")
    assert li_mings_order not in page.text


@pytest.mark.parametrize("action", ["cancel", "resume"])
def test_wang_fang_cannot_cancel_or_resume_li_mings_order(app, client, li_mings_order, world, action):
    sign_in(client, "王芳", verified=True)
    before = what_is_stored(app)
    response = client.post(f"/orders/{li_mings_order}/{action}", data={"csrf_token": token(client)})
    assert_chinese_page(client._to_page(response, "/", False), 404, "页面不存在")
    assert what_is_stored(app) == before


def test_an_order_number_that_does_not_exist_is_404(client, world, unchanged):
    sign_in(client, "王芳", verified=True)
    for order_no in ["SB000", "x" * 300, "%00", "..%2F..%2Fetc%2Fpasswd", "SB' OR '1'='1"]:
        assert_chinese_page(client.page(f"/orders/{order_no}"), 404, "页面不存在")


def test_an_enrollment_that_is_not_hers_or_does_not_exist_is_404(client, world, unchanged):
    sign_in(client, "王芳")
    for enrollment_no in ["000000000000000000", "330106100000023456", "%00", "x" * 300]:
        assert_chinese_page(client.page(f"/selfpay/{enrollment_no}/dues"), 404, "页面不存在")


def test_posting_dues_to_someone_elses_enrollment_is_404(client, app, world, unchanged):
    sign_in(client, "王芳")
    url = "/selfpay/330106100000023456/dues"  # 李明's
    response = client.post(url, data={"csrf_token": token(client), "dues": str(due_id(app, world, "李明", "pension"))})
    assert_chinese_page(client._to_page(response, url, False), 404, "页面不存在")


def test_a_forged_provider_return_is_refused_in_chinese(client, world, unchanged):
    page = client.page("/pay/return/sandbox?out_trade_no=SB1&sign=abc&app_id=2026000000000001")
    assert_chinese_page(page, 400, "请求无效")


def test_a_get_to_a_post_only_address_is_405_in_chinese(client, world, unchanged):
    assert_chinese_page(client.page("/auth/consent"), 405, "操作无效")


# -- where `next` may send the browser ------------------------------------------------------


def where_a_browser_goes(location: str, base="http://localhost/auth/manual") -> str:
    """The host a browser would open for this Location: browsers strip tabs and newlines and
    read a backslash as a slash (WHATWG URL parsing)."""
    cleaned = location.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")
    return urlsplit(urljoin(base, cleaned)).hostname


EVIL_NEXTS = [
    "//evil.example",
    "http://evil",
    "https://evil.example/selfpay/",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "///evil.example",
    " //evil.example",
]


@pytest.mark.parametrize("target", EVIL_NEXTS)
def test_a_tampered_next_after_signing_in_by_hand_stays_in_the_app(client, world, target):
    page = client.page("/auth/manual")
    response = client.post(
        "/auth/manual", data=form_data(page, {"id_number": "520102198503151246", "name": "王芳", "next": target})
    )
    assert response.status_code == 303
    assert where_a_browser_goes(response.location) == "localhost", response.location


def test_a_tampered_next_after_consenting_stays_in_the_app(client, world):
    for target in EVIL_NEXTS:
        page = client.page("/auth/")
        response = client.post(
            "/auth/consent", data=form_data(page, {"person": str(world.people["王芳"]), "next": target})
        )
        assert response.status_code == 303, target
        assert where_a_browser_goes(response.location) == "localhost", (target, response.location)


def test_a_tampered_next_on_the_text_size_switch_stays_in_the_app(client, world):
    for target in EVIL_NEXTS:
        page = client.page("/")
        response = client.post("/prefs/text-size", data=form_data(page, {"next": target}, selector="header form"))
        assert response.status_code == 303, target
        assert where_a_browser_goes(response.location) == "localhost", (target, response.location)


def test_a_tampered_next_in_the_address_is_not_put_into_the_form(client, world):
    page = client.page("/auth/manual?next=//evil.example/steal")
    assert page.soup.select_one("main input[name=next]")["value"] == "/"
    # Only the page's own address may hold it: the 大字 switch's next (as a field and, encoded,
    # in its formaction) comes back to this page.
    own_address = ("next=//evil.example/steal", "next%3D//evil.example/steal")
    html = page.response.get_data(as_text=True)
    for echo in own_address:
        html = html.replace(echo, "")
    assert "evil.example" not in html
    page = client.page("/auth/?next=http://evil.example/")
    assert page.soup.select_one("main input[name=next]")["value"] == "/"


def test_an_in_app_next_is_kept(client, world):
    page = client.page("/auth/manual?next=/records/")
    response = client.post("/auth/manual", data=form_data(page, {"id_number": "520102198503151246", "name": "王芳"}))
    assert response.status_code == 303 and response.location == "/records/"
