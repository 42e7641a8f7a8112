"""证件号码 as residents type them: which numbers the app accepts, how it writes them back,
and how it hides them. Check characters here are computed from the rule in
shared/reference/rules.md (GB 11643-1999), independently of the app and of python-stdnum."""

import datetime as dt
import tomllib
from pathlib import Path

import pytest
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from sbweb import id_numbers
from sbweb.id_numbers import InvalidIdNumber, mask, redact, validate

RESIDENTS = tomllib.loads((Path(id_numbers.__file__).parent / "demo" / "residents.toml").read_text(encoding="utf-8"))[
    "residents"
]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
TODAY = dt.date(2026, 1, 15)

ID_CARD, HK_MO_PERMIT, TW_PERMIT, FOREIGNER_CARD, HK_MO_TW_RESIDENCE = "201", "516", "511", "208", "237"
WANG_FANG = "520102198503151246"


def with_check(first17: str) -> str:
    """The 18-character number whose first 17 characters are these (GB 11643 check)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=False))
    return first17 + "10X98765432"[total % 11]


def rejected(id_type: str, number: str, today=TODAY) -> bool:
    try:
        validate(id_type, number, today=today)
    except InvalidIdNumber:
        return True
    return False


# -- 居民身份证 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resident", RESIDENTS, ids=[r["name"] for r in RESIDENTS])
def test_every_demo_residents_number_is_accepted_as_typed(resident):
    assert validate(resident.get("id_type", ID_CARD), resident["id_number"]) == resident["id_number"]


def test_the_helper_agrees_with_the_demo_numbers():
    # Guards the helper itself: if it were wrong, the tests below would prove nothing.
    assert all(with_check(r["id_number"][:17]) == r["id_number"] for r in RESIDENTS)


def test_wang_fangs_number_with_a_wrong_check_digit_is_refused():
    assert rejected(ID_CARD, WANG_FANG[:17] + "7")


@pytest.mark.parametrize(
    "first17",
    [
        "52010219850230124",  # 30 February
        "52010219851301124",  # month 13
        "52010219850000124",  # day 0
        "52010218991231124",  # before 1900
    ],
)
def test_a_birth_date_that_cannot_exist_is_refused_even_with_a_right_check_digit(first17):
    assert rejected(ID_CARD, with_check(first17))


def test_a_birth_date_after_today_is_refused():
    assert rejected(ID_CARD, with_check("52010220260116124"), today=TODAY)
    assert not rejected(ID_CARD, with_check("52010220260115124"), today=TODAY)  # born today


def test_wang_fangs_number_is_refused_on_a_day_before_she_was_born():
    assert rejected(ID_CARD, WANG_FANG, today=dt.date(1985, 3, 14))


@pytest.mark.parametrize("region", ["999999", "000000", "520199"])
def test_a_region_code_that_never_existed_is_refused(region):
    assert rejected(ID_CARD, with_check(region + "19850315124"))


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_a_hong_kong_macao_or_taiwan_residence_number_is_not_a_resident_card(region):
    assert rejected(ID_CARD, with_check(region + "19900101123"))


@pytest.mark.parametrize(
    "number",
    [
        WANG_FANG[:17],  # 17 characters
        WANG_FANG + "1",  # 19 characters
        "52010219850315124A",  # a letter other than X
        "5201O2198503151246",  # the letter O for a zero
        "ABCDEFGHIJKLMNOPQR",
        "",
    ],
)
def test_a_number_of_the_wrong_shape_is_refused(number):
    assert rejected(ID_CARD, number)


def test_a_lower_case_x_is_accepted_and_written_upper_case():
    number = with_check("52010219850315106")
    assert number.endswith("X")
    assert validate(ID_CARD, number[:17] + "x", today=TODAY) == number


def test_full_width_digits_spaces_and_dashes_are_normalised():
    full_width = "５２０１０２１９８５０３１５１２４６"
    assert validate(ID_CARD, full_width) == WANG_FANG
    assert validate(ID_CARD, " 520102-19850315-1246 ") == WANG_FANG
    assert validate(ID_CARD, "５２０１０２１９８５０３１５１０６ｘ", today=TODAY) == with_check("52010219850315106")


def test_zhang_weis_number_is_accepted_though_its_region_code_is_younger_than_he_is():
    # 370202 (市南区) dates from after 1978; numbers were re-issued in 1999 with today's codes.
    with pytest.raises(ValidationError):
        ric.validate("370202197805127818")  # why id_numbers.py exists
    assert validate(ID_CARD, "370202197805127818") == "370202197805127818"


def test_an_unknown_id_type_is_refused():
    assert rejected("999", WANG_FANG)


# -- the other 证件类型 --------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["H12345678", "M12345678", "H1234567801", "h12345678"])
def test_a_home_return_permit_is_h_or_m_and_8_or_10_digits(number):
    assert validate(HK_MO_PERMIT, number) == number.upper()


@pytest.mark.parametrize("number", ["H1234567", "H123456789", "H123456780123", "A12345678", "12345678", "HM1234567"])
def test_a_home_return_permit_of_another_shape_is_refused(number):
    assert rejected(HK_MO_PERMIT, number)


@pytest.mark.parametrize("number", ["12345678", "1234567890", "１２３４５６７８"])
def test_a_taiwan_compatriot_permit_is_8_or_10_digits(number):
    assert validate(TW_PERMIT, number) in ("12345678", "1234567890")


@pytest.mark.parametrize("number", ["1234567", "123456789", "12345678901", "T1234567", "H12345678"])
def test_a_taiwan_compatriot_permit_of_another_shape_is_refused(number):
    assert rejected(TW_PERMIT, number)


def test_a_foreigners_permanent_residence_card_starts_with_9_and_has_a_check_character():
    number = with_check("93115619850315123")
    assert validate(FOREIGNER_CARD, number, today=TODAY) == number
    assert rejected(FOREIGNER_CARD, number[:17] + ("0" if number[-1] != "0" else "1"))
    assert rejected(FOREIGNER_CARD, WANG_FANG)  # does not start with 9
    assert rejected(FOREIGNER_CARD, with_check("93115619850230123"))  # 30 February


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_a_residence_permit_for_hong_kong_macao_and_taiwan_uses_810000_820000_830000(region):
    number = with_check(region + "19900101123")
    assert validate(HK_MO_TW_RESIDENCE, number, today=TODAY) == number
    assert rejected(HK_MO_TW_RESIDENCE, number[:17] + ("0" if number[-1] != "0" else "1"))


def test_a_mainland_number_is_not_a_hong_kong_macao_taiwan_residence_permit():
    assert rejected(HK_MO_TW_RESIDENCE, WANG_FANG)


# -- masking ------------------------------------------------------------------------------


def test_wang_fangs_number_is_shown_as_5201_stars_1246():
    assert mask(WANG_FANG) == "5201**********1246"


def test_masking_keeps_a_final_x_visible():
    assert mask("52010219850315106X") == "5201**********106X"


def test_redact_masks_every_number_in_a_log_line_and_leaves_the_rest():
    line = f"lookup {WANG_FANG} failed; retry with 52010219850315106x for 王芳 (order SB20260115000001)"
    cleaned = redact(line)
    assert WANG_FANG not in cleaned and "52010219850315106x" not in cleaned
    assert "5201**********1246" in cleaned
    assert cleaned.startswith("lookup ") and "王芳" in cleaned and "SB20260115000001" in cleaned


@pytest.mark.parametrize("number", ["H12345678", "M1234567801", "370202197805127818"])
def test_redact_masks_permits_and_resident_cards(number):
    cleaned = redact(f"id={number}.")
    assert number not in cleaned
    assert cleaned == f"id={mask(number)}."


@pytest.mark.parametrize(
    "number, masked",
    [
        ("H12345678", "H1*****78"),
        ("M1234567801", "M1*******01"),
        ("12345678", "12****78"),
        ("1234567801", "12******01"),
    ],
)
def test_a_short_permit_number_is_mostly_hidden(number, masked):
    assert mask(number) == masked
    assert sum(c == "*" for c in mask(number)) >= len(number) / 2
