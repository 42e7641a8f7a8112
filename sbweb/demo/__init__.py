"""The demo residents of shared/reference/rules.md, kept here as residents.toml, each with
the dues their story says, dated so that they are payable on the day they are loaded."""

import datetime as dt
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from sqlalchemy import select

from sbweb.clock import shanghai_now
from sbweb.db import db, write_transaction
from sbweb.id_numbers import RESIDENT_CARD
from sbweb.models import Declaration
from sbweb.money import yuan_to_fen
from sbweb.services import rates, registry, standards

DATA = Path(__file__).with_name("residents.toml")


def demo_identities(path: Path = DATA) -> list[tuple[str, str, str]]:
    """(证件类型, 证件号码, 姓名) of each demo resident: the only people the host-app sandbox
    may sign in as, or vouch for."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [(r.get("id_type", RESIDENT_CARD), r["id_number"], r["name"]) for r in data["residents"]]


def demo_id_numbers(path: Path = DATA) -> frozenset[str]:
    return frozenset(number for _type, number, _name in demo_identities(path))


def month(today: dt.date, back: int) -> str:
    index = today.year * 12 + today.month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def due_periods(spec: dict, today: dt.date) -> tuple[str, str]:
    if "months_back" in spec:
        period = month(today, spec["months_back"])
        return period, period
    if spec.get("year") == "collecting":
        # Residents' yearly contributions are collected from September for the next year.
        year = today.year + 1 if today.month >= 9 else today.year
        return f"{year}-01", f"{year}-12"
    return spec["from"], spec["to"]


def due_amount(enrollment: dict, spec: dict, periods: tuple[str, str]) -> int:
    if "amount_yuan" in spec:
        return yuan_to_fen(spec["amount_yuan"])
    start, end = periods
    months = (int(end[:4]) - int(start[:4])) * 12 + int(end[5:]) - int(start[5:]) + 1
    monthly = (Decimal(enrollment["base_yuan"]) * Decimal(enrollment["rate"])).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    return yuan_to_fen(monthly * months)


def record_declaration(person, enrollment, spec: dict, due) -> None:
    """The choice behind a demo due (its base, grade or the fixed amount), so 申报查询 shows it
    and a new choice replaces it. The loader stands for the agency's push of what residents
    registered before the pilot, so the declaration is the agency's (nobody's session: level
    "agency"), and like any agency figure it may be withheld through an agreement."""
    if due.kind != "normal" or db.session.scalar(select(Declaration.id).filter_by(due_id=due.id)):
        return
    # Before its year's standard is published, on the latest one (暂按上年度标准), as residents declare.
    standard = rates.collecting_standard(enrollment.agency.region_code, int(due.period_start[:4]), enrollment.category)
    if standard is None:
        return
    kind = {"flexible": "base", "resident": "grade" if enrollment.insurance == "pension" else "fixed"}
    declaration = Declaration(
        person_id=person.id,
        enrollment_id=enrollment.id,
        standard_id=standard.id,
        kind=kind[enrollment.category],
        period_start=due.period_start,
        period_end=due.period_end,
        amount_fen=due.amount_fen,
        late_fee_fen=0,
        due_id=due.id,
        state="valid",
        declared_by_id=None,
        declared_level="agency",
        provisional_on=standard.provisional_on,
    )
    if declaration.kind == "base":
        declaration.base_fen = yuan_to_fen(spec["base_yuan"])
    elif declaration.kind == "grade":
        declaration.grade_fen = due.amount_fen
    db.session.add(declaration)
    db.session.flush()
    due.declaration_id = declaration.id
    due.provisional_on = declaration.provisional_on


def load(today: dt.date | None = None, path: Path = DATA) -> dict[str, int]:
    """The standards of sbweb/data, then the demo residents (repeatable: nothing doubles)."""
    today = today or shanghai_now().date()
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    counts = {"persons": 0, "enrollments": 0, "dues": 0}
    with write_transaction():
        standards.load_file()
        offices = {
            o["code"]: registry.ensure_tax_office(o["code"], o["name"], o["region"], o.get("phone"), o.get("hours"))
            for o in data["tax_offices"]
        }
        agencies = {
            a["code"]: registry.ensure_agency(a["code"], a["name"], a["region"], a["city"], offices[a["tax_office"]])
            for a in data["agencies"]
        }
        for resident in data["residents"]:
            person = registry.register_person(
                resident.get("id_type", RESIDENT_CARD), resident["id_number"], resident["name"], resident.get("email")
            )
            counts["persons"] += 1
            for spec in resident.get("enrollments", []):
                enrollment = registry.enroll(
                    person, spec["category"], spec["insurance"], agencies[spec["agency"]], spec["no"]
                )
                counts["enrollments"] += 1
                for due_spec in spec.get("dues", []):
                    periods = due_periods(due_spec, today)
                    due = registry.add_due(
                        enrollment,
                        kind=due_spec.get("kind", "normal"),
                        period_start=periods[0],
                        period_end=periods[1],
                        amount_fen=due_amount(spec, due_spec, periods),
                    )
                    record_declaration(person, enrollment, spec, due)
                    counts["dues"] += 1
    return counts
