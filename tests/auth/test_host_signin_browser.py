"""Inside the Alipay app (its user agent) with a live-style Alipay sign-in configured (HOST_SIGNIN,
pointed at the sandbox's authorization page and gateway), 同意授权 goes to the host's OAuth:
王芳 agrees there and comes back verified — with JavaScript and without."""

import pytest
from playwright.sync_api import expect

from tests.support import alipay_account
from tests.support.browser_steps import h1, path_of

pytestmark = pytest.mark.browser

ALIPAY_APP = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 AlipayClient/10.5.90.8000 Language/zh-Hans"
)


@pytest.fixture
def alipay_signin(live_server):
    from sbweb.identity.hosts import init_host_signin

    app = live_server.app
    app.config["HOST_SIGNIN"] = {
        "alipay": {
            "kind": "alipay",
            **alipay_account(app, live_server.url),
            "authorize_url": live_server("/sandbox/oauth2/publicAppAuthorize.htm"),
        }
    }
    init_host_signin(app)
    return live_server


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_wang_fang_agrees_inside_alipay_through_its_oauth(alipay_signin, page, shot, axe, js):
    tab = page(js=js, user_agent=ALIPAY_APP)
    tab.goto(alipay_signin("/auth/?next=/records/"))
    expect(h1(tab)).to_have_text("授权")
    agree = tab.get_by_role("link", name="同意授权")
    assert agree.get_attribute("href") == "/auth/host/alipay?next=/records/"
    expect(tab.locator(".sandbox-box")).to_have_count(0)  # the host vouches, not a tester's choice
    shot(tab, "authorize-inside-alipay")
    if js:
        axe.check(tab, "授权（支付宝内）")

    agree.click()
    expect(h1(tab)).to_have_text("支付宝授权")  # the host's own page (here: the sandbox's)
    assert path_of(tab).startswith("/sandbox/oauth2/publicAppAuthorize.htm?app_id=")
    assert "scope=auth_user" in path_of(tab) and "redirect_uri=" in path_of(tab)
    user = tab.get_by_label("支付宝用户（沙箱）")
    user.select_option(user.locator("option", has_text="王芳").get_attribute("value"))
    shot(tab, "alipay-authorization")
    if js:
        axe.check(tab, "支付宝授权（沙箱）")

    tab.get_by_role("button", name="同意授权").click()
    expect(h1(tab)).to_have_text("缴费记录")
    assert path_of(tab).startswith("/records/")
    shot(tab, "records-verified")
    assert not axe.blocking(), axe.blocking()
