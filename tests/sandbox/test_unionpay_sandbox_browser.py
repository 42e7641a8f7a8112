"""王芳 pays inside 云闪付 (its user agent) on a phone: 去支付 posts the signed 前台交易 form
to the sandbox's 银联 cashier (by script; by its button without), 确认付款, the cashier posts
her back to frontUrl, 缴费成功 — our real UnionPay client against the sandbox, over HTTP."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser_steps import h1, type_identity

pytestmark = pytest.mark.browser

UNIONPAY_UA = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Mobile Safari/537.36 (com.unionpay.chsp) (cordova 7.0.0) (updebug 0) (version 1015) "
    "(UnionPay/1.0 CloudPay) (clientVersion 315) (language zh_CN)"
)


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_paying_inside_yunshanfu_through_the_yinlian_cashier(js, live_server, page, shot, axe):
    tab = page(js=js, user_agent=UNIONPAY_UA)
    tab.goto(live_server("/selfpay/"))
    expect(h1(tab)).to_have_text("授权")
    tab.get_by_role("link", name="拒绝授权").click()
    type_identity(tab)
    expect(h1(tab)).to_have_text("我为自己缴")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    tab.locator("#channel-unionpay").check()
    shot(tab, "method")
    tab.get_by_role("button", name="去支付").click()
    if not js:  # our page with the signed form: its button posts it
        expect(h1(tab)).to_have_text("云闪付")
        tab.get_by_role("button", name="前往云闪付支付").click()

    expect(h1(tab)).to_have_text("付款详情")
    expect(tab).to_have_title(re.compile("银联在线支付"))
    assert "/sandbox/unionpay/gateway/api/frontTransReq.do" in tab.url
    expect(tab.locator(".up-bar")).to_contain_text("银联在线支付")
    expect(tab.get_by_label("余额不足（支付失败）")).not_to_be_checked()
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the cashier is {width}px wide on a 390px phone"
    shot(tab, "yinlian-cashier")
    if js:
        found = axe.check(tab, "银联在线支付")
        assert not [v["id"] for v in found if v["impact"] in ("serious", "critical")], found

    tab.get_by_role("button", name="确认付款").click()
    if not js:  # the cashier's page with the form to frontUrl: its button posts it
        expect(h1(tab)).to_have_text("支付成功")
        shot(tab, "yinlian-paid")
        tab.get_by_role("button", name="返回商户").click()
    expect(h1(tab)).to_have_text("缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    shot(tab, "result")


# The 云闪付 app's JS bridge as the tests' stand-in: upsdk.appletAuth asks the sandbox's open
# platform, as the app asks UnionPay's, for a code for whoever is signed in to 云闪付 — which
# it gives only for the page's upsdk.config, signed by our server with the frontToken.
FAKE_UPSDK = """
window.upsdk = {
  _config: null,
  config: function (c) { this._config = c; },
  pluginReady: function (ready) { setTimeout(ready, 0); },
  appletAuth: function (o) {
    var body = Object.assign({}, this._config, { url: location.href.split("#")[0], openId: "%s" });
    fetch("/sandbox/unionpay/open/appletAuth", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) { return r.json(); })
      .then(function (d) { if (d.code) { o.success({ code: d.code }); } else { o.fail(d); } });
  }
};
"""
WANG_FANG = "520102198503151246"


def pay_medical_with_unionpay(tab, js, shot):
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    tab.locator("#channel-unionpay").check()
    tab.get_by_role("button", name="去支付").click()
    if not js:
        tab.get_by_role("button", name="前往云闪付支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    tab.get_by_role("button", name="确认付款").click()
    if not js:
        tab.get_by_role("button", name="返回商户").click()
    expect(h1(tab)).to_have_text("缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    shot(tab, "result")


@pytest.mark.parametrize(
    ("js", "bridge", "large"),
    [(True, True, False), (True, False, True), (False, False, False), (False, False, True)],
    ids=["js-bridge", "js-no-bridge-large", "no-js", "no-js-large"],
)
def test_wang_fang_signs_in_with_yunshanfu_authorization_and_pays(js, bridge, large, live_server, page, shot, axe):
    """同意授权 inside 云闪付: through its JS bridge when the app has one (no page of its own:
    the app's sheet asks), else through 云闪付's authorization page (the sandbox's) — then a
    verified 王芳 pays through the 银联 cashier."""
    from sbweb.payments.sandbox_unionpay_users import open_id_for

    tab = page(js=js, user_agent=UNIONPAY_UA)
    if large:
        tab.context.add_cookies([{"name": "sbweb_text", "value": "large", "url": live_server("/")}])
    if bridge:
        tab.context.add_init_script(FAKE_UPSDK % open_id_for(WANG_FANG))
    tab.goto(live_server("/selfpay/"))
    expect(h1(tab)).to_have_text("授权")
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"授权 is {width}px wide on a 390px phone"
    shot(tab, "authorize")
    tab.get_by_role("link", name="同意授权").click()
    if not bridge:  # 云闪付's authorization page: who is signed in to 云闪付 (the sandbox box)
        expect(h1(tab)).to_have_text("云闪付授权")
        assert "/sandbox/unionpay/open/html/oauth.html" in tab.url
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"云闪付授权 is {width}px wide on a 390px phone"
        shot(tab, "yunshanfu-authorize")
        if js:
            found = axe.check(tab, "云闪付授权")
            assert not [v["id"] for v in found if v["impact"] in ("serious", "critical")], found
        tab.get_by_label("云闪付用户（沙箱）").select_option(label="王芳（5201**********1246）")
        tab.get_by_role("button", name="同意授权").click()
    expect(h1(tab)).to_have_text("我为自己缴")
    assert "/auth/" not in tab.url
    shot(tab, "signed-in")
    pay_medical_with_unionpay(tab, js, shot)
