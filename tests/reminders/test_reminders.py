"""缴费提醒: subscribe (self or a payee), the daily job says each new due and each closing
window once, the mail's one link unsubscribes."""

import datetime as dt
import email
from pathlib import Path

from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import Reminder
from sbweb.services import registry, reminders
from tests.proxy.test_proxy import add
from tests.support.journeys import sign_in


def outbox(app) -> list[email.message.Message]:
    folder = Path(app.instance_path) / "outbox"
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def body(message) -> str:
    return (
        message.get_payload(decode=True).decode()
        if not message.is_multipart()
        else next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    )


def subscribe(client, person_label="本人", address="zhangwei@example.com"):
    page = client.page("/reminders/")
    option = next(o["value"] for o in page.soup.select("#person option") if o.get_text().startswith(person_label))
    return client.submit(page, {"person": option, "email": address})


def test_new_dues_are_said_once_and_the_link_unsubscribes(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = subscribe(client)
    assert "已订阅缴费提醒" in page.text and "zhangwei@example.com" in page.text
    today = dt.date(2026, 11, 23)
    assert reminders.run_daily(today)["mails"] == 1
    [first] = outbox(app)
    assert first["To"] == "zhangwei@example.com" and "张伟有以下社保费待缴" in body(first)
    assert "4776.00 元" in body(first)  # the 补缴 pushed by his agency
    assert reminders.run_daily(today)["mails"] == 0  # nothing new: nothing sent
    with write_transaction():
        registry.add_due(
            world.enrollment("张伟", "pension"),
            kind="backpay",
            period_start="2023-01",
            period_end="2023-03",
            amount_fen=238800,
        )
    assert reminders.run_daily(today + dt.timedelta(days=1))["mails"] == 1
    second = outbox(app)[-1]
    assert "2388.00 元" in body(second) and "4776.00" not in body(second)  # only the new one
    link = next(line.split("：", 1)[1] for line in body(second).splitlines() if line.startswith("不再接收此提醒"))
    gone = client.page(link.replace("http://127.0.0.1:5000", ""))
    assert gone.h1 == "退订缴费提醒" and "已退订" in gone.text
    with write_transaction():
        registry.add_due(
            world.enrollment("张伟", "pension"),
            kind="backpay",
            period_start="2022-01",
            period_end="2022-01",
            amount_fen=79600,
        )
    assert reminders.run_daily(today + dt.timedelta(days=2))["mails"] == 0
    assert client.get("/reminders/unsubscribe/nonsense").status_code == 404


def test_a_week_before_the_window_closes(app, client, world, ctx):
    sign_in(client, "李明", verified=True)
    subscribe(client, address="liming@example.com")
    reminders.run_daily(dt.date(2026, 11, 23))  # his open 2027 dues, said once
    assert reminders.run_daily(dt.date(2027, 6, 22))["windows"] == 0  # 8 days before 2027-06-30
    closing = reminders.run_daily(dt.date(2027, 6, 23))
    assert closing["windows"] == 1 and closing["mails"] == 1
    assert "2027年度征收期将于 2027年06月30日 结束" in body(outbox(app)[-1])
    assert reminders.run_daily(dt.date(2027, 6, 24))["mails"] == 0  # once


def test_a_payee_can_be_watched_but_not_a_stranger(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    page = subscribe(client, person_label="被代缴人")
    assert "已订阅缴费提醒" in page.text
    reminders.run_daily(dt.date(2026, 11, 23))
    assert any("赵秀英有以下社保费待缴" in body(m) for m in outbox(app))
    page = client.page("/reminders/")
    refused = client.submit(page, {"person": str(world.people["王芳"]), "email": "x@example.com"})
    assert refused.status == 422
    bad = client.submit(page, {"email": "not an address"})
    assert bad.field_error("email") == "请输入正确的电子邮箱地址"
    db.session.rollback()
    assert len(db.session.scalars(select(Reminder)).all()) == 1


def test_cancel_from_the_page(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    page = subscribe(client, address="wangfang@example.com")
    after = client.submit(page, selector="main form.inline-form")
    assert "已取消该缴费提醒" in after.text
    assert reminders.run_daily(dt.date(2026, 11, 23))["mails"] == 0
