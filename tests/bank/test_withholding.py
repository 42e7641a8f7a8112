"""批扣 and 自动缴 through a 银行缴费协议: the daily job pays new dues by withholding (the
sandbox's alipay.trade.pay under the agreement), at most once per due; a refused withholding
(余额不足) charges nothing and leaves the due to pay by hand. It takes only what the holder
agreed to: dues the agency priced, dues priced by a declaration the holder (or, under 自动缴,
the payee) made from a verified session, 补缴 once confirmed (or opted in), and nothing above
the agreement's 单笔扣款限额. What it leaves is told once, on the pages and by mail.

The clock stands at 2026-11-23 12:00 Shanghai (the `clock` fixture): 2026's months and the
residents' 2027 year are being collected."""

import datetime as dt
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from sbweb.clock import shanghai_today
from sbweb.db import db, write_transaction
from sbweb.models import BankAccount, BankAgreement, Declaration, Due, Order, OutboxMail, SandboxTrade, WithholdingSkip
from sbweb.payments.orders import fingerprint
from sbweb.services import declarations, registry, withholding
from tests.bank.test_bank import report
from tests.proxy.test_proxy import add, payee_rows
from tests.reminders.test_reminders import body, outbox
from tests.support import ResidentClient
from tests.support.journeys import choose, pay, sign_in, submit_declaration

pytestmark = pytest.mark.usefixtures("clock")

NOTICES = ("announced", "waiting", "mails_before", "mails_after")


@pytest.fixture
def app_config():
    """Most tests here are about what may be taken: the 扣款预告 goes in the same run, just
    before the withholding (WITHHOLD_NOTICE 0). The notice period has tests of its own."""
    return {"WITHHOLD_NOTICE": dt.timedelta(0)}


NOTHING = {k: 0 for k in withholding.COUNTS if k not in NOTICES}
ZHANG_PENSION = "370202100000034567"
LI_PENSION = "330106100000023456"


def sign_agreement(client, enrollment_no, name, **fields):
    report(client, account_name=name)
    account = db.session.scalar(select(BankAccount).order_by(BankAccount.id.desc()))
    page = client.page("/bank/agreements/new")
    return client.submit(
        page, {"enrollment": enrollment_no, "account": str(account.id), "kind": "tripartite", **fields}
    )


def orders_of(payer_id):
    db.session.rollback()
    return list(db.session.scalars(select(Order).filter_by(payer_id=payer_id).order_by(Order.id)))


def run():
    """The run's counts of what was taken and left (its before/after mails: `run_told`)."""
    return {k: v for k, v in run_told().items() if k not in NOTICES}


def run_told():
    counts = withholding.run()
    db.session.rollback()
    return counts


def skips():
    db.session.rollback()
    return [(s.due_id, s.reason) for s in db.session.scalars(select(WithholdingSkip).order_by(WithholdingSkip.id))]


LEFT = "银行缴费协议未自动扣款提醒"
BEFORE, AFTER = "银行缴费协议扣款预告", "银行缴费协议扣款结果"


def mails_to(address, subject=LEFT):
    db.session.rollback()
    return list(
        db.session.scalars(select(OutboxMail).filter_by(to_addr=address, subject=subject).order_by(OutboxMail.id))
    )


