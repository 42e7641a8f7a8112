"""缴费申报: the four flows of the seeds end to end with the test client, with and without
HTMX, and paid through the self-pay journey. The clock stands at 2026-11-23 12:00 Shanghai
(the `clock` fixture), when 2026's months and the residents' 2027 year are being collected."""

import pytest
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Declaration, Due, Order
from tests.selfpay.test_steps import hx, post_form
from tests.support.journeys import go_to_provider, sandbox_pay, sign_in, submit_declaration

pytestmark = pytest.mark.usefixtures("clock")


def declarations_of(world, name):
    db.session.rollback()
    return list(
        db.session.scalars(select(Declaration).filter_by(person_id=world.people[name]).order_by(Declaration.id))
    )


def open_form(client, flow):
    page = client.page(f"/declare/{flow}")
    assert page.status == 200
    return page


def test_flexible_pension_base_declaration_is_priced_by_the_standard_and_paid(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = open_form(client, "flexible-pension")
    assert page.h1 == "灵活就业人员养老保险费申报"
    text = page.text
    assert "4,504.00元-22,518.00元" in text  # Qingdao's range, from the standard
    # The agency is filled in from the enrollment.
    checked = page.soup.select_one("#agency input[checked]")
    assert page.soup.select_one(f"label[for={checked['id']}]").get_text() == "青岛市市南区社会保险事业中心"
    confirm = submit_declaration(client, page, {"year": "2026", "month_from": "1", "month_to": "3", "base": "5000"})
    assert confirm.h1 == "缴费信息确认"
    # 5000 × 20 % = 1000.00 a month, 3 months; the tampered-with-nothing server computes it.
    assert "3,000.00" in confirm.text and "叁仟元整" in confirm.text
    assert "缴费基数 5,000.00元/月" in confirm.text
    declared = declarations_of(world, "张伟")[-1]
    assert (declared.kind, declared.base_fen, declared.period_start, declared.period_end, declared.amount_fen) == (
        "base",
        500000,
        "2026-01",
        "2026-03",
        300000,
    )
    cashier = go_to_provider(client, confirm)
    result = sandbox_pay(client, cashier)
    assert "缴费成功" in result.text
    db.session.rollback()
    assert db.session.get(Due, declared.due_id).state == "paid"


def test_flexible_medical_uses_the_regions_medical_rate(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    page = open_form(client, "flexible-medical")
    assert "费率 8%" in page.text
    confirm = submit_declaration(client, page, {"month_from": "1", "month_to": "2", "base": "4400"})
    assert confirm.h1 == "缴费信息确认"
    assert "704.00" in confirm.text  # 4400 × 8 % × 2


def test_live_preview_shows_the_monthly_amount_without_writing(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    page = open_form(client, "flexible-pension")
    preview = client.submit(page, {"month_from": "1", "month_to": "3", "base": "5000"}, button="计算应缴金额")
    assert preview.status == 200 and "每月应缴 1,000.00 元 × 3 个月" in preview.text
    # As htmx sends it while the base is typed: the fragment holds the new figure.
    data = post_form(page, {"month_from": "1", "month_to": "1", "base": "6000", "action": "preview"})
    fragment = hx(client, "/declare/flexible-pension", method="POST", data=data)
    assert fragment.status_code == 200 and "1,200.00</span> 元 × 1 个月" in fragment.get_data(as_text=True)
    assert len(declarations_of(world, "王芳")) == 3  # the demo's three only: nothing declared


def test_resident_pension_grade_then_change_until_paid(client, world, ctx):
    sign_in(client, "李明", verified=True)
    page = open_form(client, "resident-pension")
    assert page.soup.select_one("#year option[selected]").get_text() == "2027年"
    labels = [label.get_text() for label in page.soup.select("#grade label")]
    assert labels[:3] == ["100元", "200元", "300元"] and "2000元" in labels and "3000元" in labels
    confirm = submit_declaration(client, page, {"grade": "80000"})
    assert confirm.h1 == "缴费信息确认" and "800.00" in confirm.text and "缴费档次 800.00元" in confirm.text
    # Changed before paying: the same due, the new figure; the old choice is void.
    confirm = submit_declaration(client, open_form(client, "resident-pension"), {"grade": "150000"})
    assert "1,500.00" in confirm.text
    rows = declarations_of(world, "李明")
    pension = [d for d in rows if d.kind == "grade"]
    assert [d.state for d in pension] == ["void", "void", "valid"]  # demo 500 → 800 → 1500
    assert len({d.due_id for d in pension}) == 1
    assert db.session.get(Due, pension[-1].due_id).amount_fen == 150000
    result = sandbox_pay(client, go_to_provider(client, confirm))
    assert "缴费成功" in result.text
    page = submit_declaration(client, open_form(client, "resident-pension"), {"grade": "20000"})
    assert page.status == 422
    assert "2027年度已缴费，不能更改" in page.soup.select_one("#year-error").get_text()


def test_resident_medical_fixed_amount(client, htmx_client, world, ctx):
    sign_in(client, "赵秀英", verified=True)
    page = open_form(client, "resident-medical")
    assert "2027年度个人缴费标准 400.00 元" in page.text
    confirm = submit_declaration(client, page)
    assert confirm.h1 == "缴费信息确认" and "400.00" in confirm.text and "肆佰元整" in confirm.text
    again = submit_declaration(client, open_form(client, "resident-medical"))
    assert again.h1 == "缴费信息确认"
    fixed = [d for d in declarations_of(world, "赵秀英") if d.kind == "fixed"]
    assert len(fixed) == 1  # declaring twice is the same declaration


def test_backpay_shows_the_pushed_dues_for_confirmation(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = submit_declaration(client, open_form(client, "flexible-pension"), {"pay_type": "backpay"})
    assert page.h1 == "补缴明细确认"
    assert "2024年01月至2024年06月" in page.text and "4,776.00" in page.text
    confirm = client.submit(page)
    assert confirm.h1 == "缴费信息确认" and "4,776.00" in confirm.text and "特殊缴费" in confirm.text


def test_backpay_without_pushed_dues_explains_what_to_do(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    page = submit_declaration(client, open_form(client, "flexible-pension"), {"pay_type": "backpay"})
    assert page.h1 == "补缴明细确认" and "暂无需要补缴的费款" in page.text


def test_history_lists_valid_and_void_and_voids_an_unpaid_declaration(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    submit_declaration(
        client, open_form(client, "flexible-pension"), {"month_from": "1", "month_to": "2", "base": "5000"}
    )
    page = client.page("/declare/history")
    assert page.h1 == "申报查询" and "缴费基数 5,000.00 元/月" in page.text
    newest = declarations_of(world, "王芳")[-1]
    confirm_void = client.page(f"/declare/history/{newest.id}/void")
    assert confirm_void.h1 == "作废申报"
    after = client.submit(confirm_void)
    assert after.h1 == "申报查询" and "申报已作废" in after.text
    db.session.rollback()
    assert db.session.get(Declaration, newest.id).state == "void"
    assert db.session.get(Due, newest.due_id).state == "void"
    void_only = client.page("/declare/history?state=void")
    assert "作废日期" in void_only.text and void_only.text.count("有效") <= 1  # the filter label
    # The months are free again: declare them with another base.
    confirm = submit_declaration(
        client, open_form(client, "flexible-pension"), {"month_from": "1", "month_to": "2", "base": "6000"}
    )
    assert confirm.h1 == "缴费信息确认" and "2,400.00" in confirm.text


def test_every_step_renders_as_a_fragment_for_htmx(client, world, ctx):
    sign_in(client, "李明", verified=True)
    for url in (
        "/declare/",
        "/declare/resident-pension",
        "/declare/resident-medical",
        "/declare/history",
        "/declare/flexible-pension",
    ):
        response = hx(client, url)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "<html" not in body and "<h1" in body, url


def test_no_enrollment_for_the_flow_says_so(client, world, ctx):
    sign_in(client, "刘洋", verified=True)  # resident medical only
    page = open_form(client, "flexible-pension")
    assert "未查询到参保登记信息" in page.text and not page.soup.select("main form[method=post]")


def test_the_city_list_refreshes_without_javascript(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = open_form(client, "flexible-pension")
    page = client.submit(page, {"city": "杭州市"}, button="查看该市经办机构")
    assert page.status == 200
    names = [label.get_text() for label in page.soup.select("#agency label")]
    assert "杭州市西湖区社会保险管理服务中心" in names and "青岛市市南区社会保险事业中心" not in names
    assert count_orders() == 0


def count_orders():
    db.session.rollback()
    return len(db.session.scalars(select(Order.id)).all())


def test_late_fee_is_its_own_line_when_the_region_sets_one(app, client, world, ctx):
    result = app.test_cli_runner().invoke(args=["standards", "set", "370200", "2026", "flexible", "--late-fee", "0.05"])
    assert result.exit_code == 0, result.output
    sign_in(client, "张伟", verified=True)
    # September 2026 was due by 30 September: 54 days late on 23 November, 0.05 % a day.
    confirm = submit_declaration(
        client, open_form(client, "flexible-pension"), {"month_from": "9", "month_to": "9", "base": "5000"}
    )
    assert confirm.h1 == "缴费信息确认"
    assert "含滞纳金 27.00" in confirm.text and "1,027.00" in confirm.text
    declared = declarations_of(world, "张伟")[-1]
    assert (declared.amount_fen, declared.late_fee_fen) == (102700, 2700)
    # This month is not late: no late-fee line.
    confirm = submit_declaration(
        client, open_form(client, "flexible-pension"), {"month_from": "12", "month_to": "12", "base": "5000"}
    )
    assert "滞纳金" not in confirm.text and "1,000.00" in confirm.text


# -- 再次确认经办机构信息 → 确定 (Guizhou) --------------------------------------------------------------


def test_next_asks_to_confirm_the_agency_and_writes_nothing_until_confirmed(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    before = len(declarations_of(world, "王芳"))
    page = open_form(client, "flexible-pension")
    asked = client.submit(page, {"month_from": "1", "month_to": "2", "base": "5000"})
    assert asked.status == 200 and asked.h1 == "再次确认经办机构信息"
    shown = {
        dt.get_text(): dd.get_text()
        for dt, dd in zip(asked.soup.select("main dt"), asked.soup.select("main dd"), strict=False)
    }
    assert shown["社保经办机构"] == "贵阳市南明区社会保险事业局"
    assert shown["主管税务机关"] == "国家税务总局贵阳市南明区税务局"
    assert len(declarations_of(world, "王芳")) == before  # nothing written before 确定
    # 返回修改: the form again, as typed, still nothing written.
    back = client.submit(asked, button="返回修改")
    assert back.h1 == "灵活就业人员养老保险费申报" and back.soup.select_one("#base")["value"] == "5000"
    assert len(declarations_of(world, "王芳")) == before
    confirmed = client.submit(asked, button="确定")
    assert confirmed.h1 == "缴费信息确认" and "2,000.00" in confirmed.text
    assert len(declarations_of(world, "王芳")) == before + 1


def test_the_agency_confirmation_is_a_fragment_for_htmx_and_needs_csrf(client, world, ctx):
    sign_in(client, "李明", verified=True)
    before = len(declarations_of(world, "李明"))
    page = open_form(client, "resident-pension")
    data = post_form(page, {"grade": "80000"})
    fragment = hx(client, "/declare/resident-pension", method="POST", data=data)
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in body and "再次确认经办机构信息" in body
    assert "国家税务总局杭州市西湖区税务局" in body and len(declarations_of(world, "李明")) == before
    forged = {k: v for k, v in post_form(page, {"grade": "80000", "action": "confirm"}).items() if k != "csrf_token"}
    refused = client.post("/declare/resident-pension", data=forged)
    assert refused.status_code in (400, 422) and len(declarations_of(world, "李明")) == before


def test_a_refusal_after_confirming_returns_to_the_form_with_its_message(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    before = len(declarations_of(world, "王芳"))
    asked = client.submit(open_form(client, "flexible-pension"), {"month_from": "1", "month_to": "2", "base": "1"})
    assert asked.h1 == "再次确认经办机构信息"
    refused = client.submit(asked, button="确定")
    assert refused.status == 422 and refused.h1 == "灵活就业人员养老保险费申报" and refused.field_error("base")
    assert len(declarations_of(world, "王芳")) == before


def test_an_agency_not_the_persons_is_refused_before_any_confirmation(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = client.submit(open_form(client, "flexible-pension"), {"city": "杭州市"}, button="查看该市经办机构")
    agency = page.soup.select_one("#agency input")["value"]
    refused = client.submit(page, {"agency": agency, "month_from": "1", "month_to": "1", "base": "5000"})
    assert refused.status == 422 and refused.h1 != "再次确认经办机构信息" and refused.field_error("agency")
