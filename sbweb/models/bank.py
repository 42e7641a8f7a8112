"""存款账户账号报告 and 银行缴费协议: a person's reported bank accounts, and the withholding
agreements (三方/两方协议) that let 自动缴 and 批扣 charge an account for an enrollment.
Own person only: a verified session of the account holder."""
import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

ACCOUNT_KIND_LABELS = {"card": "银行卡", "account": "存折/账户"}
AGREEMENT_KIND_LABELS = {"tripartite": "三方协议", "bipartite": "两方协议"}
AGREEMENT_STATE_LABELS = {"active": "已签约", "revoked": "已解约"}


class BankAccount(db.Model):
    __tablename__ = "bank_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    bank_name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(10))
    account_no: Mapped[str] = mapped_column(String(34))
    account_name: Mapped[str] = mapped_column(String(64))
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Deleted accounts stay for the agreements and refunds that named them.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def kind_label(self) -> str:
        return ACCOUNT_KIND_LABELS[self.kind]

    @property
    def masked_no(self) -> str:
        return "**** " + self.account_no[-4:]


class BankAgreement(db.Model):
    __tablename__ = "bank_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_no: Mapped[str] = mapped_column(String(24), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("enrollments.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(10), default="active", index=True)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    enrollment = relationship("Enrollment")
    account = relationship("BankAccount")

    @property
    def kind_label(self) -> str:
        return AGREEMENT_KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return AGREEMENT_STATE_LABELS[self.state]
