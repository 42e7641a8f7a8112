"""Standards: what a spec must say to be a standard (every problem named in Chinese), the
arithmetic of a month's contribution and its 滞纳金, which regions a standard covers, the
reconciliation window's words, and a bad data file that loads nothing."""

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import Region, Standard
from sbweb.services import rates, standards
from sbweb.services.standards import Pause, StandardError, parse_standard

FLEXIBLE = {
    "region": "370200",
    "year": 2026,
    "category": "flexible",
    "base_min": "4504.00",
    "base_max": "22518.00",
    "pension_rate": "20",
    "medical_rate": "9.5",
    "late_fee": "0.05",
    "opens": "2026-01-01",
    "closes": "2026-12-31",
}
RESIDENT = {
    "region": "330100",
    "year": 2027,
    "category": "resident",
    "grades": ["300", "100", "200", "2500"],
    "medical": "400.00",
    "opens": "2026-09-01",
    "closes": "2027-06-30",
}


# -- parse_standard ------------------------------------------------------------------------


def test_a_flexible_spec_becomes_fen_and_basis_points():
    values = parse_standard(FLEXIBLE)
    assert values == {
        "region_code": "370200",
        "year": 2026,
        "category": "flexible",
        "opens": dt.date(2026, 1, 1),
        "closes": dt.date(2026, 12, 31),
        "late_fee_bp_per_day": 5,
        "base_min_fen": 450400,
        "base_max_fen": 2251800,
        "pension_rate_bp": 2000,
        "medical_rate_bp": 950,
        "grades_fen": None,
        "medical_fen": None,
    }


def test_a_resident_spec_becomes_sorted_grades_and_the_medical_amount():
    values = parse_standard(RESIDENT)
    assert values["grades_fen"] == [10000, 20000, 30000, 250000]
    assert values["medical_fen"] == 40000
    assert values["late_fee_bp_per_day"] == 0  # none unless said
    assert values["base_min_fen"] is values["pension_rate_bp"] is None
    assert (values["region_code"], values["year"], values["category"]) == ("330100", 2027, "resident")


def test_grades_may_be_one_comma_separated_string_with_chinese_commas():
    assert parse_standard({**RESIDENT, "grades": "100，200, 300"})["grades_fen"] == [10000, 20000, 30000]


def test_toml_dates_and_percent_signs_are_accepted():
    values = parse_standard({**FLEXIBLE, "opens": dt.date(2026, 1, 1), "pension_rate": "16%", "late_fee": "0"})
    assert values["opens"] == dt.date(2026, 1, 1)
    assert values["pension_rate_bp"] == 1600 and values["late_fee_bp_per_day"] == 0


