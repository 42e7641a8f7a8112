"""退费原因类型 and what each does to the due a refunded item paid — data an agency can edit in the
back office (table refund_reasons), with these defaults (from shared/reference/rules.md):

| reason | the period afterwards |
|---|---|
| 缴费档次或基数选择错误, 其他原因 | `reopen`: owed again — its declaration voided, it can be declared and paid again |
| 重复参保缴费, 已参加职工基本养老（医疗）保险 | `void`: paid elsewhere, not owed here |
| 参保人死亡, 出国（境）定居 | `void`: 终止参保, not owed |

and whatever the reason, a 多缴费款退费 (part of an item) is `keep`: the due stays paid at the
amount less what went back."""

from sqlalchemy import func, select

from sbweb.db import db, write_transaction
from sbweb.models import RefundReason

EFFECTS = {
    "reopen": "重新应缴（作废原申报，可重新申报缴费）",
    "void": "不再应缴（费款作废）",
    "keep": "仍为已缴（按退费后的金额）",
}
DEFAULTS = (
    ("重复参保缴费", "void"),
    ("已参加职工基本养老（医疗）保险", "void"),
    ("参保人死亡", "void"),
    ("出国（境）定居", "void"),
    ("缴费档次或基数选择错误", "reopen"),
    ("其他原因", "reopen"),
)
OVERPAID = "多缴费款退费"  # the money type whose refund is part of an item: always `keep`


class ReasonError(ValueError):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def ensure_defaults() -> None:
    """The default reasons, for a database that has none (migrations and tests start here)."""
    with write_transaction():
        known = set(db.session.scalars(select(RefundReason.reason)))
        for position, (reason, effect) in enumerate(DEFAULTS):
            if reason not in known:
                db.session.add(RefundReason(reason=reason, effect=effect, position=position, active=True))


def reasons() -> list[RefundReason]:
    found = list(db.session.scalars(select(RefundReason).order_by(RefundReason.position, RefundReason.id)))
    if not found:
        ensure_defaults()
        found = list(db.session.scalars(select(RefundReason).order_by(RefundReason.position, RefundReason.id)))
    return found


def offered() -> list[str]:
    """The reasons a resident may choose."""
    return [r.reason for r in reasons() if r.active]


def effect_of(reason: str, money_type: str) -> str:
    if money_type == OVERPAID:
        return "keep"
    row = db.session.scalar(select(RefundReason).filter_by(reason=reason))
    if row is None:
        raise ReasonError("请选择退费原因类型")
    return row.effect


def set_effect(staff_id: int, reason_id: int, effect: str, active: bool) -> RefundReason:
    """The agency changes what a reason does (applies to applications approved from now on)."""
    from sbweb.services.staff import audit

    if effect not in EFFECTS:
        raise ReasonError("请选择退费后费款的处理方式")
    with write_transaction():
        row = db.session.get(RefundReason, reason_id, with_for_update=True)
        if row is None:
            raise ReasonError("未找到该退费原因")
        before = {"effect": row.effect, "active": row.active}
        row.effect, row.active = effect, bool(active)
        audit(
            staff_id, "refund_reason.set", f"refund_reason:{row.id}", before, {"effect": effect, "active": row.active}
        )
    return row


def add(staff_id: int, reason: str, effect: str, active: bool = True) -> RefundReason:
    """A reason of the agency's own, offered after the others."""
    from sbweb.services.staff import audit

    reason = " ".join((reason or "").split())
    if not reason:
        raise ReasonError("请输入退费原因类型")
    if len(reason) > 30:
        raise ReasonError("退费原因类型不超过30个字")
    if effect not in EFFECTS:
        raise ReasonError("请选择退费后费款的处理方式")
    with write_transaction():
        if db.session.scalar(select(RefundReason.id).filter_by(reason=reason)) is not None:
            raise ReasonError(f"已有退费原因类型「{reason}」")
        position = (db.session.scalar(select(func.max(RefundReason.position))) or 0) + 1
        row = RefundReason(reason=reason, effect=effect, position=position, active=bool(active))
        db.session.add(row)
        db.session.flush()
        audit(
            staff_id,
            "refund_reason.add",
            f"refund_reason:{row.id}",
            None,
            {"reason": reason, "effect": effect, "active": row.active},
        )
    return row
