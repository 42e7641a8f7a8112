"""发送至邮箱 through the durable outbox: mails reach a real SMTP server (aiosmtpd on 127.0.0.1)
with their PDF, or an .eml file by default; refusals, dropped connections, silence and lost
tasks are retried with backoff until the mail arrives exactly once, or it fails visibly and the
resident can send it again; one person sends at most MAIL_RATE_LIMIT mails an hour."""

import datetime as dt
import email
import socket
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from sbweb import jobs
from sbweb import mail as outbox
from sbweb.db import db, write_transaction
from sbweb.jobs import huey, run_due_tasks
from sbweb.models import OutboxMail, Person

PDF = b"%PDF-1.4\n%test\n"
ADDRESS = "resident@example.com"
# The tests' time, set on the app's clock and handed to the job consumer. Ahead of the real
# clock, so that huey (which runs inline in tests, and runs at once whatever is due by the real
# clock) keeps every retry in its schedule until run_due_tasks reaches it.
T0 = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(second=0, microsecond=0)


class Inbox:
    """An SMTP server's handler: keeps what it accepts; `mode` makes it refuse ("451 try later")
    or drop the connection in the middle of DATA."""

    def __init__(self):
        self.mode = "accept"
        self.received = []  # (envelope recipients, parsed message)

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "refuse":
            return "451 4.3.0 try later"
        if self.mode == "drop":
            server.transport.abort()
            return "421 4.3.0 gone"
        self.received.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 2.0.0 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    inbox.port = port
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_TIMEOUT=2)
    try:
        yield inbox
    finally:
        controller.stop()


def new_person(number="110101199003071234", name="李雷") -> int:
    with write_transaction():
        person = Person(id_type="201", id_number=number, name=name)
        db.session.add(person)
        db.session.flush()
        return person.id


def row(mail_id) -> OutboxMail:
    db.session.rollback()
    return db.session.get(OutboxMail, mail_id)


def send_certificate(person_id, now=None, to=ADDRESS):
    return outbox.queue(
        person_id,
        to,
        "缴费证明（2026年度）",
        "您好：\n附件是您的缴费证明。\n",
        attachment_name="缴费证明-2026.pdf",
        attachment=PDF,
        now=now,
    ).id


def the_attachment(message):
    (attachment,) = message.iter_attachments()
    return attachment.get_filename(), attachment.get_content_type(), attachment.get_content()


def at(clock, seconds):
    """Move the app's clock and the job consumer to T0 + seconds."""
    clock.at(T0 + dt.timedelta(seconds=seconds))
    return run_due_tasks(clock.now)


def test_a_mail_reaches_the_smtp_server_with_its_pdf(app, ctx, smtp, clock):
    person = new_person()
    mail_id = send_certificate(person)

    mail = row(mail_id)
    assert (mail.state, mail.attempts, mail.sent_at, mail.last_error) == ("sent", 1, clock.now, None)
    assert outbox.state_label(mail) == "已发送"
    ((recipients, message),) = smtp.received
    assert recipients == [ADDRESS]
    assert message["To"] == ADDRESS
    assert message["Subject"] == "缴费证明（2026年度）"
    assert message["From"].addresses[0].addr_spec == "noreply@sbweb.invalid"
    assert message["From"].addresses[0].display_name == "社保费缴纳"
    body = message.get_body(("plain",)).get_content()  # CRLF on the wire
    assert body.replace("\r\n", "\n") == "您好：\n附件是您的缴费证明。\n"
    assert the_attachment(message) == ("缴费证明-2026.pdf", "application/pdf", PDF)
    assert [m.id for m in outbox.mails_of(person)] == [mail_id]


