"""对账: the sandbox's daily bill matched with our orders, every kind of difference found on a real
day of payments, and each resolved by an admin — settle, refund, recheck, ignore — with its audit
entry; re-running a day changes nothing; reviewers read but do not resolve."""

import datetime as dt

import pytest
from sqlalchemy import delete, func, select, update

from sbweb import jobs
from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import (
    AuditEntry,
    Due,
    Order,
    ReconDifference,
    ReconRun,
    Refund,
    SandboxNotify,
    SandboxRefund,
    SandboxTrade,
    Staff,
)
from sbweb.payments import orders, sandbox
from sbweb.services import reconciliation
from sbweb.services.reconciliation import ReconError, reconcile, resolve
from tests.admin.test_admin import make_staff, staff_login
from tests.support import ResidentClient, form_values
from tests.support.journeys import choose, go_to_provider, order, order_no_of, pay, sign_in

DAY = dt.date(2026, 11, 23)  # the clock fixture's day in Shanghai


def shanghai(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def count(model, **where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def browser(app):
    app.test_client_class = ResidentClient
    return app.test_client()


def paid(client, name, insurance) -> Order:
    """The resident pays at the sandbox; its notify settles the order."""
    sign_in(client, name)
    result = pay(client, choose(client, insurance))
    assert "缴费成功" in result.text
    db.session.rollback()
    return order(order_no_of(result))


def paid_silently(client, name, insurance) -> Order:
    """The sandbox takes the money and no notify ever arrives (the `silent` switch), and the
    resident never comes back to the 支付中 page: our order stays 支付中."""
    sign_in(client, name)
    go_to_provider(client, choose(client, insurance))
    db.session.rollback()
    trade = db.session.scalar(select(SandboxTrade).order_by(SandboxTrade.id.desc()))
    sandbox.pay(trade.trade_no, silent=True)
    db.session.rollback()
    row = order(trade.out_trade_no)
    assert row.state == "paying"
    return row


def provider_loses(order_no: str) -> None:
    """The provider's books lose a trade (we own the simulator: editing its table is the test)."""
    trade = db.session.scalar(select(SandboxTrade).filter_by(out_trade_no=order_no))
    db.session.execute(delete(SandboxNotify).where(SandboxNotify.trade_id == trade.id))
    db.session.execute(delete(SandboxTrade).where(SandboxTrade.id == trade.id))
    db.session.commit()


def provider_bills(order_no: str, total_fen: int) -> None:
    db.session.execute(update(SandboxTrade).where(SandboxTrade.out_trade_no == order_no).values(total_fen=total_fen))
    db.session.commit()


def admin_id(app) -> int:
    make_staff(app, username="guanli", role="admin")
    db.session.rollback()
    return db.session.scalar(select(Staff.id).filter_by(username="guanli"))


def difference(run, kind) -> ReconDifference:
    db.session.rollback()
    return db.session.scalar(select(ReconDifference).filter_by(run_id=run.id, kind=kind))


def audited(action, target) -> AuditEntry | None:
    return db.session.scalar(select(AuditEntry).filter_by(action=action, target=target))


# -- a day with every kind of difference ---------------------------------------------------------


def test_a_day_with_every_kind_of_difference_is_found_and_resolved(app, client, world, ctx, clock):
    staff_id = admin_id(app)
    other = browser(app)
    matched = paid(client, "王芳", "medical")
    unknown = paid_silently(client, "王芳", "pension")
    lost = paid(other, "李明", "pension")
    overcharged = paid(other, "李明", "medical")
    provider_loses(lost.order_no)
    provider_bills(overcharged.order_no, overcharged.total_fen + 100)

    run = reconcile(DAY)

    found = {(d.kind, d.out_trade_no, d.provider_fen, d.our_fen) for d in run.items}
    assert found == {
        ("unknown_here", unknown.order_no, unknown.total_fen, unknown.total_fen),
        ("absent_there", lost.order_no, None, lost.total_fen),
        ("amount_differs", overcharged.order_no, overcharged.total_fen + 100, overcharged.total_fen),
    }
    assert run.matched == 1 and run.differences == 3 and matched.order_no not in {d.out_trade_no for d in run.items}
    assert all(d.state == "open" for d in run.items)

    # 对方有款、本方无记录 → 补记: the trade state goes through the state machine and settles it.
    result = resolve(staff_id, difference(run, "unknown_here").id, "settle", "")
    db.session.rollback()
    settled = order(unknown.order_no)
    assert settled.state == "settled" and settled.ticket_nos and settled.settled_at.date() == DAY
    assert count(Due, order_id=settled.id, state="paid") == count(Due, order_id=settled.id) == 2
    assert "已补记缴费" in result.message
    d = difference(run, "unknown_here")
    assert (d.state, d.resolution, d.resolved_by) == ("resolved", "settle", staff_id) and d.resolved_at
    entry = audited("recon.settle", f"recon_difference:{d.id}")
    assert entry.staff_id == staff_id
    assert entry.before["order"]["state"] == "paying" and entry.after["order"]["state"] == "settled"
    assert audited("money.settle", f"order:{unknown.order_no}") is not None

    # 本方已缴、对方无记录 → 复核: the provider has no such trade; a note, the order untouched.
    lost_id = difference(run, "absent_there").id
    result = resolve(staff_id, lost_id, "recheck", "")
    d = difference(run, "absent_there")
    assert d.state == "open" and "无此交易" in d.note and "无此交易" in result.message
    assert order(lost.order_no).state == "settled"
    assert audited("recon.recheck", f"recon_difference:{lost_id}").after["provider_status"] == "missing"
    with pytest.raises(ReconError) as refused:
        resolve(staff_id, lost_id, "ignore", "  ")
    assert refused.value.message == "选择不作处理时，请填写说明"
    with pytest.raises(ReconError):
        resolve(staff_id, lost_id, "settle", "")  # not an action for this kind
    resolve(staff_id, lost_id, "ignore", "已向支付机构提交差错查询，款项已入账")
    d = difference(run, "absent_there")
    assert (d.state, d.resolution, d.note) == ("resolved", "ignore", "已向支付机构提交差错查询，款项已入账")
    assert order(lost.order_no).state == "settled"  # never un-settled

    # 金额不一致 → 退回多收金额: 1.00 back to the payer; the order stays settled, its dues paid.
    over_id = difference(run, "amount_differs").id
    resolve(staff_id, over_id, "refund", "支付机构多扣")
    db.session.rollback()
    assert db.session.scalar(select(SandboxRefund.amount_fen)) == 100
    still = order(overcharged.order_no)
    assert still.state == "settled" and count(Due, order_id=still.id, state="paid") == 1
    assert [(r.amount_fen, r.state) for r in still.refunds] == [(100, "succeeded")]
    assert audited("money.refund", f"order:{overcharged.order_no}").after["refund_fen"] == 100

    # A difference resolved once is not resolved again.
    with pytest.raises(ReconError) as twice:
        resolve(staff_id, over_id, "refund", "")
    assert twice.value.message == "该差异已处理（原路退回），不能重复处理"
    assert count(SandboxRefund) == 1

    # Running the day again: the same run, resolved differences kept and not raised again; the
    # excess refund (in today's bill) matches ours.
    again = reconcile(DAY)
    db.session.rollback()
    assert again.id == run.id and count(ReconRun) == 1
    assert count(ReconDifference) == 3 and count(ReconDifference, state="open") == 0
    assert again.matched == 3 and again.summary["bill_refunds"] == 1 and again.summary["open"] == 0


def test_running_a_day_again_changes_nothing(app, client, world, ctx, clock):
    paid(client, "王芳", "medical")
    unknown = paid_silently(client, "王芳", "pension")
    first = reconcile(DAY)
    ids = [(d.id, d.kind, d.out_trade_no) for d in first.items]
    assert [kind for _, kind, _ in ids] == ["unknown_here"]

    second = reconcile(DAY)

    db.session.rollback()
    assert second.id == first.id and count(ReconRun) == 1
    assert [(d.id, d.kind, d.out_trade_no) for d in second.items] == ids
    assert (second.matched, second.differences) == (1, 1)
    assert order(unknown.order_no).state == "paying"  # reconciling alone moves no money


def test_a_difference_that_is_gone_is_dropped_on_the_next_run_and_a_recheck_note_is_kept(
    app, client, world, ctx, clock
):
    staff_id = admin_id(app)
    lost = paid(client, "王芳", "medical")
    unknown = paid_silently(client, "王芳", "pension")
    provider_loses(lost.order_no)
    run = reconcile(DAY)
    resolve(staff_id, difference(run, "absent_there").id, "recheck", "已电话询问")
    orders.refresh(order(unknown.order_no))  # the stuck-order job settles it meanwhile

    again = reconcile(DAY)

    db.session.rollback()
    kinds = [(d.kind, d.state) for d in again.items]
    assert kinds == [("absent_there", "open")]
    assert "已电话询问" in again.items[0].note


def test_the_day_is_the_shanghai_day(app, client, world, ctx, clock):
    clock.at(shanghai(2026, 11, 24, 0, 30))  # 2026-11-23 16:30 UTC
    late = paid(client, "王芳", "medical")
    assert late.settled_at.astimezone(SHANGHAI).date() == dt.date(2026, 11, 24)

    before = reconcile(DAY)
    after = reconcile(dt.date(2026, 11, 24))

    assert (before.matched, before.differences) == (0, 0)
    assert (after.matched, after.differences) == (1, 0)
    with pytest.raises(ReconError):
        reconcile(dt.date(2026, 11, 25))  # not yet begun


# -- the other resolutions -------------------------------------------------------------------------


def test_refund_sends_unclaimed_money_back_and_releases_the_dues(app, client, world, ctx, clock):
    staff_id = admin_id(app)
    unknown = paid_silently(client, "王芳", "medical")
    run = reconcile(DAY)

    result = resolve(staff_id, difference(run, "unknown_here").id, "refund", "缴费人要求退回")

    db.session.rollback()
    back = order(unknown.order_no)
    assert back.state == "refunded" and "原路退回" in result.message
    assert db.session.scalar(select(SandboxRefund.amount_fen)) == unknown.total_fen
    assert count(Due, order_id=back.id) == 0 and count(Due, state="paid") == 0
    d = difference(run, "unknown_here")
    assert d.resolution == "refund" and "缴费人要求退回" in d.note
    assert audited("recon.refund", f"recon_difference:{d.id}").after["order"]["state"] == "closed"
    assert audited("money.refund", f"order:{unknown.order_no}").after["refund_fen"] == unknown.total_fen
    again = reconcile(DAY)  # the payment and its refund are both in the bill and in our books
    assert (again.matched, count(ReconDifference, state="open")) == (2, 0)


def test_settle_on_an_order_closed_before_the_money_came_sends_it_back(app, client, world, ctx, clock):
    staff_id = admin_id(app)
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))
    db.session.rollback()
    row = db.session.scalar(select(Order))
    client.submit(client.page(f"/orders/{row.order_no}"), selector=f"form[action='/orders/{row.order_no}/cancel']")
    # The provider takes the money after all, and no notify of it arrives.
    db.session.execute(update(SandboxTrade).values(status="TRADE_SUCCESS", paid_at=shanghai(2026, 11, 23, 12, 5)))
    db.session.commit()
    run = reconcile(DAY)
    assert [d.kind for d in run.items] == ["unknown_here"]

    result = resolve(staff_id, run.items[0].id, "settle", "")

    db.session.rollback()
    assert order(row.order_no).state == "refunded" and "原路退回" in result.message
    assert count(SandboxRefund) == 1 and count(Due, state="paid") == 0
    assert audited("money.refund", f"order:{row.order_no}") is not None


