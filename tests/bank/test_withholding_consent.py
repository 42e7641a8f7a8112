"""Consent for money that leaves by itself: a 补缴 the agency pushes waits in the nightly run
until its payer confirms it; a 缴费基数 declared as not for 批扣 is never withheld; the holder is
mailed before (扣款预告: what, from which account, how to stop it — taken only a
WITHHOLD_NOTICE later) and after (扣款结果), and the mail rate limit does not hold these back.

The clock stands at 2026-11-23 12:00 Shanghai (the `clock` fixture)."""

import datetime as dt

import pytest
from sqlalchemy import select

from sbweb import mail
from sbweb.db import db, write_transaction
from sbweb.models import BankAgreement, Declaration, Due, Order, OutboxMail
from sbweb.services import registry, withholding
from tests.admin.test_import import ZHANG_BACKPAY, csv_bytes, office, upload
from tests.bank.test_bank import CARD
from tests.bank.test_withholding import (
    AFTER,
    BEFORE,
    LEFT,
    ZHANG_PENSION,
    landed,
    mails_to,
    sign_agreement,
    verified_client,
)
from tests.proxy.test_proxy import add, payee_rows
from tests.reminders.test_reminders import body
from tests.support.journeys import sign_in, submit_declaration

pytestmark = pytest.mark.usefixtures("clock")

WANG_PENSION = "520102100000012345"


def run():
    counts = withholding.run()
    db.session.rollback()
    return counts


def autopay(app):
    """The nightly job as staff run it by hand: `flask jobs autopay`."""
    result = app.test_cli_runner().invoke(args=["jobs", "autopay"])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    return result.output


def backpays(world, name):
    db.session.rollback()
    return [d for d in world.dues(name, "pension") if d.kind == "backpay"]


# -- 补缴 waits for its confirmation ----------------------------------------------------------------


def test_an_imported_backpay_waits_in_the_nightly_run_until_zhang_wei_confirms_it(app, client, world, ctx):
    app.config["WITHHOLD_NOTICE"] = dt.timedelta(0)
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000")  # no 补缴 opt-in
    staff = office(app)
    assert "已导入 1 行" in upload(staff, csv_bytes([ZHANG_BACKPAY]), mode="apply").text
    assert len(backpays(world, "张伟")) == 2  # the demo's 2024 补缴 and the imported 2023 one

    output = autopay(app)
    assert "补缴未经确认 2 笔" in output and "扣款 1 笔（成功 1" in output  # only his normal month
    assert all(d.state == "open" and d.order_id is None for d in backpays(world, "张伟"))
    told = "补缴费款 ¥4,776.00 未经补缴明细确认，未自动扣款"
    assert told in client.page("/bank/").text
    assert told in client.page(f"/selfpay/{ZHANG_PENSION}/dues").text
    assert "补缴未经确认 2 笔" in autopay(app)  # every night, until he confirms

    page = client.page(f"/declare/backpay/{ZHANG_PENSION}")
    assert "2023年01月至2023年06月" in page.text and "2024年01月至2024年06月" in page.text
    assert client.submit(page).h1 == "缴费信息确认"
    output = autopay(app)
    assert "扣款 2 笔（成功 2" in output and "补缴未经确认 0 笔" in output
    assert backpays(world, "张伟") == []
    assert told not in client.page("/bank/").text


def payee_backpay_under_auto_pay(app, client, world) -> int:
    """张伟 signed in with his withholding agreement, 自动缴 on for his payee 赵秀英, and a 2025 补缴
    pushed for her: its id."""
    app.config["WITHHOLD_NOTICE"] = dt.timedelta(0)
    sign_in(client, "张伟", verified=True)
    add(client)
    sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000")
    client.submit(client.page("/proxy/"), selector="main form.inline-form")  # 自动缴 on for 赵秀英
    with write_transaction():
        return registry.add_due(
            world.enrollment("赵秀英", "pension"),
            kind="backpay",
            period_start="2025-01",
            period_end="2025-12",
            amount_fen=30000,
        ).id


