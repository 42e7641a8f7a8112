"""证件类型 and 证件号码: validation, normalisation and masking. No request in here.

Identity numbers are personal data: they are shown masked everywhere except where a person
checks their own, and `redact()` removes them from anything that is logged.
"""

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import unquote

from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError


class InvalidIdNumber(ValueError):
    """The number cannot be a real number of its type (the resident sees 证件号码格式不正确)."""


@dataclass(frozen=True)
class IdType:
    code: str
    label: str


# Codes follow the tax bureau's 证件类型 codes where one exists.
ID_TYPES = [
    IdType("201", "居民身份证"),
    IdType("516", "港澳居民来往内地通行证"),
    IdType("511", "台湾居民来往大陆通行证"),
    IdType("208", "外国人永久居留身份证"),
    IdType("237", "港澳台居民居住证"),
]
ID_TYPE_LABELS = {t.code: t.label for t in ID_TYPES}
RESIDENT_CARD = "201"

_HK_MO_PERMIT = re.compile(r"\A[HM][0-9]{8}([0-9]{2})?\Z")
_TW_PERMIT = re.compile(r"\A[0-9]{8}([0-9]{2})?\Z")
_GB11643_SHAPE = re.compile(r"\A[0-9]{17}[0-9X]\Z")
_HK_MO_TW_REGIONS = {"810000", "820000", "830000"}


def normalise(number: str) -> str:
    """What a resident may type around the number: spaces, dashes, full-width digits, lower x."""
    number = (number or "").translate(_FULLWIDTH).upper()
    return re.sub(r"[\s\-]", "", number)


_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸｘＨＭｈｍ", "0123456789XXHMHM")


def _check_gb11643(number: str, today: dt.date) -> dt.date:
    """Shape, check character and birth date of an 18-character GB 11643 number."""
    if not _GB11643_SHAPE.match(number) or ric.calc_check_digit(number) != number[-1]:
        raise InvalidIdNumber(number)
    try:
        born = ric.get_birth_date(number)
    except ValidationError:
        raise InvalidIdNumber(number) from None
    if not dt.date(1900, 1, 1) <= born <= today:
        raise InvalidIdNumber(number)
    return born


def _region_known(code: str) -> bool:
    """Whether GB/T 2260 ever had this county code.

    stdnum's own validate() also requires the code to have existed in the birth year; real
    numbers break that (people born in 1978 in today's 市南区 carry 370202, a code from 1983,
    because numbers were re-issued in 1999), so we ask only that the code is a real one."""
    parts = numdb.get("cn/loc").info(code)
    return any("county" in props for _part, props in parts)


def _resident_card(number: str, today: dt.date) -> None:
    """居民身份证: GB 11643, of a county GB/T 2260 knows, not one of 港澳台's codes."""
    _check_gb11643(number, today)
    if not _region_known(number[:6]) or number[:6] in _HK_MO_TW_REGIONS:
        raise InvalidIdNumber(number)


def _residence_permit(number: str, today: dt.date) -> None:
    """港澳台居民居住证: GB 11643 with 港澳台's codes (810000, 820000, 830000)."""
    _check_gb11643(number, today)
    if number[:6] not in _HK_MO_TW_REGIONS:
        raise InvalidIdNumber(number)


def _permanent_residence(number: str, today: dt.date) -> None:
    """外国人永久居留身份证: the 2023 card keeps the GB 11643 layout and check character, and
    starts with 9."""
    if not number.startswith("9"):
        raise InvalidIdNumber(number)
    _check_gb11643(number, today)


def _shaped(pattern: re.Pattern):
    """A permit checked by its shape alone (there is no check character to compute)."""

    def check(number: str, _today: dt.date) -> None:
        if not pattern.match(number):
            raise InvalidIdNumber(number)

    return check


# 证件类型 → its check, which raises InvalidIdNumber.
_CHECKS = {
    RESIDENT_CARD: _resident_card,
    "237": _residence_permit,
    "208": _permanent_residence,
    "516": _shaped(_HK_MO_PERMIT),
    "511": _shaped(_TW_PERMIT),
}


def validate(id_type: str, number: str, today: dt.date | None = None) -> str:
    """Return the normalised number, or raise InvalidIdNumber."""
    number = normalise(number)
    check = _CHECKS.get(id_type)
    if check is None:
        raise InvalidIdNumber(number)
    check(number, today or dt.date.today())
    return number


def mask(number: str) -> str:
    """5201**********123X for 18 characters (first and last four shown); shorter numbers (the
    8–11 character permits) show only their first and last two, so most stays hidden."""
    number = number or ""
    if len(number) >= 15:
        return number[:4] + "*" * (len(number) - 8) + number[-4:]
    if len(number) > 4:
        return number[:2] + "*" * (len(number) - 4) + number[-2:]
    return "*" * len(number)


def mask_name(name: str) -> str:
    """*芳 / 张*伟 style masking for names shown to someone other than their owner."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return "*" + name[-1]
    return name[0] + "*" * (len(name) - 2) + name[-1]


# 身份证 and 居住证 (18), 回乡证 (H/M + 8–10), 台胞证 (8 or 10 digits standing alone). A log line
# loses a few harmless 8- or 10-digit numbers (agency codes, epoch seconds) to keep these out.
_ANY_ID = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[HMhm][0-9]{8,10}|[0-9]{10}|[0-9]{8})(?![0-9A-Za-z])")


# A value in a query string (an access-log line of a GET form): the form takes a number typed
# with spaces or dashes, so the value is looked at with those (and their %-escapes) taken out.
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"]*=)([^&\s\"]*)")
_SEPARATORS = re.compile(r"[\s+\-]|%20|%2[bBdD]")
# (Not 8 digits: a date such as 2026-12-01 would be one; a 台胞证 is not typed with dashes.)
_WHOLE_ID = re.compile(r"[0-9]{17}[0-9Xx]|[HMhm][0-9]{8,10}|[0-9]{10}")


def _query_value(m: re.Match) -> str:
    joined = _SEPARATORS.sub("", m.group(2))
    return m.group(1) + (mask(joined) if joined != m.group(2) and _WHOLE_ID.fullmatch(joined) else m.group(2))


def redact(text: str) -> str:
    """Mask anything in a log line that looks like an identity number, also %-escaped inside
    another URL's query (a `next=` that carried a form's fields)."""
    text = _ANY_ID.sub(lambda m: mask(m.group(1)), _QUERY_VALUE.sub(_query_value, text))
    if "%" not in text:
        return text
    return _ANY_ID.sub(lambda m: mask(m.group(1)), _QUERY_VALUE.sub(_query_value, unquote(text)))
