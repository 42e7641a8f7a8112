"""Issue 13's journey in Chromium, with and without JavaScript: 王芳 declares and pays her
December pension, applies for a refund of it (缴费档次或基数选择错误), a reviewer approves it item by
item after the confirmation step, her voucher's 证明核验 page says 已作废, December is owed again in
我为自己缴 with the reason, and she declares it at another base and pays it again."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Due, DueEvent, Enrollment, Person
from sbweb.services import ledger
from tests.admin.test_admin import make_staff
from tests.admin.test_backoffice_browser import CARD, staff_sign_in
from tests.certificates.test_certificates_browser import summary_value
from tests.declare.test_declare_browser import FLEXIBLE, pay
from tests.support.browser_steps import confirm_agency, h1, report_bank_account, ticket_no

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clock")]


def declare_december(tab, live_server, base: str, amount: str):
    """首页 → 缴费申报 (she is signed in already) → 灵活就业 养老保险 → December at `base` → pay."""
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("^缴费申报")).click()
    expect(h1(tab)).to_have_text("缴费申报")
    tab.get_by_role("region", name=FLEXIBLE).get_by_role("link", name=re.compile("养老保险")).click()
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    tab.get_by_label("费款所属期（起）").select_option(label="12月")
    tab.get_by_label("费款所属期（止）").select_option(label="12月")
    tab.get_by_label("缴费基数（元/月）").fill(base)
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "贵阳市南明区社会保险事业局", "国家税务总局贵阳市南明区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    pay(tab, amount)


def december(live_server):
    with live_server.app.app_context():
        person = db.session.scalar(select(Person).filter_by(name="王芳"))
        return db.session.scalar(
            select(Due)
            .join(Enrollment)
            .where(
                Enrollment.person_id == person.id,
                Enrollment.insurance == "pension",
                Due.period_start == "2026-12",
                Due.state != "void",
            )
        )


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_wang_fang_refunds_a_wrong_base_and_pays_december_again(js, live_server, page, shot, axe):
    tab = page(js=js)
    report_bank_account(tab, live_server, "王芳", CARD)

    declare_december(tab, live_server, "8000", "1,600.00")
    ticket = ticket_no(tab)
    tab.get_by_role("link", name=re.compile("^电子缴费凭证")).click()
    expect(h1(tab)).to_have_text("电子缴费凭证")
    code = summary_value(tab, "校验码")

    # 退费申请 for December: 缴费档次或基数选择错误.
    tab.goto(live_server("/refunds/normal/"))
    tab.get_by_label("凭证号码").fill(ticket)
    tab.get_by_role("button", name="查询").click()
    tab.get_by_role("link", name=re.compile("申请退费")).click()
    expect(h1(tab)).to_have_text("正常缴费退费申请")
    tab.get_by_role("checkbox", name=re.compile("养老保险")).check()
    tab.get_by_label("退费金类型").select_option("误缴费款退费")
    tab.get_by_label("退费原因类型").select_option("缴费档次或基数选择错误")
    shot(tab, "apply")
    if js:
        axe.check(tab, "正常缴费退费申请（选择费款）")
    tab.get_by_role("button", name="提交").click()
    expect(h1(tab)).to_have_text("退费申请记录")
    record = tab.get_by_role("list", name="退费申请记录").locator("li")
    application_no = re.search(r"申请编号 (\S+)", record.inner_text()).group(1)

    # The reviewer: item by item, then what goes back and where, then 确认退费.
    make_staff(live_server.app)
    office = staff_sign_in(page, live_server, shot, axe, "shenhe", js)
    office.get_by_role("navigation", name="后台").get_by_role("link", name="退费原因").click()
    expect(h1(office)).to_have_text("退费原因类型")
    expect(office.get_by_role("row", name=re.compile("缴费档次或基数选择错误"))).to_contain_text("重新应缴")
    shot(office, "reasons")
    if js:
        axe.check(office, "退费原因类型（审核员只读）")
    office.goto(live_server("/admin/refunds"))
    office.get_by_role("link", name=application_no).click()
    expect(office.locator("main")).to_contain_text("重新应缴")
    office.get_by_role("checkbox", name=re.compile("2026年12月")).check()
    office.get_by_role("button", name="下一步：核对退费").click()
    expect(h1(office)).to_have_text(f"核对退费 {application_no}")
    expect(office.locator("main")).to_contain_text("将退回 ¥1,600.00")
    shot(office, "confirm")
    if js:
        axe.check(office, "核对退费")
    office.get_by_role("button", name="确认退费").click()
    expect(office.locator("main")).to_contain_text(f"已审核通过 {application_no}")

    # Her voucher no longer certifies anything.
    tab.goto(live_server(f"/verify/{code}"))
    expect(h1(tab)).to_have_text("证明核验")
    expect(tab.locator("main")).to_contain_text("已作废")
    expect(tab.locator("main")).not_to_contain_text("核验通过")
    shot(tab, "verify-void")

    # December is owed again, and says why.
    refunded = december(live_server)
    assert refunded.state == "open" and refunded.reopened_reason
    tab.goto(live_server("/selfpay/"))
    tab.get_by_role("link", name=re.compile("养老保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab.locator("main")).to_contain_text("已退费（缴费档次或基数选择错误），请重新申报或缴纳")
    shot(tab, "dues-owed-again")
    if js:
        axe.check(tab, "选择缴费信息（退费后重新应缴）")

    # She declares December at the base she meant, and pays it.
    declare_december(tab, live_server, "5000", "1,000.00")
    paid = december(live_server)
    assert paid.state == "paid" and paid.amount_fen == 100000 and paid.reopened_reason is None
    with live_server.app.app_context():
        # The refunded due's history: paid, owed again by the refund, given way to the new declaration.
        events = list(db.session.scalars(select(DueEvent).filter_by(due_id=refunded.id).order_by(DueEvent.id)))
        assert [e.to_state for e in events][-3:] == ["paid", "open", "void"], [(e.to_state, e.cause) for e in events]
        assert application_no in events[-2].cause and "重新申报" in events[-1].cause
        assert ledger.check() == []
    if js:
        assert not axe.blocking(), axe.summary()
