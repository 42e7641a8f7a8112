"""Every wizard step as a whole page and as an HTMX fragment from the same URL; 303 after
every successful POST, 422 with an error summary after a failed one; the guards between
steps; Back, reload and a page that went stale while the resident looked at it."""

from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from sbweb.db import db, write_transaction
from sbweb.models import Order
from sbweb.services.registry import change_due_amount
from tests.support import check_page, form_values
from tests.support.journeys import choose, order_no_of, pay, sign_in

ELSEWHERE = "http://localhost/somewhere-else"


def hx(client, url, method="GET", current=ELSEWHERE, **kwargs):
    """A request as htmx sends it (not boosted), its fragment checked like every page:
    one h1, a <title> that names it, no duplicate ids, a label on every field."""
    headers = {"HX-Request": "true", "HX-Current-URL": current, **kwargs.pop("headers", {})}
    # Past ResidentClient.open, which takes a fragment for a whole page when Vary also
    # names Cookie ("HX-Request, Cookie"); the fragment is checked here instead.
    response = FlaskClient.open(client, url, method=method, headers=headers, **kwargs)
    if response.mimetype == "text/html" and response.status_code not in (204, 301, 302, 303):
        check_page(response.get_data(as_text=True), fragment=True)
    return response


def post_form(page, data=None, selector="main form[method=post]"):
    """The page's form as the browser would send it, with `data` typed over it."""
    values = form_values(page.form(selector))
    values.update({k: (v if isinstance(v, list) else [v]) for k, v in (data or {}).items()})
    return MultiDict([(k, v) for k, vs in values.items() for v in vs])


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def open_due_ids(app, world, name, insurance) -> list[int]:
    with app.app_context():
        return [d.id for d in world.dues(name, insurance)]


def h1_of(html: str) -> str:
    return check_page(html, fragment="<html" not in html).h1.get_text(" ", strip=True)


def walk_to_method_step(client, world, *, with_payment=False) -> dict[str, str]:
    """王芳 signs in and confirms her medical due, so every step has something to show; with
    `with_payment` she first pays her first pension month (the 缴费结果 page needs an order).
    Returns the URL of each step."""
    sign_in(client, "王芳")
    urls = {
        "home": "/",
        "authorize": "/auth/?next=/selfpay/",
        "manual": "/auth/manual?next=/selfpay/",
        "enrollments": "/selfpay/",
        "dues": "/selfpay/520102200000012346/dues",
        "confirm": "/selfpay/confirm",
        "method": "/selfpay/method",
        "records": "/records/",
    }
    if with_payment:
        first_month = open_due_ids(client.application, world, "王芳", "pension")[0]
        paid = pay(client, choose(client, "pension", due_ids=[first_month]))
        assert paid.h1 == "缴费结果"
        urls["order"] = f"/orders/{order_no_of(paid)}"
    method = client.submit(choose(client, "medical"))
    assert method.h1 == "选择缴款方式"
    return urls


STEPS = {
    "home": "社保费自助缴纳",
    "authorize": "授权",
    "manual": "授权信息确认",
    "enrollments": "我为自己缴",
    "dues": "选择缴费信息",
    "confirm": "缴费信息确认",
    "method": "选择缴款方式",
    "order": "缴费结果",
    "records": "缴费记录",
}


@pytest.mark.parametrize("step", STEPS)
def test_each_step_is_a_whole_page_and_the_same_step_as_an_htmx_fragment(client, world, step):
    url = walk_to_method_step(client, world, with_payment=step == "order")[step]

    page = client.page(url, follow=False)  # the ResidentClient checks the whole page
    assert page.status == 200
    html = page.response.get_data(as_text=True)
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert page.soup.select_one("header.titlebar") and page.soup.select_one("main#main")
    assert page.h1 == STEPS[step]
    assert "HX-Request" in page.response.vary

    fragment = hx(client, url)
    assert fragment.status_code == 200
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "<head" not in body and "titlebar" not in body
    assert body.count("<title>") == 1 and body.count("<h1") == 1
    assert h1_of(body) == STEPS[step]
    assert "HX-Request" in fragment.vary
    assert fragment.headers["HX-Push-Url"] == url


