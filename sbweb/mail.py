"""发送至邮箱: mail through a durable outbox.

`queue()` checks the address and the sender's rate limit, keeps the mail as an `OutboxMail`
row and hands its id to a huey task; `deliver_mail` sends it with flask-mail — by SMTP when
MAIL_SERVER is set, else (the embedded default) as an .eml file in instance/outbox/ — and on
any failure tries again after the next of MAIL_RETRY_DELAYS, until the last one fails too and
the mail is `failed`, shown to the resident with a retry button (`retry()`).

Nothing is lost on the way: the row is the truth, the task only a wake-up call. An attempt
first claims the row (attempts + 1, next_attempt_at pushed out by a lease) in one write
transaction, sends with no transaction open, then records the outcome in another. A mail stays
`queued` until its sending is recorded, so a task that never ran, a process that died mid-send,
or a crash between sending and recording leaves a queued row whose next_attempt_at passes, and
the every-minute sweep (`sweep()`, woken in sbweb/jobs.py) sends it again: at least once. Each
mail keeps one Message-ID across its attempts, so a receiver can tell a repeat.
"""

import datetime as dt
import logging
import math
import mimetypes
import re
import smtplib
import unicodedata
from email.utils import parseaddr
from pathlib import Path

import flask_mail
from flask import current_app
from sqlalchemy import func, or_, select
from sqlalchemy.orm import defer

from sbweb.db import db, write_transaction
from sbweb.id_numbers import redact
from sbweb.instance_files import write_private
from sbweb.models import OutboxMail, Person
from sbweb.models.base import utcnow
from sbweb.taskqueue import huey, in_app_context

log = logging.getLogger(__name__)

mail = flask_mail.Mail()

STATE_LABELS = {"queued": "发送中", "sent": "已发送", "failed": "发送失败，请稍后重试"}
SWEEP_BATCH = 200  # mails re-enqueued per sweep at most; the next minute takes the rest


