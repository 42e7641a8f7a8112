"""王芳 opens the service inside WeChat (a MicroMessenger user agent): 同意授权 through WeChat's
OAuth (the fake), binds her WeChat with the code mailed to her, pays a due by JSAPI — the
WeixinJSBridge is a stand-in injected by Playwright that asks the fake WeChat Pay to pay — and
the fake's notify settles the order. The same pages without JavaScript, and the code step in a
plain browser, are photographed too."""

import re
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import expect

from tests.support.browser_steps import WANG_FANG, h1, path_of, ticket_no
from tests.support.journeys import order
from tests.support.wechat_fixtures import WECHAT_UA
from tests.support.wechat_steps import sent_codes

pytestmark = pytest.mark.browser

# WeChat's JS bridge as a page inside WeChat sees it; `window.__wechatConfirm` is Playwright's
# way out to the fake WeChat Pay, playing the resident who confirms (or cancels) in WeChat's sheet.
FAKE_BRIDGE = """
window.WeixinJSBridge = {
  invoke: function (name, params, callback) {
    if (name !== "getBrandWCPayRequest") { callback({err_msg: name + ":fail"}); return; }
    window.__wechatConfirm(params).then(function (said) { callback({err_msg: said}); });
  }
};
"""


def in_wechat(page, wechat_pay, *, js=True, answers=()):
    """A phone tab inside WeChat. With JS, its bridge answers `answers` first (e.g. a cancel),
    then confirms: the fake checks paySign, pays and posts its notify to us."""
    tab = page(js=js, user_agent=WECHAT_UA)
    if js:
        queue = list(answers)

        def confirm(params):
            if queue:
                return queue.pop(0)
            return requests.post(f"{wechat_pay.url}/fake/jsapi-pay", json=params, timeout=10).json()["err_msg"]

        tab.expose_function("__wechatConfirm", confirm)
        tab.add_init_script(FAKE_BRIDGE)
    return tab


def bind_with_code(tab, shot, axe, live_server, who=WANG_FANG):
    expect(h1(tab)).to_have_text("身份验证")
    expect(tab.locator("main")).to_contain_text("首次在微信中使用")
    shot(tab, "identity")
    axe and axe.check(tab, "身份验证")
    tab.get_by_label("证件号码", exact=True).fill(who["id_number"])
    tab.get_by_label("姓名", exact=True).fill(who["name"])
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("获取验证码")
    shot(tab, "get-code")
    axe and axe.check(tab, "获取验证码")
    tab.get_by_role("button", name="获取验证码").click()
    expect(h1(tab)).to_have_text("输入验证码")
    shot(tab, "enter-code")
    axe and axe.check(tab, "输入验证码")
    code = sent_codes(live_server.app)[-1]  # from the outbox, as she reads it in her mailbox
    tab.get_by_label("验证码").fill(code)
    tab.get_by_role("button", name="确定").click()


def choose_medical_and_go_to_pay(tab, shot):
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    expect(tab.locator("main")).to_contain_text("在微信中无法使用此方式")
    expect(tab.get_by_label("支付宝")).to_be_disabled()
    expect(tab.get_by_label("微信支付")).to_be_checked()
    shot(tab, "method-in-wechat")
    tab.get_by_role("button", name="去支付").click()


def test_wang_fang_binds_her_wechat_and_pays_by_jsapi(live_server, page, shot, axe, wechat_oauth, wechat_pay):
    wechat_oauth.user = wechat_oauth.new_user("芳")
    tab = in_wechat(page, wechat_pay, answers=["get_brand_wcpay_request:cancel"])
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    expect(h1(tab)).to_have_text("授权")
    shot(tab, "authorize-in-wechat")
    tab.get_by_role("link", name="同意授权").click()  # off to WeChat's OAuth page and back

    bind_with_code(tab, shot, axe, live_server)
    expect(h1(tab)).to_have_text("我为自己缴")
    expect(tab.locator("main")).to_contain_text("已绑定，今后在微信中授权即可直接登录")

    choose_medical_and_go_to_pay(tab, shot)
    # Our 微信支付 page calls the bridge at once; she cancels in WeChat's sheet the first time.
    expect(h1(tab)).to_have_text("微信支付")
    expect(tab.locator("[data-wechat-pay-status]")).to_have_text("已取消支付。可点击“确认支付”重新支付。")
    number = re.search(r"^/pay/wechat/(\w+)$", path_of(tab)).group(1)
    shot(tab, "bridge-cancelled")
    axe.check(tab, "微信支付")
    tab.get_by_role("button", name="确认支付").click()

    expect(h1(tab)).to_have_text("缴费结果", timeout=15_000)
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    number_shown = ticket_no(tab)
    assert re.fullmatch(r"\d{18}", number_shown)
    shot(tab, "result")
    with live_server.app.app_context():
        paid = order(number)
        assert paid.state == "settled" and paid.ticket_nos == [number_shown]
    assert wechat_pay.deliveries == [(number, 204)]  # the fake's notify reached us over HTTP
    assert not axe.blocking(), axe.blocking()