def test_a_recheck_that_finds_the_trade_billed_another_day_resolves_it(app, client, world, ctx, clock):
    staff_id = admin_id(app)
    row = paid(client, "王芳", "medical")
    db.session.execute(update(SandboxTrade).values(paid_at=shanghai(2026, 11, 24, 0, 0, 5)))
    db.session.commit()
    run = reconcile(DAY)
    assert [d.kind for d in run.items] == ["absent_there"]

    resolve(staff_id, run.items[0].id, "recheck", "")

    d = difference(run, "absent_there")
    assert (d.state, d.resolution) == ("resolved", "recheck") and "支付机构有此交易" in d.note
    assert order(row.order_no).state == "settled"


def test_an_amount_the_provider_took_less_of_can_only_be_noted(app, client, world, ctx, clock):
    staff_id = admin_id(app)
    row = paid(client, "王芳", "medical")
    provider_bills(row.order_no, row.total_fen - 1)
    run = reconcile(DAY)
    d = run.items[0]
    assert d.kind == "amount_differs" and reconciliation.actions_for(d) == [("ignore", "不作处理（须填写说明）")]
    with pytest.raises(ReconError):
        resolve(staff_id, d.id, "refund", "")
    assert count(Refund) == 0
    resolve(staff_id, d.id, "ignore", "支付机构手续费差错，已核实")
    assert difference(run, "amount_differs").resolution == "ignore"


