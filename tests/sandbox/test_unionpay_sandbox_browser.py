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
