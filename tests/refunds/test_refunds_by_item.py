"""Refunds by item (issue 13): a 退费申请 chooses items of one payment, staff approve item by item
after a confirmation, the order keeps its other items settled, and what becomes of each refunded
period follows the reason (the agency's table): owed again, not owed, or still paid at what was
kept. Every move of a due is an event with its cause; the books balance after each path."""

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import Declaration, Due, DueEvent, OrderItem, RefundApplication
from sbweb.services import declarations, ledger, registry
from tests.admin.test_admin import make_staff, review_and_confirm, staff_login
from tests.bank.test_bank import report
from tests.support.journeys import choose, order, order_no_of, pay, sign_in

MONTHS = ("2026-08", "2026-09", "2026-10")


def three_months_paid(client, world):
    """王芳 pays three months of her 医疗保险 pushed by the agency in one order."""
    sign_in(client, "王芳", verified=True)
    report(client)
    enrollment = world.enrollment("王芳", "medical")
    number = enrollment.enrollment_no
    with write_transaction():
        ids = [
            registry.add_due(enrollment, kind="normal", period_start=m, period_end=m, amount_fen=35200).id
            for m in MONTHS
        ]
    paid = order(order_no_of(pay(client, choose(client, enrollment_no=number, due_ids=ids))))
    assert paid.state == "settled" and len(paid.items) == 3
    return Paid(paid.order_no, paid.ticket_nos[0]), ids


@dataclass(frozen=True)
class Paid:
    order_no: str
    ticket_no: str


def apply(client, order_no, due_id, *, money_type, reason, amount=None):
    form = client.page(f"/refunds/normal/{order_no}/apply")
    assert form.h1 == "正常缴费退费申请", form.text[:300]
    db.session.rollback()
    item = db.session.scalar(select(OrderItem).filter_by(due_id=due_id))
    data = {"items": str(item.id), "money_type": money_type, "reason": reason}
    if amount is not None:
        data[f"amount-{item.id}"] = amount
    after = client.submit(form, data)
    assert after.h1 == "退费申请记录" and "保存成功" in after.text, after.text[:400]
    db.session.rollback()
    application = db.session.scalar(select(RefundApplication).order_by(RefundApplication.id.desc()))
    return Applied(
        application.id, application.application_no, application.amount_fen, [i.item_id for i in application.items]
    ), item.id


@dataclass(frozen=True)
class Applied:
    id: int
    application_no: str
    amount_fen: int
    item_ids: list


def approve_all(app, office, application):
    make_staff(app)
    staff_login(office)
    plan, done = review_and_confirm(office, application.id)
    assert f"将退回 ¥{application.amount_fen / 100:.2f}" in plan.text
    assert done.h1 == "退费审核" and f"已审核通过 {application.application_no}" in done.text
    db.session.rollback()


@pytest.mark.parametrize(
    "money_type, reason, amount, due_state, owed_again",
    [
        ("误缴费款退费", "缴费档次或基数选择错误", None, "open", True),
        ("重复缴费退费", "重复参保缴费", None, "void", False),
        ("其他退费", "参保人死亡", None, "void", False),
        ("多缴费款退费", "其他原因", "52.00", "paid", False),
    ],
)
def test_the_reason_decides_what_becomes_of_the_refunded_month(
    app, client, world, ctx, money_type, reason, amount, due_state, owed_again
):
    paid, ids = three_months_paid(client, world)
    number = world.enrollment("王芳", "medical").enrollment_no
    application, item = apply(client, paid.order_no, ids[1], money_type=money_type, reason=reason, amount=amount)
    expected_back = 5200 if amount else 35200
    assert application.amount_fen == expected_back and application.item_ids == [item]
    approve_all(app, app.test_client(), application)

    # Only that item's money went back; the order keeps the other two settled.
    refreshed = order(paid.order_no)
    assert refreshed.state == "settled"
    assert [(i.due_id, i.refunded_fen) for i in sorted(refreshed.items, key=lambda i: i.due_id)] == [
        (ids[0], 0),
        (ids[1], expected_back),
        (ids[2], 0),
    ]
    due = db.session.get(Due, ids[1])
    assert due.state == due_state
    assert due.amount_fen == (35200 - 5200 if amount else 35200)
    events = list(db.session.scalars(select(DueEvent).filter_by(due_id=due.id).order_by(DueEvent.id)))
    assert events[-1].to_state == due_state and application.application_no in events[-1].cause
    assert [db.session.get(Due, i).state for i in (ids[0], ids[2])] == ["paid", "paid"]

    # What she sees: the item's own state on 缴费记录 and on the order page.
    records = client.page("/records/")
    assert ("已退费" if not amount else "部分退费") in records.text and "成功" in records.text
    dues_page = client.page(f"/selfpay/{number}/dues")
    listed = "2026年09月" in dues_page.text or "2026-09" in dues_page.text
    assert listed == owed_again, dues_page.text[:600]
    if owed_again:
        assert f"已退费（{reason}）" in dues_page.text
        again = pay(client, choose(client, enrollment_no=number, due_ids=[ids[1]]))
        assert again.h1 == "缴费结果", again.text[:300]
        db.session.rollback()
        due = db.session.get(Due, ids[1])
        assert due.state == "paid" and due.reopened_reason is None
    assert ledger.check() == []


