"""Numbers issued once (orders, tickets, documents, agreements, refund applications): one row
of IssuedNumber per number, so two transactions never draw the same one."""

from sqlalchemy import insert

from sbweb.db import db
from sbweb.models import IssuedNumber
from sbweb.models.base import utcnow

# Built once (Core): every order and every ticket draws a number.
_ISSUE = insert(IssuedNumber.__table__)


def issue_number(kind: str) -> int:
    return db.session.execute(_ISSUE, {"kind": kind, "issued_at": utcnow()}).inserted_primary_key[0]
