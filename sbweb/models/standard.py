"""Yearly contribution standards per region, and the regions' payment pauses.

A standard is one row per region × year × category: the flexible workers' base range and
rates, or the residents' pension grades and medical amount, plus the collection window in
which that year may be declared. They are data (loaded from sbweb/data/standards.toml and
changed with `flask standards …`), never literals in views; a new year is a new row.
"""

import datetime as dt

from sqlalchemy import JSON, Date, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class Region(db.Model):
    """A region that sets standards (province, city or district, GB/T 2260 code), with the
    daily reconciliation window in which new payments pause (Asia/Shanghai, HH:MM)."""

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(40))
    pause_from: Mapped[str | None] = mapped_column(String(5))
    pause_until: Mapped[str | None] = mapped_column(String(5))


class Standard(db.Model):
    __tablename__ = "standards"
    __table_args__ = (UniqueConstraint("region_code", "year", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(10))
    # 灵活就业: monthly base range, rates in basis points of the base (2000 = 20 %).
    base_min_fen: Mapped[int | None] = mapped_column(Integer)
    base_max_fen: Mapped[int | None] = mapped_column(Integer)
    pension_rate_bp: Mapped[int | None] = mapped_column(Integer)
    medical_rate_bp: Mapped[int | None] = mapped_column(Integer)
    # 城乡居民: the pension grades a person may choose (fen a year) and the medical amount.
    grades_fen: Mapped[list[int] | None] = mapped_column(JSON)
    medical_fen: Mapped[int | None] = mapped_column(Integer)
    # 滞纳金 per day late, in hundredths of a percent of the amount (5 = 0.05 %); 0 = none.
    late_fee_bp_per_day: Mapped[int] = mapped_column(Integer, default=0)
    # The collection window: the year may be declared from `opens` to `closes` inclusive.
    opens: Mapped[dt.date] = mapped_column(Date)
    closes: Mapped[dt.date] = mapped_column(Date)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # A published standard prices its own year (services/rates.ProvisionalStandard is the
    # latest one standing in for a year not yet published).
    provisional_on = None

    def is_open(self, today: dt.date) -> bool:
        return self.opens <= today <= self.closes
