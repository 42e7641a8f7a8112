"""Business time: stored in UTC, reckoned and shown in Asia/Shanghai.

Everything asks this module for the time, so a test (or a replay of a past day) can set
the clock with `set_source` instead of waiting for 22:50 or for next September."""

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
# The days the app deals in (payments, periods, collection windows, the days asked about). A date
# typed outside them (0001-01-01, 9999-12-31) is a typing error to be told beside its field: at
# date.min and date.max the step to a Shanghai midnight, the next day or UTC overflows.
FIRST_DAY = dt.date(1990, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)


def _system_time() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_source: Callable[[], dt.datetime] = _system_time


def set_source(source: Callable[[], dt.datetime] | None) -> None:
    """Use `source` for the current time (None: the system clock again)."""
    global _source
    _source = source or _system_time


def utcnow() -> dt.datetime:
    return _source().astimezone(dt.UTC)


def shanghai_now() -> dt.datetime:
    return utcnow().astimezone(SHANGHAI)


def shanghai_today() -> dt.date:
    return shanghai_now().date()


def in_calendar(day: dt.date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY
