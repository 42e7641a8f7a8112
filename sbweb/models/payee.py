"""被代缴人: the people a payer pays for (代缴), with each one's 自动缴 switch.

Removing a payee deletes this row only; what the payer paid for them stays on the payer's
orders, so it stays in the payer's records."""

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class Payee(db.Model):
    __tablename__ = "payees"
    __table_args__ = (UniqueConstraint("payer_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    # 自动缴: pay this person's new dues through the payer's bank agreement (when one exists).
    auto_pay: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    person = relationship("Person", foreign_keys=[person_id])
