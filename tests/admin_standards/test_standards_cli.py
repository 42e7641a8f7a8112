"""`flask standards list | set`: every standard printed with its revision; a new year set from
the command line is offered in its window; a bad value changes nothing."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import Declaration, Due, Standard
from tests.support.journeys import sign_in, submit_declaration

pytestmark = pytest.mark.usefixtures("clock")


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["standards", *args])


def snapshot():
    """Every standard's columns, to compare before and after a refused change."""
    db.session.rollback()
    return [
        (
            s.region_code,
            s.year,
            s.category,
            s.base_min_fen,
            s.base_max_fen,
            s.pension_rate_bp,
            s.medical_rate_bp,
            s.grades_fen,
            s.medical_fen,
            s.late_fee_bp_per_day,
            s.opens,
            s.closes,
            s.revision,
        )
        for s in db.session.scalars(select(Standard).order_by(Standard.id))
    ]


def test_list_prints_every_standard_and_every_region(app, world, ctx):
    result = cli(app, "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 12 + 3  # the data file's standards, then its regions
    assert "370200 2026 flexible 2026-01-01~2026-12-31 基数 4,504.00元-22,518.00元 养老 20% 医疗 9.5% (rev 1)" in lines
    assert "520000 2025 flexible 2025-01-01~2025-12-31 基数 4,394.70元-21,973.50元 养老 20% 医疗 8% (rev 1)" in lines
    assert (
        "330100 2027 resident 2026-09-01~2027-06-30 "
        "档次 100,200,300,400,500,600,700,800,900,1000,1500,2000,2500,3000 医疗 400.00 (rev 1)"
    ) in lines
    assert lines[-3:] == [
        "region 330100 杭州市 pause none",
        "region 370200 青岛市 pause none",
        "region 520000 贵州省 pause none",
    ]  # the tests' world clears the windows
    for region in ("520000", "370200", "330100"):
        for year, category in ((2025, "flexible"), (2026, "flexible"), (2026, "resident"), (2027, "resident")):
            assert sum(line.startswith(f"{region} {year} {category}") for line in lines) == 1, (region, year, category)


def test_list_filters_by_region_and_year_and_shows_a_pause(app, world, ctx):
    assert cli(app, "pause", "370200", "青岛市", "--window", "22:50-00:10").exit_code == 0
    result = cli(app, "list", "--region", "370200", "--year", "2027")
    assert result.exit_code == 0, result.output
    standards = [line for line in result.output.splitlines() if not line.startswith("region ")]
    assert len(standards) == 1 and standards[0].startswith("370200 2027 resident")
    assert "region 370200 青岛市 pause 22:50-00:10" in result.output


def test_set_shows_the_revision_and_the_late_fee(app, world, ctx):
    result = cli(app, "set", "520000", "2026", "flexible", "--late-fee", "0.05")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("saved: 520000 2026 flexible") and "滞纳金 0.05%/日 (rev 2)" in result.output
    again = cli(app, "set", "520000", "2026", "flexible", "--late-fee", "0.05")
    assert again.exit_code == 0 and again.output.startswith("unchanged:") and "(rev 2)" in again.output
    listed = cli(app, "list", "--region", "520000", "--year", "2026").output
    assert "滞纳金 0.05%/日 (rev 2)" in listed


def test_a_new_year_set_from_the_command_line_is_offered_in_its_window(app, client, world, ctx, clock):
    result = cli(
        app,
        "set",
        "330100",
        "2028",
        "resident",
        "--grades",
        "100,200,3000",
        "--medical",
        "450",
        "--opens",
        "2027-09-01",
        "--closes",
        "2028-06-30",
    )
    assert result.exit_code == 0, result.output
    assert "saved: 330100 2028 resident 2027-09-01~2028-06-30 档次 100,200,3000 医疗 450.00 (rev 1)" in result.output

    sign_in(client, "李明", verified=True)  # 杭州
    today = client.page("/declare/resident-pension")  # 2026-11-23: 2028 is not open yet
    assert [o.get_text() for o in today.soup.select("#year option")] == ["2027年"]

    clock.at(dt.datetime(2027, 9, 15, 10, 0, tzinfo=SHANGHAI))
    sign_in(client, "李明", verified=True)  # ten months on, the session has long ended
    page = client.page("/declare/resident-pension")
    assert [o.get_text() for o in page.soup.select("#year option")] == ["2028年"]
    assert page.soup.select_one("#year option[selected]").get_text() == "2028年"
    assert [label.get_text() for label in page.soup.select("#grade label")] == ["100元", "200元", "3000元"]
    assert "2027年09月01日 至 2028年06月30日" in page.text
    confirm = submit_declaration(client, page, {"grade": "300000"})
    assert confirm.h1 == "缴费信息确认" and "3,000.00" in confirm.text
    medical = client.page("/declare/resident-medical")
    assert "2028年度个人缴费标准 450.00 元" in medical.text
    db.session.rollback()
    declared = db.session.scalar(select(Declaration).order_by(Declaration.id.desc()))
    assert (declared.period_start, declared.grade_fen, declared.amount_fen) == ("2028-01", 300000, 300000)


BAD_SETS = [
    (["370200", "2026", "flexible", "--pension-rate", "120"], "养老保险费率应在 0 到 100 之间"),
    (["370200", "2026", "flexible", "--pension-rate", "abc"], "养老保险费率不是有效百分比：abc"),
    (["370200", "2026", "flexible", "--base-min", "30000"], "缴费基数下限应小于上限"),
    (["370200", "2026", "flexible", "--base-max", "-1"], "缴费基数上限必须大于 0"),
    (["370200", "2026", "flexible", "--opens", "2026-02-30"], "征收期开始日期不是有效日期"),
    (["370200", "2026", "flexible", "--closes", "2025-12-31"], "征收期开始日期晚于结束日期"),
    (["330100", "2027", "resident", "--grades", "100,100"], "缴费档次有重复"),
    (["330100", "2027", "resident", "--medical", "0"], "城乡居民医疗保险缴费标准必须大于 0"),
    (["370200", "2029", "flexible", "--pension-rate", "20"], "灵活就业标准缺少缴费基数下限"),  # a new year, half given
    (["37020", "2026", "flexible", "--pension-rate", "20"], "地区代码应为 6 位数字：37020"),
]


def test_set_with_a_bad_value_exits_non_zero_and_changes_nothing(app, world, ctx):
    before = snapshot()
    dues = [(d.id, d.amount_fen, d.revision) for d in db.session.scalars(select(Due).order_by(Due.id))]
    for args, problem in BAD_SETS:
        result = cli(app, "set", *args)
        assert result.exit_code != 0, args
        assert "nothing changed" in result.output and problem in result.output, (args, result.output)
        assert snapshot() == before, args
        assert [(d.id, d.amount_fen, d.revision) for d in db.session.scalars(select(Due).order_by(Due.id))] == dues


def test_set_with_an_unknown_category_is_refused_by_the_command(app, world, ctx):
    before = db.session.scalar(select(func.count()).select_from(Standard))
    result = cli(app, "set", "370200", "2026", "worker", "--pension-rate", "20")
    assert result.exit_code == 2 and "worker" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Standard)) == before


def test_pause_with_a_bad_window_changes_nothing(app, world, ctx):
    result = cli(app, "pause", "370200", "青岛市", "--window", "22:50-22:50")
    assert result.exit_code != 0 and "对账时段应写作 HH:MM-HH:MM" in result.output
    assert "region 370200 青岛市 pause none" in cli(app, "list").output
