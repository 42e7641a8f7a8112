"""Finding the person behind 证件类型 + 证件号码 + 姓名."""

import unicodedata

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Person


def normalise_name(name: str) -> str:
    """Full-width letters and stray spaces are what people type; the middle dot has variants."""
    name = unicodedata.normalize("NFKC", name or "").strip()
    return " ".join(name.split()).replace("•", "·").replace("・", "·")


def find_person(id_type: str, id_number: str, name: str) -> Person | None:
    """The person, only when all three match. A wrong name and an unknown number look the same
    to the caller, so a lookup cannot be used to learn whether a number is registered."""
    person = db.session.scalar(select(Person).filter_by(id_type=id_type, id_number=id_number))
    if person is None or normalise_name(person.name) != normalise_name(name):
        return None
    return person