def problems_of(spec) -> list[str]:
    with pytest.raises(StandardError) as caught:
        parse_standard(spec)
    assert caught.value.problems and str(caught.value) == "；".join(caught.value.problems)
    return caught.value.problems


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"region": "37020"}, "地区代码应为 6 位数字：37020"),
        ({"region": "070200"}, "地区代码应为 6 位数字：070200"),
        ({"region": "青岛"}, "地区代码应为 6 位数字：青岛"),
        ({"year": "abc"}, "年度无效：abc"),
        ({"year": 1999}, "年度无效：1999"),
        ({"year": 2101}, "年度无效：2101"),
        ({"year": None}, "年度无效：None"),
        ({"category": "worker"}, "人员类别应为 flexible 或 resident：worker"),
        ({"opens": "2026-02-30"}, "征收期开始日期不是有效日期（YYYY-MM-DD）：2026-02-30"),
        ({"closes": None}, "征收期结束日期不是有效日期（YYYY-MM-DD）：None"),
        ({"opens": "2027-01-01"}, "征收期开始日期晚于结束日期"),
        ({"base_min": "abc"}, "缴费基数下限不是有效金额：abc"),
        ({"base_min": "4504.001"}, "缴费基数下限不是有效金额：4504.001"),
        ({"base_min": "0"}, "缴费基数下限必须大于 0"),
        ({"base_max": "-1"}, "缴费基数上限必须大于 0"),
        ({"base_min": None}, "灵活就业标准缺少缴费基数下限"),
        ({"base_max": ""}, "灵活就业标准缺少缴费基数上限"),
        ({"base_min": "22518.00"}, "缴费基数下限应小于上限"),
        ({"base_min": "30000"}, "缴费基数下限应小于上限"),
        ({"pension_rate": None}, "灵活就业标准缺少养老保险费率"),
        ({"medical_rate": None}, "灵活就业标准缺少医疗保险费率"),
        ({"pension_rate": "0"}, "养老保险费率应在 0 到 100 之间，最多两位小数：0"),
        ({"pension_rate": "101"}, "养老保险费率应在 0 到 100 之间，最多两位小数：101"),
        ({"pension_rate": "-20"}, "养老保险费率应在 0 到 100 之间，最多两位小数：-20"),
        ({"medical_rate": "9.555"}, "医疗保险费率应在 0 到 100 之间，最多两位小数：9.555"),
        ({"medical_rate": "abc"}, "医疗保险费率不是有效百分比：abc"),
        ({"medical_rate": "NaN"}, "医疗保险费率不是有效百分比"),
        ({"late_fee": "-0.05"}, "滞纳金比例应在 0 到 100 之间，最多两位小数：-0.05"),
        ({"late_fee": "0.005"}, "滞纳金比例应在 0 到 100 之间，最多两位小数：0.005"),
        ({"late_fee": "abc"}, "滞纳金比例不是有效百分比：abc"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)
def test_each_bad_flexible_value_is_named(change, problem):
    problems = problems_of({**FLEXIBLE, **change})
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"grades": []}, "城乡居民标准缺少缴费档次"),
        ({"grades": None}, "城乡居民标准缺少缴费档次"),
        ({"grades": ["100", "100.00"]}, "缴费档次有重复"),
        ({"grades": ["100", "abc"]}, "缴费档次不是有效金额：abc"),
        ({"grades": ["100", "0"]}, "缴费档次必须大于 0"),
        ({"medical": None}, "城乡居民标准缺少医疗保险缴费标准"),
        ({"medical": "abc"}, "城乡居民医疗保险缴费标准不是有效金额：abc"),
        ({"medical": "-400"}, "城乡居民医疗保险缴费标准必须大于 0"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)
def test_each_bad_resident_value_is_named(change, problem):
    problems = problems_of({**RESIDENT, **change})
    assert any(problem in p for p in problems), problems


def test_every_problem_is_listed_at_once():
    problems = problems_of(
        {
            "region": "1",
            "year": "x",
            "category": "flexible",
            "opens": "bad",
            "closes": "2026-12-31",
            "base_min": "abc",
            "pension_rate": "200",
        }
    )
    assert len(problems) >= 6, problems
    assert any(p.startswith("地区代码") for p in problems) and any(p.startswith("年度无效") for p in problems)
    assert any(p.startswith("征收期开始日期") for p in problems)
    assert any(p.startswith("缴费基数下限不是有效金额") for p in problems)
    assert "灵活就业标准缺少缴费基数上限" in problems and "灵活就业标准缺少医疗保险费率" in problems
    assert not any("缴费基数下限" in p and "缺少" in p for p in problems)  # said once, not twice