class MailError(Exception):
    """A mail refused or an action not allowed; `message` is for the resident."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MailRateLimited(MailError):
    """Too many mails from one person in MAIL_RATE_WINDOW; `retry_after` is a timedelta."""

    def __init__(self, message: str, retry_after: dt.timedelta):
        super().__init__(message)
        self.retry_after = retry_after


def init_app(app) -> None:
    mail.init_app(app)


# -- addresses --------------------------------------------------------------------------

BAD_ADDRESS = "请输入正确的电子邮箱地址"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATEXT}(?:\.{_ATEXT})*\Z")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_TLD = re.compile(r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})\Z")


def validate_address(text) -> str:
    """The address to send to, normalised (full-width characters an input method typed become
    ASCII, the domain lower case), or MailError. One mailbox, local@domain with a dot-atom local
    part and a domain of at least two DNS labels (an internationalised domain is allowed); no
    display name, quotes, comments, IP literals, spaces or line breaks; 254 characters at most."""
    if not isinstance(text, str):
        raise MailError(BAD_ADDRESS)
    address = unicodedata.normalize("NFKC", text).strip()
    if not address or len(address) > 254 or any(c.isspace() or not c.isprintable() for c in address):
        raise MailError(BAD_ADDRESS)
    local, at, domain = address.rpartition("@")
    if not at or not local or len(local) > 64 or not _LOCAL.match(local):
        raise MailError(BAD_ADDRESS)
    domain = domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise MailError(BAD_ADDRESS) from None
    labels = ascii_domain.split(".")
    if (
        len(ascii_domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise MailError(BAD_ADDRESS)
    address = f"{local}@{domain}"
    if len(address) > 254 or len(f"{local}@{ascii_domain}") > 254:
        raise MailError(BAD_ADDRESS)
    return address


# -- queueing ---------------------------------------------------------------------------


def _window_words(window: dt.timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds == 3600:
        return "每小时"
    if seconds % 3600 == 0:
        return f"每{seconds // 3600}小时"
    return f"每{max(1, seconds // 60)}分钟"


def _check_rate(person_id: int, now: dt.datetime) -> None:
    config = current_app.config
    limit, window = int(config["MAIL_RATE_LIMIT"]), config["MAIL_RATE_WINDOW"]
    since = now - window
    recent = (
        OutboxMail.person_id == person_id,
        OutboxMail.created_at > since,
        OutboxMail.created_at <= now,
        OutboxMail.holds_secret.is_(False),
        OutboxMail.service_notice.is_(False),
    )
    count = db.session.scalar(select(func.count()).select_from(OutboxMail).where(*recent))
    if count < limit:
        return
    # The mail that frees a place is the (count - limit + 1)-th oldest in the window.
    frees = db.session.scalar(
        select(OutboxMail.created_at).where(*recent).order_by(OutboxMail.created_at).offset(count - limit).limit(1)
    )
    wait = frees + window - now
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    raise MailRateLimited(f"发送过于频繁：{_window_words(window)}最多发送{limit}封邮件，请{minutes}分钟后再试", wait)


def queue(
    person_id: int,
    to_addr: str,
    subject: str,
    body: str,
    *,
    attachment_name: str | None = None,
    attachment: bytes | None = None,
    document_id: int | None = None,
    holds_secret: bool = False,
    service_notice: bool = False,
    now: dt.datetime | None = None,
) -> OutboxMail:
    """Keep a mail for `person_id` (who asks for it to be sent: the rate limit counts theirs) and
    start its delivery. Raises MailError (a bad address) or MailRateLimited, writing nothing.
    Call it outside any write_transaction; the mail is sent by the job, never in here (unless
    huey runs tasks inline, as in tests). A mail that `holds_secret` (a 验证码) is limited by its
    sender, not by MAIL_RATE_LIMIT, and loses its body once sent or given up. A `service_notice`
    (the service writing on its own to the address on file, e.g. before and after a bank
    withholding) is neither refused nor counted by MAIL_RATE_LIMIT: that limit is on what a person
    asks us to send, and a notice dropped for it would be money taken without the word promised."""
    to_addr = validate_address(to_addr)
    if not subject or len(subject) > 200 or "\r" in subject or "\n" in subject:
        raise ValueError("a mail subject is one line of 1-200 characters")
    if attachment is not None and not (
        attachment_name and len(attachment_name) <= 100 and not re.search(r"[\x00-\x1f\x7f/\\]", attachment_name)
    ):
        raise ValueError("an attachment needs a file name of 1-100 characters")
    now = now or utcnow()
    with write_transaction():
        # Serialise one person's mails (a row lock on PostgreSQL; SQLite's write lock already
        # does) so two requests at once cannot both take the last place in the window.
        db.session.scalar(select(Person.id).where(Person.id == person_id).with_for_update())
        if not (holds_secret or service_notice):
            _check_rate(person_id, now)
        row = OutboxMail(
            person_id=person_id,
            document_id=document_id,
            to_addr=to_addr,
            subject=subject,
            body=body,
            holds_secret=holds_secret,
            service_notice=service_notice,
            attachment_name=attachment_name if attachment is not None else None,
            attachment=attachment,
            state="queued",
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        db.session.add(row)
        db.session.flush()
        mail_id = row.id
    _enqueue(mail_id)
    return db.session.get(OutboxMail, mail_id)


def _enqueue(mail_id: int) -> None:
    try:
        deliver_mail(mail_id)
    except Exception:  # the job storage is down: the row is kept and the sweep sends it
        log.exception("mail %s: could not enqueue its delivery; the sweep will", mail_id)


def retry(person_id: int, mail_id: int) -> OutboxMail:
    """重试: the person's own failed mail goes back to the outbox with a fresh retry schedule.
    Anything else raises MailError with a message for the resident."""
    now = utcnow()
    with write_transaction():
        row = db.session.scalar(select(OutboxMail).where(OutboxMail.id == mail_id).with_for_update())
        if row is None or row.person_id != person_id:
            raise MailError("找不到这封邮件")
        if row.state == "sent":
            raise MailError("这封邮件已发送成功，无需重试")
        if row.state != "failed":
            raise MailError("这封邮件正在发送，请稍后查看")
        if row.holds_secret:
            raise MailError("验证码邮件不能重发，请重新获取验证码")
        row.state, row.attempts, row.next_attempt_at = "queued", 0, now
    _enqueue(mail_id)
    return db.session.get(OutboxMail, mail_id)


def mails_of(person_id: int, document_id: int | None = None) -> list[OutboxMail]:
    """The person's mails (for one document, if given), newest first; attachments not loaded."""
    query = (
        select(OutboxMail)
        .where(OutboxMail.person_id == person_id)
        .options(defer(OutboxMail.attachment))
        .order_by(OutboxMail.created_at.desc(), OutboxMail.id.desc())
    )
    if document_id is not None:
        query = query.where(OutboxMail.document_id == document_id)
    return list(db.session.scalars(query))


