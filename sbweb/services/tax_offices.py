"""主管税务机关 as residents are told whom to call (若您在缴费过程中遇到任何问题，请联系当地税务部门):
the office of the signed-in or looked-up person's agency, else the pilot's own (DEFAULT_TAX_OFFICE,
its code), else the national 纳税服务热线 12366 — and the back office's edits of name, phone and
hours (admins only, audited)."""

import re
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from sbweb.db import db, write_transaction
from sbweb.models import Agency, Enrollment, TaxOffice

PHONE = re.compile(r"\A(?:\d{3,4}-)?\d{5,8}(?:-\d{1,6})?\Z")  # 0851-55501020, 12366, 0532-8888888-1


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    hours: str | None = None


NATIONAL = Contact("国家税务总局纳税服务热线", "12366")


class TaxOfficeError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def offices() -> list[TaxOffice]:
    return list(db.session.scalars(select(TaxOffice).order_by(TaxOffice.region_code, TaxOffice.code)))


_t, _a, _e = TaxOffice.__table__, Agency.__table__, Enrollment.__table__
# On every resident page (the footer): built once with bind parameters (building a SELECT costs
# more than running it), the three columns only.
_OF_PERSON = (
    select(_t.c.name, _t.c.phone, _t.c.hours)
    .join_from(_t, _a, _a.c.tax_office_id == _t.c.id)
    .join(_e, _e.c.agency_id == _a.c.id)
    .where(_e.c.person_id == bindparam("person_id"), _t.c.phone.is_not(None))
    .order_by(_e.c.id)
    .limit(1)
)
_BY_CODE = select(_t.c.name, _t.c.phone, _t.c.hours).where(_t.c.code == bindparam("code"), _t.c.phone.is_not(None))


def contact_for(person_id: int | None, default_code: str | None = None) -> Contact:
    """Whom this person calls: their first enrollment's agency's tax office when it has a phone,
    then the pilot's default office, then 12366."""
    candidates = []
    if person_id is not None:
        candidates.append((_OF_PERSON, {"person_id": person_id}))
    if default_code:
        candidates.append((_BY_CODE, {"code": default_code}))
    for query, params in candidates:
        office = db.session.connection().execute(query, params).first()  # Core: no ORM step
        if office is not None:
            return Contact(*office)
    return NATIONAL


def set_contact(staff_id: int, office_id: int, *, name: str, phone: str, hours: str) -> TaxOffice:
    """An admin corrects an office's name, phone or hours; every change is in the audit log."""
    from sbweb.services.staff import audit

    name = " ".join((name or "").split())
    phone = re.sub(r"[\s－—–]", lambda m: "" if m.group().isspace() else "-", phone or "")
    hours = " ".join((hours or "").split())
    if not name:
        raise TaxOfficeError("name", "请输入税务机关名称")
    if len(name) > 60:
        raise TaxOfficeError("name", "税务机关名称不超过60个字")
    if phone and not PHONE.match(phone):
        raise TaxOfficeError("phone", "联系电话格式不正确，如 0851-55501020 或 12366")
    if len(hours) > 40:
        raise TaxOfficeError("hours", "服务时间不超过40个字")
    with write_transaction():
        office = db.session.get(TaxOffice, office_id, with_for_update=True)
        if office is None:
            raise TaxOfficeError("name", "未找到该税务机关")
        before = {"name": office.name, "phone": office.phone, "hours": office.hours}
        office.name, office.phone, office.hours = name, phone or None, hours or None
        after = {"name": office.name, "phone": office.phone, "hours": office.hours}
        if after != before:
            audit(staff_id, "tax_office.set", f"tax_office:{office.code}", before, after)
    return office
