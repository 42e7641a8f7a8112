"""每日结算文件: each tax office's day (Asia/Shanghai) of tickets, items and item refunds with their
totals, as CSV and XLSX, made by the daily job, kept, checked against the books by `flask ledger
check`, and downloaded through the API — an agency's client only its own office's."""

import csv
import datetime as dt
import hashlib
import io

from openpyxl import load_workbook
from sqlalchemy import select

from sbweb import jobs
from sbweb.db import db, write_transaction
from sbweb.models import OrderItem, SettlementFile, TaxOffice, Ticket
from sbweb.payments import TradeState, orders
from sbweb.services import ledger, registry, settlement_files
from tests.refunds.test_refunds_by_item import apply, approve_all, three_months_paid

SHANGHAI_NEW_YEAR = dt.datetime(2025, 12, 31, 16, 0, tzinfo=dt.UTC)  # 2026-01-01 00:00 in Shanghai


def settle_at(world, name, insurance, moment, amount_fen, period):
    """One due of `name` paid and settled by the provider at `moment` (the way the app settles)."""
    enrollment = world.enrollment(name, insurance)
    with write_transaction():
        due = registry.add_due(enrollment, kind="normal", period_start=period, period_end=period, amount_fen=amount_fen)
    order = orders.create_order(
        payer_id=enrollment.person_id,
        person_ids={enrollment.person_id},
        due_ids=[due.id],
        shown=orders.fingerprint([due]),
        channel="alipay",
        idempotency_key=f"settle-at-{due.id}",
    ).order
    with write_transaction():
        orders.transition(order, "paying", "测试缴费")
    answer = TradeState(order.order_no, "success", amount_fen=amount_fen, paid_at=moment)
    orders.apply_trade_state(answer, provider=order.provider, source="测试缴费")
    db.session.rollback()
    return db.session.scalar(select(Ticket).where(Ticket.order_id == order.id))


def kept(day, office_id) -> SettlementFile:
    db.session.rollback()
    return db.session.scalar(select(SettlementFile).filter_by(day=day, tax_office_id=office_id))


def rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_each_office_gets_its_shanghai_days_payments_and_nothing_of_the_next_day(app, world, ctx):
    day = dt.date(2025, 12, 31)
    wang = settle_at(world, "王芳", "medical", SHANGHAI_NEW_YEAR - dt.timedelta(seconds=1), 35200, "2025-11")
    zhang = settle_at(world, "张伟", "pension", SHANGHAI_NEW_YEAR - dt.timedelta(hours=20), 95000, "2025-10")
    settle_at(world, "王芳", "medical", SHANGHAI_NEW_YEAR, 35200, "2025-12")  # 00:00 Shanghai: the next day's
    wang_no, wang_office, zhang_no, zhang_office = (
        wang.ticket_no,
        wang.tax_office_id,
        zhang.ticket_no,
        zhang.tax_office_id,
    )
    offices = db.session.scalar(select(db.func.count()).select_from(TaxOffice))
    assert settlement_files.make_day(day) == offices  # every office has its file, empty or not
    mine = kept(day, wang_office)
    assert (mine.tickets, mine.items, mine.refunds, mine.paid_fen, mine.refunded_fen) == (1, 1, 0, 35200, 0)
    lines = rows(bytes(mine.csv))
    assert [r["record"] for r in lines] == [
        "ticket",
        "item",
        "total.tickets",
        "total.items",
        "total.refunds",
        "total.net",
    ]
    assert lines[0]["ticket_no"] == wang_no and lines[0]["at"] == "2025-12-31T23:59:59+08:00"
    item = db.session.scalar(select(OrderItem).filter_by(ticket_id=wang.id))
    assert lines[1]["item_id"] == str(item.id) and lines[1]["amount_fen"] == "35200"
    assert lines[1]["enrollment_no"] == world.enrollment("王芳", "medical").enrollment_no
    assert lines[-1]["amount_fen"] == "35200"
    assert "520102198503151246" not in bytes(mine.csv).decode()  # no ID number goes out
    theirs = kept(day, zhang_office)
    assert [r["ticket_no"] for r in rows(bytes(theirs.csv)) if r["record"] == "ticket"] == [zhang_no]
    others = db.session.scalars(
        select(SettlementFile).where(SettlementFile.tax_office_id.not_in([wang_office, zhang_office]))
    )
    assert {(f.tickets, f.paid_fen) for f in others} == {(0, 0)}
    book = load_workbook(io.BytesIO(bytes(mine.xlsx)))
    assert book.sheetnames == ["汇总", "票证", "缴费明细", "退费明细"]
    assert [c.value for c in book["票证"][2]][0] == wang_no
    summary = {r[0].value: r[1].value for r in book["汇总"].iter_rows()}
    assert summary["缴费金额（分）"] == 35200 and summary["结算日（北京时间）"] == "2025-12-31"
    assert ledger.check() == []


