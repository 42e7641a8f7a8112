"""缴费申报 in Chromium on a phone (390×844): the four flows of the seeds, each once with
JavaScript (htmx swaps, the amount following the base as it is typed) and once without (plain
forms; 计算应缴金额 and 查看该市经办机构 are buttons), declared and then paid at the sandbox;
所在地市 → 经办机构 and the mismatch message; the declare pages in 大字 at 390 and 320 px.

The `clock` stands at 2026-11-23 12:00 Shanghai: 2026's months (灵活就业) and the residents'
2027 year are being collected. Screenshots land in test-artifacts/screens/<test>/."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import Declaration, Due
from tests.home.test_large_text_browser import MEASURE
from tests.support.browser_steps import (
    confirm_agency,
    consent,
    h1,
    mark_document,
    path_of,
    same_document,
    type_identity,
)
from tests.support.wechat_steps import sent_codes

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clock")]

with_and_without_js = pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])

ID_NUMBERS = {
    "王芳": "520102198503151246",
    "李明": "330106199207084573",
    "张伟": "370202197805127818",
    "赵秀英": "370212196011203469",
}
FLEXIBLE, RESIDENT = "灵活就业人员社保缴费", "城乡居民社保缴费"


# -- what the resident does, in the words on the screen ---------------------------------------


def declare_as(tab, live_server, name: str, section: str, insurance: str):
    """首页 → 缴费申报 → 授权 (同意授权 as `name`: declaring needs a verified identity) → the flow
    under `section`."""
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("^缴费申报")).click()
    expect(h1(tab)).to_have_text("授权")
    expect(tab.get_by_role("link", name="拒绝授权")).to_have_count(0)  # a lookup cannot declare
    consent(tab, name)
    expect(h1(tab)).to_have_text("缴费申报")
    assert path_of(tab) == "/declare/"
    expect(tab.locator("main .who")).to_contain_text(f"缴费人：{name}")
    flow = tab.get_by_role("region", name=section).get_by_role("link", name=re.compile(insurance))
    expect(flow).to_contain_text("已参保")
    flow.click()


def large_text(tab, live_server):
    """大字 as the cookie the 大字 button sets (the button itself is pressed in one test)."""
    tab.context.add_cookies([{"name": "sbweb_text", "value": "large", "url": live_server.url}])


def agency_of(tab):
    return tab.get_by_role("group", name="社保经办机构")


def agency_names(tab) -> list[str]:
    return [n.strip() for n in agency_of(tab).locator("label").all_inner_texts()]


def chosen_agency(tab):
    return agency_of(tab).locator("input:checked + label")


def pay(tab, amount: str):
    """缴费信息确认 → 下一步 → 选择缴款方式 → 去支付 → sandbox 立即付款 → 缴费结果."""
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    expect(tab.locator("main .pay-total")).to_contain_text(amount)
    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    assert path_of(tab).startswith("/sandbox/gateway.do?")
    expect(tab.locator("main .pay-total")).to_contain_text(amount)
    tab.get_by_role("button", name="立即付款").click()
    expect(h1(tab)).to_have_text("缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    expect(tab.locator(".result")).to_contain_text(amount)
    assert re.fullmatch(r"/orders/\w+", path_of(tab)), path_of(tab)


def declarations(live_server, name: str) -> list[tuple]:
    """(kind, from, to, base or grade, amount, state, its due's state), oldest first."""
    with live_server.app.app_context():
        rows = db.session.scalars(
            select(Declaration).filter_by(person_id=live_server.world.people[name]).order_by(Declaration.id)
        )
        return [
            (
                d.kind,
                d.period_start,
                d.period_end,
                d.base_fen or d.grade_fen,
                d.amount_fen,
                d.state,
                db.session.get(Due, d.due_id).state,
            )
            for d in rows
        ]


def count_declarations(live_server) -> int:
    with live_server.app.app_context():
        return db.session.scalar(select(func.count(Declaration.id)))


def check_axe(axe, js: bool, tab, label: str):
    if js:  # axe runs as JavaScript in the page; the no-JS pages are the same HTML + <noscript>
        axe.check(tab, label)


def assert_axe_clean(axe):
    print(axe.summary())
    blocking = axe.blocking()
    assert not blocking, f"axe found serious or critical problems: {blocking}"


# -- the four flows --------------------------------------------------------------------------


@with_and_without_js
def test_zhang_wei_declares_a_base_for_three_months_and_pays(js, live_server, page, shot, axe):
    tab = page(js=js)
    declare_as(tab, live_server, "张伟", FLEXIBLE, "养老保险")
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    assert path_of(tab) == "/declare/flexible-pension"
    # 社保经办机构 comes filled in from his enrollment in 青岛 市南.
    expect(tab.get_by_label("所在地市")).to_have_value("青岛市")
    expect(agency_of(tab).locator("input:checked")).to_have_value("37020201")
    expect(chosen_agency(tab)).to_have_text("青岛市市南区社会保险事业中心")
    expect(tab.get_by_role("radio", name="正常缴费")).to_be_checked()
    expect(tab.get_by_label("缴费年份")).to_have_value("2026")
    expect(tab.locator("main")).to_contain_text("4,504.00元-22,518.00元")  # Qingdao's range
    quote = tab.locator("#quote")
    expect(quote).to_contain_text("费率 20%")
    expect(quote).to_contain_text("输入缴费基数后显示应缴金额")
    if js:
        expect(tab.get_by_role("button", name="计算应缴金额")).to_have_count(0)

    tab.get_by_label("费款所属期（起）").select_option(label="01月")
    tab.get_by_label("费款所属期（止）").select_option(label="03月")
    base = tab.get_by_label("缴费基数（元/月）")
    before = count_declarations(live_server)
    if js:
        # The amount follows the base as it is typed: #quote is swapped, nothing is submitted.
        mark_document(tab)
        base.press_sequentially("5000")
        expect(quote).to_contain_text("每月应缴 1,000.00 元 × 3 个月")
        expect(quote).to_contain_text("合计 3,000.00 元")
        assert same_document(tab), "typing the base reloaded the page"
        expect(base).to_be_focused()
        expect(base).to_have_value("5000")
        assert path_of(tab) == "/declare/flexible-pension"
    else:
        base.fill("5000")
        tab.get_by_role("button", name="计算应缴金额").click()
        expect(quote).to_contain_text("每月应缴 1,000.00 元 × 3 个月")
        expect(quote).to_contain_text("合计 3,000.00 元")
        expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
        expect(tab.get_by_label("缴费基数（元/月）")).to_have_value("5000")
        expect(tab.get_by_label("费款所属期（起）")).to_have_value("1")
        expect(tab.get_by_label("费款所属期（止）")).to_have_value("3")
        expect(tab.locator("[data-error-summary]")).to_have_count(0)
    assert count_declarations(live_server) == before, "the preview declared something"
    shot(tab, "form-quote")
    check_axe(axe, js, tab, "灵活就业养老申报（应缴金额）")

    tab.get_by_role("button", name="下一步").click()
    # 再次确认经办机构信息 (Guizhou): the agency and its tax office; nothing declared before 确定.
    expect(h1(tab)).to_have_text("再次确认经办机构信息")
    expect(tab).to_have_title("再次确认经办机构信息 - 社保费缴纳")
    main = tab.locator("main")
    expect(main).to_contain_text("青岛市市南区社会保险事业中心")
    expect(main).to_contain_text("国家税务总局青岛市市南区税务局")
    expect(main).to_contain_text("370202100000034567")
    assert count_declarations(live_server) == before, "declared before 确定"
    shot(tab, "agency-confirm")
    check_axe(axe, js, tab, "再次确认经办机构信息")
    tab.get_by_role("button", name="返回修改").click()
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    expect(tab.get_by_label("缴费基数（元/月）")).to_have_value("5000")
    expect(tab.get_by_label("费款所属期（止）")).to_have_value("3")
    assert count_declarations(live_server) == before, "返回修改 declared something"
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "青岛市市南区社会保险事业中心", "国家税务总局青岛市市南区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    assert path_of(tab) == "/selfpay/confirm"
    main = tab.locator("main")
    expect(main).to_contain_text("3,000.00")
    expect(main).to_contain_text("叁仟元整")
    expect(main).to_contain_text("370202100000034567")  # 个人参保编号
    shot(tab, "confirm")
    check_axe(axe, js, tab, "缴费信息确认（申报）")

    pay(tab, "3,000.00")
    assert declarations(live_server, "张伟")[-1] == ("base", "2026-01", "2026-03", 500000, 300000, "valid", "paid")
    assert_axe_clean(axe)


@with_and_without_js
def test_wang_fang_declares_one_month_of_flexible_medical_and_pays(js, live_server, page, shot, axe):
    tab = page(js=js)
    declare_as(tab, live_server, "王芳", FLEXIBLE, "医疗保险")
    expect(h1(tab)).to_have_text("灵活就业人员医疗保险费申报")
    expect(chosen_agency(tab)).to_have_text("贵阳市南明区医疗保障局")
    expect(tab.locator("main")).to_contain_text("4,394.70元-21,973.50元")
    quote = tab.locator("#quote")
    expect(quote).to_contain_text("费率 8%")

    # November is already due (the demo's due): she declares January, one month.
    tab.get_by_label("费款所属期（起）").select_option(label="01月")
    tab.get_by_label("费款所属期（止）").select_option(label="01月")
    tab.get_by_label("缴费基数（元/月）").fill("4400")
    if not js:
        tab.get_by_role("button", name="计算应缴金额").click()
    expect(quote).to_contain_text("每月应缴 352.00 元 × 1 个月")
    expect(quote).to_contain_text("合计 352.00 元")
    shot(tab, "form-quote")
    check_axe(axe, js, tab, "灵活就业医疗申报（应缴金额）")

    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "贵阳市南明区医疗保障局", "国家税务总局贵阳市南明区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("叁佰伍拾贰元整")
    pay(tab, "352.00")
    assert declarations(live_server, "王芳")[-1] == ("base", "2026-01", "2026-01", 440000, 35200, "valid", "paid")
    assert_axe_clean(axe)


@with_and_without_js
def test_li_ming_chooses_the_1000_grade_and_pays(js, live_server, page, shot, axe):
    tab = page(js=js)
    declare_as(tab, live_server, "李明", RESIDENT, "养老保险")
    expect(h1(tab)).to_have_text("城乡居民养老保险费申报")
    expect(chosen_agency(tab)).to_have_text("杭州市西湖区社会保险管理服务中心")
    expect(tab.get_by_label("缴费年份")).to_have_value("2027")  # the coming year, being collected
    grades = tab.get_by_role("group", name="缴费档次（元/年）")
    expect(grades.get_by_role("radio").first).to_be_visible()
    labels = grades.locator("label").all_inner_texts()
    assert labels[:3] == ["100元", "200元", "300元"] and "1000元" in labels, labels
    grades.get_by_label("1000元", exact=True).check()
    expect(grades.get_by_label("1000元", exact=True)).to_be_checked()
    shot(tab, "grade-form")
    check_axe(axe, js, tab, "城乡居民养老申报（缴费档次）")

    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "杭州市西湖区社会保险管理服务中心", "国家税务总局杭州市西湖区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    main = tab.locator("main")
    expect(main).to_contain_text("1,000.00")
    expect(main).to_contain_text("壹仟元整")
    shot(tab, "confirm")

    pay(tab, "1,000.00")
    rows = declarations(live_server, "李明")
    assert rows[-1] == ("grade", "2027-01", "2027-12", 100000, 100000, "valid", "paid"), rows
    assert [r[5] for r in rows if r[0] == "grade"] == ["void", "valid"]  # the demo's 500 is void
    assert_axe_clean(axe)


@with_and_without_js
def test_a_looked_up_li_ming_is_taken_to_verify_and_then_finishes_his_declaration(js, live_server, page, shot, axe):
    """A name and an ID number let 李明 pay what he owes, not change it: 缴费申报 takes him to 授权,
    which says why; the code mailed to his address verifies him and brings him back."""
    tab = page(js=js)
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("^我为自己缴")).click()
    tab.get_by_role("link", name="拒绝授权").click()
    type_identity(tab, ID_NUMBERS["李明"], "李明")
    expect(h1(tab)).to_have_text("我为自己缴")
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("^缴费申报")).click()
    expect(h1(tab)).to_have_text("授权")
    why = tab.locator("#why-verify")
    expect(why).to_contain_text("只能查询应缴费款并缴费")
    expect(why).to_contain_text("「缴费申报」")
    shot(tab, "why-verify")
    check_axe(axe, js, tab, "授权（需验证身份）")
    tab.get_by_role("link", name="获取验证码").click()
    expect(h1(tab)).to_have_text("获取验证码")
    expect(tab.locator("main")).to_contain_text("l***@example.com")
    tab.get_by_role("button", name="获取验证码").click()
    expect(h1(tab)).to_have_text("输入验证码")
    code = sent_codes(live_server.app)[-1]
    tab.get_by_label("验证码").fill(code)
    tab.get_by_role("button", name="确定").click()
    expect(h1(tab)).to_have_text("缴费申报")
    assert path_of(tab) == "/declare/"
    flow = tab.get_by_role("region", name=RESIDENT).get_by_role("link", name=re.compile("养老保险"))
    flow.click()
    expect(h1(tab)).to_have_text("城乡居民养老保险费申报")
    tab.get_by_role("group", name="缴费档次（元/年）").get_by_label("2000元", exact=True).check()
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "杭州市西湖区社会保险管理服务中心", "国家税务总局杭州市西湖区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("2,000.00")
    shot(tab, "confirm")
    pay(tab, "2,000.00")
    rows = declarations(live_server, "李明")
    assert rows[-1] == ("grade", "2027-01", "2027-12", 200000, 200000, "valid", "paid"), rows
    assert_axe_clean(axe)