def test_the_embedded_default_writes_an_eml_file_in_the_instance_outbox(app, ctx, clock):
    assert app.config["MAIL_SERVER"] is None
    mail_id = send_certificate(new_person())

    assert row(mail_id).state == "sent"
    folder = outbox.outbox_dir()
    assert folder == Path(app.instance_path) / "outbox"
    assert sorted(p.name for p in folder.iterdir()) == [f"{mail_id}-1.eml"]  # no partial file left
    message = email.message_from_bytes((folder / f"{mail_id}-1.eml").read_bytes(), policy=policy.default)
    assert message["To"] == ADDRESS
    assert message["Subject"] == "缴费证明（2026年度）"
    assert the_attachment(message) == ("缴费证明-2026.pdf", "application/pdf", PDF)


def test_a_refusing_server_is_retried_with_backoff_until_it_takes_the_mail_once(app, ctx, smtp, clock):
    smtp.mode = "refuse"
    clock.at(T0)
    mail_id = send_certificate(new_person())

    mail = row(mail_id)
    assert (mail.state, mail.attempts) == ("queued", 1)
    assert "451" in mail.last_error and "try later" in mail.last_error
    assert mail.next_attempt_at == T0 + dt.timedelta(seconds=30)
    assert outbox.state_label(mail) == "发送中"

    assert at(clock, 29) == 0  # not before its time
    assert row(mail_id).attempts == 1
    at(clock, 30)
    mail = row(mail_id)
    assert (mail.state, mail.attempts, mail.next_attempt_at) == ("queued", 2, T0 + dt.timedelta(seconds=150))

    smtp.mode = "accept"
    at(clock, 150)
    mail = row(mail_id)
    assert (mail.state, mail.attempts, mail.last_error) == ("sent", 3, None)
    assert len(smtp.received) == 1

    # Nothing sends it again: no task left, the sweep finds nothing due.
    at(clock, 7200)
    assert outbox.sweep() == 0
    assert huey.scheduled_count() == 0
    assert len(smtp.received) == 1
    assert the_attachment(smtp.received[0][1])[2] == PDF


def test_a_closed_port_a_dropped_connection_and_a_silent_server_are_retried(app, ctx, smtp, clock):
    clock.at(T0)
    app.config["MAIL_PORT"] = free_port()  # nobody listens there
    mail_id = send_certificate(new_person())
    assert row(mail_id).last_error.startswith("ConnectionRefusedError")

    app.config["MAIL_PORT"] = smtp.port
    smtp.mode = "drop"  # the server hangs up in the middle of the message
    at(clock, 30)
    mail = row(mail_id)
    assert (mail.state, mail.attempts) == ("queued", 2)
    assert mail.last_error.startswith("SMTPServerDisconnected")

    with socket.socket() as silent:  # takes the connection and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app.config.update(MAIL_PORT=silent.getsockname()[1], MAIL_TIMEOUT=0.3)
        at(clock, 150)
    mail = row(mail_id)
    assert (mail.state, mail.attempts) == ("queued", 3)
    assert "timed out" in mail.last_error

    app.config.update(MAIL_PORT=smtp.port, MAIL_TIMEOUT=2)
    smtp.mode = "accept"
    at(clock, 750)
    assert row(mail_id).state == "sent"
    assert len(smtp.received) == 1
    assert the_attachment(smtp.received[0][1]) == ("缴费证明-2026.pdf", "application/pdf", PDF)


def test_after_the_last_retry_the_mail_fails_visibly_and_retry_sends_it_again(app, ctx, smtp, clock):
    app.config["MAIL_RETRY_DELAYS"] = (30, 60)
    smtp.mode = "refuse"
    clock.at(T0)
    person, other = new_person(), new_person("110101199003075678", "韩梅梅")
    mail_id = send_certificate(person)
    at(clock, 30)
    at(clock, 90)

    mail = row(mail_id)
    assert (mail.state, mail.attempts, mail.next_attempt_at) == ("failed", 3, None)
    assert outbox.state_label(mail) == "发送失败，请稍后重试"
    assert "451" in mail.last_error
    at(clock, 7200)
    assert outbox.sweep() == 0
    assert row(mail_id).attempts == 3  # nothing tries it behind the resident's back

    with pytest.raises(outbox.MailError) as refused:
        outbox.retry(other, mail_id)
    assert refused.value.message == "找不到这封邮件"

    smtp.mode = "accept"
    mail = outbox.retry(person, mail_id)
    assert (mail.state, mail.attempts) == ("sent", 1)  # a fresh schedule, and this time it works
    assert len(smtp.received) == 1
    with pytest.raises(outbox.MailError) as refused:
        outbox.retry(person, mail_id)
    assert refused.value.message == "这封邮件已发送成功，无需重试"


