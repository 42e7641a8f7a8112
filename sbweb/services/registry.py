"""What the social-security and medical-insurance agencies push to us: people, their
enrollments and the dues they approve. The demo loader, the tests and (later) the back
office import all build the world through these functions."""

import re

from sqlalchemy import select

from sbweb import id_numbers
from sbweb.db import db
from sbweb.models import Agency, Due, Enrollment, Person, TaxOffice
from sbweb.models.enrollment import CATEGORY_LABELS, INSURANCE_LABELS
from sbweb.services import dues

PERIOD = re.compile(r"\A(19|20)[0-9]{2}-(0[1-9]|1[0-2])\Z")  # ASCII digits, no trailing newline


class RegistryError(ValueError):
    pass


def ensure_tax_office(
    code: str, name: str, region_code: str, phone: str | None = None, hours: str | None = None
) -> TaxOffice:
    """A 主管税务机关 by its code; a known office keeps its name (and phone, hours) unless told new ones."""
    office = db.session.scalar(select(TaxOffice).filter_by(code=code))
    if office is None:
        office = TaxOffice(code=code, name=name, region_code=region_code)
        db.session.add(office)
    elif name and office.name != name:
        office.name = name
    office.phone = phone or office.phone
    office.hours = hours or office.hours
    db.session.flush()
    return office


def tax_office_of_region(region_code: str) -> TaxOffice | None:
    """The tax office already known for a region (the first one, when there are several)."""
    return db.session.scalar(select(TaxOffice).filter_by(region_code=region_code).order_by(TaxOffice.id).limit(1))


def tax_offices_of(person_id: int | None = None) -> list[tuple[str, str]]:
    """(code, name) of the 主管税务机关 of a person's enrollments, or of every office known."""
    query = select(TaxOffice.code, TaxOffice.name).order_by(TaxOffice.code).distinct()
    if person_id is not None:
        query = (
            query.join(Agency, Agency.tax_office_id == TaxOffice.id)
            .join(Enrollment, Enrollment.agency_id == Agency.id)
            .where(Enrollment.person_id == person_id)
        )
    return [(code, name) for code, name in db.session.execute(query)]


def ensure_agency(code: str, name: str, region_code: str, city: str, tax_office: TaxOffice | None = None) -> Agency:
    """An agency by its code, with its 主管税务机关: the one named, or (not named) the one it has, or
    the one known for its region; an agency without any is refused (its tickets need one)."""
    agency = db.session.scalar(select(Agency).filter_by(code=code))
    office = tax_office or (agency.tax_office if agency is not None else tax_office_of_region(region_code))
    if office is None:
        raise RegistryError(f"经办机构 {code} 所在地区 {region_code} 尚无主管税务机关，请提供主管税务机关代码和名称")
    if agency is None:
        agency = Agency(code=code, name=name, region_code=region_code, city=city, tax_office_id=office.id)
        db.session.add(agency)
    elif agency.tax_office_id != office.id:
        agency.tax_office_id = office.id
    db.session.flush()
    return agency


def register_person(id_type: str, id_number: str, name: str, email: str | None = None) -> Person:
    number = id_numbers.validate(id_type, id_number)
    person = db.session.scalar(select(Person).filter_by(id_type=id_type, id_number=number))
    if person is None:
        person = Person(id_type=id_type, id_number=number, name=name.strip(), email=email)
        db.session.add(person)
        db.session.flush()
    return person


def enroll(person: Person, category: str, insurance: str, agency: Agency, enrollment_no: str) -> Enrollment:
    if category not in CATEGORY_LABELS or insurance not in INSURANCE_LABELS:
        raise RegistryError(f"unknown category/insurance {category}/{insurance}")
    enrollment = db.session.scalar(select(Enrollment).filter_by(enrollment_no=enrollment_no))
    if enrollment is None:
        enrollment = Enrollment(
            enrollment_no=enrollment_no,
            person_id=person.id,
            category=category,
            insurance=insurance,
            agency_id=agency.id,
        )
        db.session.add(enrollment)
        db.session.flush()
    elif enrollment.person_id != person.id:
        raise RegistryError(f"enrollment {enrollment_no} belongs to someone else")
    return enrollment


def add_due(enrollment: Enrollment, *, kind: str, period_start: str, period_end: str, amount_fen: int) -> Due:
    """A due as the agency approves it. The same enrollment, kind and period twice is the
    same due (a re-push), not a second one."""
    if kind not in ("normal", "backpay"):
        raise RegistryError(f"unknown due kind {kind}")
    if not (PERIOD.match(period_start) and PERIOD.match(period_end)) or period_end < period_start:
        raise RegistryError(f"bad period {period_start}..{period_end}")
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise RegistryError("amount must be a positive number of fen")
    due = db.session.scalar(
        select(Due)
        .filter_by(enrollment_id=enrollment.id, kind=kind, period_start=period_start, period_end=period_end)
        .where(Due.state != "void", Due.difference_of_id.is_(None))
    )
    if due is None:
        due = Due(
            enrollment_id=enrollment.id,
            kind=kind,
            period_start=period_start,
            period_end=period_end,
            amount_fen=amount_fen,
            state="open",
        )
        db.session.add(due)
        db.session.flush()
        dues.created(due, "经办机构核定" if kind == "normal" else "经办机构核定补缴")
    elif due.amount_fen != amount_fen and due.state == "open" and due.order_id is None:
        change_due_amount(due, amount_fen)
    return due


def change_due_amount(due: Due, amount_fen: int, cause: str = "经办机构更正应缴金额") -> Due:
    """The agency corrects an open due that no order is paying; pages showing the old figure
    become stale, and a 补缴明细确认 of the old figure no longer stands (the new one is confirmed
    again before it is withheld). One conditional UPDATE, so it cannot slip under an order
    being made. Who priced the due stays as it was: an agency correction vouches for nobody's
    declaration, and a declaration that re-prices a due says so itself."""
    if due.state != "open":
        raise RegistryError("only an open due that is not being paid can change")
    try:
        dues.transition(
            due,
            "open",
            cause,
            expect_order=None,
            amount_fen=amount_fen,
            confirmed_by_id=None,
            confirmed_level=None,
            confirmed_at=None,
        )
    except dues.DueChanged:
        raise RegistryError("only an open due that is not being paid can change") from None
    return due