def subject(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


def landed(app, wanted=LEFT):
    """The mails in instance/outbox/ with this subject."""
    return [m for m in outbox(app) if subject(m) == wanted]


def due_of(world, name, insurance, kind="normal"):
    return next(d for d in world.dues(name, insurance) if d.kind == kind)


def looked_up_grade(world, name, grade_yuan):
    """What the tester did: from a session opened with someone's name and ID number, choose a
    grade for them (the old code took it; the service still records it, as a lookup)."""
    return declarations.choose_grade(
        world.people[name],
        world.enrollment(name, "pension"),
        year=2027,
        grade_fen=grade_yuan * 100,
        today=shanghai_today(),
        level="lookup",
    )


def shown_fingerprint(due):
    """What a 补缴明细确认 page showing this due now would post."""
    return fingerprint([db.session.get(Due, due.id, populate_existing=True)])


def verified_client(app, name):
    app.test_client_class = ResidentClient
    other = app.test_client()
    sign_in(other, name, verified=True)
    return other


# -- what was there before: once per due, 余额不足, 自动缴 --------------------------------------------


def test_batch_withholding_pays_each_due_once(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, "520102100000012345", "王芳")
    counts = run()
    assert counts == {**NOTHING, "attempted": 2, "settled": 2}
    made = orders_of(world.people["王芳"])
    assert [(o.channel, o.state) for o in made] == [("bank", "settled"), ("bank", "settled")]
    assert all(o.ticket_nos for o in made)
    assert world.dues("王芳", "pension") == []  # none open
    assert run()["attempted"] == 0
    assert len(db.session.scalars(select(SandboxTrade)).all()) == 2  # charged once each
    records = client.page("/records/?insurance=pension")
    assert "银行协议扣款" in records.text and "成功" in records.text
    # The medical enrollment has no agreement: untouched.
    assert len(world.dues("王芳", "medical")) == 1


def test_a_refused_withholding_charges_nothing_and_frees_the_due(app, client, world, ctx):
    app.config["SANDBOX_WITHHOLD_BALANCE"] = 100_000  # 1,000.00: 张伟's 4,776.00 补缴 is refused
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000", withhold_backpay="y")
    counts = run()
    assert counts["settled"] == 1 and counts["failed"] == 1
    failed = next(o for o in orders_of(world.people["张伟"]) if o.state == "failed")
    assert failed.total_fen == 477600 and "余额不足" in failed.events[-1].cause
    backpay = due_of(world, "张伟", "pension", "backpay")
    assert backpay.payable  # free to pay by hand
    assert run()["attempted"] == 0  # one attempt per due
    assert skips() == []  # tried once: nothing to tell as a refusal of ours
    assert "失败" in client.page("/records/").text


def test_where_no_provider_withholds_no_agreement_is_signed_and_the_job_does_nothing(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, "520102100000012345", "王芳")  # signed while withholding was offered
    app.config["WITHHOLD_PROVIDER"] = None  # e.g. a pilot with WeChat Pay only
    refused = sign_agreement(client, "520102200000012346", "王芳")
    assert refused.status == 422 and "本地区暂未开通银行缴费协议扣款" in refused.text
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(BankAgreement)) == 1
    assert withholding.run() == dict.fromkeys(withholding.COUNTS, 0)
    assert orders_of(world.people["王芳"]) == []


# -- dues priced by a declaration ---------------------------------------------------------------------


def test_wang_fangs_own_verified_declaration_is_withheld(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    confirm = submit_declaration(
        client,
        client.page("/declare/flexible-pension"),
        {"year": "2026", "month_from": "3", "month_to": "3", "base": "4400", "allow_withholding": "yes"},
    )  # 缴费基数允许用于批扣
    assert confirm.h1 == "缴费信息确认"
    declared = db.session.scalar(select(Declaration).order_by(Declaration.id.desc()))
    assert (declared.declared_by_id, declared.declared_level) == (world.people["王芳"], "verified")
    assert db.session.get(Due, declared.due_id).declaration_id == declared.id
    sign_agreement(client, "520102100000012345", "王芳")
    assert run()["settled"] == 3  # the demo's two months and the one she declared
    assert db.session.get(Due, declared.due_id).state == "paid"


def test_an_agency_pushed_due_without_a_declaration_is_withheld(client, world, ctx):
    with write_transaction():
        pushed = registry.add_due(
            world.enrollment("王芳", "pension"),
            kind="normal",
            period_start="2026-05",
            period_end="2026-05",
            amount_fen=88000,
        )
    assert pushed.declaration_id is None
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, "520102100000012345", "王芳")
    assert run()["settled"] == 3
    assert db.session.get(Due, pushed.id).state == "paid"


def test_li_mings_grade_raised_from_a_looked_up_session_is_not_withheld_and_he_is_told(app, client, world, ctx):
    sign_in(client, "李明", verified=True)
    sign_agreement(client, LI_PENSION, "李明", limit="5000")
    raised = looked_up_grade(world, "李明", 3000)
    assert (raised.declared_by_id, raised.declared_level) == (world.people["李明"], "lookup")
    counts = run()
    assert counts == {**NOTHING, "skipped_unverified": 1, "mails": 1}
    due = db.session.get(Due, raised.due_id)
    assert due.state == "open" and due.amount_fen == 300000 and due.declaration_id == raised.id
    assert db.session.scalars(select(SandboxTrade)).all() == [] and orders_of(world.people["李明"]) == []
    told = "¥3,000.00 的缴费申报未经本人验证身份后提交，未经本人确认的费款不自动扣款"
    assert told in client.page("/bank/").text
    assert told in client.page(f"/selfpay/{LI_PENSION}/dues").text
    [mail] = landed(app)
    assert mail["To"] == "liming@example.com" and told in body(mail) and "养老保险" in body(mail)
    assert run()["mails"] == 0 and len(mails_to("liming@example.com")) == 1  # told once
    # Whoever looks his dues up by number and name sees what is owed, not his agreement.
    looker = app.test_client()
    sign_in(looker, "李明")
    dues_page = looker.page(f"/selfpay/{LI_PENSION}/dues")
    assert "3,000.00" in dues_page.text and "未自动扣款" not in dues_page.text