def test_a_fragment_for_the_page_already_shown_adds_no_history_entry(client, world):
    sign_in(client, "王芳")
    response = hx(client, "/selfpay/", current="http://localhost/selfpay/")
    assert response.status_code == 200
    assert response.headers["HX-Push-Url"] == "false"


def test_a_boosted_request_gets_the_whole_page(client, world):
    response = FlaskClient.open(client, "/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in response.get_data(as_text=True)
    assert "HX-Request" in response.vary


# -- POST → 303 -------------------------------------------------------------------------------


def test_signing_in_by_hand_answers_303_to_the_next_step(client, world):
    page = client.page("/auth/manual?next=/selfpay/")
    response = client.post("/auth/manual", data=post_form(page, {"id_number": "520102198503151246", "name": "王芳"}))
    assert response.status_code == 303 and response.location == "/selfpay/"


def test_consenting_answers_303s_through_the_hosts_authorization_to_the_next_step(client, world):
    page = client.page("/auth/?next=/records/")
    response = client.post("/auth/consent", data=post_form(page, {"person": str(world.people["王芳"])}))
    hops = []
    while response.status_code == 303 and len(hops) < 5:
        hops.append(urlsplit(response.location).path)
        response = client.get(response.location)
    assert hops == ["/sandbox/oauth2/publicAppAuthorize.htm", "/auth/host/sandbox/callback", "/records/"]


def test_choosing_dues_answers_303_to_the_confirm_step(client, world):
    sign_in(client, "王芳")
    page = client.page("/selfpay/520102100000012345/dues")
    response = client.post(page.url, data=post_form(page))
    assert response.status_code == 303 and response.location == "/selfpay/confirm"


def test_confirming_answers_303_to_the_method_step(client, world):
    sign_in(client, "王芳")
    confirm = choose(client, "medical")
    response = client.post("/selfpay/confirm", data=post_form(confirm))
    assert response.status_code == 303 and response.location == "/selfpay/method"


def test_going_to_pay_answers_303_to_the_providers_page(client, world):
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    response = client.post("/selfpay/method", data=post_form(method, {"channel": "alipay"}))
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/sandbox/gateway.do"
    cashier = client.page(response.location, follow=False)
    assert "352.00" in cashier.text


def test_the_text_size_switch_answers_303_back_to_the_page(client, world):
    page = client.page("/selfpay/")
    response = client.post("/prefs/text-size", data=post_form(page, selector="header form"))
    assert response.status_code == 303
    assert "large-text" in client.page(response.location).response.get_data(as_text=True)


# -- failures → 422 with a summary ----------------------------------------------------------


def test_an_empty_manual_form_is_shown_again_with_422_and_a_summary(client, world):
    page = client.submit(client.page("/auth/manual"), {"id_number": "", "name": ""})
    assert page.status == 422
    assert page.soup.title.get_text().startswith("错误：")
    assert page.summary() == ["请输入证件号码", "请输入姓名"]
    assert page.field_error("id_number") == "请输入证件号码"
    assert page.field_error("name") == "请输入姓名"
    # each summary entry links to its field
    hrefs = [a["href"] for a in page.soup.select("[data-error-summary] a")]
    assert hrefs == ["#id_number", "#name"]


def test_choosing_no_due_is_shown_again_with_422(client, world):
    sign_in(client, "王芳")
    page = client.submit(client.page("/selfpay/520102100000012345/dues"), {"dues": []})
    assert page.status == 422
    assert page.summary() == ["请至少选择一笔要缴纳的费款"]
    assert "请至少选择一笔要缴纳的费款" in page.soup.select_one("fieldset.due-list").get_text()


def test_choosing_no_channel_is_shown_again_with_422(client, world):
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    page = client.submit(method, drop=("channel",))
    assert page.status == 422
    assert page.summary() == ["请选择缴款方式"]
    assert page.field_error("channel") == "请选择缴款方式"
    with client.application.app_context():
        assert count(Order) == 0


def test_a_failed_post_over_htmx_is_the_fragment_with_422_and_no_new_history_entry(client, world):
    page = client.page("/auth/manual")
    response = hx(client, "/auth/manual", method="POST", data=post_form(page, {"id_number": "123", "name": "王芳"}))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "<html" not in body and "证件号码格式不正确" in body and "data-error-summary" in body
    assert response.headers["HX-Push-Url"] == "false"


# -- guards between steps -------------------------------------------------------------------


def test_the_confirm_step_without_a_selection_sends_back_to_the_start(client, world):
    sign_in(client, "王芳")
    response = client.get("/selfpay/confirm")
    assert response.status_code == 303 and response.location == "/selfpay/"
    assert "请先选择要缴纳的费款" in client.page("/selfpay/").text


def test_the_method_step_without_a_selection_sends_back_to_the_start(client, world):
    sign_in(client, "王芳")
    response = client.get("/selfpay/method")
    assert response.status_code == 303 and response.location == "/selfpay/"
    assert "请先核对缴费信息" in client.page("/selfpay/").text


def test_the_method_step_before_confirming_sends_back_to_confirm(client, world):
    sign_in(client, "王芳")
    choose(client, "medical")
    response = client.get("/selfpay/method")
    assert response.status_code == 303 and response.location == "/selfpay/confirm"
    page = client.page("/selfpay/confirm")
    assert page.h1 == "缴费信息确认" and "请先核对缴费信息" in page.text


def test_posting_to_the_method_step_without_a_selection_charges_nothing(client, world):
    sign_in(client, "王芳")
    token = form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]
    response = client.post("/selfpay/method", data={"csrf_token": token, "channel": "alipay"})
    assert response.status_code == 303 and response.location == "/selfpay/"
    with client.application.app_context():
        assert count(Order) == 0