def test_a_backpay_pushed_for_a_payee_under_auto_pay_waits_for_her_confirmation(app, client, world, ctx):
    pushed_id = payee_backpay_under_auto_pay(app, client, world)
    counts = run()
    assert counts["skipped_unconfirmed"] == 2  # his own 补缴 and hers
    assert db.session.get(Due, pushed_id).state == "open"
    [left] = landed(app, LEFT)
    assert "被代缴人 赵秀英 养老保险 2025年01月至2025年12月 特殊缴费：补缴费款 ¥300.00 未经补缴明细确认" in body(left)

    her = verified_client(app, "赵秀英")
    assert her.submit(her.page("/declare/backpay/370212100000045678")).h1 == "缴费信息确认"
    assert run()["settled"] == 1
    paid = db.session.get(Due, pushed_id)
    assert paid.state == "paid" and db.session.get(Order, paid.order_id).payer_id == world.people["张伟"]


def test_zhang_wei_confirms_his_payees_backpay_on_the_page_and_his_auto_pay_takes_it(app, client, world, ctx):
    pushed_id = payee_backpay_under_auto_pay(app, client, world)
    assert run()["skipped_unconfirmed"] == 2
    payee_id = payee_rows(world)[0].id
    dues = client.page(f"/proxy/{payee_id}/370212100000045678/dues")
    assert "补缴费款 ¥300.00 未经补缴明细确认，未自动扣款" in dues.text
    page = client.page(dues.links()["补缴明细确认"])
    assert page.h1 == "补缴明细确认" and "被代缴人 赵秀英（3702**********3469）" in page.text
    assert "您已为赵秀英开启自动缴" in page.text and "370212196011203469" not in page.text
    confirm = client.submit(page)
    assert confirm.h1 == "缴费信息确认" and "被代缴人 赵秀英" in confirm.text
    confirmed = db.session.get(Due, pushed_id)
    assert (confirmed.confirmed_by_id, confirmed.confirmed_level) == (world.people["张伟"], "verified")
    assert run()["settled"] == 1
    paid = db.session.get(Due, pushed_id)
    assert paid.state == "paid" and db.session.get(Order, paid.order_id).payer_id == world.people["张伟"]


