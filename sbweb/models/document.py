"""证明开具: every document issued (开具记录) — 电子缴费凭证, 缴费证明, 完税证明 首开/补开 — with
the verification code its QR code points at; and the mail outbox that delivers them.

A document never changes once issued: its lines (DocumentItem), totals and holder are stored
at issue and every download and the verify page read only them. What may change afterwards
is its state: 有效 until money it certifies goes back, then 已作废 (date and reason)."""

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.id_numbers import mask
from sbweb.models.base import UTCDateTime, utcnow
from sbweb.models.due import DOCUMENT_KIND_LABELS, DueLabels
from sbweb.models.enrollment import EnrollmentLabels
from sbweb.models.order import CHANNEL_LABELS

DOCUMENT_LABELS = {"voucher": "电子缴费凭证", "payment": "缴费证明", "tax": "完税证明"}
ISSUE_LABELS = {"first": "首开", "reissue": "补开"}
DOCUMENT_STATE_LABELS = {"valid": "有效", "void": "已作废"}


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
    # As at issue: who it certifies and who had it issued (names and 证件号码 may be corrected
    # later; the paper keeps what it said), and the 税务机关 it names.
    holder_name: Mapped[str] = mapped_column(String(64))
    holder_id_number: Mapped[str] = mapped_column(String(20))
    payer_name: Mapped[str] = mapped_column(String(64))
    payer_id_number: Mapped[str] = mapped_column(String(20))
    tax_office: Mapped[str | None] = mapped_column(String(60))
    # valid → void once money it lists goes back (documents.void_covering); never back.
    state: Mapped[str] = mapped_column(String(10), default="valid", server_default="valid", index=True)
    voided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    void_reason: Mapped[str | None] = mapped_column(String(100))

    holder = relationship("Person", foreign_keys=[holder_id])
    order = relationship("Order")
    lines = relationship("DocumentItem", back_populates="document", order_by="DocumentItem.position")

    @property
    def label(self) -> str:
        name = DOCUMENT_LABELS[self.kind]
        return f"{name}（{ISSUE_LABELS[self.issue]}）" if self.issue else name

    @property
    def void(self) -> bool:
        return self.state == "void"

    @property
    def state_label(self) -> str:
        return DOCUMENT_STATE_LABELS[self.state]


class DocumentItem(DueLabels, EnrollmentLabels, db.Model):
    """One line a document certifies, as it was at issue: the paid item it names (item_id, to find
    the documents covering an item) and everything the paper prints about it."""

    __tablename__ = "document_items"
    __table_args__ = (UniqueConstraint("document_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    person_name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(10))
    insurance: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[str] = mapped_column(String(7))
    period_end: Mapped[str] = mapped_column(String(7))
    # What the document certifies of the item: what it kept at issue (an item partly refunded
    # before lists what was kept).
    amount_fen: Mapped[int] = mapped_column(Integer)
    order_no: Mapped[str] = mapped_column(String(32))
    ticket_no: Mapped[str | None] = mapped_column(String(18))
    tax_office: Mapped[str | None] = mapped_column(String(60))
    paid_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(10))

    document = relationship("Document", back_populates="lines")

    @property
    def masked_id(self) -> str:
        return mask(self.id_number)

    @property
    def kind_label(self) -> str:
        return DOCUMENT_KIND_LABELS[self.kind]

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


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
    # A notice the service sends on its own to the address on file (before and after a bank
    # withholding): nobody asked for it, so MAIL_RATE_LIMIT — a limit on what a person asks us
    # to send — neither refuses it nor counts it. Its number is bounded by the withholdings.
    service_notice: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

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