def test_retry_refuses_a_mail_still_being_sent(app, ctx, smtp, clock):
    smtp.mode = "refuse"
    person = new_person()
    mail_id = send_certificate(person)
    with pytest.raises(outbox.MailError, match="正在发送"):
        outbox.retry(person, mail_id)
    with pytest.raises(outbox.MailError, match="找不到"):
        outbox.retry(person, mail_id + 100)


def test_six_mails_in_an_hour_are_refused_with_a_clear_message_and_nothing_written(app, ctx, clock):
    person, other = new_person(), new_person("110101199003075678", "韩梅梅")
    for minute in range(5):
        clock.at(T0 + dt.timedelta(minutes=minute))
        send_certificate(person, now=clock.now)

    clock.at(T0 + dt.timedelta(minutes=10))
    with pytest.raises(outbox.MailRateLimited) as refused:
        send_certificate(person, now=clock.now)
    assert refused.value.message == "发送过于频繁：每小时最多发送5封邮件，请50分钟后再试"
    assert isinstance(refused.value, outbox.MailError)
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 5
    assert len(list(outbox.outbox_dir().iterdir())) == 5
    send_certificate(other, now=clock.now)  # the limit is each person's own

    clock.at(T0 + dt.timedelta(minutes=60))  # the first mail has left the window
    send_certificate(person, now=clock.now)
    with pytest.raises(outbox.MailRateLimited) as refused:
        send_certificate(person, now=clock.now)
    assert refused.value.message == "发送过于频繁：每小时最多发送5封邮件，请1分钟后再试"
    assert len(outbox.mails_of(person)) == 6
    assert [m.created_at for m in outbox.mails_of(person)][:2] == [clock.now, T0 + dt.timedelta(minutes=4)]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "resident",
        "resident@",
        "@example.com",
        "resident@example",
        "resident@@example.com",
        "resi dent@example.com",
        "resident@example.com\r\nBcc: everyone@example.com",
        "resident@example.com,x@y.com",
        "<resident@example.com>",
        "李雷 <resident@example.com>",
        "resident.@example.com",
        ".resident@example.com",
        "resi..dent@example.com",
        "resident@-example.com",
        "resident@example..com",
        "resident@example.c0m",
        "resident@[127.0.0.1]",
        "李雷@example.com",
        "x" * 65 + "@example.com",
        "r@" + "a" * 250 + ".com",
        None,
    ],
)
def test_a_bad_address_is_refused_and_nothing_is_written(app, ctx, text):
    person = new_person()
    with pytest.raises(outbox.MailError) as refused:
        outbox.queue(person, text, "缴费证明", "正文", attachment_name="a.pdf", attachment=PDF)
    assert refused.value.message == "请输入正确的电子邮箱地址"
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 0


@pytest.mark.parametrize(
    "text, address",
    [
        ("  Li.Lei+cert@Example.COM ", "Li.Lei+cert@example.com"),
        ("ｌｉｌｅｉ＠ｑｑ．ｃｏｍ", "lilei@qq.com"),  # typed with a full-width input method
        ("lilei@例子.中国", "lilei@例子.中国"),
        ("o'brien_2026@mail.example.org", "o'brien_2026@mail.example.org"),
    ],
)
def test_a_good_address_is_taken_normalised(text, address):
    assert outbox.validate_address(text) == address


