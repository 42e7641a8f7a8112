"""票证号码 per 主管税务机关 in Chromium at 390×844, with and without JavaScript: 李明 pays his
医疗保险 and 赵秀英's in one 合并缴费 and sees two tickets, each with its tax office and its person;
then 首开完税证明: 查询 → 证明信息列表 → 开具. Screenshots: test-artifacts/screens/<test>/."""

import re

import pytest
from playwright.sync_api import expect

from sbweb.models import Person
from sbweb.services import payees
from tests.certificates.test_certificates_browser import text_captcha_answer
from tests.support.browser_steps import consent, h1, path_of

pytestmark = pytest.mark.browser

HANGZHOU = "国家税务总局杭州市西湖区税务局"
QINGDAO = "国家税务总局青岛市崂山区税务局"


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_li_ming_pays_for_two_tax_offices_and_first_issues_his_tax_certificate(live_server, page, shot, axe, js):
    with live_server.app.app_context():
        from sbweb.db import db

        li, zhao = (db.session.query(Person).filter_by(name=n).one().id for n in ("李明", "赵秀英"))
        payees.add(li, db.session.get(Person, zhao))
    tab = page(js=js)
    tab.goto(live_server("/proxy/batch"))
    consent(tab, "李明")
    expect(h1(tab)).to_have_text("合并缴费")
    tab.get_by_role("checkbox", name=re.compile("李明 · 医疗保险")).check()
    tab.get_by_role("checkbox", name=re.compile("赵秀英 · 医疗保险")).check()
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    tab.get_by_role("button", name="立即付款").click()
    expect(h1(tab)).to_have_text("缴费结果")
    groups = tab.locator("main section.ticket-group")
    expect(groups).to_have_count(2)
    expect(groups.filter(has_text=HANGZHOU)).to_contain_text("参保人 李明（3301**********4573）")
    expect(groups.filter(has_text=QINGDAO)).to_contain_text("参保人 赵秀英（3702**********3469）")
    shot(tab, "result-grouped")
    if js:
        axe.check(tab, "缴费结果（两个主管税务机关）")

    tab.get_by_role("link", name="查看缴费记录").click()
    expect(h1(tab)).to_have_text("缴费记录")
    expect(tab.locator("main")).to_contain_text(HANGZHOU)
    shot(tab, "records")

    tab.goto(live_server("/certificates/tax"))
    expect(h1(tab)).to_have_text("完税证明")
    shot(tab, "tax-menu")
    tab.get_by_role("link", name=re.compile("^首开完税证明")).first.click()
    expect(h1(tab)).to_have_text("首开完税证明")
    expect(tab.get_by_label("主管税务机关")).to_have_value("13301060000")
    shot(tab, "tax-query")
    if js:
        axe.check(tab, "首开完税证明 查询")
    tab.get_by_role("button", name="查询").click()
    expect(tab.locator("main .lead")).to_contain_text("证明信息列表")
    assert path_of(tab) == "/certificates/tax/first/list"
    expect(tab.locator("main .ticket-card")).to_have_count(1)
    expect(tab.locator("main .ticket-card")).to_contain_text(HANGZHOU)
    tab.get_by_role("button", name="看不清？改用文字题").click()
    expect(tab.locator("#captcha-hint strong")).to_be_visible()
    shot(tab, "tax-list")
    if js:
        axe.check(tab, "证明信息列表")
    tab.get_by_label("验证码", exact=True).fill(text_captcha_answer(tab))
    tab.get_by_role("button", name="开具", exact=True).click()
    expect(h1(tab)).to_have_text("完税证明（首开）")
    shot(tab, "tax-issued")

    # Once per ticket: a second 查询 says so in the seeds' words.
    tab.goto(live_server("/certificates/tax/first"))
    tab.get_by_role("button", name="查询").click()
    expect(tab.locator(".error-summary")).to_contain_text("未查询到任何开具信息，请确认是否首次开具")
    shot(tab, "tax-first-again")
