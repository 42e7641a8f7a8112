"""Column helpers shared by the models: UTC timestamps."""

import datetime as dt

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from sbweb.clock import utcnow  # noqa: F401  (models and services import it from here)


class UTCDateTime(TypeDecorator):
    """Stored naive in UTC (SQLite has no zones), always handed back timezone-aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=dt.UTC)
