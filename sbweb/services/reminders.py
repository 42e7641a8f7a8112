"""缴费提醒 (beyond the seeds): mail a resident when new dues appear for them or a payee, and a
week before the year's collection window closes while something of that year is still
open. A daily job sends each thing at most once (reminders_sent holds what was said); one
link in every mail unsubscribes."""

import datetime as dt
import secrets

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sbweb import mail
from sbweb.db import db, write_transaction
from sbweb.models import Due, Enrollment, Person, Reminder, ReminderSent
from sbweb.services import rates
from sbweb.services.payees import is_payee

WINDOW_NOTICE = dt.timedelta(days=7)


class ReminderError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def reminders_of(subscriber_id: int) -> list[Reminder]:
    return list(
        db.session.scalars(
            select(Reminder)
            .where(Reminder.subscriber_id == subscriber_id, Reminder.active.is_(True))
            .order_by(Reminder.id)
        )
    )


def subscribe(subscriber_id: int, person_id: int, email: str) -> Reminder:
    """Remind `email` about `person_id` (the subscriber, or one of their payees)."""
    address = mail.validate_address(email)
    if person_id != subscriber_id and not is_payee(subscriber_id, person_id):
        raise ReminderError("person", "只能为本人或您的被代缴人订阅缴费提醒")
    with write_transaction():
        existing = db.session.scalar(
            select(Reminder).where(
                Reminder.subscriber_id == subscriber_id,
                Reminder.person_id == person_id,
                Reminder.email == address,
                Reminder.active.is_(True),
            )
        )
        if existing is not None:
            raise ReminderError("email", "已订阅该缴费提醒")
        reminder = Reminder(
            subscriber_id=subscriber_id,
            person_id=person_id,
            email=address,
            token=secrets.token_urlsafe(18),
            active=True,
        )
        db.session.add(reminder)
    return reminder


def unsubscribe(token: str) -> Reminder | None:
    """The mail's link: the reminder stops (repeating it is harmless)."""
    with write_transaction():
        reminder = db.session.scalar(select(Reminder).where(Reminder.token == (token or "")[:40]))
        if reminder is not None:
            reminder.active = False
    return reminder


def cancel(subscriber_id: int, reminder_id: int) -> bool:
    with write_transaction():
        reminder = db.session.scalar(
            select(Reminder).where(Reminder.id == reminder_id, Reminder.subscriber_id == subscriber_id)
        )
        if reminder is None:
            return False
        reminder.active = False
    return True


def _news(reminder: Reminder, today: dt.date) -> tuple[list[Due], list]:
    """(open dues not yet mentioned, collection windows closing within a week not yet mentioned)."""
    said = set(db.session.scalars(select(ReminderSent.about).where(ReminderSent.reminder_id == reminder.id)))
    dues = [
        d
        for d in db.session.scalars(
            select(Due)
            .join(Enrollment)
            .where(Enrollment.person_id == reminder.person_id, Due.state == "open")
            .order_by(Due.period_start)
        )
        if f"due:{d.id}" not in said
    ]
    closing = []
    open_years = {}
    for d in db.session.scalars(
        select(Due).join(Enrollment).where(Enrollment.person_id == reminder.person_id, Due.state == "open")
    ):
        open_years.setdefault((d.enrollment.agency.region_code, d.enrollment.category), set()).add(
            int(d.period_start[:4])
        )
    for (region, category), years in open_years.items():
        for year in years:
            standard = rates.standard_for(region, year, category)
            if (
                standard
                and standard.closes - WINDOW_NOTICE <= today <= standard.closes
                and f"window:{standard.id}" not in said
                and standard not in closing
            ):
                closing.append(standard)
    return dues, closing


def _body(reminder: Reminder, person: Person, dues: list[Due], closing: list, base_url: str) -> str:
    lines = ["您好：", "", f"{person.name}有以下社保费待缴：" if dues else f"{person.name}的缴费征收期即将结束："]
    for d in dues:
        lines.append(
            f"  · {d.enrollment.insurance_label} {d.period_label} {d.kind_label} "
            f"{d.amount_fen // 100}.{d.amount_fen % 100:02d} 元"
        )
        if d.provisional_label:  # as the resident's pages say it: the figure may still change
            lines.append(f"    {d.provisional_label}")
    for s in closing:
        lines.append(f"  · {s.year}年度征收期将于 {s.closes:%Y年%m月%d日} 结束，请及时缴费")
    lines += [
        "",
        f"缴费请访问：{base_url}/",
        "",
        f"不再接收此提醒：{base_url}/reminders/unsubscribe/{reminder.token}",
        "",
        "此邮件由社保费缴纳服务自动发送，请勿回复。",
    ]
    return "\n".join(lines)


def run_daily(today: dt.date, base_url: str | None = None) -> dict[str, int]:
    """Send what each active reminder has not said yet; record it only once the mail is queued
    (a refused mail — rate limit — is tried again the next day)."""
    base_url = (base_url or current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    counts = {"mails": 0, "dues": 0, "windows": 0, "skipped": 0}
    for reminder in list(db.session.scalars(select(Reminder).where(Reminder.active.is_(True)))):
        dues, closing = _news(reminder, today)
        if not dues and not closing:
            continue
        person = db.session.get(Person, reminder.person_id)
        try:
            mail.queue(
                reminder.subscriber_id,
                reminder.email,
                f"缴费提醒：{person.name}有社保费待缴",
                _body(reminder, person, dues, closing, base_url),
            )
        except mail.MailError:
            counts["skipped"] += 1
            continue
        try:
            with write_transaction():
                for about in [f"due:{d.id}" for d in dues] + [f"window:{s.id}" for s in closing]:
                    db.session.add(ReminderSent(reminder_id=reminder.id, about=about))
        except IntegrityError:  # another run said it meanwhile
            db.session.rollback()
        counts["mails"] += 1
        counts["dues"] += len(dues)
        counts["windows"] += len(closing)
    return counts