def state_label(row: OutboxMail) -> str:
    """发送中 / 已发送 / 发送失败，请稍后重试 — what the resident is shown for a mail."""
    return STATE_LABELS.get(row.state, row.state)


# -- delivery ---------------------------------------------------------------------------


def _delays() -> tuple:
    return tuple(current_app.config["MAIL_RETRY_DELAYS"])


def _lease(attempt: int) -> dt.timedelta:
    """How long a claimed attempt owns its mail: if nothing is recorded by then (the process
    died), the sweep sends it again. As long as the wait after a failure, and never shorter
    than a slow SMTP exchange could take."""
    delays = _delays() or (60,)
    delay = delays[min(attempt - 1, len(delays) - 1)]
    return dt.timedelta(seconds=max(float(delay), 6 * float(current_app.config["MAIL_TIMEOUT"])))


def _sender() -> str:
    return current_app.config["MAIL_DEFAULT_SENDER"]


def _message(row: OutboxMail) -> flask_mail.Message:
    sender = _sender()
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sbweb.invalid"
    message = flask_mail.Message(
        subject=row.subject, recipients=[row.to_addr], body=row.body, sender=sender, charset="utf-8"
    )
    # One Message-ID for every attempt of this mail, so a repeat can be recognised.
    message.msgId = f"<outbox.{row.id}.{int(row.created_at.timestamp())}@{domain}>"
    if row.attachment is not None:
        content_type = mimetypes.guess_type(row.attachment_name or "")[0] or "application/octet-stream"
        message.attach(filename=row.attachment_name, content_type=content_type, data=row.attachment)
    return message


class _SMTPConnection(flask_mail.Connection):
    """flask-mail's connection with MAIL_TIMEOUT on every socket operation, read from the
    config at send time, that never suppresses sending, and whose closing cannot turn a mail
    the server accepted into a failure."""

    def __init__(self, config):
        super().__init__(mail.state or current_app.extensions["mail"])
        self.config = config

    def __enter__(self):
        self.host = self.configure_host()
        self.num_emails = 0
        return self

    def configure_host(self):
        config, timeout = self.config, float(self.config["MAIL_TIMEOUT"])
        server, port = config["MAIL_SERVER"], int(config["MAIL_PORT"])
        if config["MAIL_USE_SSL"]:
            host = smtplib.SMTP_SSL(server, port, timeout=timeout)
        else:
            host = smtplib.SMTP(server, port, timeout=timeout)
        try:
            if config["MAIL_USE_TLS"]:
                host.starttls()
            if config["MAIL_USERNAME"] and config["MAIL_PASSWORD"]:
                host.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
        except BaseException:
            host.close()
            raise
        return host

    def __exit__(self, exc_type, exc_value, tb):
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            self.host.close()
        finally:
            self.host = None


def outbox_dir() -> Path:
    return Path(current_app.instance_path) / "outbox"


def _write_eml(message: flask_mail.Message, name: str) -> Path:
    """The embedded default: the message's bytes in instance/outbox/<id>-<attempt>.eml (mode
    0600: it may hold a 验证码 or a certificate), written whole or not at all."""
    folder = outbox_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return write_private(folder / f"{name}.eml", message.as_bytes())


def _send(message: flask_mail.Message, name: str) -> None:
    config = current_app.config
    message.date = utcnow().timestamp()
    if not config["MAIL_SERVER"]:
        _write_eml(message, name)
        return
    with _SMTPConnection(config) as connection:
        connection.send(message)