@pytest.mark.parametrize("value", ["sNaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("key", ["pension_rate", "late_fee"])
def test_special_numbers_are_problems_not_crashes(key, value):
    # `flask standards set … --late-fee Infinity` once ended in a traceback (InvalidOperation,
    # OverflowError) instead of a Chinese problem.
    problems = problems_of({**FLEXIBLE, key: value})
    assert any(value in p for p in problems), problems


def test_a_late_fee_above_100_percent_a_day_is_refused():
    # 150 % a day was once accepted although the message says 0 到 100.
    problems = problems_of({**FLEXIBLE, "late_fee": "150"})
    assert any(p.startswith("滞纳金比例应在 0 到 100 之间") for p in problems), problems


# -- the arithmetic -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bp, text",
    [(2000, "20"), (950, "9.5"), (5, "0.05"), (1, "0.01"), (10000, "100"), (1000, "10"), (1250, "12.5"), (0, "0")],
)
def test_percent_reads_as_residents_read_it(bp, text):
    assert rates.percent(bp) == text


@pytest.mark.parametrize(
    "base_fen, bp, fen",
    [
        (500000, 2000, 100000),  # 5000 × 20 % = 1000.00
        (450400, 2000, 90080),  # Qingdao's minimum: 900.80
        (439470, 950, 41750),  # 41749.65 → 41750
        (450700, 950, 42817),  # 42816.5 → half up 42817 (banker's rounding would say 42816)
        (450500, 950, 42798),  # 42797.5 → 42798
        (1, 5000, 1),  # 0.5 fen → 1
        (3, 5000, 2),  # 1.5 → 2
        (5, 5000, 3),  # 2.5 → 3 (banker's: 2)
        (439470, 1600, 70315),  # 70315.2 → 70315
    ],
)
def test_monthly_fen_rounds_half_up_to_the_fen(base_fen, bp, fen):
    assert rates.monthly_fen(base_fen, bp) == fen
    assert isinstance(rates.monthly_fen(base_fen, bp), int)


def test_months_between_counts_both_ends_across_years():
    assert rates.months_between("2026-01", "2026-03") == 3
    assert rates.months_between("2026-05", "2026-05") == 1
    assert rates.months_between("2025-11", "2026-02") == 4


@pytest.mark.parametrize(
    "amount, bp, month, today, fee",
    [
        (100000, 0, "2024-01", dt.date(2026, 11, 23), 0),  # no 滞纳金 in the standard
        (100000, 5, "2026-01", dt.date(2026, 1, 31), 0),  # due by the month's last day
        (100000, 5, "2026-01", dt.date(2026, 1, 15), 0),  # before it
        (100000, 5, "2026-01", dt.date(2026, 2, 1), 50),  # one day late: 0.05 %
        (100000, 5, "2026-01", dt.date(2026, 2, 10), 500),  # ten days
        (100000, 5, "2026-01", dt.date(2026, 11, 23), 14800),  # 296 days
        (100000, 5, "2025-12", dt.date(2026, 1, 1), 50),  # December ends on the 31st
        (100000, 5, "2026-02", dt.date(2026, 3, 1), 50),  # February 2026 ends on the 28th
        (100000, 5, "2028-02", dt.date(2028, 3, 1), 50),  # 2028 is a leap year: the 29th
        (100000, 5, "2028-02", dt.date(2028, 2, 29), 0),
        (90080, 5, "2026-10", dt.date(2026, 11, 1), 45),  # 45.04 → 45
        (1000, 5, "2026-10", dt.date(2026, 11, 1), 1),  # 0.5 → 1 (half up)
    ],
)
def test_late_fee_counts_days_after_the_months_last_day(amount, bp, month, today, fee):
    assert rates.late_fee_fen(amount, bp, month, today) == fee


# -- regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, chain",
    [
        ("520102", ["520102", "520100", "520000"]),
        ("370202", ["370202", "370200", "370000"]),
        ("370200", ["370200", "370000"]),
        ("520000", ["520000"]),
    ],
)
def test_region_chain_runs_from_district_to_province(code, chain):
    assert rates.region_chain(code) == chain


def test_the_pause_message_for_a_window_across_midnight_says_next_day():
    pause = Pause("青岛市", "22:50", "00:10")
    assert pause.message == (
        "青岛市每日 22:50 至 次日 00:10 为系统对账时段，暂停缴费，请于 00:10 后再缴。已完成的支付不受影响。"
    )


def test_the_pause_message_for_a_window_within_a_day():
    assert Pause("贵州省", "12:00", "12:30").message.startswith("贵州省每日 12:00 至 12:30 为系统对账时段")


