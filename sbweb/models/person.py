"""参保人: an insured person, identified by 证件类型 + 证件号码 + 姓名."""

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.id_numbers import ID_TYPE_LABELS, mask
from sbweb.models.base import UTCDateTime, utcnow


class Person(db.Model):
    __tablename__ = "persons"
    __table_args__ = (UniqueConstraint("id_type", "id_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    id_type: Mapped[str] = mapped_column(String(3))
    id_number: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    enrollments = relationship("Enrollment", back_populates="person", order_by="Enrollment.id")

    @property
    def masked_id(self) -> str:
        return mask(self.id_number)

    @property
    def id_type_label(self) -> str:
        return ID_TYPE_LABELS.get(self.id_type, self.id_type)

    def __repr__(self) -> str:  # never the number itself: reprs end up in logs
        return f"<Person {self.id} {self.masked_id}>"