def test_a_refund_done_that_day_is_in_its_file_and_the_net(app, client, world, ctx, clock):
    paid, ids = three_months_paid(client, world)
    application, item_id = apply(client, paid.order_no, ids[1], money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)
    day = clock.now.astimezone(settlement_files.SHANGHAI).date()
    settlement_files.make_day(day)
    office_id = db.session.scalar(select(Ticket.tax_office_id).filter_by(ticket_no=paid.ticket_no))
    mine = kept(day, office_id)
    assert (mine.tickets, mine.items, mine.refunds) == (1, 3, 1)
    assert (mine.paid_fen, mine.refunded_fen, mine.net_fen) == (105600, 35200, 70400)
    [refund] = [r for r in rows(bytes(mine.csv)) if r["record"] == "refund"]
    assert refund["application_no"] == application.application_no and refund["item_id"] == str(item_id)
    assert refund["amount_fen"] == "35200" and refund["reason"] == "重复参保缴费"
    assert settlement_files.csv_totals(bytes(mine.csv))["total.net"] == (0, 70400)
    assert ledger.check() == []


def test_a_late_settlement_is_caught_by_the_ledger_check_until_the_job_makes_the_file_again(app, world, ctx, clock):
    day = dt.date(2026, 11, 20)
    first = settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), 35200, "2026-09")
    office_id = first.tax_office_id
    settlement_files.make_day(day)
    assert kept(day, office_id).revision == 1 and settlement_files.make_day(day) == 0  # nothing changed: kept as is
    assert ledger.check() == []
    # 对账 settles a payment the provider took on the 20th, three days later.
    settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC), 35200, "2026-10")
    found = [str(v) for v in ledger.check()]
    assert found == [
        f"settlement-file: settlement file 2026-11-20 tax office {office_id}: "
        "says [1, 1, 35200, 0, 0] but the books say [2, 2, 70400, 0, 0]"
    ]
    written = settlement_files.run_daily(dt.date(2026, 11, 23))  # the job of the 23rd looks back a week
    assert written["2026-11-20"] == 1 and written["2026-11-22"] > 0
    again = kept(day, office_id)
    assert (again.revision, again.tickets, again.paid_fen) == (2, 2, 70400)
    assert ledger.check() == []


def test_the_ledger_check_finds_a_file_whose_csv_was_altered(app, world, ctx):
    day = dt.date(2026, 11, 20)
    first = settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), 35200, "2026-09")
    settlement_files.make_day(day)
    row = kept(day, first.tax_office_id)
    row.csv = bytes(row.csv).replace(b"total.items,,,,,,,,,,,,,,,1,35200", b"total.items,,,,,,,,,,,,,,,1,35100")
    db.session.commit()
    assert [v.detail for v in ledger.check()] == ["its CSV totals are [1, 1, 35100, 0, 0], not [1, 1, 35200, 0, 0]"]


def test_the_daily_job_runs_at_four_in_shanghai_and_makes_yesterdays_files(app, world, ctx, clock):
    periodic = jobs.settlement_files_daily.task_class()
    assert periodic.validate_datetime(dt.datetime(2026, 11, 22, 20, 0))  # huey reckons in UTC: 04:00 Shanghai
    assert not periodic.validate_datetime(dt.datetime(2026, 11, 22, 19, 0))
    settle_at(world, "李明", "medical", dt.datetime(2026, 11, 22, 3, tzinfo=dt.UTC), 38000, "2026-09")
    jobs.settlement_files_daily.call_local()
    db.session.rollback()  # the job wrote in its own session
    files = settlement_files.listed(dt.date(2026, 11, 22), dt.date(2026, 11, 22))
    assert sum(f.paid_fen for f in files) == 38000 and len(files) == len(db.session.scalars(select(TaxOffice)).all())


