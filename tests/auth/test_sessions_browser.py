"""Sessions and identity levels as a resident and a staff member see them, in Chromium: 登录记录
(normal, and 大字 at 320 px), the code page a locked number's real owner reaches, the voucher
page of a looked-up resident (download yes, mail after 授权), and the staff's 账号与登录设备."""

import re

import pytest
from playwright.sync_api import expect

from tests.home.test_large_text_browser import MEASURE
from tests.support.browser_steps import checkout, consent, h1, mailed_code, type_identity

pytestmark = pytest.mark.browser

with_and_without_js = pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
WANG_FANG = "520102198503151246"


def fits(tab, step: str):
    tab.wait_for_load_state("load")
    m = tab.evaluate(MEASURE)
    assert m["scrollWidth"] <= m["clientWidth"], f"{step} scrolls sideways: {m}"


@with_and_without_js
def test_wang_fang_reads_her_sign_ins(js, live_server, page, shot, axe):
    tab = page(js=js)
    tab.goto(live_server("/auth/"))
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("社保费自助缴纳")
    tab.get_by_role("link", name="登录记录").click()
    expect(h1(tab)).to_have_text("登录记录")
    rows = tab.locator("ul.sign-ins li")
    expect(rows.first).to_contain_text("已验证身份")
    expect(rows.first).to_contain_text("本次登录")
    expect(rows.first).to_contain_text("127.0.0.*")
    shot(tab, "sign-ins")
    if js:  # axe and the measuring run as JavaScript in the page; without it the HTML is the same
        axe.check(tab, "登录记录")
        assert not axe.blocking(), axe.summary()

    small = page(js=js, width=320, height=640)
    small.context.add_cookies([{"name": "sbweb_text", "value": "large", "url": live_server.url}])
    small.goto(live_server("/auth/"))
    consent(small, "王芳")
    expect(h1(small)).to_have_text("社保费自助缴纳")
    small.goto(live_server("/auth/sign-ins"))
    expect(h1(small)).to_have_text("登录记录")
    if js:
        fits(small, "登录记录 大字 320 px")
    shot(small, "sign-ins-large-320")


@with_and_without_js
def test_the_real_owner_of_a_locked_number_signs_in_with_the_mailed_code(js, live_server, page, shot, axe):
    tab = page(js=js)
    for guess in ("王一", "王二", "王三", "王四", "王五"):
        tab.goto(live_server("/auth/manual?next=/bank/"))
        type_identity(tab, WANG_FANG, guess)
        expect(tab.locator("[data-error-summary]")).to_contain_text("证件号码与姓名不一致")
    tab.goto(live_server("/auth/manual?next=/bank/"))
    type_identity(tab, WANG_FANG, "王芳")
    expect(tab.locator("[data-error-summary]")).to_contain_text("「同意授权」")
    shot(tab, "locked")
    tab.goto(live_server("/auth/verify/identity?next=/bank/"))
    tab.get_by_label("证件号码", exact=True).fill(WANG_FANG)
    tab.get_by_label("姓名", exact=True).fill("王芳")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("输入验证码")
    expect(tab.locator("main")).to_contain_text("暂不显示查询结果")
    shot(tab, "code-while-locked")
    if js:
        axe.check(tab, "输入验证码（锁定期间）")
    tab.get_by_label("验证码").fill(mailed_code(live_server.app))
    tab.get_by_role("button", name="确定").click()
    expect(h1(tab)).to_have_text("银行账户与缴费协议")
    assert not axe.blocking(), axe.summary()


@with_and_without_js
def test_a_looked_up_payer_downloads_her_voucher_and_is_sent_to_verify_to_mail_it(js, live_server, page, shot):
    tab = page(js=js)
    tab.goto(live_server("/selfpay/"))
    tab.get_by_role("link", name="拒绝授权").click()
    type_identity(tab, WANG_FANG, "王芳")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    checkout(tab)
    tab.get_by_role("link", name=re.compile("电子缴费凭证")).click()
    expect(h1(tab)).to_have_text("电子缴费凭证")
    expect(tab.get_by_role("link", name="下载 PDF")).to_be_visible()
    expect(tab.get_by_role("button", name="发送至邮箱")).to_have_count(0)
    shot(tab, "voucher-looked-up")
    tab.get_by_role("link", name="验证身份后发送").click()
    expect(h1(tab)).to_have_text("授权")
    expect(tab.locator("#why-verify")).to_contain_text("「发送至邮箱」")
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("电子缴费凭证")
    expect(tab.get_by_role("button", name="发送至邮箱")).to_be_visible()


def test_a_staff_member_ends_a_session_on_another_device(app, live_server, page, shot):
    from sbweb.services import staff

    with app.app_context():
        staff.create("ops", "值班员", "correct horse battery", "admin")

    def log_in():
        tab = page(js=True, width=1280, height=900)
        tab.goto(live_server("/admin/login"))
        tab.get_by_label("用户名").fill("ops")
        tab.get_by_label("密码").fill("correct horse battery")
        tab.get_by_role("button", name="登录").click()
        expect(h1(tab)).to_have_text("后台")
        return tab

    desk, laptop = log_in(), log_in()
    desk.get_by_role("link", name=re.compile("值班员")).click()
    expect(h1(desk)).to_have_text("账号与登录设备")
    expect(desk.locator("main")).to_contain_text("当前登录（2）")
    shot(desk, "account")
    desk.get_by_role("button", name="结束该登录").click()
    expect(desk.locator("main")).to_contain_text("当前登录（1）")
    laptop.reload()
    expect(h1(laptop)).to_have_text("后台登录")
