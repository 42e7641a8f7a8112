"""证明开具: every document issued (开具记录) — 电子缴费凭证, 缴费证明, 完税证明 首开/补开 — with
the verification code its QR code points at; and the mail outbox that delivers them.

A document row is the record of an issue; its PDF is rendered from the data it names (the
order, or the holder's paid items in its range), so a re-download shows the same figures."""
import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow

DOCUMENT_LABELS = {"voucher": "电子缴费凭证", "payment": "缴费证明", "tax": "完税证明"}
ISSUE_LABELS = {"first": "首开", "reissue": "补开"}


class Document(db.Model):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    doc_no: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(10))
    # 完税证明: first (首开, once per ticket) or reissue (补开); None for the others.
    issue: Mapped[str | None] = mapped_column(String(10))
    # Whose payments it certifies, and who had it issued (a payer, for a 代缴 variant).
    holder_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    proxy: Mapped[bool] = mapped_column(Boolean, default=False)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    # What it covers: a year (缴费证明), a 费款所属期 range or one ticket (完税证明).
    year: Mapped[int | None] = mapped_column(Integer)
    period_from: Mapped[str | None] = mapped_column(String(7))
    period_to: Mapped[str | None] = mapped_column(String(7))
    ticket_no: Mapped[str | None] = mapped_column(String(18))
    amount_fen: Mapped[int] = mapped_column(Integer)
    items: Mapped[int] = mapped_column(Integer, default=0)
    verify_code: Mapped[str] = mapped_column(String(16), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    holder = relationship("Person", foreign_keys=[holder_id])
    order = relationship("Order")

    @property
    def label(self) -> str:
        name = DOCUMENT_LABELS[self.kind]
        return f"{name}（{ISSUE_LABELS[self.issue]}）" if self.issue else name


class FirstIssue(db.Model):
    """完税证明 首开: a ticket may be first-issued once for each person it pays for (the unique
    key holds under races); 补开 is only for a ticket already first-issued."""
    __tablename__ = "first_issues"
    __table_args__ = (db.UniqueConstraint("ticket_no", "holder_id", name="uq_first_issues_ticket_holder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_no: Mapped[str] = mapped_column(String(18), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)


class OutboxMail(db.Model):
    """A mail to send (发送至邮箱): kept until sent, retried with backoff by a job; a failure
    after the last attempt is shown to the resident with a retry button."""
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"), index=True)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(100))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    # queued → sent | failed (after the last attempt); failed → queued again on 重试.
    state: Mapped[str] = mapped_column(String(10), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A mail carrying a secret (a 验证码): its body is blanked once sent or given up, so the
    # database never keeps a code in clear, and it is not counted by MAIL_RATE_LIMIT (codes have
    # VERIFY_CODE_SENDS of their own).
    holds_secret: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    document = relationship("Document")


class Reminder(db.Model):
    """缴费提醒: mail this address when new dues appear for `person_id` (the subscriber or a
    payee) and a week before the year's collection window closes; each at most once."""
    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token: Mapped[str] = mapped_column(String(32), unique=True)  # the unsubscribe link's
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReminderSent(db.Model):
    """What a reminder already said (a due, or a window closing), so it says it once."""
    __tablename__ = "reminders_sent"

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id"), index=True)
    about: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (db.UniqueConstraint("reminder_id", "about"),)
