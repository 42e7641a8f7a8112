"""The seeds' words in Chromium at 390×844, in normal mode and 长辈版 (大字): 王芳 sees
+添加人员信息 on 我帮他人缴 and whom to call in the footer, declares a month (再次确认经办机构信息
→ 确定), pays it with 立即付款 at the sandbox cashier, filters 申报查询 by 申报日期 (a day that is
none is told beside its field), and applies for a refund that says how long 原路退回 takes.
Screenshots land in test-artifacts/screens/<test>/."""

import re

import pytest
from playwright.sync_api import expect

from tests.admin.test_backoffice_browser import CARD
from tests.support.browser_steps import confirm_agency, h1, report_bank_account

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clock")]

NANMING = ("贵阳市南明区社会保险事业局", "国家税务总局贵阳市南明区税务局")


@pytest.mark.parametrize("mode", ["normal", "large"])
def test_wang_fang_meets_the_seeds_words(mode, live_server, page, shot, axe):
    tab = page(js=True)
    if mode == "large":
        tab.context.add_cookies([{"name": "sbweb_text", "value": "large", "url": live_server.url}])
    report_bank_account(tab, live_server, "王芳", CARD)

    # 我帮他人缴: +添加人员信息; the footer names her tax office and its phone.
    tab.goto(live_server("/proxy/"))
    expect(h1(tab)).to_have_text("我帮他人缴")
    add = tab.get_by_role("link", name="添加人员信息")
    expect(add).to_have_text("+添加人员信息")
    footer = tab.locator("footer")
    expect(footer).to_contain_text("若您在缴费过程中遇到任何问题，请联系当地税务部门")
    expect(footer).to_contain_text("国家税务总局贵阳市南明区税务局")
    expect(footer.get_by_role("link", name="0851-55501020")).to_have_attribute("href", "tel:0851-55501020")
    shot(tab, f"proxy-{mode}")
    axe.check(tab, f"我帮他人缴（{mode}）")

    # 缴费申报 → 下一步 → 再次确认经办机构信息 → 确定.
    tab.goto(live_server("/declare/flexible-pension"))
    tab.get_by_label("费款所属期（起）").select_option(label="02月")
    tab.get_by_label("费款所属期（止）").select_option(label="02月")
    tab.get_by_label("缴费基数（元/月）").fill("4400")
    expect(tab.locator("#quote")).to_contain_text("合计 880.00 元")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("再次确认经办机构信息")
    expect(tab.get_by_role("button", name="确定")).to_be_visible()
    shot(tab, f"agency-confirm-{mode}")
    axe.check(tab, f"再次确认经办机构信息（{mode}）")
    confirm_agency(tab, *NANMING)
    expect(h1(tab)).to_have_text("缴费信息确认")

    # 立即付款 at the sandbox cashier.
    tab.get_by_role("button", name="下一步").click()
    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    expect(tab.get_by_role("button", name="立即付款")).to_be_visible()
    shot(tab, f"cashier-{mode}")
    tab.get_by_role("button", name="立即付款").click()
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    order_no = tab.url.rsplit("/", 1)[-1]

    # 申报查询 by 申报日期: a day the calendar lacks, then today's.
    tab.goto(live_server("/declare/history?declared_from=2026-02-30"))
    summary = tab.locator("[data-error-summary]")
    expect(summary).to_contain_text("请输入正确的日期，如 2026-01-31")
    expect(tab).to_have_title(re.compile("^错误："))
    expect(tab.get_by_role("list", name="申报记录")).to_have_count(0)
    shot(tab, f"history-bad-date-{mode}")
    tab.get_by_label("申报日期起").fill("2026-11-01")
    tab.get_by_label("申报日期止").fill("2026-11-22")
    tab.get_by_role("button", name="查询").click()
    expect(tab.locator("main")).to_contain_text("所选申报日期内没有申报记录")
    expect(tab.locator("[data-error-summary]")).to_have_count(0)
    tab.get_by_label("申报日期止").fill("2026-11-23")  # the clock's day: the demo's and hers
    tab.get_by_role("button", name="查询").click()
    records = tab.get_by_role("list", name="申报记录")
    expect(records.get_by_role("listitem").first).to_contain_text("费款所属期 2026年02月")
    expect(tab.get_by_label("申报日期止")).to_have_value("2026-11-23")
    shot(tab, f"history-by-date-{mode}")
    axe.check(tab, f"申报查询（申报日期，{mode}）")

    # 退费申请: 原路退回 takes 2–5 个工作日 for 支付宝.
    tab.goto(live_server(f"/refunds/normal/{order_no}/apply"))
    expect(h1(tab)).to_have_text("正常缴费退费申请")
    expect(tab.locator("main")).to_contain_text("审核通过后 2–5 个工作日内退回支付宝付款账户")
    tab.get_by_role("checkbox", name=re.compile("养老保险")).check()
    tab.get_by_label("退费金类型").select_option("误缴费款退费")
    tab.get_by_label("退费原因类型").select_option("缴费档次或基数选择错误")
    shot(tab, f"refund-apply-{mode}")
    axe.check(tab, f"正常缴费退费申请（{mode}）")
    tab.get_by_role("button", name="提交").click()
    expect(h1(tab)).to_have_text("退费申请记录")
    expect(tab.locator("main")).to_contain_text("原路退回支付宝付款账户，审核通过后 2–5 个工作日内到账")
    shot(tab, f"refund-records-{mode}")
    assert not axe.blocking(), axe.summary()