def test_only_the_payer_of_a_payee_may_confirm_her_backpay(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    payee_id = payee_rows(world)[0].id
    wang = verified_client(app, "王芳")
    assert wang.get(f"/proxy/{payee_id}/backpay/370212100000045678").status_code == 404
    assert client.get(f"/proxy/{payee_id}/backpay/370202100000034567").status_code == 404  # his own, not hers


# -- 缴费基数是否允许用于批扣 -------------------------------------------------------------------------------


def declare_march(client, **fields):
    page = client.page("/declare/flexible-pension")
    return submit_declaration(
        client, page, {"year": "2026", "month_from": "3", "month_to": "3", "base": "4400", **fields}
    )


def test_the_base_form_asks_whether_it_may_be_used_for_withholding_and_says_no_unless_told(client, world, ctx):
    sign_in(client, "王芳", verified=True, next_url="/declare/")
    page = client.page("/declare/flexible-pension")
    choice = page.soup.select_one("#allow_withholding")
    assert choice.legend.get_text(strip=True) == "缴费基数是否允许用于批扣"
    assert page.soup.select_one("input[name=allow_withholding][checked]")["value"] == "no"
    assert client.page("/declare/resident-pension").soup.select_one("#allow_withholding") is None
    refused = declare_march(client, allow_withholding="maybe")
    assert refused.status == 422 and refused.field_error("allow_withholding")
    assert db.session.scalar(select(Declaration).filter_by(period_start="2026-03")) is None


def test_a_base_declared_not_for_withholding_is_left_for_her_until_she_declares_it_again(app, client, world, ctx):
    app.config["WITHHOLD_NOTICE"] = dt.timedelta(0)
    sign_in(client, "王芳", verified=True, next_url="/declare/")
    assert declare_march(client).h1 == "缴费信息确认"  # the default: 不允许
    declared = db.session.scalar(select(Declaration).filter_by(period_start="2026-03"))
    assert declared.allow_withholding is False
    assert "不允许用于批扣" in client.page("/declare/history").text
    sign_agreement(client, WANG_PENSION, "王芳")
    counts = run()
    assert counts["settled"] == 2 and counts["skipped_not_allowed"] == 1  # the demo's months, not March
    march = db.session.get(Due, declared.due_id)
    assert march.state == "open" and march.order_id is None
    told = "¥880.00 的缴费基数申报时选择了不允许用于批扣，未自动扣款"
    assert told in client.page("/bank/").text
    assert told in client.page(f"/selfpay/{WANG_PENSION}/dues").text
    assert told in body(landed(app, LEFT)[0])

    void = client.page(f"/declare/history/{declared.id}/void")
    client.submit(void)
    assert declare_march(client, allow_withholding="yes").h1 == "缴费信息确认"
    again = db.session.scalar(select(Declaration).filter_by(period_start="2026-03", state="valid"))
    assert again.allow_withholding is True and "允许用于批扣" in client.page("/declare/history").text
    assert run()["settled"] == 1
    assert db.session.get(Due, again.due_id).state == "paid"


# -- mails before and after --------------------------------------------------------------------------


def test_wang_fang_is_told_the_day_before_and_after_and_nothing_is_taken_before_the_notice(
    app, client, world, ctx, clock
):
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, WANG_PENSION, "王芳")
    first = run()
    assert (first["announced"], first["mails_before"], first["waiting"], first["attempted"]) == (2, 1, 2, 0)
    assert all(d.state == "open" and d.order_id is None for d in world.dues("王芳", "pension"))
    [before] = landed(app, BEFORE)
    text = body(before)
    assert before["To"] == "wangfang@example.com"
    assert "2026年11月24日 起的每日批扣" in text and "养老保险 2026年11月 正常缴费 ¥880.00" in text
    assert "扣款账户：中国工商银行 账号 **** 3446" in text and CARD not in text
    assert "/selfpay/" in text and "撤销银行缴费协议" in text and "/bank/" in text
    assert "为被代缴人关闭自动缴" not in text  # nobody's 自动缴 in it

    bank_page = client.page("/bank/")
    assert "扣款预告：养老保险 2026年11月 正常缴费 ¥880.00，将于 2026年11月24日 起的每日批扣中扣款" in bank_page.text
    agreement_id = db.session.scalar(select(BankAgreement.id))
    settings = client.page(f"/bank/agreements/{agreement_id}/settings")
    lowered = client.submit(settings, {"limit": "500"})  # below ¥880: the notice no longer holds
    assert "扣款预告" not in lowered.text and "超过协议单笔扣款限额" not in lowered.text
    client.submit(client.page(f"/bank/agreements/{agreement_id}/settings"), {"limit": "2000"})
    assert "扣款预告：养老保险 2026年11月" in client.page("/bank/").text
    again = run()  # a second run the same day: told already, still waiting
    assert (again["announced"], again["mails_before"], again["waiting"], again["attempted"]) == (0, 0, 2, 0)
    assert len(landed(app, BEFORE)) == 1

    clock.at(clock.now + dt.timedelta(days=1))
    taken = run()
    assert (taken["attempted"], taken["settled"], taken["mails_after"], taken["waiting"]) == (2, 2, 1, 0)
    [after] = landed(app, AFTER)
    text = body(after)
    assert "2026年10月 正常缴费 ¥880.00：已扣款，票证号码" in text and "**** 3446" in text and CARD not in text
    assert world.dues("王芳", "pension") == []
    sign_in(client, "王芳", verified=True)  # a new day's session
    assert "扣款预告" not in client.page("/bank/").text  # taken: nothing announced is left
    assert run()["mails_after"] == 0 and len(landed(app, AFTER)) == 1  # told once


def test_paying_by_hand_after_the_notice_stops_the_withholding(app, client, world, ctx, clock):
    from tests.support.journeys import choose, pay

    sign_in(client, "王芳", verified=True)
    sign_agreement(client, WANG_PENSION, "王芳")
    assert run()["announced"] == 2
    paid = pay(client, choose(client, "pension"))
    assert "缴费成功" in paid.text
    clock.at(clock.now + dt.timedelta(days=1))
    counts = run()
    assert counts["attempted"] == 0 and counts["mails_after"] == 0
    assert [o.channel for o in db.session.scalars(select(Order))] == ["alipay"]  # charged once, by her


