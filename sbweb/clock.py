"""Business time: stored in UTC, reckoned and shown in Asia/Shanghai."""
import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def shanghai_now() -> dt.datetime:
    return utcnow().astimezone(SHANGHAI)