# -- through the API ------------------------------------------------------------------------


def two_offices_paid(world):
    day = dt.date(2026, 11, 20)
    wang = settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), 35200, "2026-09")
    zhang = settle_at(world, "张伟", "pension", dt.datetime(2026, 11, 20, 3, tzinfo=dt.UTC), 95000, "2026-08")
    settlement_files.make_day(day)
    db.session.commit()
    return day, wang.tax_office.code, zhang.tax_office.code


def test_the_tax_bureau_lists_every_office_and_downloads_both_formats(app, world, ctx, system):
    day, wang_office, zhang_office = two_offices_paid(world)
    listed = system.get("/api/v1/settlement-files?from=2026-11-20")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    files = {f["tax_office"]["code"]: f for f in listed.get_json()["files"]}
    assert files[wang_office]["paid_fen"] == 35200 and files[zhang_office]["paid_fen"] == 95000
    assert len(files) == db.session.scalar(select(db.func.count()).select_from(TaxOffice))
    mine = files[wang_office]
    answer = system.get(mine["csv_url"])
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert answer.data == bytes(kept(day, db.session.scalar(select(TaxOffice.id).filter_by(code=wang_office))).csv)
    assert f"settlement-{wang_office}-2026-11-20.csv" in answer.headers["Content-Disposition"]
    assert settlement_files.csv_totals(answer.data)["total.items"] == (1, 35200)
    assert hashlib.sha256(answer.data).hexdigest() == mine["csv_sha256"]
    book = system.get(mine["xlsx_url"])
    assert book.status_code == 200 and hashlib.sha256(book.data).hexdigest() == mine["xlsx_sha256"]
    assert load_workbook(io.BytesIO(book.data))["汇总"]["B5"].value == 35200


def test_an_agency_client_sees_only_its_own_offices_files(app, world, ctx, make_system):
    day, wang_office, zhang_office = two_offices_paid(world)
    mine = make_system("贵阳社保局", agency_code=world.enrollment("王芳", "medical").agency.code)
    files = mine.get("/api/v1/settlement-files?from=2026-11-19&days=3").get_json()["files"]
    assert [f["tax_office"]["code"] for f in files] == [wang_office]
    assert mine.get(f"/api/v1/settlement-files/2026-11-20/{wang_office}.csv").status_code == 200
    other = mine.get(f"/api/v1/settlement-files/2026-11-20/{zhang_office}.csv")
    assert other.status_code == 404 and other.mimetype == "application/problem+json"
    assert other.get_json()["type"].endswith("/settlement-file-not-found")
    assert mine.get(f"/api/v1/settlement-files/2026-11-20/{zhang_office}.xlsx").status_code == 404


def test_bad_days_and_missing_scope_are_refused_plainly(app, world, ctx, system, make_system):
    two_offices_paid(world)
    wide = system.get("/api/v1/settlement-files?from=2026-01-01&days=32")
    assert wide.status_code == 422 and wide.get_json()["invalid_params"] == [{"name": "days"}]
    assert system.get("/api/v1/settlement-files?from=9999-12-31&days=31").get_json() == {"files": []}
    week = system.get("/api/v1/settlement-files?from=2026-11-14&days=7").get_json()["files"]
    assert {f["day"] for f in week} == {"2026-11-20"}
    assert system.get("/api/v1/settlement-files?from=2026-13-01").status_code == 422
    for path in ("2026-02-30/52010200000.csv", "9999999999/x.csv", "2026-11-19/52010200000.xlsx"):
        assert system.get(f"/api/v1/settlement-files/{path}").status_code == 404, path
    pusher = make_system("只推送", scopes=("dues:write",))
    assert pusher.get("/api/v1/settlement-files").status_code == 403
    assert system.http.get("/api/v1/settlement-files").status_code == 401  # unsigned
