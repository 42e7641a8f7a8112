"""The back office in Chromium: 王芳 applies for a refund on her phone (with and without
JavaScript), a reviewer approves it at a desktop in a browser of their own, and she sees 已退费 and
原路退回; an admin imports a 补缴 file and 张伟 pays just that one. Screenshots of the admin pages
at 1280 px and the resident's 退费申请 pages at 390 px; axe-core on them in the JavaScript run."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Order, Ticket
from tests.admin.test_admin import PASSWORD, make_staff
from tests.admin.test_import import ZHANG_BACKPAY, csv_bytes
from tests.support.browser_steps import checkout, consent, h1, ticket_no

pytestmark = pytest.mark.browser

DESK = {"width": 1280, "height": 800}
CARD = "6222020200112233446"  # 19 digits, Luhn-valid


def open_dues(tab, insurance: str):
    """我为自己缴 → the 险种 → 选择缴费信息 (every payable due ticked)."""
    tab.get_by_role("link", name=re.compile(insurance)).click()
    expect(h1(tab)).to_have_text("选择缴费信息")


def staff_sign_in(page, live_server, shot, axe, username: str, check: bool):
    office = page(js=True, **DESK)
    office.goto(live_server("/admin/login"))
    expect(h1(office)).to_have_text("后台登录")
    office.get_by_label("用户名").fill(username)
    office.get_by_label("密码").fill(PASSWORD)
    shot(office, "admin-login")
    if check:
        axe.check(office, "后台登录")
    office.get_by_role("button", name="登录").click()
    expect(h1(office)).to_have_text("后台")
    return office


def apply_for_refund(tab, live_server, shot, axe, js: bool, ticket: str):
    """首页 → 退费申请 → 正常缴费退费申请: find the ticket, tick 医疗保险, give the reasons, 提交;
    the record 待审核. Returns the record and its 申请编号."""
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("退费申请")).click()
    expect(h1(tab)).to_have_text("退费申请")
    shot(tab, "refunds-index")
    if js:
        axe.check(tab, "退费申请")
    tab.get_by_role("link", name=re.compile("正常缴费退费申请")).click()
    expect(h1(tab)).to_have_text("正常缴费退费申请")
    tab.get_by_label("凭证号码").fill(ticket)
    tab.get_by_role("button", name="查询").click()
    found = tab.get_by_role("link", name=re.compile("申请退费"))
    expect(found).to_have_count(1)
    expect(found).to_contain_text(ticket)
    expect(found).to_contain_text("352.00")
    shot(tab, "refunds-search")
    if js:
        axe.check(tab, "正常缴费退费申请（查询）")
    found.click()

    expect(h1(tab)).to_have_text("正常缴费退费申请")
    expect(tab.locator("main .summary-list")).to_contain_text(ticket)
    expect(tab.get_by_label("银行账号")).to_contain_text("中国工商银行")
    expect(tab.get_by_label("账号名称")).to_have_value("王芳")
    tab.get_by_role("checkbox", name=re.compile("医疗保险")).check()
    tab.get_by_label("退费金类型").select_option("多缴费款退费")
    tab.get_by_label("退费原因类型").select_option("重复参保缴费")
    shot(tab, "refunds-apply")
    if js:
        axe.check(tab, "正常缴费退费申请（填写）")
    tab.get_by_role("button", name="提交").click()

    expect(h1(tab)).to_have_text("退费申请记录")
    expect(tab.locator("main")).to_contain_text("保存成功")
    record = tab.get_by_role("list", name="退费申请记录").locator("li")
    expect(record).to_have_count(1)
    expect(record.locator(".state")).to_have_text("待审核")
    expect(record).to_contain_text(ticket)
    application_no = re.search(r"申请编号 (\S+)", record.inner_text()).group(1)
    shot(tab, "refunds-records-pending")
    if js:
        axe.check(tab, "退费申请记录（待审核）")
    return record, application_no


def approve_refund(office, shot, axe, js: bool, ticket: str, application_no: str):
    """退费审核 → the application → tick 医疗保险 → 核对退费 → 确认退费: nothing left to review."""
    office.get_by_role("navigation", name="后台").get_by_role("link", name="退费审核").click()
    expect(h1(office)).to_have_text("退费审核")
    row = office.locator("main tbody tr").filter(has_text=application_no)
    expect(row).to_contain_text(ticket)
    expect(row).to_contain_text("王芳")
    shot(office, "admin-refunds")
    if js:
        axe.check(office, "退费审核")
    row.get_by_role("link", name=application_no).click()

    expect(h1(office)).to_have_text(f"退费申请 {application_no}")
    expect(office.locator("main .summary-list")).to_contain_text("多缴费款退费")
    expect(office.locator("main .summary-list")).to_contain_text("王芳")
    shot(office, "admin-refund-detail")
    if js:
        axe.check(office, "退费申请（审核）")
    office.get_by_role("checkbox", name=re.compile("医疗保险")).check()
    office.get_by_role("button", name="下一步：核对退费").click()
    expect(h1(office)).to_have_text(f"核对退费 {application_no}")
    expect(office.locator("main")).to_contain_text("将退回 ¥352.00")
    shot(office, "admin-refund-confirm")
    if js:
        axe.check(office, "退费申请（核对退费）")
    office.get_by_role("button", name="确认退费").click()
    expect(h1(office)).to_have_text("退费审核")
    expect(office.locator("main")).to_contain_text(f"已审核通过 {application_no}")
    expect(office.locator("main")).to_contain_text("暂无待审核的退费申请")
    shot(office, "admin-refunds-done")


def read_the_audit_log_and_standards(page, live_server, shot, axe, js: bool, application_no: str):
    """An admin at a desk of their own: the approval in the 审计日志 in words, then 缴费标准."""
    make_staff(live_server.app, username="guanli", role="admin")
    desk = staff_sign_in(page, live_server, shot, axe, "guanli", False)
    desk.get_by_role("navigation", name="后台").get_by_role("link", name="审计日志").click()
    expect(h1(desk)).to_have_text("审计日志")
    approval = desk.locator("main tbody tr").filter(has_text="审核通过退费申请")
    expect(approval).to_contain_text(f"退费申请 {application_no}")
    expect(approval).to_contain_text("状态：待审核 → 审核通过，退费中")
    expect(desk.locator("main")).not_to_contain_text("refund.approve")
    shot(desk, "admin-audit")
    desk.goto(live_server("/admin/standards"))
    expect(h1(desk)).to_have_text("缴费标准")
    expect(
        desk.locator("main tbody tr").filter(has_text="贵州省").filter(has_text="灵活就业人员").first
    ).to_contain_text("缴费基数")
    shot(desk, "admin-standards")
    if js:
        axe.check(desk, "缴费标准")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_wang_fang_applies_for_a_refund_and_a_reviewer_approves_it(live_server, page, shot, axe, js):
    tab = page(js=js)
    tab.goto(live_server("/bank/accounts/new"))
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("存款账户账号报告")
    tab.get_by_label("开户银行").select_option("中国工商银行")
    tab.get_by_label("账号 *", exact=True).fill(CARD)
    expect(tab.get_by_label("账户名称")).to_have_value("王芳")
    tab.get_by_role("button", name="保存").click()
    expect(tab.locator("main")).to_contain_text("账户信息已保存")

    tab.goto(live_server("/selfpay/"))
    open_dues(tab, "医疗保险")
    checkout(tab)
    ticket = ticket_no(tab)
    assert re.fullmatch(r"\d{18}", ticket), ticket

    record, application_no = apply_for_refund(tab, live_server, shot, axe, js, ticket)

    # A reviewer at a desktop, in a browser context of their own.
    make_staff(live_server.app)
    office = staff_sign_in(page, live_server, shot, axe, "shenhe", js)
    approve_refund(office, shot, axe, js, ticket, application_no)

    tab.reload()
    expect(h1(tab)).to_have_text("退费申请记录")
    expect(record.locator(".state")).to_have_text("已退费")
    expect(record).to_contain_text("审核时间")
    shot(tab, "refunds-records-refunded")

    # An admin reads the approval in the 审计日志, in words, and the 缴费标准 by region name.
    read_the_audit_log_and_standards(page, live_server, shot, axe, js, application_no)
    if js:
        axe.check(tab, "退费申请记录（已退费）")
    tab.goto(live_server("/records/"))
    expect(h1(tab)).to_have_text("缴费记录")
    paid = tab.get_by_role("link", name=re.compile(ticket))
    expect(paid.locator(".state")).to_have_text("原路退回")
    with live_server.app.app_context():
        refunded = db.session.scalar(select(Order).join(Ticket).where(Ticket.ticket_no == ticket))
        assert refunded.state == "refunded" and refunded.payer_id == live_server.world.people["王芳"]

    if js:
        print(axe.summary())
        blocking = axe.blocking()
        assert not blocking, f"axe found serious or critical problems: {blocking}"


def test_an_admin_imports_a_backpay_and_zhang_wei_pays_it(live_server, page, shot, axe):
    with live_server.app.app_context():
        assert "2023-01" not in [d.period_start for d in live_server.world.dues("张伟", "pension")]
    make_staff(live_server.app, username="guanli", role="admin")
    office = staff_sign_in(page, live_server, shot, axe, "guanli", True)
    office.get_by_role("navigation", name="后台").get_by_role("link", name="导入").click()
    expect(h1(office)).to_have_text("导入参保登记和应缴费款")
    upload = {"name": "push.csv", "mimeType": "text/csv", "buffer": csv_bytes([ZHANG_BACKPAY])}
    field = office.get_by_label("导入文件（CSV 或 XLSX）")
    field.set_input_files(upload)
    office.get_by_role("button", name="试运行（不写入）").click()
    report = office.get_by_role("status").filter(has_text="push.csv")
    expect(report).to_contain_text("push.csv：全部 1 行可导入（应缴费款 1 笔）")
    shot(office, "admin-import-report")
    axe.check(office, "导入（试运行报告）")
    field.set_input_files(upload)  # a file input comes back empty after the page is posted
    office.get_by_role("button", name="导入", exact=True).click()
    expect(h1(office)).to_have_text("导入参保登记和应缴费款")
    expect(office.locator("main")).to_contain_text("已导入 1 行（其中应缴费款 1 笔）")
    shot(office, "admin-import-done")
    axe.check(office, "导入（已导入）")

    tab = page(js=True)
    tab.goto(live_server("/selfpay/"))
    consent(tab, "张伟")
    expect(h1(tab)).to_have_text("我为自己缴")
    open_dues(tab, "养老保险")
    dues = tab.locator("main .due")
    backpay = dues.filter(has_text="特殊缴费").filter(has_text="2023年01月至2023年06月")
    expect(backpay).to_have_count(1)
    expect(backpay.locator(".amount")).to_have_text(re.compile(r"^4,?776\.00$"))
    expect(dues).not_to_have_count(1)  # his other pension dues are listed (and ticked) too
    for box in dues.get_by_role("checkbox").all():
        box.uncheck()
    backpay.get_by_role("checkbox").check()
    expect(dues.locator("input:checked")).to_have_count(1)
    shot(tab, "zhang-wei-dues")
    checkout(tab)
    expect(tab.locator(".result .amount")).to_have_text(re.compile(r"4,?776\.00"))
    shot(tab, "zhang-wei-result")
    with live_server.app.app_context():
        paid = live_server.world.dues("张伟", "pension", state="paid")
        assert [(d.kind, d.period_start, d.period_end, d.amount_fen) for d in paid] == [
            ("backpay", "2023-01", "2023-06", 477600)
        ]
        assert live_server.world.dues("张伟", "pension")  # the others are still open

    print(axe.summary())
    blocking = axe.blocking()
    assert not blocking, f"axe found serious or critical problems: {blocking}"