@pytest.mark.parametrize("app", [{"HUEY_IMMEDIATE": False}], indirect=True)
def test_the_sweep_sends_a_queued_mail_whose_task_was_lost(app, ctx, smtp, clock):
    assert type(huey.storage).__name__ == "SqliteStorage"
    huey.storage.flush_all()
    clock.at(T0)
    mail_id = send_certificate(new_person())
    assert huey.pending_count() == 1  # its delivery waits in the job storage
    huey.storage.flush_all()  # … and is lost (a flushed queue, a broken disk)
    assert run_due_tasks(clock.now) == 0
    assert (row(mail_id).state, row(mail_id).attempts) == ("queued", 0)

    jobs.mail_sweep.call_local()  # the every-minute periodic task
    assert huey.pending_count() == 1
    run_due_tasks(clock.now)
    assert row(mail_id).state == "sent"
    assert len(smtp.received) == 1
    jobs.mail_sweep.call_local()
    assert huey.pending_count() == 0
    huey.storage.flush_all()


def test_a_crash_between_sending_and_recording_sends_again_never_loses(app, ctx, smtp, clock, monkeypatch):
    clock.at(T0)
    real_record = outbox._record

    def crash(*args):
        raise RuntimeError("the process died here")

    monkeypatch.setattr(outbox, "_record", crash)
    mail_id = send_certificate(new_person())
    assert len(smtp.received) == 1  # it went out …
    mail = row(mail_id)
    assert (mail.state, mail.attempts) == ("queued", 1)  # … but that was never written down
    monkeypatch.setattr(outbox, "_record", real_record)

    assert outbox.sweep() == 0  # the attempt still holds it for a while
    clock.at(mail.next_attempt_at)
    assert outbox.sweep() == 1
    mail = row(mail_id)
    assert (mail.state, mail.attempts) == ("sent", 2)
    assert len(smtp.received) == 2  # at least once: the same message again, with the same id
    first, second = (message for _, message in smtp.received)
    assert first["Message-ID"] == second["Message-ID"]
    assert outbox.sweep() == 0


def test_mail_settings_come_typed_from_the_environment(monkeypatch):
    from sbweb.config import from_environment

    for key, value in {
        "SERVER": "smtp.example.com",
        "PORT": "2525",
        "USE_TLS": "true",
        "TIMEOUT": "5",
        "RATE_LIMIT": "3",
        "RATE_WINDOW": "600",
        "RETRY_DELAYS": "10, 60,300",
    }.items():
        monkeypatch.setenv(f"SBWEB_MAIL_{key}", value)
    found = from_environment()
    assert {k: v for k, v in found.items() if k.startswith("MAIL_")} == {
        "MAIL_SERVER": "smtp.example.com",
        "MAIL_PORT": 2525,
        "MAIL_USE_TLS": True,
        "MAIL_TIMEOUT": 5,
        "MAIL_RATE_LIMIT": 3,
        "MAIL_RATE_WINDOW": dt.timedelta(minutes=10),
        "MAIL_RETRY_DELAYS": (10, 60, 300),
    }
    monkeypatch.setenv("SBWEB_MAIL_PORT", "twenty-five")
    with pytest.raises(ValueError, match="SBWEB_MAIL_PORT"):
        from_environment()


def test_the_rate_limit_message_follows_the_configured_window(app, ctx, clock):
    app.config.update(MAIL_RATE_LIMIT=2, MAIL_RATE_WINDOW=dt.timedelta(minutes=10))
    person = new_person()
    clock.at(T0)
    send_certificate(person, now=T0)
    send_certificate(person, now=T0)
    with pytest.raises(outbox.MailRateLimited) as refused:
        send_certificate(person, now=T0 + dt.timedelta(seconds=30))
    assert refused.value.message == "发送过于频繁：每10分钟最多发送2封邮件，请10分钟后再试"
    assert refused.value.retry_after == dt.timedelta(minutes=9, seconds=30)
