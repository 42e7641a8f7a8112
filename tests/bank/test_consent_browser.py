"""In Chromium on a phone (390×844), with and without JavaScript: 刘洋 finds nothing owed, is
offered 缴费申报 for the open 2027 window, declares and pays from the dues list; 张伟 pays for
赵秀英 once (代他人缴费: a wrong name refused) and adds her to his list from the result page;
王芳's 基数申报 asks 缴费基数是否允许用于批扣. The `clock` stands at 2026-11-23 12:00 Shanghai."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser_steps import checkout, confirm_agency, consent, h1

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clock")]

with_and_without_js = pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])


@with_and_without_js
def test_liu_yang_declares_2027_from_an_empty_dues_list_and_pays(live_server, page, shot, axe, js):
    tab = page(js=js)
    tab.goto(live_server("/selfpay/"))
    consent(tab, "刘洋")
    expect(h1(tab)).to_have_text("我为自己缴")
    expect(tab.locator("main")).to_contain_text("可申报2027年度")
    shot(tab, "enrollments-declarable")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab.locator("main")).to_contain_text("2027年度城乡居民医疗保险征收期已开始")
    shot(tab, "no-dues-window-open")
    if js:
        axe.check(tab, "选择缴费信息（无待缴，可申报）")
    tab.get_by_role("link", name="缴费申报").click()
    expect(h1(tab)).to_have_text("城乡居民医疗保险费申报")
    expect(tab.get_by_label("缴费年份")).to_have_value("2027")
    shot(tab, "declare-inside-pay")
    if js:
        axe.check(tab, "城乡居民医疗保险费申报（缴费中）")
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "贵阳市观山湖区医疗保障局", "国家税务总局贵阳市观山湖区税务局")
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab.locator("main")).to_contain_text("已申报：医疗保险 2027年01月至2027年12月")
    expect(tab.locator("main input[name=dues]")).to_be_checked()
    shot(tab, "dues-after-declaring")
    checkout(tab)
    shot(tab, "paid")


@with_and_without_js
def test_zhang_wei_pays_for_zhao_xiuying_once_and_keeps_her(live_server, page, shot, axe, js):
    tab = page(js=js)
    tab.goto(live_server("/proxy/"))
    consent(tab, "张伟")
    expect(h1(tab)).to_have_text("我帮他人缴")
    tab.get_by_role("link", name="代他人缴费（不加入列表）").click()
    expect(h1(tab)).to_have_text("代他人缴费")
    tab.get_by_label("证件号码", exact=True).fill("370212196011203469")
    tab.get_by_label("姓名", exact=True).fill("赵秀")
    tab.get_by_role("button", name="下一步").click()
    expect(tab.locator("[data-error-summary]")).to_contain_text("证件号码与姓名不一致")
    shot(tab, "once-wrong-name")
    if js:
        axe.check(tab, "代他人缴费（姓名不一致）")
    tab.get_by_label("姓名", exact=True).fill("赵秀英")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("代他人缴费")
    expect(tab.locator("main .who")).to_contain_text("被代缴人：赵秀英（3702**********3469）")
    shot(tab, "once-enrollments")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab.locator("main")).to_contain_text("被代缴人")
    checkout(tab)
    keep = tab.get_by_role("button", name=re.compile("加入被代缴人列表"))
    expect(keep).to_be_visible()
    expect(tab.locator("main")).to_contain_text("以后还为赵秀英缴费？")
    shot(tab, "result-offers-the-list")
    if js:
        axe.check(tab, "缴费结果（加入被代缴人列表）")
    keep.click()
    expect(h1(tab)).to_have_text("我帮他人缴")
    expect(tab.locator("main")).to_contain_text("已添加被代缴人 赵秀英")
    expect(tab.get_by_role("link", name=re.compile("^赵秀英"))).to_contain_text("3702**********3469")
    shot(tab, "kept-on-the-list")


@with_and_without_js
def test_wang_fangs_base_declaration_asks_whether_it_may_be_withheld(live_server, page, shot, axe, js):
    tab = page(js=js)
    tab.goto(live_server("/declare/flexible-pension"))
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    choice = tab.get_by_role("group", name="缴费基数是否允许用于批扣")
    expect(choice.get_by_label("不允许")).to_be_checked()
    tab.get_by_label("费款所属期（起）").select_option("3")
    tab.get_by_label("费款所属期（止）").select_option("3")
    tab.get_by_label("缴费基数（元/月）").fill("4400")
    choice.get_by_label("允许", exact=True).check()
    choice.scroll_into_view_if_needed()
    shot(tab, "base-with-withholding-choice")
    if js:
        axe.check(tab, "灵活就业人员养老保险费申报（批扣）")
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "贵阳市南明区社会保险事业局", "国家税务总局贵阳市南明区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.goto(live_server("/declare/history"))
    expect(tab.locator("main")).to_contain_text("允许用于批扣")
    shot(tab, "history-says-allowed")


def test_wang_fang_sees_the_withholding_announced_on_her_agreement(live_server, page, shot, axe):
    from sbweb.db import db
    from sbweb.models import Person
    from sbweb.services import bank, withholding

    with live_server.app.app_context():
        wang = db.session.get(Person, live_server.world.people["王芳"])
        account = bank.report(
            wang, bank_name="中国工商银行", kind="card", account_no="6222020200112233446", account_name="王芳"
        )
        bank.sign(wang.id, enrollment_no="520102100000012345", account_id=account.id, kind="tripartite")
        assert withholding.run()["announced"] == 2
        db.session.remove()
    tab = page(js=True)
    tab.goto(live_server("/bank/"))
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("银行账户与缴费协议")
    expect(tab.locator("main")).to_contain_text("扣款预告：养老保险 2026年11月 正常缴费 ¥880.00，将于 2026年11月24日")
    shot(tab, "bank-announced")
    axe.check(tab, "银行账户与缴费协议（扣款预告）")