def test_a_month_refunded_for_a_wrong_base_can_be_declared_and_paid_again(app, client, world, ctx, clock):
    """Issue 13's first finding: 王芳's December, refunded for 缴费档次或基数选择错误, is owed again —
    its declaration void, the month declarable at another base and payable."""
    sign_in(client, "王芳", verified=True)
    report(client)
    person, enrollment = world.people["王芳"], world.enrollment("王芳", "pension")
    number, enrollment_id = enrollment.enrollment_no, enrollment.id
    december = db.session.scalar(select(Due).filter_by(enrollment_id=enrollment_id, period_start="2026-12"))
    declaration_id = db.session.scalar(select(Declaration.id).filter_by(due_id=december.id, state="valid"))
    assert declaration_id is not None, "the demo's December is declared"
    due_id, first_amount = december.id, december.amount_fen
    paid = order(order_no_of(pay(client, choose(client, enrollment_no=number, due_ids=[due_id]))))
    application, _item = apply(
        client, paid.order_no, due_id, money_type="误缴费款退费", reason="缴费档次或基数选择错误"
    )
    approve_all(app, app.test_client(), application)

    assert order(paid.order_no).state == "refunded"
    assert db.session.get(Declaration, declaration_id).state == "void"
    assert db.session.get(Due, due_id).state == "open"
    enrollment = db.session.get(type(enrollment), enrollment_id)
    second = declarations.declare_base(
        person,
        enrollment,
        year=2026,
        month_from=12,
        month_to=12,
        base_fen=600000,
        today=clock.now.date(),
        level="verified",
    )
    again_id = second.due_id
    db.session.rollback()
    due = db.session.get(Due, again_id)
    assert due.state == "open" and due.amount_fen != first_amount
    result = pay(client, choose(client, enrollment_no=number, due_ids=[again_id]))
    assert result.h1 == "缴费结果"
    db.session.rollback()
    assert db.session.get(Due, again_id).state == "paid"
    assert ledger.check() == []


def test_staff_approve_some_items_and_turn_down_the_rest_with_a_reason(app, client, world, ctx):
    paid, ids = three_months_paid(client, world)
    form = client.page(f"/refunds/normal/{paid.order_no}/apply")
    items = {i.due_id: i.id for i in order(paid.order_no).items}
    client.submit(
        form,
        {"items": [str(items[ids[0]]), str(items[ids[2]])], "money_type": "重复缴费退费", "reason": "重复参保缴费"},
    )
    db.session.rollback()
    application = db.session.scalar(select(RefundApplication))
    assert application.amount_fen == 70400
    keep = [str(i.id) for i in application.items if i.item_id == items[ids[0]]]
    application_id = application.id
    office = app.test_client()
    make_staff(app)
    staff_login(office)
    detail = office.page(f"/admin/refunds/{application_id}")
    # Untick the second: without a reason for turning it down the confirmation is refused.
    refused = office.submit(detail, {"approve": keep}, button="下一步：核对退费", selector="main form.form-card")
    assert "须填写原因" in refused.text or "请填写" in refused.text, refused.text[:500]
    plan, done = review_and_confirm(office, application_id, data={"approve": keep, "note": "该期未重复参保"})
    assert "将退回 ¥352.00" in plan.text and "不予退费" in plan.text
    db.session.rollback()
    assert [(i.due_id, i.refunded_fen) for i in sorted(order(paid.order_no).items, key=lambda i: i.due_id)] == [
        (ids[0], 35200),
        (ids[1], 0),
        (ids[2], 0),
    ]
    assert db.session.get(Due, ids[2]).state == "paid"
    page = client.page("/refunds/records")
    assert "该期未重复参保" in page.text
    assert ledger.check() == []


