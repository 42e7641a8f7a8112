"""批扣 and 自动缴 through a 银行缴费协议: the daily job pays new dues by withholding (the
sandbox's alipay.trade.pay under the agreement), at most once per due; a refused withholding
(余额不足) charges nothing and leaves the due to pay by hand."""
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import BankAccount, BankAgreement, Order, SandboxTrade
from sbweb.services import withholding
from tests.flows.test_bank import report
from tests.flows.test_proxy import add, payee_rows
from tests.journeys import sign_in


def sign_agreement(client, enrollment_no, name):
    report(client, account_name=name)
    account = db.session.scalar(select(BankAccount).order_by(BankAccount.id.desc()))
    page = client.page("/bank/agreements/new")
    return client.submit(page, {"enrollment": enrollment_no, "account": str(account.id), "kind": "tripartite"})


def orders_of(payer_id):
    db.session.rollback()
    return list(db.session.scalars(select(Order).filter_by(payer_id=payer_id).order_by(Order.id)))


def test_batch_withholding_pays_each_due_once(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, "520102100000012345", "王芳")
    counts = withholding.run()
    assert counts == {"attempted": 2, "settled": 2, "failed": 0, "paused": 0}
    made = orders_of(world.people["王芳"])
    assert [(o.channel, o.state) for o in made] == [("bank", "settled"), ("bank", "settled")]
    assert all(o.ticket_no for o in made)
    assert world.dues("王芳", "pension") == []  # none open
    assert withholding.run()["attempted"] == 0
    db.session.rollback()
    assert len(db.session.scalars(select(SandboxTrade)).all()) == 2  # charged once each
    records = client.page("/records/?insurance=pension")
    assert "银行协议扣款" in records.text and "成功" in records.text
    # The medical enrollment has no agreement: untouched.
    assert len(world.dues("王芳", "medical")) == 1


def test_a_refused_withholding_charges_nothing_and_frees_the_due(app, client, world, ctx):
    app.config["SANDBOX_WITHHOLD_BALANCE"] = 100_000  # 1,000.00: 张伟's 4,776.00 补缴 is refused
    sign_in(client, "张伟", verified=True)
    sign_agreement(client, "370202100000034567", "张伟")
    counts = withholding.run()
    assert counts["settled"] == 1 and counts["failed"] == 1
    failed = next(o for o in orders_of(world.people["张伟"]) if o.state == "failed")
    assert failed.total_fen == 477600 and "余额不足" in failed.events[-1].cause
    backpay = [d for d in world.dues("张伟", "pension") if d.kind == "backpay"]
    assert backpay and backpay[0].payable  # free to pay by hand
    assert withholding.run()["attempted"] == 0  # one attempt per due
    assert "失败" in client.page("/records/").text


def test_auto_pay_for_a_payee_uses_the_payers_agreement(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    sign_agreement(client, "370202100000034567", "张伟")
    client.submit(client.page("/proxy/"), selector="main form.inline-form")  # 自动缴 on
    assert payee_rows(world)[0].auto_pay
    withholding.run()
    assert world.dues("赵秀英", "pension") == [] and world.dues("赵秀英", "medical") == []
    paid_for_her = [o for o in orders_of(world.people["张伟"]) if o.total_fen in (30000, 40000)]
    assert {o.state for o in paid_for_her} == {"settled"} and len(paid_for_her) == 2
    assert "被代缴人 赵秀英" in client.page("/records/?tab=proxy").text


def test_where_no_provider_withholds_no_agreement_is_signed_and_the_job_does_nothing(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    sign_agreement(client, "520102100000012345", "王芳")  # signed while withholding was offered
    app.config["WITHHOLD_PROVIDER"] = None  # e.g. a pilot with WeChat Pay only
    refused = sign_agreement(client, "520102200000012346", "王芳")
    assert refused.status == 422 and "本地区暂未开通银行缴费协议扣款" in refused.text
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(BankAgreement)) == 1
    assert withholding.run() == {"attempted": 0, "settled": 0, "failed": 0, "paused": 0}
    assert orders_of(world.people["王芳"]) == []