def test_a_re_priced_due_follows_its_latest_declaration(client, world, ctx):
    sign_in(client, "李明", verified=True, next_url="/declare/")
    sign_agreement(client, LI_PENSION, "李明", limit="5000")
    mine = submit_declaration(client, client.page("/declare/resident-pension"), {"grade": "100000"})
    assert mine.h1 == "缴费信息确认"
    raised = looked_up_grade(world, "李明", 2000)  # the same due, re-priced by someone else
    assert run()["skipped_unverified"] == 1
    due = db.session.get(Due, raised.due_id)
    assert due.state == "open" and due.amount_fen == 200000 and due.declaration_id == raised.id
    again = submit_declaration(client, client.page("/declare/resident-pension"), {"grade": "80000"})
    assert again.h1 == "缴费信息确认"
    latest = db.session.scalar(select(Declaration).where(Declaration.due_id == due.id, Declaration.state == "valid"))
    assert latest.declared_level == "verified" and db.session.get(Due, due.id).declaration_id == latest.id
    assert run()["settled"] == 1
    paid = db.session.get(Due, due.id)
    assert paid.state == "paid" and paid.amount_fen == 80000
    assert "未自动扣款" not in client.page("/bank/").text  # paid: nothing left to tell


def test_a_run_that_read_the_due_before_someone_re_declared_it_the_same_takes_nothing(client, world, ctx):
    """Between the run's consent check and its order, a looked-up session re-chooses the same
    grade: the amount is unchanged, the consent is not, and the order is refused as stale."""
    from sbweb.payments import orders

    sign_in(client, "赵秀英", verified=True)
    assert submit_declaration(client, client.page("/declare/resident-pension"), {"grade": "30000"}).h1 == "缴费信息确认"
    due = due_of(world, "赵秀英", "pension")
    read_by_the_run = fingerprint([due])
    looked_up_grade(world, "赵秀英", 300)
    with pytest.raises(orders.StaleSelection):
        orders.create_order(
            payer_id=world.people["赵秀英"],
            person_ids={world.people["赵秀英"]},
            due_ids=[due.id],
            shown=read_by_the_run,
            channel="bank",
            idempotency_key=f"withhold-{due.id}",
        )
    assert db.session.get(Due, due.id, populate_existing=True).amount_fen == 30000


# -- 补缴 ---------------------------------------------------------------------------------------------