def test_an_item_is_never_refunded_beyond_what_it_took(app, client, world, ctx):
    paid, ids = three_months_paid(client, world)
    form = client.page(f"/refunds/normal/{paid.order_no}/apply")
    item = next(i for i in order(paid.order_no).items if i.due_id == ids[0])
    for typed, said in (
        ("352.01", "不超过该笔已缴的 352.00 元"),
        ("0", "退费金额应大于0"),
        ("abc", "退费金额应为金额"),
    ):
        page = client.submit(
            form,
            {"items": str(item.id), "money_type": "多缴费款退费", "reason": "其他原因", f"amount-{item.id}": typed},
        )
        assert page.status == 422 and said in page.text, (typed, page.text[:400])
    db.session.rollback()
    assert db.session.scalar(select(RefundApplication)) is None


def test_reporting_a_bank_account_from_the_refund_page_returns_to_the_application(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    order_no, item = paid.order_no, paid.items[0]
    form = client.page(f"/refunds/normal/{order_no}/apply")
    bank_page = client.submit(
        form, {"items": str(item.id), "money_type": "重复缴费退费", "reason": "重复参保缴费"}, button="报告银行账户"
    )
    assert bank_page.h1 == "存款账户账号报告", bank_page.text[:300]
    from tests.bank.test_bank import ACCOUNT

    back = client.submit(bank_page, ACCOUNT)
    assert back.h1 == "正常缴费退费申请", back.text[:300]
    assert back.soup.find("input", {"name": "items", "value": str(item.id)}).has_attr("checked")
    assert back.soup.find("option", {"value": "重复参保缴费"}).has_attr("selected")
    done = client.submit(back, {"account_name": "王芳"})
    assert done.h1 == "退费申请记录" and "保存成功" in done.text


def test_the_agency_edits_what_a_reason_does_and_a_reviewer_only_reads_it(app, client, world, ctx):
    from sbweb.models import AuditEntry, RefundReason

    make_staff(app)
    make_staff(app, username="guanli", role="admin")
    reviewer = app.test_client()
    staff_login(reviewer)
    page = reviewer.page("/admin/refund-reasons")
    assert (
        page.h1 == "退费原因类型"
        and "缴费档次或基数选择错误" in page.text
        and page.soup.select_one("main table form, main section form") is None
    )
    assert "重新应缴" in page.soup.find("td", string="缴费档次或基数选择错误").find_next("td").text
    reason_id = db.session.scalar(select(RefundReason.id).filter_by(reason="缴费档次或基数选择错误"))
    token = page.soup.select_one("input[name=csrf_token]")["value"]
    refused = reviewer.post(
        f"/admin/refund-reasons/{reason_id}", data={"csrf_token": token, f"r{reason_id}-effect": "void"}
    )
    assert refused.status_code == 403

    admin = app.test_client()
    staff_login(admin, username="guanli")
    page = admin.page("/admin/refund-reasons")
    form_selector = f"form[action$='/refund-reasons/{reason_id}']"
    saved = admin.submit(page, {f"r{reason_id}-effect": "void", f"r{reason_id}-active": "y"}, selector=form_selector)
    assert "已保存「缴费档次或基数选择错误」" in saved.text, saved.text[:300]
    bad = admin.submit(saved, {"new-reason": "", "new-effect": "reopen"}, selector="form[action$='/refund-reasons']")
    assert bad.status == 422 and "请输入退费原因类型" in bad.text
    bad = admin.submit(
        saved,
        {"new-reason": "缴费档次或基数选择错误", "new-effect": "reopen"},
        selector="form[action$='/refund-reasons']",
    )
    assert bad.status == 422 and "已有退费原因类型" in bad.text
    added = admin.submit(
        saved,
        {"new-reason": "户籍迁出", "new-effect": "void", "new-active": "y"},
        selector="form[action$='/refund-reasons']",
    )
    assert "已添加退费原因类型「户籍迁出」" in added.text
    db.session.rollback()
    assert db.session.get(RefundReason, reason_id).effect == "void"
    assert {a.action for a in db.session.scalars(select(AuditEntry))} >= {"refund_reason.set", "refund_reason.add"}

    # A refund for that reason, approved now, leaves the month not owed.
    paid, ids = three_months_paid(client, world)
    application, _item = apply(
        client, paid.order_no, ids[0], money_type="误缴费款退费", reason="缴费档次或基数选择错误"
    )
    plan, _done = review_and_confirm(admin, application.id)
    assert "不再应缴" in plan.text
    db.session.rollback()
    assert db.session.get(Due, ids[0]).state == "void"
    assert "户籍迁出" in client.page(f"/refunds/normal/{paid.order_no}/apply").text


def test_each_refunded_item_names_its_own_ticket_for_the_resident_and_for_staff(app, client, world, ctx):
    """李明's 合并缴费 for himself (杭州) and 赵秀英 (青岛) has two tickets: the refund form, 退费申请记录
    and staff's review say which ticket each item belongs to, not both numbers joined."""
    from tests.certificates.test_tickets import HANGZHOU, QINGDAO, batch_for_li_ming_and_zhao, tickets_by_office

    order_no = order_no_of(batch_for_li_ming_and_zhao(client, world))
    tickets = tickets_by_office(order_no)
    report(client, account_name="李明")
    form = client.page(f"/refunds/normal/{order_no}/apply")
    lines = {
        label.select_one(".cell-sub").get_text(" ", strip=True).split("（")[0]: label.get_text(" ", strip=True)
        for label in form.soup.select("label[for^=item-]")
    }
    assert f"票证号码 {tickets[HANGZHOU]}" in lines["李明"] and tickets[QINGDAO] not in lines["李明"]
    assert f"票证号码 {tickets[QINGDAO]}" in lines["赵秀英"] and tickets[HANGZHOU] not in lines["赵秀英"]
    summary = form.soup.select_one("dl.summary-list").get_text(" ", strip=True)
    assert f"{tickets[HANGZHOU]} {HANGZHOU}" in summary and f"{tickets[QINGDAO]} {QINGDAO}" in summary
    assert "、".join(tickets.values()) not in form.text

    zhao_due = world.dues("赵秀英", "medical", state="paid")[0].id
    applied, _ = apply(client, order_no, zhao_due, money_type="误缴费款退费", reason="缴费档次或基数选择错误")
    records = client.page("/refunds/records")
    entry = records.soup.find(string=lambda s: s and applied.application_no in s).find_parent("li")
    said = [line.get_text(" ", strip=True) for line in entry.select(".refund-line")]
    assert said == [
        f"赵秀英 医疗保险 {world.dues('赵秀英', 'medical', state='paid')[0].period_label} ¥400.00 · 待审核 "
        f"票证号码 {tickets[QINGDAO]}"
    ]
    assert tickets[HANGZHOU] not in entry.get_text()

    make_staff(app)
    office = app.test_client()
    staff_login(office)
    review = office.page(f"/admin/refunds/{applied.id}")
    [label] = review.soup.select("#approve label")
    assert label.get_text(" ", strip=True).endswith(f"票证号码 {tickets[QINGDAO]}")
    plan = office.submit(review, button="下一步：核对退费", selector="main form.form-card")
    row = plan.soup.select_one("table.items tbody tr")
    assert [td.get_text(strip=True) for td in row.find_all("td")][3] == tickets[QINGDAO]
