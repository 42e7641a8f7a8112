"""验证码: a 6-digit one-time code mailed to the person's address on file, which turns a
lookup-level session into a verified one (and binds a WeChat user to its person).

Only an HMAC of the code (keyed by SECRET_KEY and the code's row) is stored. A code lives
VERIFY_CODE_TTL, allows VERIFY_CODE_ATTEMPTS wrong tries and is used once; a person gets at most
VERIFY_CODE_SENDS codes per VERIFY_CODE_SEND_WINDOW. Which code a session answers is the
session's business (the views keep its id), so a code read from someone's mailbox is no use
without the session that asked for it."""

import datetime as dt
import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import delete, func, select

from sbweb import mail
from sbweb.db import db, write_transaction
from sbweb.models import Person, VerificationCode
from sbweb.models.base import utcnow

log = logging.getLogger(__name__)


class VerificationError(Exception):
    """Why a code cannot be sent or accepted, in words a resident can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NoContact(VerificationError):
    pass


def masked_email(address: str | None) -> str:
    """w***@example.com: enough to recognise one's own address, not to learn someone else's."""
    local, _, domain = (address or "").rpartition("@")
    return f"{local[:1]}***@{domain}" if local and domain else ""


def _digest(code_id: int, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"verification:{code_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _minutes(delta: dt.timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds() / 60))


def _make_code(person_id: int | None, now: dt.datetime, *, strict: bool) -> tuple[int, str, str | None]:
    """A code row for the person, and the code and the address to mail it to: (id, code, address).
    Not `strict` (the blind path): where none may go — nobody named, no address, too many codes —
    the row is a decoy (person None) made by the very same steps, and the address None."""
    config = current_app.config
    with write_transaction():
        # One person's sends one at a time, so two taps cannot both take the last place.
        person = db.session.scalar(select(Person).where(Person.id == (person_id or -1)).with_for_update())
        window, limit = config["VERIFY_CODE_SEND_WINDOW"], int(config["VERIFY_CODE_SENDS"])
        recent = list(
            db.session.scalars(
                select(VerificationCode.created_at)
                .where(VerificationCode.person_id == (person_id or -1), VerificationCode.created_at > now - window)
                .order_by(VerificationCode.created_at)
            )
        )
        refusal = None
        if person is None or not person.email:
            refusal = NoContact("您在本平台没有登记电子邮箱，无法接收验证码")
        elif len(recent) >= limit:
            wait = recent[len(recent) - limit] + window - now
            refusal = VerificationError(f"获取验证码过于频繁，请{_minutes(wait)}分钟后再试")
        if refusal is not None and strict:
            raise refusal
        code = f"{secrets.randbelow(10**6):06d}"
        row = VerificationCode(
            person_id=person_id if refusal is None else None,
            code_hash="",
            created_at=now,
            expires_at=now + config["VERIFY_CODE_TTL"],
            attempts=0,
        )
        db.session.add(row)
        db.session.flush()
        row.code_hash = _digest(row.id, code) if refusal is None else secrets.token_hex(32)
        return row.id, code, (person.email if refusal is None else None)


def _mail_code(person_id: int, address: str, code_id: int, code: str) -> None:
    """Mail the code; no mail, no code (it must not count or be guessed at)."""
    minutes = _minutes(current_app.config["VERIFY_CODE_TTL"])
    try:
        mail.queue(
            person_id,
            address,
            "社保费缴纳验证码",
            f"您的验证码是 {code}，{minutes}分钟内有效，仅用于验证身份。\n"
            "请勿将验证码告诉他人。如非本人操作，请忽略本邮件。",
            holds_secret=True,
        )
    except mail.MailError as exc:
        with write_transaction():
            db.session.execute(delete(VerificationCode).where(VerificationCode.id == code_id))
        if isinstance(exc, mail.MailRateLimited):
            raise VerificationError(f"发送过于频繁，请{_minutes(exc.retry_after)}分钟后再试") from None
        raise VerificationError("登记的电子邮箱无法接收邮件，请联系参保地经办机构更正") from None


def send_code(person_id: int, *, now: dt.datetime | None = None) -> VerificationCode:
    """Make a code for the person and mail it to their address on file; the code's row (its
    id is what the session keeps). Raises NoContact or VerificationError, sending nothing."""
    code_id, code, address = _make_code(person_id, now or utcnow(), strict=True)
    _mail_code(person_id, address, code_id, code)
    return db.session.get(VerificationCode, code_id)


def send_blind(person_id: int | None, *, now: dt.datetime | None = None):
    """While a number's lookups are locked: a code row made the same way whether or not the form
    named a person who can receive one (else a decoy no answer opens), and the mailing to do
    once the response has gone (None for a decoy), so that neither the page nor its timing says
    whether the name matched. Returns (row, deliver)."""
    code_id, code, address = _make_code(person_id, now or utcnow(), strict=False)

    def deliver() -> None:
        try:
            _mail_code(person_id, address, code_id, code)
        except VerificationError as exc:  # told to nobody: the page said "if the details match"
            log.info("blind code %s not mailed: %s", code_id, exc.message)

    return db.session.get(VerificationCode, code_id), (deliver if address else None)


@dataclass(frozen=True)
class Check:
    ok: bool
    message: str = ""  # for the resident when not ok
    dead: bool = False  # this code can no longer succeed: a new one is needed
    person_id: int | None = None  # whose code it was (on success)


def check_code(person_id: int | None, code_id: int, typed: str, *, now: dt.datetime | None = None) -> Check:
    """Try `typed` against the person's code `code_id` (person_id None: a code sent without
    saying to whom, see send_blind; `Check.person_id` then says who it was): used on success,
    one try fewer on a wrong answer (counted even when the request fails afterwards)."""
    config = current_app.config
    now = now or utcnow()
    with write_transaction():
        row = db.session.scalar(select(VerificationCode).where(VerificationCode.id == code_id).with_for_update())
        if row is None or (person_id is not None and row.person_id != person_id) or row.used_at is not None:
            return Check(False, "验证码已失效，请重新获取", dead=True)
        if now > row.expires_at:
            return Check(False, "验证码已过期，请重新获取", dead=True)
        allowed = int(config["VERIFY_CODE_ATTEMPTS"])
        if row.attempts >= allowed:
            return Check(False, "验证码错误次数过多，请重新获取", dead=True)
        row.attempts += 1
        right = hmac.compare_digest(row.code_hash, _digest(row.id, typed))  # computed for decoys too
        if right and row.person_id is not None:
            row.used_at = now
            return Check(True, person_id=row.person_id)
        left = allowed - row.attempts
        if left <= 0:
            return Check(False, "验证码错误次数过多，请重新获取", dead=True)
        return Check(False, f"验证码不正确，还可以输入{left}次")


def sends_left(person_id: int, *, now: dt.datetime | None = None) -> int:
    config = current_app.config
    now = now or utcnow()
    used = db.session.scalar(
        select(func.count())
        .select_from(VerificationCode)
        .where(
            VerificationCode.person_id == person_id,
            VerificationCode.created_at > now - config["VERIFY_CODE_SEND_WINDOW"],
        )
    )
    return max(0, int(config["VERIFY_CODE_SENDS"]) - used)
