"""A new year before its standard is published (issue 13): sbweb/data/standards.toml has 灵活就业
standards up to 2026, so in January 2027 王芳 declares and pays 暂按上年度标准 (on 2026's), the page
saying so; when staff publish 2027's standard the provisional items are re-priced through the
ledger's own paths, 多退少补 — an open due re-priced, a paid one owed more gets a 补差 due, a paid one
owed less a refund by item that staff approve — and the books balance after each."""

import datetime as dt

import pytest
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import Declaration, Due, DueEvent, OrderItem, RefundApplication, Staff, Standard
from sbweb.services import ledger, provisional, refund_applications
from tests.admin.test_admin import make_staff, review_and_confirm, staff_login
from tests.admin_standards.test_admin_standards import office
from tests.bank.test_bank import report
from tests.refunds.test_refunds_by_item import apply
from tests.support.journeys import (
    World,
    choose,
    go_to_provider,
    order,
    order_no_of,
    pay,
    sandbox_pay,
    sign_in,
    submit_declaration,
)

JAN_15_2027 = dt.datetime(2027, 1, 15, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
MAR_01_2028 = dt.datetime(2028, 3, 1, 4, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(app, clock):
    """The demo residents loaded on 15 January 2027 (the clock stays there)."""
    clock.at(JAN_15_2027)
    with app.app_context():
        return World.load()


def publish_2027(app, **figures):
    """An admin adds Guizhou's 2027 灵活就业 standard on the back-office page; the flash it ends on."""
    client = office(app)
    page = client.page("/admin/standards/new")
    data = {
        "region": "520000",
        "year": "2027",
        "category": "flexible",
        "base_min": "4394.70",
        "base_max": "21973.50",
        "pension_rate": "20",
        "medical_rate": "8",
        "late_fee": "0",
        "opens": "2027-01-01",
        "closes": "2027-12-31",
        **figures,
    }
    done = client.submit(page, data, selector="main form.form-card")
    assert done.h1 == "缴费标准", done.text[:400]
    db.session.rollback()
    return done


def own_due(world, name, insurance, period):
    db.session.rollback()
    return db.session.scalar(
        select(Due).where(
            Due.enrollment_id == world.enrollment(name, insurance).id,
            Due.period_start == period,
            Due.difference_of_id.is_(None),
            Due.state != "void",
        )
    )


def test_2027_is_declared_provisionally_on_2026s_standard_and_the_pages_say_so(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    page = client.page("/declare/flexible-pension")
    assert page.status == 200
    assert page.soup.select_one("#year option[selected]").get_text() == "2027年（暂按上年度标准）"
    assert "2027年度缴费标准尚未公布，暂按上年度标准（2026年度标准）申报缴费" in page.text
    assert "4,394.70元-21,973.50元" in page.text  # 2026's base range
    confirm = submit_declaration(client, page, {"year": "2027", "month_from": "2", "month_to": "4", "base": "5000"})
    assert confirm.h1 == "缴费信息确认", confirm.text[:400]
    assert "暂按上年度标准（2026年度标准）" in confirm.text and "3,000.00" in confirm.text
    db.session.rollback()
    declared = db.session.scalar(
        select(Declaration).where(Declaration.person_id == world.people["王芳"]).order_by(Declaration.id.desc())
    )
    assert (declared.period_start, declared.period_end, declared.amount_fen) == ("2027-02", "2027-04", 300000)
    assert declared.provisional_on == 2026 and declared.standard.year == 2026
    assert declared.due.provisional_on == 2026
    result = pay(client, confirm)
    assert result.h1 == "缴费结果" and "暂按上年度标准（2026年度标准）" in result.text
    assert "暂按上年度标准" in client.page("/records/").text
    assert "暂按上年度标准（2026年度标准）" in client.page("/declare/history").text
    # The demo's own 2027 month (pushed before the pilot) is provisional too, and says so where it is owed.
    dues_page = client.page(f"/selfpay/{world.enrollment('王芳', 'medical').enrollment_no}/dues")
    assert "暂按上年度标准（2026年度标准）" in dues_page.text


def test_publishing_2027_reprices_an_open_provisional_due(app, client, world, ctx):
    due = own_due(world, "王芳", "pension", "2027-01")
    assert (due.state, due.amount_fen, due.provisional_on) == ("open", 88000, 2026)  # 4400 × 20 %
    done = publish_2027(app, base_min="4600.00")
    # Both of her open 2027 months (养老 and 医疗) on the new standard: her base 4400 is below the new
    # minimum, so it is 4600.
    assert "重新计价 2 笔，补缴差额 0 笔，多缴退费申请 0 笔" in done.text
    # Guizhou's are settled; 张伟's Qingdao month still waits for Qingdao's 2027 standard.
    assert "2027年度 灵活就业人员：1 笔暂按2026年度标准" in done.text
    due = own_due(world, "王芳", "pension", "2027-01")
    assert (due.state, due.amount_fen, due.provisional_on) == ("open", 92000, None)
    assert due.priced_by.base_fen == 460000 and due.priced_by.standard.year == 2027
    assert due.priced_by.provisional_on is None
    assert own_due(world, "王芳", "medical", "2027-01").amount_fen == 36800  # 4600 × 8 %
    last = db.session.scalar(select(DueEvent).filter_by(due_id=due.id).order_by(DueEvent.id.desc()))
    assert "按2027年度标准重新计价（原暂按2026年度标准）" in last.cause and last.amount_before == 88000
    assert ledger.check() == []
    sign_in(client, "王芳", verified=True)
    dues_page = client.page(f"/selfpay/{world.enrollment('王芳', 'pension').enrollment_no}/dues")
    assert "920.00" in dues_page.text and "暂按上年度标准" not in dues_page.text
    # Loading the same standard again changes nothing.
    assert "暂按上年度标准" not in publish_again(app)


def publish_again(app):
    result = app.test_cli_runner().invoke(
        args=["standards", "set", "520000", "2027", "flexible", "--base-min", "4600.00"]
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_a_paid_provisional_due_owed_more_gets_the_difference_as_a_due_to_pay(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    january = own_due(world, "王芳", "pension", "2027-01")
    number = world.enrollment("王芳", "pension").enrollment_no
    paid = order(order_no_of(pay(client, choose(client, enrollment_no=number, due_ids=[january.id]))))
    assert paid.state == "settled" and paid.total_fen == 88000

    done = publish_2027(app, base_min="4600.00")
    assert "补缴差额 1 笔" in done.text
    january = own_due(world, "王芳", "pension", "2027-01")
    assert (january.state, january.amount_fen, january.provisional_on) == ("paid", 88000, None)
    extra = db.session.scalar(select(Due).filter_by(difference_of_id=january.id))
    assert (extra.kind, extra.state, extra.amount_fen, extra.period_start) == ("normal", "open", 4000, "2027-01")
    assert extra.payable
    extra_id = extra.id
    assert ledger.check() == []

    dues_page = client.page(f"/selfpay/{number}/dues")
    assert "按2027年度标准补缴差额" in dues_page.text and "40.00" in dues_page.text
    result = pay(client, choose(client, enrollment_no=number, due_ids=[extra_id]))
    assert result.h1 == "缴费结果" and "按2027年度标准补缴差额" in result.text
    db.session.rollback()
    assert db.session.get(Due, extra_id).state == "paid"
    assert ledger.check() == []


def test_a_paid_provisional_due_owed_less_gets_the_overpayment_back_by_item(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    january = own_due(world, "王芳", "medical", "2027-01")
    assert january.amount_fen == 35200  # 4400 × 8 %, on 2026's standard
    number = world.enrollment("王芳", "medical").enrollment_no
    paid_no = order_no_of(pay(client, choose(client, enrollment_no=number, due_ids=[january.id])))

    done = publish_2027(app, medical_rate="7.5")
    assert "多缴退费申请 1 笔（待审核）" in done.text
    db.session.rollback()
    application = db.session.scalar(select(RefundApplication))
    assert (
        application.money_type,
        application.amount_fen,
        application.state,
        application.person_id,
        application.account_id,
    ) == ("多缴费款退费", 2200, "pending", world.people["王芳"], None)
    january_id = january.id
    item = db.session.scalar(select(OrderItem).filter_by(due_id=january_id))
    item_id = item.id
    assert [i.item_id for i in application.items] == [item_id]
    application_id, application_no = application.id, application.application_no
    refund_item_id = application.items[0].id
    assert ledger.check() == []  # nothing moved yet: the due is paid at what was paid
    said = client.page("/refunds/records")
    assert application_no in said.text and "系统已为您申请退费" in said.text

    make_staff(app)
    desk = app.test_client()
    staff_login(desk)
    # No bank account was reported for it: only 原路退回 is offered, and a tampered form is refused.
    detail = desk.page(f"/admin/refunds/{application_id}")
    assert "原路退回" in detail.text and "退至申请人银行账户" not in detail.text
    assert refund_applications.plan(application_id, {refund_item_id}, "original").amount_fen == 2200
    with pytest.raises(refund_applications.ApplicationError, match="该申请由系统生成，未报告银行账户"):
        refund_applications.plan(application_id, {refund_item_id}, "bank")
    db.session.rollback()
    plan, approved = review_and_confirm(desk, application_id)
    assert "将退回 ¥22.00" in plan.text
    db.session.rollback()
    item = db.session.get(OrderItem, item_id)
    assert (item.amount_fen, item.refunded_fen) == (35200, 2200)
    january = db.session.get(Due, january_id)
    assert (january.state, january.amount_fen) == ("paid", 33000)  # kept: 4400 × 7.5 %
    assert order(paid_no).state == "settled"
    assert db.session.get(RefundApplication, application_id).state == "refunded"
    assert ledger.check() == []
    assert "部分退费" in client.page("/records/").text


@pytest.mark.parametrize(
    "moment, months, basis",
    [
        (JAN_15_2027, ("2", "3"), "2026"),
        (MAR_01_2028, ("4", "5"), "2026"),
    ],
)
def test_the_app_boots_and_declares_on_any_date(app, client, clock, ctx, moment, months, basis):
    """`make run` on a date past the data file's years: the demo loads and 缴费申报 works."""
    clock.at(moment)
    world = World.load()
    assert ledger.check() == []
    sign_in(client, "王芳", verified=True)
    page = client.page("/declare/flexible-pension")
    year = str(moment.year)
    assert page.soup.select_one("#year option[selected]").get_text() == f"{year}年（暂按上年度标准）"
    assert f"暂按上年度标准（{basis}年度标准）" in page.text
    confirm = submit_declaration(
        client, page, {"year": year, "month_from": months[0], "month_to": months[1], "base": "4400"}
    )
    assert confirm.h1 == "缴费信息确认", confirm.text[:400]
    assert "1,760.00" in confirm.text  # 4400 × 20 % × 2
    result = pay(client, confirm)
    assert result.h1 == "缴费结果"
    # The residents' year being collected then has no standard either in 2028: 2027's stands in.
    sign_in(client, "李明", verified=True)
    medical = client.page("/declare/resident-medical")
    assert medical.status == 200
    if moment.year == 2028:
        assert "暂按上年度标准（2027年度标准）" in medical.text
    assert world.dues("李明", "medical")
    assert ledger.check() == []
    assert db.session.scalar(select(Standard.id).filter_by(year=int(year), category="flexible")) is None


def test_a_due_being_paid_when_2027_is_published_is_settled_once_the_payment_ends(app, client, world, ctx):
    """An order in flight holds the due: publishing leaves it provisional (it pays the figure she
    confirmed); once paid, the hourly job settles it like any paid one — here a 补差 due."""
    from sbweb.jobs import provisional_settle

    sign_in(client, "王芳", verified=True)
    january = own_due(world, "王芳", "pension", "2027-01")
    number = world.enrollment("王芳", "pension").enrollment_no
    cashier = go_to_provider(client, choose(client, enrollment_no=number, due_ids=[january.id]))
    done = publish_2027(app, base_min="4600.00")
    assert "1 笔正在支付或退费中" in done.text
    january = own_due(world, "王芳", "pension", "2027-01")
    assert (january.amount_fen, january.provisional_on) == (88000, 2026)
    assert ledger.check() == []

    result = sandbox_pay(client, cashier)
    assert result.h1 == "缴费结果", result.text[:300]
    provisional_settle.call_local()
    january = own_due(world, "王芳", "pension", "2027-01")
    assert (january.state, january.amount_fen, january.provisional_on) == ("paid", 88000, None)
    extra = db.session.scalar(select(Due).filter_by(difference_of_id=january.id))
    assert (extra.state, extra.amount_fen) == ("open", 4000)
    assert ledger.check() == []
    with write_transaction():  # settling again finds nothing left
        assert provisional.settle_all().total == 0


def test_a_month_reopened_by_a_refund_is_repriced_from_the_choice_it_had(app, client, world, ctx):
    """A provisional month refunded for a wrong base is owed again (its declaration void); when 2027
    is published, what is owed again is priced on 2027's standard."""
    sign_in(client, "王芳", verified=True)
    report(client)
    january = own_due(world, "王芳", "pension", "2027-01")
    january_id = january.id
    number = world.enrollment("王芳", "pension").enrollment_no
    paid_no = order_no_of(pay(client, choose(client, enrollment_no=number, due_ids=[january_id])))
    application, _item = apply(client, paid_no, january_id, money_type="误缴费款退费", reason="缴费档次或基数选择错误")
    make_staff(app)
    db.session.rollback()
    staff_id = db.session.scalar(select(Staff.id))
    refund_applications.approve(staff_id, application.id)
    january = own_due(world, "王芳", "pension", "2027-01")
    assert (january.state, january.provisional_on) == ("open", 2026) and january.reopened_reason

    publish_2027(app, base_min="4600.00")
    january = db.session.get(Due, january_id)
    assert (january.state, january.amount_fen, january.provisional_on) == ("open", 92000, None)
    assert ledger.check() == []


def test_0023_goes_down_and_up(tmp_path, key_dir, own_database, clock):
    """On a database with provisional dues: down to 0021 drops what 0023 added, up again adds it
    (the provisional marks are lost with the columns, the dues and amounts are kept)."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import func, inspect

    from sbweb import create_app
    from tests.conftest import _base_config

    clock.at(JAN_15_2027)
    app = create_app(_base_config(tmp_path, key_dir, own_database))
    with app.app_context():
        upgrade()
        World.load()
        assert db.session.scalar(select(func.count(Due.id)).where(Due.provisional_on == 2026)) == 3
        total = db.session.scalar(select(func.sum(Due.amount_fen)))
        db.session.commit()
        downgrade(revision="0021")
        db.session.remove()
        schema = inspect(db.engine)
        assert not {"provisional_on", "difference_of_id"} & {c["name"] for c in schema.get_columns("dues")}
        assert "provisional_on" not in {c["name"] for c in schema.get_columns("declarations")}
        assert not next(c for c in schema.get_columns("refund_applications") if c["name"] == "account_id")["nullable"]
        upgrade()
        db.session.remove()
        assert db.session.scalar(select(func.sum(Due.amount_fen))) == total
        assert db.session.scalar(select(func.count(Due.id)).where(Due.provisional_on.is_not(None))) == 0
        db.session.remove()
        db.engine.dispose()


def test_loading_a_data_file_with_2027_settles_and_says_how_many(app, world, ctx, tmp_path):
    """`flask standards load FILE` with Qingdao's 2027 standard: 张伟's provisional January is
    re-priced, and the command says so."""
    data = tmp_path / "2027.toml"
    data.write_text(
        """
[[standards]]
region = "370200"
year = 2027
category = "flexible"
base_min = "4600.00"
base_max = "23000.00"
pension_rate = "20"
medical_rate = "9.5"
opens = "2027-01-01"
closes = "2027-12-31"
""",
        encoding="utf-8",
    )
    assert own_due(world, "张伟", "pension", "2027-01").amount_fen == 90080  # 4504 × 20 %
    result = app.test_cli_runner().invoke(args=["standards", "load", str(data)])
    assert result.exit_code == 0, result.output
    assert "重新计价 1 笔，补缴差额 0 笔，多缴退费申请 0 笔" in result.output
    due = own_due(world, "张伟", "pension", "2027-01")
    assert (due.amount_fen, due.provisional_on) == (92000, None)
    assert ledger.check() == []


PROVISIONAL_WORDS = "暂按上年度标准（2026年度标准），新标准公布后多退少补"


def test_the_reminder_mail_says_a_due_is_provisional_as_the_pages_do(app, client, world, ctx):
    """王芳's 缴费提醒 in January 2027 lists her 2027 months, each said to be on 2026's standard."""
    from sbweb.services import reminders
    from tests.reminders.test_reminders import body, outbox, subscribe

    sign_in(client, "王芳", verified=True)
    subscribe(client, address="wangfang@example.com")
    assert reminders.run_daily(JAN_15_2027.date())["mails"] == 1
    [mail] = outbox(app)
    lines = body(mail).splitlines()
    january = next(i for i, line in enumerate(lines) if "养老保险 2027年01月" in line)
    assert lines[january + 1].strip() == PROVISIONAL_WORDS
    assert (
        PROVISIONAL_WORDS in client.page("/selfpay/" + world.enrollment("王芳", "pension").enrollment_no + "/dues").text
    )  # the page says it in the same words
    dated_2026 = [line for line in lines if "2026年" in line and "·" in line]
    assert all(PROVISIONAL_WORDS not in line for line in dated_2026)


def test_the_withholding_notice_says_a_due_is_provisional(app, client, world, ctx):
    """The 扣款预告 of 王芳's agreement names the 2027 month it will take as 暂按上年度标准."""
    from sbweb.services import withholding
    from tests.bank.test_withholding import BEFORE, landed, sign_agreement
    from tests.bank.test_withholding_consent import WANG_PENSION
    from tests.reminders.test_reminders import body

    sign_in(client, "王芳", verified=True)
    sign_agreement(client, WANG_PENSION, "王芳")
    assert withholding.run()["mails_before"] == 1
    db.session.rollback()
    [before] = landed(app, BEFORE)
    line = next(line for line in body(before).splitlines() if "养老保险 2027年01月" in line)
    assert line.endswith(f"¥880.00 · {PROVISIONAL_WORDS}")