@with_and_without_js
def test_zhao_xiuying_declares_2027_resident_medical_and_pays(js, live_server, page, shot, axe):
    tab = page(js=js)
    declare_as(tab, live_server, "赵秀英", RESIDENT, "医疗保险")
    expect(h1(tab)).to_have_text("城乡居民医疗保险费申报")
    expect(chosen_agency(tab)).to_have_text("青岛市崂山区医疗保障局")
    expect(tab.get_by_label("缴费年份")).to_have_value("2027")
    expect(tab.locator("main .pay-total")).to_contain_text("2027年度个人缴费标准 400.00 元")
    shot(tab, "form")
    check_axe(axe, js, tab, "城乡居民医疗申报")

    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "青岛市崂山区医疗保障局", "国家税务总局青岛市崂山区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("肆佰元整")
    pay(tab, "400.00")
    fixed = [r for r in declarations(live_server, "赵秀英") if r[0] == "fixed"]
    assert fixed == [("fixed", "2027-01", "2027-12", None, 40000, "valid", "paid")], fixed
    assert_axe_clean(axe)


# -- 所在地市 → 经办机构 ----------------------------------------------------------------------


@with_and_without_js
def test_another_city_lists_its_agencies_and_a_foreign_agency_is_refused(js, live_server, page, shot, axe):
    tab = page(js=js)
    declare_as(tab, live_server, "张伟", FLEXIBLE, "养老保险")
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    assert "青岛市崂山区社会保险事业中心" in agency_names(tab)
    assert "杭州市西湖区社会保险管理服务中心" not in agency_names(tab)

    refresh = tab.get_by_role("button", name="查看该市经办机构")
    if js:
        expect(refresh).to_have_count(0)  # a <noscript> button: htmx refreshes on change
        mark_document(tab)
        tab.get_by_label("所在地市").focus()
        tab.get_by_label("所在地市").select_option("杭州市")
        expect(agency_of(tab).locator("label", has_text="杭州市西湖区社会保险管理服务中心")).to_have_count(1)
        assert same_document(tab), "choosing a city reloaded the page"
        expect(tab.get_by_label("所在地市")).to_be_focused()  # the swap keeps her place
    else:
        tab.get_by_label("所在地市").select_option("杭州市")
        refresh.click()
        expect(agency_of(tab).locator("label", has_text="杭州市西湖区社会保险管理服务中心")).to_have_count(1)
        expect(tab.locator("[data-error-summary]")).to_have_count(0)  # not an error, a refresh
    expect(tab.get_by_label("所在地市")).to_have_value("杭州市")
    names = agency_names(tab)
    assert names == ["杭州市西湖区社会保险管理服务中心", "杭州市西湖区医疗保障局"], names
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    shot(tab, "hangzhou-agencies")

    agency_of(tab).get_by_label("杭州市西湖区社会保险管理服务中心").check()
    tab.get_by_label("缴费基数（元/月）").fill("5000")
    before = count_declarations(live_server)
    tab.get_by_role("button", name="下一步").click()
    summary = tab.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("不一致")
    if js:
        expect(summary).to_be_focused()
    expect(tab).to_have_title(re.compile("^错误："))
    expect(agency_of(tab)).to_have_class(re.compile("field-error"))
    expect(agency_of(tab).locator(".field-message")).to_contain_text("不一致")
    expect(agency_of(tab)).to_have_attribute("aria-describedby", "agency-error")
    # The summary's link leads to the field it is about.
    expect(summary.get_by_role("link", name=re.compile("不一致"))).to_have_attribute("href", "#agency")
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    shot(tab, "agency-mismatch")
    check_axe(axe, js, tab, "灵活就业养老申报（经办机构不一致）")
    assert count_declarations(live_server) == before, "declared at an agency not his"

    # Back to his own city and agency: now it goes through.
    tab.get_by_label("所在地市").select_option("青岛市")
    if not js:
        tab.get_by_role("button", name="查看该市经办机构").click()
    expect(agency_of(tab).locator("label", has_text="青岛市市南区社会保险事业中心")).to_have_count(1)
    agency_of(tab).get_by_label("青岛市市南区社会保险事业中心").check()
    tab.get_by_label("费款所属期（起）").select_option(label="01月")
    tab.get_by_label("费款所属期（止）").select_option(label="01月")
    tab.get_by_label("缴费基数（元/月）").fill("5000")
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "青岛市市南区社会保险事业中心", "国家税务总局青岛市市南区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("壹仟元整")
    assert_axe_clean(axe)