# -- the daily job and the command line ------------------------------------------------------------


def test_the_daily_job_reconciles_yesterday_and_the_command_prints_the_summary(app, client, world, ctx, clock):
    paid(client, "王芳", "medical")
    periodic = jobs.reconcile_daily.task_class()
    assert periodic.validate_datetime(dt.datetime(2026, 11, 23, 19, 0))  # huey reckons in UTC: 03:00 Shanghai
    assert not periodic.validate_datetime(dt.datetime(2026, 11, 23, 3, 0))
    clock.at(shanghai(2026, 11, 24, 3, 0))

    jobs.reconcile_daily.call_local()

    db.session.rollback()
    run = db.session.scalar(select(ReconRun))
    assert (run.provider, run.day, run.matched, run.differences) == ("sandbox", DAY, 1, 0)
    result = app.test_cli_runner().invoke(args=["reconcile", "--day", "2026-11-23"])
    assert result.exit_code == 0, result.output
    assert "reconciled sandbox 2026-11-23" in result.output and "matched 1" in result.output
    assert app.test_cli_runner().invoke(args=["reconcile", "--day", "23/11/2026"]).exit_code != 0
    # The embedded default's 云闪付 (the sandbox's 银联 side) is reconciled too: nothing paid there.
    assert "reconciled unionpay 2026-11-23" in result.output
    runs = {r.provider: (r.matched, r.differences) for r in db.session.scalars(select(ReconRun))}
    assert runs == {"sandbox": (1, 0), "unionpay": (0, 0)}


