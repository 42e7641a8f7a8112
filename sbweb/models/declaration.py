"""申报 / 选档 / 基数申报: what a resident chose, and the due it created.

A declaration is `valid` until it is voided (基数作废, or replaced by a new grade for the
same year); voiding also voids its due, which is only allowed while nothing paid it.
"""

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

DECLARATION_KIND_LABELS = {"base": "缴费基数", "grade": "缴费档次", "fixed": "定额缴费"}
DECLARATION_STATE_LABELS = {"valid": "有效", "void": "无效"}
# Who stood behind a declaration: a verified session of a person, a looked-up one (证件号码 +
# 姓名, which proves nothing), or the agency (an import, the demo loader, staff).
DECLARED_LEVELS = ("verified", "lookup", "agency")


class Declaration(db.Model):
    __tablename__ = "declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"), index=True)
    standard_id: Mapped[int] = mapped_column(ForeignKey("standards.id"))
    kind: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[str] = mapped_column(String(7))
    period_end: Mapped[str] = mapped_column(String(7))
    # The chosen monthly base (灵活就业) or yearly grade (城乡居民养老), in fen.
    base_fen: Mapped[int | None] = mapped_column(Integer)
    grade_fen: Mapped[int | None] = mapped_column(Integer)
    # The due's amount: contribution plus 滞纳金 (shown on its own line when non-zero).
    amount_fen: Mapped[int] = mapped_column(Integer)
    late_fee_fen: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(10), default="valid", index=True)
    due_id: Mapped[int | None] = mapped_column(ForeignKey("dues.id"), index=True)
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(String(40))
    # Who made it (NULL for the agency) and at which level; rows from before revision 0016 are
    # 'lookup', the weakest level the code then accepted, since nobody can tell now.
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    declared_level: Mapped[str] = mapped_column(String(10), default="lookup", server_default="lookup")
    # 缴费基数是否允许用于批扣 (the Qingdao seed asks it with the base): a due priced by a
    # declaration that says no is never withheld. Grades and fixed amounts are not asked (yes),
    # nor were declarations before revision 0024 (yes: as they were withheld then).
    allow_withholding: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    # 暂按上年度标准: declared before its year's standard was published, on the standard of this
    # year (`standard_id` is that one); NULL once its own year's standard re-priced it.
    provisional_on: Mapped[int | None] = mapped_column(Integer)

    enrollment = relationship("Enrollment")
    due = relationship("Due", foreign_keys=[due_id])
    standard = relationship("Standard")

    @property
    def kind_label(self) -> str:
        return DECLARATION_KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return DECLARATION_STATE_LABELS[self.state]

    @property
    def choice_fen(self) -> int | None:
        return self.base_fen if self.kind == "base" else self.grade_fen