def test_a_due_re_priced_after_its_notice_is_announced_again_and_waits_again(app, client, world, ctx, clock):
    sign_in(client, "李明", verified=True, next_url="/declare/")
    sign_agreement(client, "330106100000023456", "李明", limit="5000")
    assert (
        submit_declaration(client, client.page("/declare/resident-pension"), {"grade": "100000"}).h1 == "缴费信息确认"
    )
    assert run()["announced"] == 1
    clock.at(clock.now + dt.timedelta(hours=19))
    sign_in(client, "李明", verified=True, next_url="/declare/")  # a new day's session
    assert (
        submit_declaration(client, client.page("/declare/resident-pension"), {"grade": "200000"}).h1 == "缴费信息确认"
    )
    clock.at(clock.now + dt.timedelta(hours=2))  # 21 hours after the first notice, 2 after the new figure
    counts = run()
    assert (counts["announced"], counts["attempted"], counts["waiting"]) == (1, 0, 1)
    notices = [body(m) for m in landed(app, BEFORE)]
    assert "¥1,000.00" in notices[0] and "¥2,000.00" in notices[1]
    clock.at(clock.now + dt.timedelta(days=1))
    assert run()["settled"] == 1
    assert "¥2,000.00：已扣款" in body(landed(app, AFTER)[0])


def test_a_refused_withholding_is_mailed_after_with_why(app, client, world, ctx, clock):
    app.config.update(WITHHOLD_NOTICE=dt.timedelta(0), SANDBOX_WITHHOLD_BALANCE=100_000)
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000", withhold_backpay="y")
    counts = run()
    assert (counts["settled"], counts["failed"], counts["mails_after"]) == (1, 1, 1)
    text = body(landed(app, AFTER)[0])
    assert "特殊缴费 ¥4,776.00：未扣款：协议扣款未成功（买家余额不足），请自行缴纳" in text
    assert "正常缴费 ¥900.80：已扣款" in text


def test_the_mail_rate_limit_neither_holds_back_the_notices_nor_counts_them(app, client, world, ctx, clock):
    app.config.update(MAIL_RATE_LIMIT=1)
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, WANG_PENSION, "王芳")
    wang = world.people["王芳"]
    mail.queue(wang, "wangfang@example.com", "电子缴费凭证", "她自己要求发送的邮件")  # her one mail this hour
    with pytest.raises(mail.MailRateLimited):
        mail.queue(wang, "wangfang@example.com", "电子缴费凭证", "第二封")
    assert run()["mails_before"] == 1
    clock.at(clock.now + dt.timedelta(days=1))
    assert run()["mails_after"] == 1
    assert len(landed(app, BEFORE)) == 1 and len(landed(app, AFTER)) == 1
    notices = db.session.scalars(select(OutboxMail).where(OutboxMail.subject.in_((BEFORE, AFTER)))).all()
    assert all(m.service_notice for m in notices)
    # A day on, her own allowance is one mail again: the two notices took nothing from it.
    mail.queue(wang, "wangfang@example.com", "电子缴费凭证", "又一封")
    assert mails_to("wangfang@example.com", "电子缴费凭证")[-1].body == "又一封"


def test_a_limit_lowered_while_the_run_mails_its_notices_still_counts(app, client, world, ctx, monkeypatch):
    """The run reads its list, mails the 扣款预告, then takes: a limit lowered in between (here by
    the mail's sending) refuses the due at its turn."""
    app.config["WITHHOLD_NOTICE"] = dt.timedelta(0)
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, WANG_PENSION, "王芳")
    sent = withholding.announce

    def announce_then_lower(ready, now=None):
        told = sent(ready, now)
        with write_transaction():
            db.session.scalar(select(BankAgreement)).limit_fen = 50000  # ¥500: below ¥880
        return told

    monkeypatch.setattr(withholding, "announce", announce_then_lower)
    counts = run()
    assert (counts["announced"], counts["attempted"], counts["skipped_over_limit"]) == (2, 0, 2)
    assert all(d.state == "open" and d.order_id is None for d in world.dues("王芳", "pension"))