# -- the back office ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day, said",
    [
        ("0001-01-01", "请输入1990年之后的日期"),  # before: 暂时无法从支付机构获取账单 (no bill of year 1)
        ("1989-12-31", "请输入1990年之后的日期"),
        ("9999-12-31", "不能对账尚未到来的日期"),
        ("1900-02-29", "请输入正确的日期，如 2026-11-22"),
        ("2024-02-30", "请输入正确的日期，如 2026-11-22"),
        ("0000-01-01", "请输入正确的日期，如 2026-11-22"),
        ("10000-01-01", "字段长度不能超过 10 个字符。"),  # WTForms' own Chinese (it was English)
        (str(2**63), "字段长度不能超过 10 个字符。"),
    ],
)
def test_a_day_off_the_calendar_is_refused_beside_the_field(app, world, ctx, clock, day, said):
    make_staff(app, username="guanli", role="admin")
    office = browser(app)
    staff_login(office, username="guanli")
    page = office.submit(office.page("/admin/reconciliation"), {"day": day}, selector="main form.form-card")
    assert page.status == 422 and page.field_error("day") == said
    db.session.rollback()
    assert count(ReconRun) == 0


def test_admin_runs_a_day_and_resolves_a_difference_in_the_back_office(app, client, world, ctx, clock):
    lost = paid(client, "王芳", "medical").order_no  # a string: a request closes the test's session
    provider_loses(lost)
    make_staff(app, username="guanli", role="admin")
    office = browser(app)
    staff_login(office, username="guanli")

    listing = office.page("/admin/reconciliation")
    assert listing.h1 == "对账" and "暂无对账记录" in listing.text
    assert "对账" in office.page("/admin/").soup.select_one("nav.admin-nav").get_text()
    bad = office.submit(listing, {"day": "2026-13-01"}, selector="main form.form-card")
    assert bad.status == 422 and bad.field_error("day") == "请输入正确的日期，如 2026-11-22"
    shown = office.submit(listing, {"day": "2026-11-23"}, selector="main form.form-card")
    assert shown.h1 == "对账 2026-11-23 模拟支付机构（沙箱）" and "已完成 2026-11-23 的对账" in shown.text
    assert lost in shown.text and "本方已缴、对方账单无记录" in shown.text and "待处理" in shown.text

    db.session.rollback()
    d = db.session.scalar(select(ReconDifference))
    form = f"form[action$='/differences/{d.id}']"
    unchosen = office.submit(shown, {f"d{d.id}-note": "随手一点"}, selector=form)
    assert unchosen.status == 422 and unchosen.field_error(f"d{d.id}-action") == "请选择处理方式"
    no_note = office.submit(shown, {f"d{d.id}-action": "ignore"}, selector=form)
    assert no_note.status == 422 and no_note.field_error(f"d{d.id}-note") == "选择不作处理时，请填写说明"
    done = office.submit(shown, {f"d{d.id}-action": "ignore", f"d{d.id}-note": "支付机构确认已入账"}, selector=form)
    assert done.status == 200 and "已记录：不作处理" in done.text and "支付机构确认已入账" in done.text
    assert done.soup.select(form) == []  # no form for a resolved difference
    twice = office.submit(shown, {f"d{d.id}-action": "ignore", f"d{d.id}-note": "再来一次"}, selector=form)
    assert twice.status == 422 and "该差异已处理（不作处理），不能重复处理" in twice.summary()
    listing = office.page("/admin/reconciliation")
    assert "2026-11-23" in listing.text
    assert "对账差异处理：不作处理" in office.page("/admin/audit").text