def test_a_step_without_identity_sends_to_authorisation_and_back(client, world):
    response = client.get("/selfpay/520102100000012345/dues")
    assert response.status_code == 303
    assert urlsplit(response.location).path == "/auth/"
    page = client.page(response.location)
    assert page.h1 == "授权"
    signed_in = client.submit(page, {"person": str(world.people["王芳"])})
    assert signed_in.h1 == "选择缴费信息"


def test_a_step_without_identity_over_htmx_redirects_the_whole_page(client, world):
    response = hx(client, "/selfpay/")
    assert response.status_code == 204
    assert urlsplit(response.headers["HX-Redirect"]).path == "/auth/"


# -- Back and reload ------------------------------------------------------------------------


def test_reloading_the_confirm_step_shows_the_same_page(client, world):
    sign_in(client, "王芳")
    first = choose(client, "pension")
    again = client.page("/selfpay/confirm")
    assert again.status == 200 and again.h1 == "缴费信息确认"
    assert again.text == first.text
    assert "缴费信息已发生变化" not in again.text
    assert client.submit(again).h1 == "选择缴款方式"


def test_posting_the_dues_form_again_makes_a_fresh_selection(client, world):
    sign_in(client, "王芳")
    both = choose(client, "pension")
    assert "1,760.00" in both.text
    first_month = open_due_ids(client.application, world, "王芳", "pension")[0]
    with client.session_transaction() as session:
        first_key = session["selection"]["key"]

    # Back to the dues page, keep only the first month, 下一步 again.
    one = choose(client, "pension", due_ids=[first_month])
    assert "880.00" in one.text and "1,760.00" not in one.text
    with client.session_transaction() as session:
        assert session["selection"]["key"] != first_key
        assert session["selection"]["dues"] == [first_month]

    method = client.submit(one)
    assert client.submit(method, {"channel": "alipay"}, follow=False).status == 303
    with client.application.app_context():
        (order,) = db.session.scalars(select(Order))
        assert order.total_fen == 88000 and [i.due_id for i in order.items] == [first_month]


