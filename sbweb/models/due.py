"""应缴记录: an amount owed for an enrollment and period.

A due is `open` until an order settles it (`paid`). While an order is in flight the due
carries that order's id in `order_id`: a second order can only take a due whose `order_id`
is empty, which is what makes "one charge per due" hold under races.
"""

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

# A 补缴 the agency pushed is paid in Qingdao's 特殊缴费 and refunded by Guizhou's 特殊缴费退费: the
# pages that list it to pay and after paying call it that. Declaring it keeps 缴费类型 “补缴”
# (Guizhou), and documents print what they printed at issue (DOCUMENT_KIND_LABELS).
DUE_KIND_LABELS = {"normal": "正常缴费", "backpay": "特殊缴费"}
DOCUMENT_KIND_LABELS = {"normal": "正常缴费", "backpay": "补缴"}
# open → paid; an open due nobody pays for can be voided (its declaration was 作废); a paid due
# whose money went back is open again (owed again) or void (not owed), or stays paid at a
# smaller amount (多缴费款), as the refund's reason says (sbweb/services/refund_reasons). Every
# move — and every change of amount — is a DueEvent, made by sbweb.services.dues.transition.
DUE_STATES = ("open", "paid", "void")
DUE_STATE_LABELS = {"open": "待缴", "paid": "已缴费", "void": "已作废"}
DUE_TRANSITIONS = {
    ("", "open"),
    ("open", "open"),
    ("open", "paid"),
    ("open", "void"),
    ("paid", "paid"),
    ("paid", "open"),
    ("paid", "void"),
}


class DueLabels:
    """What a resident reads about a due; shared by the model and the dues page's rows."""

    @property
    def kind_label(self) -> str:
        return DUE_KIND_LABELS[self.kind]

    @property
    def period_label(self) -> str:
        start = f"{self.period_start[:4]}年{self.period_start[5:]}月"
        if self.period_start == self.period_end:
            return start
        return f"{start}至{self.period_end[:4]}年{self.period_end[5:]}月"

    @property
    def provisional_label(self) -> str:
        """暂按上年度标准: the year's standard was not published when it was priced."""
        return f"暂按上年度标准（{self.provisional_on}年度标准），新标准公布后多退少补" if self.provisional_on else ""

    @property
    def difference_label(self) -> str:
        return f"按{self.period_start[:4]}年度标准补缴差额" if self.difference_of_id else ""

    @property
    def payable(self) -> bool:
        return self.state == "open" and self.order_id is None


class Due(DueLabels, db.Model):
    __tablename__ = "dues"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="normal")
    # 费款所属期 as YYYY-MM, start and end inclusive.
    period_start: Mapped[str] = mapped_column(String(7))
    period_end: Mapped[str] = mapped_column(String(7))
    amount_fen: Mapped[int] = mapped_column(Integer)
    # The part of amount_fen that is 滞纳金 (late fee); shown on its own line when non-zero.
    late_fee_fen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    state: Mapped[str] = mapped_column(String(10), default="open", index=True)
    # The order currently holding this due (while paying) or that paid it.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    # Bumped whenever the amount or anything a resident checks changes (stale-page check).
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The declaration that priced this due last (NULL: the agency's own figure, as pushed). 批扣
    # and 自动缴 withhold a declared due only when that declaration says who may have made it
    # (sbweb/services/withholding.py). use_alter: declarations point back at dues.
    declaration_id: Mapped[int | None] = mapped_column(ForeignKey("declarations.id", use_alter=True))
    # 补缴明细确认 of a 补缴: who confirmed it, at which identity level, when. A new amount from
    # the agency clears it (what was confirmed is no longer what is owed).
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    confirmed_level: Mapped[str | None] = mapped_column(String(10))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Why an open due is owed again after its payment went back (shown on 我为自己缴).
    reopened_reason: Mapped[str | None] = mapped_column(String(100))
    # 暂按上年度标准: the year whose standard priced this due while its own year's was not published
    # (NULL: priced on its own year's standard, or the agency's figure). Cleared when re-priced.
    provisional_on: Mapped[int | None] = mapped_column(Integer, index=True)
    # 补差: this due is what the paid due `difference_of_id` still owed once its year's standard
    # was published (按{year}年度标准补缴差额).
    difference_of_id: Mapped[int | None] = mapped_column(ForeignKey("dues.id"))

    enrollment = relationship("Enrollment", back_populates="dues")
    priced_by = relationship("Declaration", foreign_keys=[declaration_id])
    # The resident's valid choice (基数/档次) behind this due, if it came from a declaration.
    declaration = relationship(
        "Declaration",
        viewonly=True,
        uselist=False,
        primaryjoin="and_(foreign(Declaration.due_id) == Due.id, Declaration.state == 'valid')",
    )


class DueEvent(db.Model):
    """One move of a due (or change of its amount), when and why: the due's own history, as the
    order has its OrderEvents."""

    __tablename__ = "due_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    due_id: Mapped[int] = mapped_column(ForeignKey("dues.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    amount_before: Mapped[int | None] = mapped_column(Integer)
    amount_after: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