def test_a_reviewer_reads_but_cannot_run_or_resolve(app, client, world, ctx, clock):
    lost = paid(client, "王芳", "medical").order_no  # a string: a request closes the test's session
    provider_loses(lost)
    run = reconcile(DAY)
    run_id, difference_id = run.id, run.items[0].id
    make_staff(app)  # a reviewer
    office = browser(app)
    staff_login(office)

    listing = office.page("/admin/reconciliation")
    assert listing.status == 200 and listing.soup.select("main form.form-card") == []
    detail = office.page(f"/admin/reconciliation/{run_id}")
    assert detail.status == 200 and lost in detail.text and "待处理" in detail.text
    assert detail.soup.select(f"form[action$='/differences/{difference_id}']") == []
    token = form_values(detail.soup.select_one("nav form"))["csrf_token"][0]
    answer = office.post(
        f"/admin/reconciliation/{run_id}/differences/{difference_id}",
        data={"csrf_token": token, f"d{difference_id}-action": "ignore", f"d{difference_id}-note": "看看"},
    )
    assert answer.status_code == 403
    assert office.post("/admin/reconciliation", data={"csrf_token": token, "day": "2026-11-23"}).status_code == 403
    db.session.rollback()
    assert db.session.get(ReconDifference, difference_id).state == "open"
    assert count(AuditEntry, action="recon.ignore") == 0
    assert office.get("/admin/reconciliation/999999").status_code == 404


def test_a_resolution_without_the_csrf_token_is_refused(app, client, world, ctx, clock):
    lost = paid(client, "王芳", "medical").order_no  # a string: a request closes the test's session
    provider_loses(lost)
    run = reconcile(DAY)
    run_id, difference_id = run.id, run.items[0].id
    make_staff(app, username="guanli", role="admin")
    office = browser(app)
    staff_login(office, username="guanli")
    answer = office.post(
        f"/admin/reconciliation/{run_id}/differences/{difference_id}",
        data={f"d{difference_id}-action": "ignore", f"d{difference_id}-note": "无令牌"},
    )
    assert answer.status_code == 400
    db.session.rollback()
    assert db.session.get(ReconDifference, difference_id).state == "open"