def test_back_from_the_provider_and_going_to_pay_again_reuses_the_order(client, world):
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    first = client.post("/selfpay/method", data=post_form(method, {"channel": "alipay"}))
    again = client.post("/selfpay/method", data=post_form(client.page("/selfpay/method"), {"channel": "alipay"}))
    assert first.status_code == again.status_code == 303
    with client.application.app_context():
        assert count(Order) == 1
        order_no = db.session.scalar(select(Order.order_no))
    assert order_no in urlsplit(again.location).query or again.location.endswith(order_no)


# -- the page went stale while the resident looked at it ------------------------------------


def change_wang_fangs_medical_due(app, world, amount_fen):
    with app.app_context(), write_transaction():
        (due,) = world.dues("王芳", "medical")
        change_due_amount(due, amount_fen)


def test_a_due_changed_while_the_confirm_page_was_open_is_shown_anew_and_nothing_is_charged(client, world):
    sign_in(client, "王芳")
    confirm = choose(client, "medical")
    assert "352.00" in confirm.text

    change_wang_fangs_medical_due(client.application, world, 40000)
    stale = client.submit(confirm)

    assert stale.status == 409
    assert stale.h1 == "缴费信息确认"
    assert "缴费信息已发生变化" in stale.text
    assert "400.00" in stale.text and "肆佰元整" in stale.text
    assert "352.00" not in stale.text
    with client.application.app_context():
        assert count(Order) == 0

    method = client.submit(stale)  # a second 下一步 on the new figures proceeds
    assert method.h1 == "选择缴款方式"
    assert "400.00" in method.text


def test_a_due_changed_between_confirming_and_going_to_pay_goes_back_to_confirm(client, world):
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    change_wang_fangs_medical_due(client.application, world, 40000)

    page = client.submit(method, {"channel": "alipay"})

    assert page.h1 == "缴费信息确认"
    assert "缴费信息已发生变化" in page.text and "400.00" in page.text
    with client.application.app_context():
        assert count(Order) == 0
        assert [d.order_id for d in world.dues("王芳", "medical")] == [None]
    assert client.submit(page).h1 == "选择缴款方式"


# -- HTMX specifics -------------------------------------------------------------------------


def test_after_a_post_over_htmx_the_next_step_pushes_its_own_url(client, world):
    sign_in(client, "王芳")
    page = client.page("/selfpay/520102200000012346/dues")
    posted = hx(client, page.url, method="POST", data=post_form(page), current="http://localhost" + page.url)
    # One round trip (issue 15): the next step itself, not 303 + GET.
    assert posted.status_code == 200 and h1_of(posted.get_data(as_text=True)) == "缴费信息确认"
    assert posted.headers["HX-Push-Url"] == "/selfpay/confirm"
    reloaded = hx(client, "/selfpay/confirm", current="http://localhost/selfpay/confirm")
    assert reloaded.status_code == 200 and reloaded.headers["HX-Push-Url"] == "false"


def test_going_to_pay_over_htmx_leaves_the_app_with_hx_redirect(client, world):
    sign_in(client, "王芳")
    method = client.submit(choose(client, "medical"))
    response = hx(client, "/selfpay/method", method="POST", data=post_form(method, {"channel": "alipay"}))
    assert response.status_code in (200, 204)
    target = response.headers["HX-Redirect"]
    assert urlsplit(target).path == "/sandbox/gateway.do"
    cashier = client.page(target, follow=False)
    assert cashier.status == 200 and "352.00" in cashier.text
    with client.application.app_context():
        (order,) = db.session.scalars(select(Order))
        assert order.state == "paying" and order.order_no in cashier.text