def test_zhang_weis_backpay_waits_for_his_confirmation(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000")
    assert db.session.scalar(select(BankAgreement)).withhold_backpay is False  # off unless chosen
    counts = run()
    assert counts["settled"] == 1 and counts["skipped_unconfirmed"] == 1  # his month, not the 补缴
    backpay = due_of(world, "张伟", "pension", "backpay")
    assert backpay.payable and backpay.confirmed_level is None
    told = "补缴费款 ¥4,776.00 未经补缴明细确认，未自动扣款"
    assert told in client.page("/bank/").text
    assert told in body(landed(app)[-1])
    # A confirmation from a looked-up session does not count.
    declarations.confirm_backpay(
        world.people["张伟"], world.enrollment("张伟", "pension"), shown_fingerprint(backpay), level="lookup"
    )
    assert run()["skipped_unconfirmed"] == 1 and due_of(world, "张伟", "pension", "backpay").payable
    page = client.page(f"/declare/backpay/{ZHANG_PENSION}")
    assert "确认后未自行缴纳的补缴费款，将在每日批扣时从协议账户扣款" in page.text
    assert client.submit(page).h1 == "缴费信息确认"
    confirmed = db.session.get(Due, backpay.id)
    assert (confirmed.confirmed_by_id, confirmed.confirmed_level) == (world.people["张伟"], "verified")
    assert confirmed.confirmed_at is not None
    # …and a later looked-up one does not take its place.
    declarations.confirm_backpay(
        world.people["张伟"], world.enrollment("张伟", "pension"), shown_fingerprint(confirmed), level="lookup"
    )
    assert db.session.get(Due, backpay.id).confirmed_level == "verified"
    assert run() == {**NOTHING, "attempted": 1, "settled": 1}
    assert db.session.get(Due, backpay.id).state == "paid"
    assert len(mails_to("zhangwei@example.com")) == 1


def agency_adds_a_2024_backpay(world):
    """The agency pushes 张伟 another pension 补缴: 2024-01 to 2024-06, ¥4,800.00."""
    with write_transaction():
        registry.add_due(
            world.enrollment("张伟", "pension"),
            kind="backpay",
            period_start="2024-01",
            period_end="2024-06",
            amount_fen=480000,
        )


def test_a_backpay_page_shown_before_the_agency_changed_it_confirms_nothing(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = client.page(f"/declare/backpay/{ZHANG_PENSION}")
    agency_adds_a_2024_backpay(world)
    refused = client.submit(page)
    assert refused.status == 422 and "补缴明细已变更，请核对下方最新明细后再确认" in refused.summary()
    assert "4,800.00" in refused.text
    assert due_of(world, "张伟", "pension", "backpay").confirmed_level is None
    assert client.submit(refused).h1 == "缴费信息确认"  # the page now shows the new figure
    assert due_of(world, "张伟", "pension", "backpay").confirmed_level == "verified"


def test_an_agency_correction_needs_a_new_confirmation(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    client.submit(client.page(f"/declare/backpay/{ZHANG_PENSION}"))
    assert due_of(world, "张伟", "pension", "backpay").confirmed_level == "verified"
    agency_adds_a_2024_backpay(world)
    assert due_of(world, "张伟", "pension", "backpay").confirmed_level is None


def test_the_backpay_opt_in_withholds_it_without_confirmation(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    signed = sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000", withhold_backpay="y")
    assert "单笔扣款限额 ¥5,000.00 · 补缴费款也自动扣款" in signed.text
    assert run() == {**NOTHING, "attempted": 2, "settled": 2}
    assert world.dues("张伟", "pension") == []


# -- 单笔扣款限额 ---------------------------------------------------------------------------------------


def test_a_due_above_the_limit_is_told_once_and_paid_by_hand(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    signed = sign_agreement(client, ZHANG_PENSION, "张伟", withhold_backpay="y")  # the default ¥2,000.00
    assert "单笔扣款限额 ¥2,000.00" in signed.text
    assert run() == {**NOTHING, "attempted": 1, "settled": 1, "skipped_over_limit": 1, "mails": 1}
    for _ in range(2):
        assert run() == {**NOTHING, "skipped_over_limit": 1}
    backpay = due_of(world, "张伟", "pension", "backpay")
    assert skips() == [(backpay.id, "over_limit")]
    told = "¥4,776.00 超过协议单笔扣款限额 ¥2,000.00，未自动扣款，请自行缴纳"
    [mail] = landed(app)
    assert mail["To"] == "zhangwei@example.com" and told in body(mail)
    assert told in client.page("/bank/").text
    assert told in client.page(f"/selfpay/{ZHANG_PENSION}/dues").text
    paid = pay(client, choose(client, enrollment_no=ZHANG_PENSION, due_ids=[backpay.id]))
    assert paid.h1 == "缴费结果" and "缴费成功" in paid.text
    assert db.session.get(Due, backpay.id).state == "paid"
    assert told not in client.page("/bank/").text
    assert run() == NOTHING and len(mails_to("zhangwei@example.com")) == 1


def test_raising_the_limit_lets_the_next_run_withhold(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, ZHANG_PENSION, "张伟", withhold_backpay="y")
    assert run()["skipped_over_limit"] == 1
    agreement = db.session.scalar(select(BankAgreement))
    page = client.page(f"/bank/agreements/{agreement.id}/settings")
    assert page.soup.select_one("#limit")["value"] == "2000.00"
    saved = client.submit(page, {"limit": "5,000", "withhold_backpay": "y"})
    assert "已保存扣款设置：单笔扣款限额 ¥5,000.00" in saved.text
    assert "未自动扣款" not in saved.text  # the refusal no longer holds
    assert run() == {**NOTHING, "attempted": 1, "settled": 1}


def test_no_mail_without_an_address_but_the_pages_say_it(client, world, ctx):
    """赵秀英 has no address on file: her agreement's page and her dues tell her."""
    sign_in(client, "赵秀英", verified=True)
    sign_agreement(client, "370212100000045678", "赵秀英", limit="5000")
    raised = looked_up_grade(world, "赵秀英", 5000)  # ¥300 → ¥5,000, as the tester did
    assert run() == {**NOTHING, "skipped_unverified": 1}
    assert db.session.get(Due, raised.due_id).state == "open"
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 0
    told = "¥5,000.00 的缴费申报未经本人验证身份后提交"
    assert told in client.page("/bank/").text
    assert told in client.page("/selfpay/370212100000045678/dues").text


# -- 自动缴 for a payee ----------------------------------------------------------------------------------


def test_auto_pay_for_a_payee_uses_the_payers_agreement(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    sign_agreement(client, ZHANG_PENSION, "张伟")
    client.submit(client.page("/proxy/"), selector="main form.inline-form")  # 自动缴 on
    assert payee_rows(world)[0].auto_pay
    run()
    assert world.dues("赵秀英", "pension") == [] and world.dues("赵秀英", "medical") == []
    paid_for_her = [o for o in orders_of(world.people["张伟"]) if o.total_fen in (30000, 40000)]
    assert {o.state for o in paid_for_her} == {"settled"} and len(paid_for_her) == 2
    assert "被代缴人 赵秀英" in client.page("/records/?tab=proxy").text


def test_auto_pay_takes_only_what_the_payee_declared_herself_when_verified(app, client, world, ctx):
    """The payee chooses her own grade; 张伟's 自动缴 pays it only when she chose it from a verified
    session (a looked-up one proves nothing), and tells 张伟 when it does not."""
    sign_in(client, "张伟", verified=True)
    add(client)
    sign_agreement(client, ZHANG_PENSION, "张伟", limit="5000", withhold_backpay="y")
    client.submit(client.page("/proxy/"), selector="main form.inline-form")  # 自动缴 on
    raised = looked_up_grade(world, "赵秀英", 1000)
    counts = run()
    assert counts["skipped_unverified"] == 1 and counts["settled"] == 3  # his two, her medical
    assert db.session.get(Due, raised.due_id).state == "open"
    [mail] = landed(app)
    assert mail["To"] == "zhangwei@example.com"
    assert (
        "被代缴人 赵秀英 养老保险 2027年01月至2027年12月 正常缴费：¥1,000.00 的缴费申报未经本人验证身份后提交"
        in body(mail)
    )
    assert "被代缴人 赵秀英" in client.page("/bank/").text
    payee_id = payee_rows(world)[0].id
    assert (
        "¥1,000.00 的缴费申报未经本人验证身份后提交" in client.page(f"/proxy/{payee_id}/370212100000045678/dues").text
    )
    her = verified_client(app, "赵秀英")
    assert "未经本人" not in her.page("/selfpay/370212100000045678/dues").text  # his agreement, not hers
    assert submit_declaration(her, her.page("/declare/resident-pension"), {"grade": "100000"}).h1 == "缴费信息确认"
    assert run() == {**NOTHING, "attempted": 1, "settled": 1}
    due = db.session.get(Due, raised.due_id)
    assert due.state == "paid" and due.amount_fen == 100000
    assert db.session.get(Order, due.order_id).payer_id == world.people["张伟"]


# -- the job's report --------------------------------------------------------------------------------------


def test_flask_jobs_autopay_says_what_it_withheld_and_what_it_left(app, client, world, ctx):
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, ZHANG_PENSION, "张伟")
    result = app.test_cli_runner().invoke(args=["jobs", "autopay"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "attempted=1 settled=1 failed=0 paused=0 skipped_over_limit=0 skipped_unverified=0 "
        "skipped_unconfirmed=1 skipped_reopened=0 skipped_not_allowed=0 announced=1 waiting=0 "
        "mails=1 mails_before=1 mails_after=1"
    )
    assert lines[1] == (
        "扣款 1 笔（成功 1，失败 0）；对账时段暂缓 0 笔；未扣款：超过单笔扣款限额 0 笔，"
        "申报未经本人验证 0 笔，补缴未经确认 1 笔，退费后重新应缴 0 笔，基数不允许用于批扣 0 笔；"
        "扣款预告 1 笔，预告期内待扣 0 笔；邮件：扣款预告 1 封，扣款结果 1 封，未扣款提醒 1 封"
    )


def test_an_agreement_revoked_after_the_run_read_its_list_takes_nothing_more(client, world, ctx):
    """The run lists its work first; an agreement revoked (or a payee's 自动缴 switched off) after
    that, before the due's turn, withholds nothing."""
    from sbweb.services import bank

    sign_in(client, "王芳", verified=True)
    sign_agreement(client, "520102100000012345", "王芳")
    agreements = list(db.session.scalars(select(BankAgreement).filter_by(state="active")))
    work = withholding._work(agreements)
    assert work and all(withholding._still_agreed(a, p, d) for a, p, d in work)
    bank.revoke(world.people["王芳"], agreements[0].id)
    assert not any(withholding._still_agreed(a, p, d) for a, p, d in work)
