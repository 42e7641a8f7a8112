"""授权 and 授权信息确认: who the resident is, at which level, and where their 证件号码 may
appear (their own confirm page after 同意授权, nowhere else, never in a log)."""

import logging
import re

from flask.testing import FlaskClient

from tests.support import ResidentClient, identity_of
from tests.support.journeys import choose, go_to_provider, order_no_of, pay, sandbox_pay, sign_in

DEMO_NUMBERS = {
    "王芳": "520102198503151246",
    "李明": "330106199207084573",
    "张伟": "370202197805127818",
    "赵秀英": "370212196011203469",
    "陈静": "330102198808082426",
    "刘洋": "520115199501010032",
}
UNREGISTERED = "520102199001011256"  # a valid number (check character right) nobody registered


def manual(client, number, name, id_type="201"):
    page = client.page("/auth/manual?next=/selfpay/")
    return client.submit(page, {"id_type": id_type, "id_number": number, "name": name})


def session_of(client) -> dict:
    return identity_of(client)


def test_consenting_gives_wang_fang_a_verified_session(client, world):
    page = sign_in(client, "王芳", verified=True, next_url="/")
    assert page.h1 == "社保费自助缴纳"
    assert "已授权登录" in page.text and "王芳" in page.text
    assert session_of(client)["level"] == "verified"


def test_a_verified_session_shows_every_record_even_from_another_session(app, client, world):
    phone = app.test_client()
    sign_in(phone, "李明")
    paid = pay(phone, choose(phone, "medical"))
    assert "缴费成功" in paid.text

    sign_in(client, "李明", verified=True)
    records = client.page("/records/")
    assert any(href.endswith(order_no_of(paid)) for href in records.links().values())
    assert "400.00" in records.text and records.soup.select_one("main .state").get_text() == "成功"
    assert "仅显示本次使用中的缴费" not in records.text


def test_typing_who_you_are_gives_a_lookup_session_that_sees_only_its_own_payments(app, client, world):
    phone = app.test_client()
    sign_in(phone, "李明", verified=True)
    earlier = pay(phone, choose(phone, "medical"))
    assert "缴费成功" in earlier.text

    page = manual(client, DEMO_NUMBERS["李明"], "李明")
    assert page.h1 == "我为自己缴"
    assert session_of(client)["level"] == "lookup"
    assert "已通过证件信息查询" in client.page("/").text
    records = client.page("/records/")
    assert "仅显示本次使用中的缴费" in records.text and "暂无缴费记录" in records.text
    assert client.get(f"/orders/{order_no_of(earlier)}").status_code == 404

    now = pay(client, choose(client, "pension"))
    records = client.page("/records/")
    assert "500.00" in records.text and "400.00" not in records.text
    assert client.page(f"/orders/{order_no_of(now)}").h1 == "缴费结果"


def test_wang_fang_may_type_her_number_with_full_width_digits_and_a_small_x_style(client, world):
    page = manual(client, "５２０１０２ １９８５０３１５ １２４６", " 王芳 ")
    assert page.h1 == "我为自己缴" and "王芳" in page.text
    assert session_of(client)["level"] == "lookup"


def test_a_wrong_check_digit_is_refused_beside_the_field_and_in_the_summary(client, world):
    page = manual(client, DEMO_NUMBERS["王芳"][:17] + "7", "王芳")
    assert page.status == 422
    assert page.field_error("id_number") == "证件号码格式不正确"
    assert page.summary() == ["证件号码格式不正确"]
    assert page.soup.select_one("[data-error-summary] a")["href"] == "#id_number"
    session = session_of(client)
    assert "person_id" not in session and "level" not in session


def masked_form(page, typed_number) -> str:
    """The page as the resident sees it, without what differs by request: the CSRF token
    and the number they typed themselves."""
    html = page.response.get_data(as_text=True)
    html = re.sub(r'name="csrf_token"([^>]*?)value="[^"]+"', r'name="csrf_token"\1value="TOKEN"', html)
    html = re.sub(r'"X-CSRFToken": "[^"]+"', '"X-CSRFToken": "TOKEN"', html)
    return html.replace(typed_number, "TYPED-NUMBER")


def test_a_wrong_name_and_an_unregistered_number_get_the_identical_answer(client, app, world):
    wrong_name = manual(client, DEMO_NUMBERS["王芳"], "王芬")
    other = app.test_client()
    unregistered = manual(other, UNREGISTERED, "王芬")

    assert wrong_name.status == unregistered.status == 422
    assert "证件号码与姓名不一致，或未查询到该人员" in wrong_name.text
    assert masked_form(wrong_name, DEMO_NUMBERS["王芳"]) == masked_form(unregistered, UNREGISTERED)
    for c in (client, other):
        assert "person_id" not in session_of(c)


def test_chen_jing_is_told_she_has_no_enrollment(client, world):
    page = sign_in(client, "陈静", verified=True)
    assert page.h1 == "我为自己缴"
    assert "未查询到参保登记信息" in page.text
    assert "下一步" not in page.text


