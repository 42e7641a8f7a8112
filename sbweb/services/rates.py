"""Which contribution standard is in force for a region and year (published, or 暂按上年度标准
until it is), and what a base or a grade costs under it. Only reads: the declarations that
price dues and the provisional settlement build on it; publishing and changing standards
(sbweb.services.standards, which re-exports these names) builds on them in turn.
"""

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Standard
from sbweb.money import fen_display

# -- which standard, which region ----------------------------------------------------------


def region_chain(region_code: str) -> list[str]:
    """An agency's region and the regions containing it, most specific first:
    520102 → 520102, 520100, 520000."""
    chain = [region_code, region_code[:4] + "00", region_code[:2] + "0000"]
    return list(dict.fromkeys(chain))


def standard_for(region_code: str, year: int, category: str) -> Standard | None:
    rows = db.session.scalars(
        select(Standard).where(
            Standard.region_code.in_(region_chain(region_code)), Standard.year == year, Standard.category == category
        )
    )
    by_region = {s.region_code: s for s in rows}
    return next((by_region[c] for c in region_chain(region_code) if c in by_region), None)


def standards_for(region_code: str, category: str) -> list[Standard]:
    """Every year's standard that applies in this region, newest year first."""
    rows = db.session.scalars(
        select(Standard).where(Standard.region_code.in_(region_chain(region_code)), Standard.category == category)
    )
    chain = region_chain(region_code)
    best: dict[int, Standard] = {}
    for s in rows:
        if s.year not in best or chain.index(s.region_code) < chain.index(best[s.year].region_code):
            best[s.year] = s
    return [best[y] for y in sorted(best, reverse=True)]


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


class ProvisionalStandard:
    """A year whose standard is not published yet, collected as the bureaus do 暂按上年度标准: on
    the latest published standard (its base range, rates, grades and amounts), in that standard's
    collection window moved to this year. Everything else reads through to the published one —
    `id` included: a declaration points at the standard that priced it, and records the year
    (`provisional_on`) so that it is re-priced, 多退少补, once its own year's is published
    (sbweb/services/provisional.py)."""

    def __init__(self, basis: Standard, year: int):
        self.basis, self.year, self.provisional_on = basis, year, basis.year
        self.opens = _years_later(basis.opens, year - basis.year)
        self.closes = _years_later(basis.closes, year - basis.year)

    def __getattr__(self, name):
        return getattr(self.basis, name)

    def is_open(self, today: dt.date) -> bool:
        return self.opens <= today <= self.closes


def collecting_standard(region_code: str, year: int, category: str) -> Standard | ProvisionalStandard | None:
    """What prices `year` here: its published standard, or — for a year after every published
    one — the latest published standard, provisionally; None for a year before it with none."""
    published = standards_for(region_code, category)
    for standard in published:
        if standard.year == year:
            return standard
    if published and published[0].year < year:
        return ProvisionalStandard(published[0], year)
    return None


def open_standards(region_code: str, category: str, today: dt.date) -> list[Standard | ProvisionalStandard]:
    """The years that may be declared today, oldest first: those whose collection window is open,
    and a year after the latest published one whose window (moved from the latest's) is open —
    collected provisionally (暂按上年度标准) until its standard is published."""
    published = standards_for(region_code, category)
    found = [s for s in published if s.is_open(today)]
    if published:
        latest = published[0]
        found += [
            p
            for p in (ProvisionalStandard(latest, y) for y in range(latest.year + 1, today.year + 2))
            if p.is_open(today)
        ]
    return sorted(found, key=lambda s: s.year)


# -- what it costs ---------------------------------------------------------------------------


def monthly_fen(base_fen: int, rate_bp: int) -> int:
    """One month's contribution: base × rate, rounded to the fen (half up)."""
    return int((Decimal(base_fen) * rate_bp / 10000).to_integral_value(rounding=ROUND_HALF_UP))


def months_between(start: str, end: str) -> int:
    return (int(end[:4]) - int(start[:4])) * 12 + int(end[5:]) - int(start[5:]) + 1


def late_fee_fen(amount_fen: int, bp_per_day: int, period_end: str, today: dt.date) -> int:
    """滞纳金: a month is due by its last day; each day after costs bp_per_day/10000 of it."""
    if not bp_per_day:
        return 0
    year, month = int(period_end[:4]), int(period_end[5:])
    last_day = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    days = (today - last_day).days
    if days <= 0:
        return 0
    return int((Decimal(amount_fen) * bp_per_day * days / 10000).to_integral_value(rounding=ROUND_HALF_UP))


def rate_bp(standard: Standard, insurance: str) -> int:
    return standard.pension_rate_bp if insurance == "pension" else standard.medical_rate_bp


def percent(bp: int) -> str:
    """2000 → '20', 950 → '9.5' (a rate as residents read it, without the % sign)."""
    text = f"{Decimal(bp) / 100:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def base_range_text(standard: Standard) -> str:
    return f"{fen_display(standard.base_min_fen)}元-{fen_display(standard.base_max_fen)}元"