def test_an_admin_changes_an_offices_phone_and_the_resident_reads_it(live_server, page, shot, axe):
    from tests.admin.test_admin import make_staff
    from tests.admin.test_backoffice_browser import staff_sign_in
    from tests.support.browser_steps import consent

    make_staff(live_server.app)
    make_staff(live_server.app, username="guanli", role="admin")
    reviewer = staff_sign_in(page, live_server, shot, axe, "shenhe", False)
    reviewer.get_by_role("navigation", name="后台").get_by_role("link", name="税务机关").click()
    expect(h1(reviewer)).to_have_text("主管税务机关")
    expect(reviewer.get_by_role("row", name=re.compile("市南区税务局"))).to_contain_text("0532-55502020")
    expect(reviewer.get_by_role("button", name=re.compile("^保存"))).to_have_count(0)
    expect(reviewer.locator("footer")).to_have_count(0)  # staff pages: no resident footer
    shot(reviewer, "reviewer-reads")
    axe.check(reviewer, "主管税务机关（审核员只读）")

    admin = staff_sign_in(page, live_server, shot, axe, "guanli", False)
    admin.goto(live_server("/admin/tax-offices"))
    office = admin.get_by_role("region", name=re.compile("国家税务总局青岛市市南区税务局"))
    office.get_by_label("联系电话").fill("call us")
    office.get_by_role("button", name=re.compile("^保存")).click()
    expect(admin.locator("[data-error-summary]")).to_contain_text("联系电话格式不正确")
    shot(admin, "admin-bad-phone")
    office = admin.get_by_role("region", name=re.compile("国家税务总局青岛市市南区税务局"))
    office.get_by_label("联系电话").fill("0532-66601234")
    office.get_by_role("button", name=re.compile("^保存")).click()
    expect(admin.locator("main")).to_contain_text("已保存「国家税务总局青岛市市南区税务局」的联系电话")
    shot(admin, "admin-saved")
    axe.check(admin, "主管税务机关（管理员）")

    tab = page(js=True)
    tab.goto(live_server("/selfpay/"))
    consent(tab, "张伟")
    expect(tab.locator("footer")).to_contain_text("国家税务总局青岛市市南区税务局，电话 0532-66601234")
    assert not axe.blocking(), axe.summary()