def walk_everywhere(client, name, *, verified, insurance="medical"):
    """Every page a resident can reach in one journey, as (url, html) pairs; the html without
    the line-break hints a long number carries (5201021985<wbr>03151246 shows the whole number)."""
    seen = []

    def html_of(response):
        return response.get_data(as_text=True).replace("<wbr>", "")

    def keep(page):
        seen.append((page.url, html_of(page.response)))
        for response in page.history:
            seen.append((response.request.path, html_of(response)))
        return page

    keep(client.page("/"))
    keep(client.page("/auth/?next=/selfpay/"))
    keep(client.page("/auth/manual?next=/selfpay/"))
    keep(sign_in(client, name, verified=verified))
    keep(client.page("/"))
    confirm = keep(choose(client, insurance))
    cashier = keep(go_to_provider(client, confirm))
    result = keep(sandbox_pay(client, cashier))
    keep(client.page("/records/"))
    keep(client.page(f"/orders/{order_no_of(result)}"))
    # the same steps as HTMX fragments
    for url in ("/", "/selfpay/", "/records/", f"/orders/{order_no_of(result)}"):
        response = FlaskClient.open(client, url, headers={"HX-Request": "true"})
        seen.append((url + " (htmx)", html_of(response)))
    return seen, confirm


def test_a_lookup_session_never_shows_the_number_unmasked(client, world):
    pages, confirm = walk_everywhere(client, "李明", verified=False)
    assert "3301**********4573" in confirm.text
    shown = [url for url, html in pages if DEMO_NUMBERS["李明"] in html]
    assert shown == []


def test_a_verified_session_shows_the_number_only_on_the_persons_own_confirm_page(client, world):
    pages, confirm = walk_everywhere(client, "李明", verified=True)
    assert DEMO_NUMBERS["李明"] in confirm.text
    shown = [url for url, html in pages if DEMO_NUMBERS["李明"] in html]
    assert shown and all(url.endswith("/selfpay/confirm") for url in shown), shown
    for name, number in DEMO_NUMBERS.items():
        if name != "李明":
            assert not any(number in html for _url, html in pages), name


def test_no_identity_number_reaches_the_log_in_any_journey(app, client, world, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sbweb")
    walk_everywhere(client, "张伟", verified=True, insurance="pension")
    lookup = app.test_client()
    walk_everywhere(lookup, "王芳", verified=False)
    # the unhappy paths log too
    manual(app.test_client(), DEMO_NUMBERS["李明"], "李四")
    manual(app.test_client(), UNREGISTERED, "李四")
    manual(app.test_client(), DEMO_NUMBERS["刘洋"][:17] + "9", "刘洋")
    app.test_client().post("/notify/sandbox", data={"out_trade_no": DEMO_NUMBERS["赵秀英"], "sign": "x"})
    app.test_client().get(f"/orders/{DEMO_NUMBERS['陈静']}")

    assert caplog.records, "the journey logged nothing: the test would prove nothing"
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for number in [*DEMO_NUMBERS.values(), UNREGISTERED]:
        assert number not in text


def test_a_number_an_sbweb_module_logs_reaches_the_log_masked(app, caplog):
    """Whoever logs a number (here the payment core, a child of the `sbweb` logger), what a
    handler receives is masked."""
    caplog.set_level(logging.DEBUG)
    with app.app_context():
        logging.getLogger("sbweb.payments.orders").warning("lookup for %s failed", DEMO_NUMBERS["王芳"])
    assert "5201**********1246" in caplog.text
    assert DEMO_NUMBERS["王芳"] not in caplog.text


# -- what a looked-up session may not reach ---------------------------------------------------------------


def test_a_looked_up_stranger_cannot_take_over_the_payment_wang_fang_started(app, world):
    """Her dues held by her own (verified) order: the stranger's 去支付 is told they are being
    paid, and gets neither her order nor its 取消支付."""
    from sqlalchemy import select

    from sbweb.db import db
    from sbweb.models import Order

    app.test_client_class = ResidentClient
    stranger, owner = app.test_client(), app.test_client()
    sign_in(stranger, "王芳")
    method = stranger.submit(choose(stranger, "pension"))
    sign_in(owner, "王芳", verified=True)
    go_to_provider(owner, choose(owner, "pension"))
    refused = stranger.submit(method, {"channel": "alipay"})
    assert refused.status == 422 and "该笔费款已在支付中，请勿重复缴费" in refused.summary()
    with app.app_context():
        hers = db.session.scalar(select(Order))
        number = hers.order_no
    assert stranger.get(f"/orders/{number}").status_code == 404
    assert stranger.post(f"/orders/{number}/cancel", data={"csrf_token": token(stranger)}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(Order.state).filter_by(order_no=number)) == "paying"


def test_a_looked_up_session_asking_for_a_voucher_of_an_order_it_did_not_make_makes_nothing(app, client, world):
    from sqlalchemy import func, select

    from sbweb.db import db
    from sbweb.models import Document

    app.test_client_class = ResidentClient
    owner = app.test_client()
    sign_in(owner, "王芳", verified=True)
    number = order_no_of(pay(owner, choose(owner, "medical")))
    sign_in(client, "王芳")
    assert client.get(f"/orders/{number}/voucher").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0


def test_the_page_to_come_back_to_never_carries_the_id_number_a_query_form_had(client, world):
    sign_in(client, "王芳")
    response = client.get(
        "/queries/proxy-paid?id_type=201&id_number=370212196011203469&name=%E8%B5%B5%E7%A7%80%E8%8B%B1&year=2026"
    )
    assert response.status_code == 303
    assert "370212196011203469" not in response.location and "id_number" not in response.location
    assert "year%3D2026" in response.location  # what else the page was showing stays


def token(client) -> str:
    from tests.support import form_values

    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]
