"""社保经办机构 and 参保登记: one person × category × insurance × agency."""

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

CATEGORY_LABELS = {"flexible": "灵活就业人员", "resident": "城乡居民"}
INSURANCE_LABELS = {"pension": "养老保险", "medical": "医疗保险"}
# What the insurance is called on a ticket, by category (tax-bureau 品目名称).
INSURANCE_FULL_LABELS = {
    ("flexible", "pension"): "企业职工基本养老保险费（灵活就业）",
    ("flexible", "medical"): "职工基本医疗保险费（灵活就业）",
    ("resident", "pension"): "城乡居民基本养老保险费",
    ("resident", "medical"): "城乡居民基本医疗保险费",
}


class TaxOffice(db.Model):
    """主管税务机关: the tax office that collects for an agency's region and issues the 票证号码
    (电子税票) of what is paid there, e.g. 国家税务总局杭州市西湖区税务局."""

    __tablename__ = "tax_offices"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    # The 行政区划 the office's tickets are numbered under (4 + region + year + sequence).
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    # Whom a resident calls (若您在缴费过程中遇到任何问题，请联系当地税务部门): the office's
    # 纳税服务 phone and when it answers; none known → the national 12366.
    phone: Mapped[str | None] = mapped_column(String(20))
    hours: Mapped[str | None] = mapped_column(String(40))


class Agency(db.Model):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    city: Mapped[str] = mapped_column(String(40))
    tax_office_id: Mapped[int] = mapped_column(ForeignKey("tax_offices.id"), index=True)

    tax_office = relationship("TaxOffice")


class EnrollmentLabels:
    """What a resident reads about an enrollment; shared by the model and read-only rows."""

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS[self.category]

    @property
    def insurance_label(self) -> str:
        return INSURANCE_LABELS[self.insurance]

    @property
    def item_label(self) -> str:
        return INSURANCE_FULL_LABELS[(self.category, self.insurance)]


class Enrollment(EnrollmentLabels, db.Model):
    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(primary_key=True)
    enrollment_no: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    category: Mapped[str] = mapped_column(String(10))
    insurance: Mapped[str] = mapped_column(String(10))
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    person = relationship("Person", back_populates="enrollments")
    agency = relationship("Agency")
    dues = relationship("Due", back_populates="enrollment", order_by="Due.period_start")
