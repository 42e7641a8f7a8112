"""What a resident sees when the app protects itself, in Chromium at 390×844: the session that
ran out (told in words, also after an HTMX click), the 429 of too many lookups, and the error
page with its reference. Screenshots in test-artifacts/screens/."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from sbweb.identity import access
from sbweb.identity.sessions import EXPIRED
from tests.conftest import COLLECTING
from tests.support.browser_steps import h1, type_identity

pytestmark = pytest.mark.browser


def signed_in_then_idle(live_server, page, clock, start: str, heading: str):
    """王芳 signs in by 证件号码 + 姓名, lands on `start`, and leaves the phone for 31 minutes."""
    tab = page(js=True)
    tab.goto(live_server(f"/auth/manual?next={start}"))
    type_identity(tab)
    expect(h1(tab)).to_have_text(heading)
    clock.at(COLLECTING + dt.timedelta(minutes=31))
    return tab


def test_an_idle_resident_is_told_why_she_must_sign_in_again(live_server, page, shot, clock):
    tab = signed_in_then_idle(live_server, page, clock, "/selfpay/", "我为自己缴")
    tab.get_by_role("link", name="社保费缴纳").click()  # to the home page, which needs no sign-in
    expect(h1(tab)).to_have_text("社保费自助缴纳")
    expect(tab.locator(".notice-warn")).to_have_text(EXPIRED)
    shot(tab, "expired-home")
    tab.goto(live_server("/selfpay/"))
    expect(h1(tab)).to_have_text("授权")
    expect(tab.locator(".notice-warn")).to_have_count(0)  # said once


def test_an_htmx_click_after_expiry_lands_on_the_sign_in_page_with_the_message(live_server, page, shot, clock):
    tab = signed_in_then_idle(live_server, page, clock, "/records/", "缴费记录")
    tab.locator("a.tab:not(.current)").first.click()  # hx-get: answered with HX-Redirect
    expect(h1(tab)).to_have_text("授权")
    expect(tab.locator(".notice-warn")).to_have_text(EXPIRED)
    assert "/auth/?next=/records/" in tab.url
    shot(tab, "expired-sign-in")


@pytest.mark.parametrize("app", [{"RATE_LIMIT_LOOKUP": "2 per hour"}], indirect=True)
@pytest.mark.parametrize("js", [True, False], ids=["htmx", "page"])
def test_too_many_lookups_get_a_page_that_says_when_to_try_again(live_server, page, shot, js):
    tab = page(js=js)
    tab.goto(live_server("/auth/manual?next=/selfpay/"))

    def posted(r):
        return r.request.method == "POST" and r.url.endswith("/auth/manual")

    for _ in range(2):  # each answered before the next is typed (a summary already shown proves nothing)
        with tab.expect_response(posted):
            type_identity(tab, name="王五")
        expect(tab.locator("[data-error-summary]")).to_be_visible()
    with tab.expect_response(posted):
        type_identity(tab)  # the right name, but this address has used up its lookups
    expect(h1(tab)).to_have_text("操作过于频繁")
    expect(tab.locator("main")).to_contain_text("请60分钟后再试")
    expect(tab.locator("main")).to_contain_text("北京时间")
    expect(tab.get_by_role("link", name="返回首页")).to_be_visible()
    shot(tab, "too-many")
    tab.goto(live_server("/auth/manual?next=/selfpay/"))  # showing the form is not counted
    expect(h1(tab)).to_have_text("授权信息确认")


def test_the_error_page_names_a_reference_and_nothing_else(app, live_server, page, shot):
    @app.get("/test-only/boom")
    def boom():
        raise RuntimeError("520102198503151246 postgresql://admin:hunter2@db")

    access.classify(app, "boom", read=access.PUBLIC)

    tab = page(js=True)
    response = tab.goto(live_server("/test-only/boom"))
    assert response.status == 500
    expect(h1(tab)).to_have_text("系统繁忙")
    reference = response.headers["x-request-id"]
    expect(tab.locator(".reference")).to_contain_text(reference)
    body = tab.content()
    assert "hunter2" not in body and "Traceback" not in body and "520102198503151246" not in body
    shot(tab, "error")
