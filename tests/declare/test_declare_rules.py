"""缴费申报's rules, each with a test that fails if the rule is lost: every amount is the
server's, every refusal is a Chinese message beside its field with nothing written, a page
shown before a standard changed charges nothing, payments pause in the reconciliation
window, only one's own unpaid declaration can be voided, and two racing declarations of the
same months make one due. The clock stands at 2026-11-23 12:00 Shanghai unless moved."""

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import Declaration, Due, Order
from tests.orders.test_payment_guarantees import notify_for, post_go_pay
from tests.support import ResidentClient, form_values
from tests.support.journeys import choose, go_to_provider, sandbox_pay, sign_in, submit_declaration

pytestmark = pytest.mark.usefixtures("clock")

QINGDAO_RANGE = "缴费基数金额请在4,504.00元-22,518.00元之间选择"
ALREADY_DECLARED = "所选费款所属期已申报，如需更改缴费基数，请先在申报查询中作废原申报"
ALREADY_PAID = "所选费款所属期已缴费，请勿重复缴费"
MISMATCH = "您所选经办机构与在社保部门或医保部门登记的经办机构不一致，请重新选择"


def shanghai(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def count(model, **where) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def written() -> tuple[int, int, int]:
    """(declarations, dues, orders): what a refused declaration must leave as it was."""
    return count(Declaration), count(Due), count(Order)


def open_form(client, flow):
    page = client.page(f"/declare/{flow}")
    assert page.status == 200, page.text
    return page


def declare(client, flow, data=None, **kwargs):
    return submit_declaration(client, open_form(client, flow), data, **kwargs)


def refused(page, field, message):
    """A 422 with `message` beside `field` and at the top."""
    assert page.status == 422, (page.status, page.text)
    assert page.h1 != "缴费信息确认"
    beside = page.field_error(field)
    assert beside is not None and message in beside, (field, beside, page.summary())
    assert any(message in item for item in page.summary()), page.summary()
    return beside


def latest_declaration(world, name) -> Declaration:
    db.session.rollback()
    return db.session.scalar(
        select(Declaration).filter_by(person_id=world.people[name]).order_by(Declaration.id.desc())
    )


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["standards", *args])


# -- 1. amounts are the server's ----------------------------------------------------------------


