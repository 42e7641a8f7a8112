"""Money: integer fen inside, yuan figures and 人民币大写 at the edges (rules.md examples)."""

from decimal import Decimal

import pytest

from sbweb.money import fen_display, fen_to_yuan, rmb_upper, yuan_to_fen


@pytest.mark.parametrize(
    "text, fen",
    [
        ("400", 40000),
        ("400.00", 40000),
        ("400.5", 40050),
        ("0.01", 1),
        ("1,234.50", 123450),
        (" 352.00 ", 35200),
        (Decimal("4776.00"), 477600),
        (Decimal("880.00") * 2, 176000),
        (12, 1200),
        ("1000000.01", 100000001),
    ],
)
def test_yuan_become_whole_fen(text, fen):
    assert yuan_to_fen(text) == fen
    assert isinstance(yuan_to_fen(text), int)


@pytest.mark.parametrize(
    "text",
    [
        "0.001",  # a fraction of a fen
        "400.005",
        "abc",
        "",
        "   ",
        "NaN",
        "Infinity",
        "-Infinity",
        "¥400",
        "400元",
        "1e30",  # too many digits to be an amount
        "1" + "0" * 40,
    ],
)
def test_anything_that_is_not_an_amount_in_fen_is_a_value_error(text):
    with pytest.raises(ValueError):
        yuan_to_fen(text)


def test_a_float_that_is_not_a_whole_number_of_fen_is_refused_rather_than_rounded():
    with pytest.raises(ValueError):
        yuan_to_fen(0.1 + 0.2)


@pytest.mark.parametrize(
    "fen, yuan",
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (100, "1.00"),
        (40000, "400.00"),
        (123450, "1234.50"),
        (100000001, "1000000.01"),
        (-1, "-0.01"),
        (-123450, "-1234.50"),
    ],
)
def test_fen_to_yuan_is_the_plain_protocol_figure(fen, yuan):
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen  # and it reads back


@pytest.mark.parametrize(
    "fen, shown",
    [
        (0, "0.00"),
        (5, "0.05"),
        (35200, "352.00"),
        (99999, "999.99"),
        (100000, "1,000.00"),
        (123450, "1,234.50"),
        (477600, "4,776.00"),
        (10000000, "100,000.00"),
        (100000001, "1,000,000.01"),
        (-123450, "-1,234.50"),
    ],
)
def test_fen_display_groups_thousands_for_residents(fen, shown):
    assert fen_display(fen) == shown


@pytest.mark.parametrize(
    "fen, words",
    [
        (40000, "肆佰元整"),  # rules.md
        (123450, "壹仟贰佰叁拾肆元伍角整"),  # rules.md
        (100507, "壹仟零伍元零柒分"),  # rules.md
        (50, "伍角整"),  # rules.md
        (1, "壹分"),
        (1000, "壹拾元整"),
        (10000000, "壹拾万元整"),
        (100000001, "壹佰万元零壹分"),
        (35200, "叁佰伍拾贰元整"),
        (477600, "肆仟柒佰柒拾陆元整"),
        (0, "零元整"),
    ],
)
def test_rmb_upper_writes_amounts_as_a_bank_does(fen, words):
    assert rmb_upper(fen) == words


def test_rmb_upper_refuses_a_negative_amount():
    with pytest.raises(ValueError):
        rmb_upper(-1)