def test_the_same_pages_without_javascript(live_server, page, shot, wechat_oauth, wechat_pay):
    wechat_oauth.user = wechat_oauth.new_user("芳")
    tab = in_wechat(page, wechat_pay, js=False)
    tab.goto(live_server("/auth/?next=/selfpay/"))
    tab.get_by_role("link", name="同意授权").click()
    bind_with_code(tab, shot, None, live_server)
    expect(h1(tab)).to_have_text("我为自己缴")
    choose_medical_and_go_to_pay(tab, shot)
    expect(h1(tab)).to_have_text("微信支付")
    expect(tab.locator("[data-wechat-pay-status]")).to_contain_text(
        "微信支付需要在微信中打开本页面，并允许页面运行脚本"
    )
    expect(tab.get_by_role("button", name="确认支付")).to_have_count(0)
    shot(tab, "bridge-without-js")
    tab.get_by_role("link", name="查看支付结果").click()
    expect(h1(tab)).to_have_text("支付中")


def test_a_browser_resident_is_verified_by_code_when_a_page_needs_it(live_server, page, shot, axe):
    for js in (True, False):
        tab = page(js=js)
        tab.goto(live_server("/auth/manual?next=/proxy/"))
        tab.get_by_label("证件号码", exact=True).fill(WANG_FANG["id_number"])
        tab.get_by_label("姓名", exact=True).fill(WANG_FANG["name"])
        tab.get_by_role("button", name="确定").click()
        expect(h1(tab)).to_have_text("授权")  # 我帮他人缴 needs a verified session
        expect(tab.locator("main")).to_contain_text("使用验证码验证")
        shot(tab, f"authorize-need-verified-{'js' if js else 'nojs'}")
        tab.get_by_role("link", name="获取验证码").click()
        expect(h1(tab)).to_have_text("获取验证码")
        expect(tab.locator("main")).to_contain_text("w***@example.com")
        if js:
            axe.check(tab, "获取验证码（浏览器）")
        tab.get_by_role("button", name="获取验证码").click()
        expect(h1(tab)).to_have_text("输入验证码")
        tab.get_by_label("验证码").fill("000000" if sent_codes(live_server.app)[-1] != "000000" else "111111")
        tab.get_by_role("button", name="确定").click()
        expect(tab.locator(".field-error")).to_contain_text("验证码不正确，还可以输入4次")
        shot(tab, f"enter-code-wrong-{'js' if js else 'nojs'}")
        tab.get_by_label("验证码").fill(sent_codes(live_server.app)[-1])
        tab.get_by_role("button", name="确定").click()
        expect(h1(tab)).to_have_text("我帮他人缴")
        assert urlsplit(tab.url).path == "/proxy/"
    assert not axe.blocking(), axe.blocking()


def test_without_an_email_on_file_the_code_page_says_what_to_do(live_server, page, shot, axe):
    for js in (True, False):
        tab = page(js=js)
        tab.goto(live_server("/auth/manual?next=/proxy/"))
        tab.get_by_label("证件号码", exact=True).fill("370212196011203469")
        tab.get_by_label("姓名", exact=True).fill("赵秀英")
        tab.get_by_role("button", name="确定").click()
        expect(h1(tab)).to_have_text("授权")
        tab.get_by_role("link", name="获取验证码").click()
        expect(h1(tab)).to_have_text("获取验证码")
        expect(tab.locator("main")).to_contain_text("没有登记电子邮箱")
        expect(tab.get_by_role("button", name="获取验证码")).to_have_count(0)
        shot(tab, f"no-email-{'js' if js else 'nojs'}")
        if js:
            axe.check(tab, "获取验证码（无邮箱）")
    assert not axe.blocking(), axe.blocking()
