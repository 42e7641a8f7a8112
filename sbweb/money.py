"""Money is integer fen (分) everywhere; these are the only conversions, used at the edges."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import cn2an

# The largest amount the amount columns hold (integer: 32 bits on PostgreSQL), 21,474,836.47 yuan:
# an amount typed above it is refused where it is typed, never sent to the database.
MAX_FEN = 2**31 - 1


def yuan_to_fen(text: str | Decimal | int) -> int:
    """'400' / '400.00' / Decimal('400.5') → 40000 / 40050. Raises ValueError on anything else."""
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {text!r}") from None
    try:
        # quantize() itself raises InvalidOperation for more digits than the context holds.
        exact = value.is_finite() and value == value.quantize(Decimal("0.01"))
    except InvalidOperation:
        exact = False
    if not exact:
        raise ValueError(f"not an amount in fen: {text!r}")
    return int((value * 100).to_integral_value(rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> str:
    """40000 → '400.00' (no thousands separator: the form the provider protocol uses too)."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def fen_display(fen: int) -> str:
    """40000 → '400.00', 123450 → '1,234.50': amounts as residents read them."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100:,}.{fen % 100:02d}"


def rmb_upper(fen: int) -> str:
    """人民币大写: 40000 → 肆佰元整, 123450 → 壹仟贰佰叁拾肆元伍角整, 100507 → 壹仟零伍元零柒分.

    cn2an's "rmb" mode does the digits; bank practice also ends an amount without 分 in 整
    when it has 角 (cn2an writes 伍角, the bank writes 伍角整)."""
    if fen < 0:
        raise ValueError("negative amount")
    if fen == 0:
        return "零元整"
    words = cn2an.an2cn(fen_to_yuan(fen), "rmb")
    if fen % 100 and fen % 10 == 0 and not words.endswith("整"):
        words += "整"
    return words