def _describe(exc: BaseException) -> str:
    """What went wrong, for last_error: the exception and the server's reply, never the mail."""

    def said(reply) -> str:
        return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)

    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.__class__.__name__}: {exc.smtp_code} {said(exc.smtp_error)}"
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):  # the only address in it is to_addr
        replies = "; ".join(f"{addr}: {code} {said(msg)}" for addr, (code, msg) in exc.recipients.items())
        text = f"{exc.__class__.__name__}: {replies}"
    else:
        text = f"{exc.__class__.__name__}: {exc}".rstrip(": ")
    return redact(" ".join(text.split()))[:300]


def _claim(mail_id: int, now: dt.datetime):
    """Take the mail for one attempt, or None when it is not due (sent, failed, or another
    attempt holds it). Returns (attempt number, the message to send)."""
    with write_transaction():
        row = db.session.scalar(select(OutboxMail).where(OutboxMail.id == mail_id).with_for_update())
        if row is None or row.state != "queued":
            return None
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            return None
        row.attempts += 1
        row.next_attempt_at = now + _lease(row.attempts)
        return row.attempts, _message(row)


def _record(mail_id: int, attempt: int, error: str | None) -> dt.datetime | None:
    """Write down how attempt `attempt` went; the time of the next one, if there is one."""
    now = utcnow()
    with write_transaction():
        row = db.session.scalar(select(OutboxMail).where(OutboxMail.id == mail_id).with_for_update())
        if row is None or row.state == "sent":
            return None
        if error is None:  # sent: whatever else happened meanwhile, it arrived
            row.state, row.sent_at, row.next_attempt_at, row.last_error = "sent", now, None, None
            _forget_secret(row)
            return None
        if row.state != "queued" or row.attempts != attempt:
            return None  # a later attempt holds the mail now; its outcome counts
        row.last_error = error
        delays = _delays()
        if attempt > len(delays):
            row.state, row.next_attempt_at = "failed", None
            _forget_secret(row)
            return None
        row.next_attempt_at = now + dt.timedelta(seconds=delays[attempt - 1])
        return row.next_attempt_at


def _forget_secret(row: OutboxMail) -> None:
    if row.holds_secret:
        row.body = ""


def deliver(mail_id: int) -> str | None:
    """One attempt at sending a mail, if it is due; its state afterwards (None: not attempted)."""
    claimed = _claim(mail_id, utcnow())
    if claimed is None:
        return None
    attempt, message = claimed
    try:
        _send(message, f"{mail_id}-{attempt}")
        error = None
    except Exception as exc:  # noqa: BLE001 - refused, dropped, timed out, disk full: all retried alike
        error = _describe(exc)
        code = getattr(exc, "smtp_code", None)  # the log gets no address: class and code only
        log.warning(
            "mail %s attempt %s failed: %s%s", mail_id, attempt, exc.__class__.__name__, f" {code}" if code else ""
        )
    next_at = _record(mail_id, attempt, error)
    if next_at is not None:
        deliver_mail.schedule((mail_id,), eta=next_at)
    state = db.session.scalar(select(OutboxMail.state).where(OutboxMail.id == mail_id))
    db.session.commit()
    if state == "failed":
        log.warning("mail %s failed after %s attempts", mail_id, attempt)
    return state


@huey.task(retries=0)
@in_app_context
def deliver_mail(mail_id: int) -> None:
    deliver(mail_id)


def sweep(now: dt.datetime | None = None) -> int:
    """Enqueue every queued mail whose next attempt is due (its task lost with a restarted
    process or a flushed queue, an attempt that died mid-way); how many. Run every minute."""
    now = now or utcnow()
    due = or_(OutboxMail.next_attempt_at.is_(None), OutboxMail.next_attempt_at <= now)
    ids = list(
        db.session.scalars(
            select(OutboxMail.id)
            .where(OutboxMail.state == "queued", due)
            .order_by(OutboxMail.next_attempt_at)
            .limit(SWEEP_BATCH)
        )
    )
    db.session.commit()
    for mail_id in ids:
        _enqueue(mail_id)
    return len(ids)