# -- how the pages look: 申报查询, 大字 at 390 px and 320 px ------------------------------------


def measure(tab) -> dict:
    tab.wait_for_load_state("load")
    return tab.evaluate(MEASURE)


def assert_fits(m: dict, step: str):
    assert m["scrollWidth"] <= m["clientWidth"], f"{step} scrolls sideways: {m}"
    short = [b for b in m["primary"] if b["height"] < 44]
    assert not short, f"{step}: primary buttons under 44 px: {short}"


def open_history(tab):
    """涉费查询 → 社保费申报查询."""
    expect(h1(tab)).to_have_text("涉费查询")
    tab.get_by_role("link", name=re.compile("^社保费申报查询")).click()
    expect(h1(tab)).to_have_text("申报查询")
    assert path_of(tab) == "/declare/history"


def test_declare_pages_in_normal_and_large_text(live_server, page, shot, axe):
    # 张伟, signed in by his host app (申报查询 needs it), declares and looks at his history.
    tab = page(js=True)
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("^涉费查询")).click()
    expect(tab.locator("main")).to_contain_text("需授权登录后使用")
    consent(tab, "张伟")
    open_history(tab)

    tab.get_by_role("link", name="返回缴费申报").click()
    expect(h1(tab)).to_have_text("缴费申报")
    shot(tab, "index")
    axe.check(tab, "缴费申报")
    tab.get_by_role("region", name=FLEXIBLE).get_by_role("link", name=re.compile("养老保险")).click()
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    # Verified: the whole 证件号码 is shown.
    expect(tab.locator("main")).to_contain_text("370202197805127818")
    tab.get_by_label("费款所属期（起）").select_option(label="02月")
    tab.get_by_label("费款所属期（止）").select_option(label="04月")
    tab.get_by_label("缴费基数（元/月）").fill("6000")
    expect(tab.locator("#quote")).to_contain_text("合计 3,600.00 元")
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "青岛市市南区社会保险事业中心", "国家税务总局青岛市市南区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("叁仟陆佰元整")

    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("^涉费查询")).click()
    open_history(tab)
    records = tab.get_by_role("list", name="申报记录")
    newest = records.get_by_role("listitem").first
    expect(newest).to_contain_text("费款所属期 2026年02月至2026年04月")
    expect(newest).to_contain_text("缴费基数 6,000.00 元/月")
    expect(newest).to_contain_text("3,600.00")
    expect(newest.get_by_role("link", name=re.compile("作废"))).to_be_visible()
    shot(tab, "history")
    axe.check(tab, "申报查询（有记录）")

    # 大字, pressed on the page he is on.
    tab.get_by_role("button", name="大字").click()
    expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
    expect(h1(tab)).to_have_text("申报查询")
    assert_fits(measure(tab), "history-large")
    shot(tab, "history-large")
    axe.check(tab, "申报查询（大字）")

    tab.goto(live_server("/declare/flexible-pension"))
    tab.get_by_label("费款所属期（起）").select_option(label="05月")
    tab.get_by_label("费款所属期（止）").select_option(label="06月")
    tab.get_by_label("缴费基数（元/月）").fill("5000")
    expect(tab.locator("#quote")).to_contain_text("合计 2,000.00 元")
    assert_fits(measure(tab), "form-quote-large")
    shot(tab, "form-quote-large")
    axe.check(tab, "灵活就业养老申报（大字）")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("再次确认经办机构信息")
    assert_fits(measure(tab), "agency-confirm-large")
    shot(tab, "agency-confirm-large")
    axe.check(tab, "再次确认经办机构信息（大字）")
    tab.get_by_role("button", name="确定").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    assert_fits(measure(tab), "confirm-large")
    shot(tab, "confirm-large")

    # 李明's grade form in 大字 (his own phone: a tab of its own).
    li = page(js=True)
    large_text(li, live_server)
    li.goto(live_server("/auth/?next=/declare/resident-pension"))
    consent(li, "李明")
    expect(h1(li)).to_have_text("城乡居民养老保险费申报")
    li.get_by_label("1000元", exact=True).check()
    assert_fits(measure(li), "grade-form-large")
    shot(li, "grade-form-large")
    axe.check(li, "城乡居民养老申报（大字）")

    # A small phone, 320 px, 大字: both kinds of form stay on the screen.
    small = page(js=True, width=320, height=640)
    large_text(small, live_server)
    small.goto(live_server("/auth/?next=/declare/flexible-pension"))
    consent(small, "王芳")
    expect(h1(small)).to_have_text("灵活就业人员养老保险费申报")
    small.get_by_label("费款所属期（起）").select_option(label="01月")
    small.get_by_label("费款所属期（止）").select_option(label="03月")
    small.get_by_label("缴费基数（元/月）").fill("4400")
    expect(small.locator("#quote")).to_contain_text("每月应缴 880.00 元 × 3 个月")
    form_320 = measure(small)
    shot(small, "form-quote-large-320")
    small.goto(live_server("/auth/?next=/declare/resident-pension"))
    consent(small, "赵秀英")
    expect(h1(small)).to_have_text("城乡居民养老保险费申报")
    grade_320 = measure(small)
    shot(small, "grade-form-large-320")
    small.goto(live_server("/declare/history"))
    expect(h1(small)).to_have_text("申报查询")
    history_320 = measure(small)
    shot(small, "history-large-320")
    print({"form-320": form_320, "grade-320": grade_320, "history-320": history_320})
    assert_fits(form_320, "form-quote-large-320")
    assert_fits(grade_320, "grade-form-large-320")
    assert_fits(history_320, "history-large-320")
    assert_axe_clean(axe)
