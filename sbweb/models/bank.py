"""存款账户账号报告 and 银行缴费协议: a person's reported bank accounts, and the withholding
agreements (三方/两方协议) that let 自动缴 and 批扣 charge an account for an enrollment.
Own person only: a verified session of the account holder."""

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow
from sbweb.money import fen_display

ACCOUNT_KIND_LABELS = {"card": "银行卡", "account": "存折/账户"}
AGREEMENT_KIND_LABELS = {"tripartite": "三方协议", "bipartite": "两方协议"}
AGREEMENT_STATE_LABELS = {"active": "已签约", "revoked": "已撤销"}
# 单笔扣款限额: the most one withholding may take, set by the holder (1 元 to 50,000 元).
DEFAULT_LIMIT_FEN = 200_000
LIMIT_MIN_FEN, LIMIT_MAX_FEN = 100, 5_000_000


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
    # A due above this is not withheld: the resident is told and pays it by hand.
    limit_fen: Mapped[int] = mapped_column(Integer, default=DEFAULT_LIMIT_FEN, server_default=str(DEFAULT_LIMIT_FEN))
    # 补缴费款也自动扣款: the holder's standing yes to 补缴 the agency pushes (else each one
    # waits for its 补缴明细确认).
    withhold_backpay: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    enrollment = relationship("Enrollment")
    account = relationship("BankAccount")

    @property
    def kind_label(self) -> str:
        return AGREEMENT_KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return AGREEMENT_STATE_LABELS[self.state]


SKIP_REASONS = ("over_limit", "unverified", "unconfirmed", "reopened", "not_allowed")


class WithholdingSkip(db.Model):
    """A due 批扣/自动缴 left for the resident to pay through an agreement, and why: one row per
    due, agreement and reason, so each is said once (one mail) and shown while the due is open.
    `over_limit`: above the agreement's 单笔扣款限额; `unverified`: priced by a declaration
    nobody entitled made at the verified level; `unconfirmed`: a 补缴 not confirmed (no opt-in);
    `reopened`: owed again after its payment was refunded (declared again, or paid by hand);
    `not_allowed`: its 缴费基数 was declared as not to be used for 批扣 (the Qingdao seed's
    "缴费基数是否允许用于批扣")."""

    __tablename__ = "withholding_skips"
    __table_args__ = (UniqueConstraint("due_id", "agreement_id", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    due_id: Mapped[int] = mapped_column(ForeignKey("dues.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("bank_agreements.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    # The figures when it was skipped (the latest run's, should the due or the limit change).
    amount_fen: Mapped[int] = mapped_column(Integer)
    limit_fen: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The mail that told the holder (NULL: no address on file, or not sent yet).
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    due = relationship("Due")
    agreement = relationship("BankAgreement")

    @property
    def message(self) -> str:
        return self.message_for(self.amount_fen, self.limit_fen)

    def message_for(self, amount_fen: int, limit_fen: int) -> str:
        """What the resident reads, with the given figures (the due's and the limit's today)."""
        amount = f"¥{fen_display(amount_fen)}"
        if self.reason == "over_limit":
            return f"{amount} 超过协议单笔扣款限额 ¥{fen_display(limit_fen)}，未自动扣款，请自行缴纳"
        if self.reason == "reopened":
            return f"{amount} 已退费后重新应缴，不自动扣款；请重新申报后缴纳，或自行缴纳"
        if self.reason == "not_allowed":
            return (
                f"{amount} 的缴费基数申报时选择了不允许用于批扣，未自动扣款；请自行缴纳，"
                "或作废该申报后重新申报并选择允许批扣"
            )
        if self.reason == "unconfirmed":
            return f"补缴费款 {amount} 未经补缴明细确认，未自动扣款；确认后自动扣款，也可自行缴纳"
        return (
            f"{amount} 的缴费申报未经本人验证身份后提交，未经本人确认的费款不自动扣款；"
            "请在申报查询中核对，确属本人申报的请自行缴纳"
        )


NOTICE_STAGES = ("before", "after")


class WithholdingNotice(db.Model):
    """A mail to the agreement's holder about one due: `before` — what the next run will take,
    from which account, how to stop it (a due is withheld only once its notice is
    WITHHOLD_NOTICE old, and again only after a new notice when its figure changed) — and
    `after` — taken, or not taken and why. One row per due, agreement and stage."""

    __tablename__ = "withholding_notices"
    __table_args__ = (UniqueConstraint("due_id", "agreement_id", "stage"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    due_id: Mapped[int] = mapped_column(ForeignKey("dues.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("bank_agreements.id"), index=True)
    stage: Mapped[str] = mapped_column(String(8))
    # What the mail said would be (or was) taken: a due re-priced since needs a new notice.
    amount_fen: Mapped[int] = mapped_column(Integer)
    due_revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    mail_id: Mapped[int | None] = mapped_column(ForeignKey("outbox.id"))

    due = relationship("Due")
    agreement = relationship("BankAgreement")