def test_money_fields_in_the_post_are_ignored_and_the_standard_prices_the_declaration(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(
        client,
        "flexible-pension",
        {
            "year": "2026",
            "month_from": "1",
            "month_to": "3",
            "base": "5000",
            "amount": "1",
            "amount_fen": "1",
            "monthly": "1",
            "total": "1",
            "late_fee": "1",
            "grade": "100",
            "person_id": str(world.people["王芳"]),
            "person": str(world.people["王芳"]),
        },
    )
    assert confirm.h1 == "缴费信息确认", confirm.text
    assert "3,000.00" in confirm.text and "叁仟元整" in confirm.text  # 5000 × 20 % × 3
    declared = latest_declaration(world, "张伟")
    assert (declared.person_id, declared.kind, declared.base_fen, declared.amount_fen, declared.late_fee_fen) == (
        world.people["张伟"],
        "base",
        500000,
        300000,
        0,
    )
    due = db.session.get(Due, declared.due_id)
    assert (due.amount_fen, due.period_start, due.period_end, due.state) == (300000, "2026-01", "2026-03", "open")
    assert due.enrollment.person_id == world.people["张伟"]
    # Nothing was declared for the person named in the tampered field (the demo's three only).
    assert count(Declaration, person_id=world.people["王芳"]) == 3


def test_the_live_preview_ignores_posted_figures_too(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    preview = declare(
        client,
        "flexible-pension",
        {"month_from": "1", "month_to": "2", "base": "6000", "monthly": "1", "amount": "1"},
        button="计算应缴金额",
    )
    assert preview.status == 200 and "每月应缴 1,200.00 元 × 2 个月" in preview.text and "2,400.00" in preview.text


def test_a_grade_the_region_does_not_offer_is_refused_beside_the_grade(client, world, ctx):
    sign_in(client, "李明", verified=True)  # 杭州: 100 … 3000 yuan
    before = written()
    for grade, message in [
        ("350000", "2027年度没有该缴费档次，请从列出的档次中选择"),  # 3500 yuan: no such grade
        ("12345", "2027年度没有该缴费档次，请从列出的档次中选择"),
        ("500000", "2027年度没有该缴费档次，请从列出的档次中选择"),  # 5000 is a 青岛 grade, not 杭州's
        ("0", "2027年度没有该缴费档次，请从列出的档次中选择"),
        ("-50000", "2027年度没有该缴费档次，请从列出的档次中选择"),
        ("abc", "所选内容无效，请重新选择"),
    ]:
        page = declare(client, "resident-pension", {"grade": grade})
        refused(page, "grade", message)
        assert written() == before, grade
    assert [d.amount_fen for d in world.dues("李明", "pension")] == [50000]  # the demo's 500 stands


# -- 2. the base --------------------------------------------------------------------------------

BAD_BASES = [
    ("4503.99", QINGDAO_RANGE),  # a fen below the minimum
    ("22518.01", QINGDAO_RANGE),  # a fen above the maximum
    ("-5000", QINGDAO_RANGE),
    ("0", QINGDAO_RANGE),
    ("1e5", QINGDAO_RANGE),  # 100,000 yuan
    ("9999999999999999", QINGDAO_RANGE),  # 16 digits: long, but a number
    ("abc", "缴费基数应为金额，如 4504.00"),
    ("5000.001", "缴费基数应为金额，如 4504.00"),
    ("NaN", "缴费基数应为金额，如 4504.00"),
    ("1e999999", "缴费基数应为金额，如 4504.00"),
    ("9" * 40, "缴费基数过长"),
    ("", "请输入缴费基数"),
]


def test_a_base_out_of_range_or_not_a_number_is_refused_beside_the_base(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    before = written()
    for base, message in BAD_BASES:
        page = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": base})
        assert page.status == 422, base
        refused(page, "base", message)
        assert written() == before, base


def test_the_range_ends_themselves_are_allowed(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    low = declare(client, "flexible-pension", {"month_from": "1", "month_to": "1", "base": "4504.00"})
    assert low.h1 == "缴费信息确认" and "900.80" in low.text  # 4504 × 20 %
    high = declare(client, "flexible-pension", {"month_from": "2", "month_to": "2", "base": "22,518"})
    assert high.h1 == "缴费信息确认" and "4,503.60" in high.text  # 22518 × 20 %


# -- 3. months already paid or declared -------------------------------------------------------


def test_a_month_already_paid_cannot_be_declared_again(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    assert "缴费成功" in sandbox_pay(client, go_to_provider(client, confirm)).text
    before = written()
    page = declare(client, "flexible-pension", {"month_from": "3", "month_to": "5", "base": "5000"})
    refused(page, "month_from", ALREADY_PAID)
    assert written() == before
    # Months next to the paid ones are still free.
    assert (
        declare(client, "flexible-pension", {"month_from": "4", "month_to": "5", "base": "5000"}).h1 == "缴费信息确认"
    )


def test_a_month_already_declared_cannot_be_declared_again(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    first = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    assert first.h1 == "缴费信息确认"
    before = written()
    page = declare(client, "flexible-pension", {"month_from": "2", "month_to": "4", "base": "6000"})
    refused(page, "month_from", ALREADY_DECLARED)
    assert written() == before
    # The demo's open November due is a declaration too.
    refused(
        declare(client, "flexible-pension", {"month_from": "11", "month_to": "12", "base": "6000"}),
        "month_from",
        ALREADY_DECLARED,
    )
    assert written() == before


def test_the_same_months_of_the_other_insurance_are_not_taken(client, world, ctx):
    sign_in(client, "王芳", verified=True)  # her pension and medical are separate enrollments
    assert (
        declare(client, "flexible-pension", {"month_from": "1", "month_to": "2", "base": "5000"}).h1 == "缴费信息确认"
    )
    assert (
        declare(client, "flexible-medical", {"month_from": "1", "month_to": "2", "base": "5000"}).h1 == "缴费信息确认"
    )


# -- 4. month order -----------------------------------------------------------------------------


def test_month_to_before_month_from_is_refused_beside_month_to(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    before = written()
    page = declare(client, "flexible-pension", {"month_from": "5", "month_to": "3", "base": "5000"})
    refused(page, "month_to", "费款所属期的结束月份不能早于开始月份")
    assert page.field_error("month_from") is None
    assert written() == before


def test_a_month_outside_the_year_is_refused(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    before = written()
    for months in [("0", "3"), ("1", "13")]:
        page = declare(client, "flexible-pension", {"month_from": months[0], "month_to": months[1], "base": "5000"})
        assert page.status == 422 and page.h1 != "缴费信息确认", months
        assert page.field_error("month_from") or page.field_error("month_to"), months
        assert written() == before, months


# -- 5. the collection window -------------------------------------------------------------------


def test_a_flexible_year_whose_window_closed_is_refused_beside_the_year(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    before = written()
    page = declare(client, "flexible-pension", {"year": "2025", "month_from": "1", "month_to": "3", "base": "5000"})
    beside = refused(page, "year", "2025年度不在征收期内")
    assert "2025年01月01日 至 2025年12月31日" in beside
    assert written() == before


def test_a_resident_year_whose_window_closed_is_refused_beside_the_year(client, world, ctx):
    sign_in(client, "李明", verified=True)
    before = written()
    page = declare(client, "resident-pension", {"year": "2026", "grade": "80000"})
    beside = refused(page, "year", "2026年度不在征收期内")
    assert "2025年09月01日 至 2026年06月30日" in beside
    refused(declare(client, "resident-medical", {"year": "2026"}), "year", "2026年度不在征收期内")
    assert written() == before


def test_a_year_without_a_standard_is_not_yet_published(app, world, ctx):
    before = written()
    app.test_client_class = ResidentClient
    for name, flow, data in [
        ("张伟", "flexible-pension", {"month_from": "1", "month_to": "1", "base": "5000"}),
        ("李明", "resident-pension", {"grade": "80000"}),
        ("李明", "resident-medical", {}),
    ]:
        client = app.test_client()
        sign_in(client, name, verified=True)
        page = declare(client, flow, {"year": "2030", **data})
        refused(page, "year", "2030年度缴费标准尚未公布，暂不能申报")
        assert written() == before, flow


def test_the_window_moves_with_the_clock(client, world, ctx, clock):
    clock.at(shanghai(2027, 1, 5, 10, 0))  # 2026's flexible window closed on 2026-12-31
    sign_in(client, "张伟", verified=True)
    page = open_form(client, "flexible-pension")
    # 2027's standard is not published: it is collected on 2026's (tests/declare/test_provisional_standards.py).
    assert [o.get_text() for o in page.soup.select("#year option")] == ["2027年（暂按上年度标准）"]
    before = written()
    page = submit_declaration(client, page, {"year": "2026", "month_from": "1", "month_to": "1", "base": "5000"})
    assert page.status == 422 and "不在征收期内" in page.text
    assert written() == before


# -- 6. someone else's agency, no enrollment ----------------------------------------------------


def test_an_agency_the_person_is_not_registered_with_is_refused_beside_the_agency(client, world, ctx):
    sign_in(client, "王芳", verified=True)  # 贵阳
    before = written()
    page = declare(
        client,
        "flexible-pension",
        {"city": "青岛市", "agency": "37020201", "month_from": "1", "month_to": "1", "base": "5000"},
    )
    refused(page, "agency", MISMATCH)
    assert written() == before


def test_an_agency_code_that_does_not_exist_is_refused(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    before = written()
    page = declare(
        client, "flexible-pension", {"agency": "99999999", "month_from": "1", "month_to": "1", "base": "5000"}
    )
    assert page.status == 422 and page.field_error("agency")
    assert written() == before


def test_another_persons_agency_for_a_flow_one_lacks_says_no_enrollment(client, world, ctx):
    sign_in(client, "张伟", verified=True)  # flexible only; 赵秀英's resident agency is in his city
    before = written()
    page = client.page("/declare/resident-pension")
    assert page.status == 200 and "未查询到参保登记信息" in page.text
    assert not page.soup.select("main form[method=post]")
    # A post made by hand declares nothing either.
    token = form_values(open_form(client, "flexible-pension").form())["csrf_token"][0]
    response = client.post(
        "/declare/resident-pension",
        data={"csrf_token": token, "city": "青岛市", "agency": "37021201", "year": "2027", "grade": "30000"},
    )
    assert response.status_code in (200, 422) and "未查询到参保登记信息" in response.get_data(as_text=True)
    assert written() == before


def test_a_person_with_no_enrollment_at_all_sees_the_message(client, world, ctx):
    sign_in(client, "陈静", verified=True)
    for flow in ("flexible-pension", "flexible-medical", "resident-pension", "resident-medical"):
        page = client.page(f"/declare/{flow}")
        assert "未查询到参保登记信息" in page.text, flow


# -- 7. a confirm page shown before the standard changed ----------------------------------------


def test_a_confirm_page_shown_before_a_standard_change_charges_nothing(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    assert confirm.h1 == "缴费信息确认" and "3,000.00" in confirm.text
    declared = latest_declaration(world, "张伟")
    demo_due = world.dues("张伟", "pension")[-1]  # November, demo base 4504: 900.80
    assert (demo_due.period_start, demo_due.amount_fen) == ("2026-11", 90080)

    result = cli(app, "set", "370200", "2026", "flexible", "--pension-rate", "16")

    assert result.exit_code == 0, result.output
    assert "saved:" in result.output and "养老 16%" in result.output and "(rev 2)" in result.output
    db.session.rollback()
    assert db.session.get(Due, declared.due_id).amount_fen == 240000  # 5000 × 16 % × 3
    assert db.session.get(Declaration, declared.id).amount_fen == 240000
    assert db.session.get(Due, demo_due.id).amount_fen == 72064  # 4504 × 16 %, half up

    stale = client.submit(confirm)

    assert stale.status == 409
    assert "缴费信息已发生变化" in stale.text
    assert "2,400.00" in stale.text and "3,000.00" not in stale.text
    assert count(Order) == 0
    # The new page, confirmed, goes on to 选择缴款方式 with the new figure.
    method = client.submit(stale)
    assert method.h1 == "选择缴款方式" and "2,400.00" in method.text
    assert count(Order) == 0


def test_a_change_that_does_not_touch_the_price_leaves_the_page_valid(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    result = cli(app, "set", "370200", "2026", "flexible", "--medical-rate", "10")
    assert result.exit_code == 0, result.output
    assert client.submit(confirm).h1 == "选择缴款方式"


def test_a_standard_change_after_confirming_stops_go_pay_too(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    method = client.submit(confirm)
    assert method.h1 == "选择缴款方式"
    assert cli(app, "set", "370200", "2026", "flexible", "--pension-rate", "16").exit_code == 0
    answer = post_go_pay(client, method)
    assert answer.status_code == 303 and answer.location.endswith("/selfpay/confirm")
    assert count(Order) == 0
    shown = client.page(answer.location)
    assert shown.h1 == "缴费信息确认" and "2,400.00" in shown.text and "缴费信息已发生变化" in shown.text


def test_a_due_already_being_paid_keeps_the_figure_its_payer_confirmed(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    go_to_provider(client, confirm)
    declared = latest_declaration(world, "张伟")
    assert cli(app, "set", "370200", "2026", "flexible", "--pension-rate", "16").exit_code == 0
    db.session.rollback()
    assert db.session.get(Due, declared.due_id).amount_fen == 300000
    assert db.session.get(Declaration, declared.id).amount_fen == 300000
    assert db.session.scalar(select(Order)).total_fen == 300000


def test_a_new_medical_amount_reprices_the_fixed_dues_but_not_the_grades(app, world, ctx):
    assert cli(app, "set", "330100", "2027", "resident", "--medical", "450").exit_code == 0
    db.session.rollback()
    assert [d.amount_fen for d in world.dues("李明", "medical")] == [45000]
    assert [d.amount_fen for d in world.dues("李明", "pension")] == [50000]  # the grade he chose
    assert [d.amount_fen for d in world.dues("赵秀英", "medical")] == [40000]  # 青岛's standard


def test_repricing_keeps_the_late_fee_as_of_the_day_declared_in_shanghai(app, client, world, ctx, clock):
    # Re-pricing reckons the declaration's day in Shanghai, not UTC: a declaration made between
    # 00:00 and 08:00 Shanghai would otherwise lose a day of 滞纳金 (114,800 → 114,750 fen) on
    # any change to its standard, and the resident's page would turn stale for nothing.
    assert cli(app, "set", "370200", "2026", "flexible", "--late-fee", "0.05").exit_code == 0
    clock.at(shanghai(2026, 11, 23, 0, 30))
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "1", "base": "5000"})
    # 1000.00 for January, 296 days after 2026-01-31 at 0.05 % a day: 148.00.
    assert confirm.h1 == "缴费信息确认" and "1,148.00" in confirm.text and "148.00" in confirm.text
    declared = latest_declaration(world, "张伟")
    assert (declared.amount_fen, declared.late_fee_fen) == (114800, 14800)

    assert cli(app, "set", "370200", "2026", "flexible", "--medical-rate", "10").exit_code == 0

    db.session.rollback()
    assert db.session.get(Due, declared.due_id).amount_fen == 114800
    assert db.session.get(Declaration, declared.id).late_fee_fen == 14800
    assert client.submit(confirm).h1 == "选择缴款方式"


# -- 8. the reconciliation window ---------------------------------------------------------------


def pause_qingdao(app):
    result = cli(app, "pause", "370200", "青岛市", "--window", "22:50-00:10")
    assert result.exit_code == 0, result.output


# 张伟 waits 45 minutes on one page: longer than a session lasts unless told otherwise.
@pytest.mark.parametrize("app", [{"SESSION_IDLE_TIMEOUT": dt.timedelta(hours=2)}], indirect=True)
def test_go_pay_is_refused_in_the_reconciliation_window_and_allowed_after_it(app, client, world, ctx, clock):
    pause_qingdao(app)
    clock.at(shanghai(2026, 11, 23, 23, 30))
    sign_in(client, "张伟", verified=True)
    method = client.submit(choose(client, "pension"))
    assert method.h1 == "选择缴款方式"
    assert "暂停缴费" in method.text and "00:10" in method.text  # said before 去支付

    answer = post_go_pay(client, method)

    assert answer.status_code == 422
    assert "次日 00:10" in answer.get_data(as_text=True) and "请于 00:10 后再缴" in answer.get_data(as_text=True)
    assert count(Order) == 0

    clock.at(shanghai(2026, 11, 24, 0, 5))
    answer = post_go_pay(client, method)
    assert answer.status_code == 422 and "00:10" in answer.get_data(as_text=True)
    assert count(Order) == 0

    clock.at(shanghai(2026, 11, 24, 0, 15))
    answer = post_go_pay(client, method)
    assert answer.status_code == 303 and answer.location.startswith("/sandbox/gateway.do")  # the provider
    assert count(Order) == 1


def test_the_window_of_another_region_does_not_pause_this_one(app, client, world, ctx, clock):
    pause_qingdao(app)
    clock.at(shanghai(2026, 11, 23, 23, 30))
    sign_in(client, "王芳", verified=True)  # 贵阳
    method = client.submit(choose(client, "medical"))
    assert post_go_pay(client, method).status_code == 303
    assert count(Order) == 1


def test_in_the_window_notifies_still_settle_and_resume_is_refused(app, client, world, ctx, clock):
    pause_qingdao(app)
    clock.at(shanghai(2026, 11, 23, 22, 45))  # just before the window
    sign_in(client, "张伟", verified=True)
    go_to_provider(client, choose(client, "pension"))
    db.session.rollback()
    row = db.session.scalar(select(Order))
    assert row.state == "paying"

    clock.at(shanghai(2026, 11, 23, 22, 55))
    page = client.page(f"/orders/{row.order_no}")
    assert page.h1 == "支付中"
    answer = client.submit(page, selector=f"form[action='/orders/{row.order_no}/resume']", follow=False)
    assert answer.status == 303 and answer.response.location == f"/orders/{row.order_no}"  # not the provider
    shown = client.page(answer.response.location)
    assert "暂停缴费" in shown.text and "请于 00:10 后再缴" in shown.text

    notified = client.post("/notify/sandbox", data=notify_for(row, app))

    assert notified.get_data(as_text=True) == "success"
    db.session.rollback()
    assert db.session.get(Order, row.id).state == "settled"
    assert count(Due, order_id=row.id, state="paid") == 2  # November and the 补缴


# -- 9. void --------------------------------------------------------------------------------


def test_another_persons_declaration_cannot_be_seen_or_voided(client, world, ctx):
    theirs = latest_declaration(world, "张伟")
    sign_in(client, "王芳", verified=True)
    mine = latest_declaration(world, "王芳")
    assert client.get(f"/declare/history/{theirs.id}/void").status_code == 404
    token = form_values(client.page(f"/declare/history/{mine.id}/void").form())["csrf_token"][0]
    assert client.post(f"/declare/history/{theirs.id}/void", data={"csrf_token": token}).status_code == 404
    assert client.get("/declare/history/999999/void").status_code == 404
    db.session.rollback()
    assert db.session.get(Declaration, theirs.id).state == "valid"
    assert db.session.get(Due, theirs.due_id).state == "open"
    history = client.page("/declare/history").text
    assert "4,400.00" in history and "4,504.00" not in history  # her base, not his


def test_another_persons_backpay_page_is_not_found(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    assert client.get("/declare/backpay/370202100000034567").status_code == 404  # 张伟's enrollment


def test_a_paid_declaration_cannot_be_voided(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    confirm = declare(client, "flexible-pension", {"month_from": "1", "month_to": "3", "base": "5000"})
    assert "缴费成功" in sandbox_pay(client, go_to_provider(client, confirm)).text
    paid = latest_declaration(world, "张伟")
    history = client.page("/declare/history")
    assert "已缴费" in history.text
    assert not history.soup.select(f"a[href='/declare/history/{paid.id}/void']")  # no 作废 link
    before = written()
    page = client.page(f"/declare/history/{paid.id}/void")
    assert page.h1 == "作废申报"
    page = client.submit(page)
    assert page.status == 422 and "该申报已缴费，不能作废" in " ".join(page.summary())
    assert written() == before
    db.session.rollback()
    assert db.session.get(Declaration, paid.id).state == "valid"
    assert db.session.get(Due, paid.due_id).state == "paid"


def test_a_declaration_being_paid_cannot_be_voided(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    declared = latest_declaration(world, "王芳")  # her demo medical month
    assert declared.enrollment.insurance == "medical"
    go_to_provider(client, choose(client, "medical"))
    page = client.submit(client.page(f"/declare/history/{declared.id}/void"))
    assert page.status == 422 and "正在支付中" in " ".join(page.summary())
    db.session.rollback()
    assert db.session.get(Declaration, declared.id).state == "valid"
    assert db.session.get(Due, declared.due_id).state == "open"


def test_history_and_void_need_a_verified_session(client, world, ctx):
    declared = latest_declaration(world, "张伟")
    sign_in(client, "张伟")  # lookup only
    for url in ("/declare/history", f"/declare/history/{declared.id}/void"):
        response = client.get(url)
        assert response.status_code in (302, 303), url
        assert response.location.startswith("/auth/") and "need=verified" in response.location, response.location
    db.session.rollback()
    assert db.session.get(Declaration, declared.id).state == "valid"


# -- 10. two at once ----------------------------------------------------------------------------


def test_two_concurrent_declarations_of_the_same_months_make_one_due(app, world):
    app.test_client_class = ResidentClient
    pages = []
    for _ in range(2):
        c = app.test_client()
        sign_in(c, "张伟", verified=True)
        page = c.page("/declare/flexible-pension")
        values = form_values(page.form())
        values.update({"month_from": ["1"], "month_to": ["3"], "base": ["5000"], "action": ["confirm"]})  # 确定
        pages.append((c, MultiDict([(k, v) for k, vs in values.items() for v in vs])))
    start = threading.Barrier(2, timeout=10)
    statuses = []

    def submit(c, data):
        start.wait()
        statuses.append(c.post("/declare/flexible-pension", data=data).status_code)

    threads = [threading.Thread(target=submit, args=p) for p in pages]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [303, 422], statuses
    with app.app_context():
        enrollment = world.enrollment("张伟", "pension")
        dues = db.session.scalars(select(Due).filter_by(enrollment_id=enrollment.id, period_start="2026-01")).all()
        assert len(dues) == 1 and dues[0].amount_fen == 300000
        declared = db.session.scalars(
            select(Declaration).filter_by(enrollment_id=enrollment.id, period_start="2026-01")
        ).all()
        assert len(declared) == 1 and declared[0].due_id == dues[0].id


def test_two_concurrent_grade_choices_leave_one_valid_declaration(app, world):
    app.test_client_class = ResidentClient
    pages = []
    for grade in ("80000", "150000"):
        c = app.test_client()
        sign_in(c, "李明", verified=True)
        values = form_values(c.page("/declare/resident-pension").form())
        values.update({"grade": [grade], "action": ["confirm"]})  # 确定 on 再次确认经办机构信息
        pages.append((c, MultiDict([(k, v) for k, vs in values.items() for v in vs])))
    start = threading.Barrier(2, timeout=10)
    statuses = []

    def submit(c, data):
        start.wait()
        statuses.append(c.post("/declare/resident-pension", data=data).status_code)

    threads = [threading.Thread(target=submit, args=p) for p in pages]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [303, 303], statuses
    with app.app_context():
        enrollment = world.enrollment("李明", "pension")
        valid = db.session.scalars(select(Declaration).filter_by(enrollment_id=enrollment.id, state="valid")).all()
        dues = db.session.scalars(select(Due).filter_by(enrollment_id=enrollment.id).where(Due.state != "void")).all()
        assert len(valid) == 1 and len(dues) == 1
        assert dues[0].amount_fen == valid[0].amount_fen in (80000, 150000)


def test_a_month_with_a_pushed_backpay_points_to_backpay(app, world, ctx):
    """张伟's agency pushed 2024-01..06 as 补缴; declaring a month of it says where to pay it."""
    import datetime as dt

    from sbweb.services import declarations as service

    assert (
        cli(
            app,
            "set",
            "370200",
            "2024",
            "flexible",
            "--base-min",
            "3980",
            "--base-max",
            "19899",
            "--pension-rate",
            "20",
            "--medical-rate",
            "9.5",
            "--opens",
            "2024-01-01",
            "--closes",
            "2024-12-31",
        ).exit_code
        == 0
    )
    with pytest.raises(service.DeclarationError) as refused:
        service.declare_base(
            world.people["张伟"],
            world.enrollment("张伟", "pension"),
            year=2024,
            month_from=3,
            month_to=3,
            base_fen=500000,
            today=dt.date(2024, 3, 10),
            level="verified",
        )
    assert "补缴" in refused.value.message and refused.value.field == "month_from"