def test_pause_now_covers_the_window_across_midnight(ctx):
    db.session.add(Region(code="370200", name="青岛市", pause_from="22:50", pause_until="00:10"))
    db.session.commit()
    for clock, paused in [
        ("22:49", False),
        ("22:50", True),
        ("23:59", True),
        ("00:00", True),
        ("00:09", True),
        ("00:10", False),
        ("12:00", False),
    ]:
        hour, minute = map(int, clock.split(":"))
        now = dt.datetime(2026, 11, 23, hour, minute)
        found = standards.pause_now({"370202"}, now)  # a district: its city's window applies
        assert (found is not None) == paused, clock
        if paused:
            assert found.region == "青岛市" and (found.starts, found.ends) == ("22:50", "00:10")
        assert standards.pause_now({"520102"}, now) is None, clock


def test_standard_for_prefers_the_most_specific_region(ctx):
    province = Standard(**parse_standard({**RESIDENT, "region": "370000", "medical": "380"}))
    city = Standard(**parse_standard({**RESIDENT, "region": "370200", "medical": "400"}))
    db.session.add_all([province, city])
    db.session.commit()
    assert rates.standard_for("370202", 2027, "resident").medical_fen == 40000
    assert rates.standard_for("371302", 2027, "resident").medical_fen == 38000
    assert rates.standard_for("520102", 2027, "resident") is None
    assert rates.standard_for("370202", 2027, "flexible") is None


# -- loading a data file ---------------------------------------------------------------------

GOOD_STANDARD = """
[[standards]]
region = "370200"
year = 2026
category = "flexible"
base_min = "4504.00"
base_max = "22518.00"
pension_rate = "20"
medical_rate = "9.5"
opens = 2026-01-01
closes = 2026-12-31
"""

REGION = """
[[regions]]
code = "370200"
name = "青岛市"
pause = "22:50-00:10"
"""


def rows():
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(Standard)),
        db.session.scalar(select(func.count()).select_from(Region)),
    )


def load(app, tmp_path: Path, text: str):
    path = tmp_path / "standards.toml"
    path.write_text(text, encoding="utf-8")
    return app.test_cli_runner().invoke(args=["standards", "load", str(path)])


def test_loading_a_file_with_one_bad_standard_writes_nothing(app, ctx, tmp_path):
    before = rows()
    bad = GOOD_STANDARD.replace("year = 2026", "year = 2027").replace('base_min = "4504.00"', 'base_min = "30000"')
    result = load(app, tmp_path, REGION + GOOD_STANDARD + bad)
    assert result.exit_code != 0
    assert "nothing loaded" in result.output
    assert "第 2 条标准：缴费基数下限应小于上限" in result.output
    assert rows() == before


def test_loading_a_file_with_a_bad_region_writes_nothing(app, ctx, tmp_path):
    before = rows()
    result = load(app, tmp_path, REGION.replace("22:50-00:10", "22:50-25:00") + GOOD_STANDARD)
    assert result.exit_code != 0 and "对账时段应写作 HH:MM-HH:MM：22:50-25:00" in result.output
    assert rows() == before


def test_loading_a_good_file_and_loading_it_again_changes_nothing_the_second_time(app, ctx, tmp_path):
    before_standards, before_regions = rows()
    first = load(app, tmp_path, REGION + GOOD_STANDARD)
    assert first.exit_code == 0, first.output
    assert "'standards': 1" in first.output and "'changed': 1" in first.output
    again = load(app, tmp_path, REGION + GOOD_STANDARD)
    assert again.exit_code == 0 and "'changed': 0" in again.output
    assert rows() == (before_standards + 1, before_regions + 1)
    db.session.rollback()
    stored = db.session.scalar(select(Standard).filter_by(region_code="370200", year=2026))
    assert (stored.base_min_fen, stored.pension_rate_bp, stored.revision) == (450400, 2000, 1)
    region = db.session.scalar(select(Region).filter_by(code="370200"))
    assert (region.pause_from, region.pause_until) == ("22:50", "00:10")


def test_the_projects_own_data_file_loads(app, ctx):
    result = app.test_cli_runner().invoke(args=["standards", "load"])
    assert result.exit_code == 0, result.output
    assert "'regions': 3" in result.output and "'standards': 12" in result.output
