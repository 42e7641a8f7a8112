"""Numbers issued once (orders, tickets, documents, agreements, refund applications): one row
of IssuedNumber per number, so two transactions never draw the same one."""

from sbweb.db import db
from sbweb.models import IssuedNumber


def issue_number(kind: str) -> int:
    row = IssuedNumber(kind=kind)
    db.session.add(row)
    db.session.flush()
    return row.id
