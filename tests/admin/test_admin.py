"""The back office: staff sign-in (hashed passwords, lock-out, a session apart from residents'),
refund review (approve → 原路退回 once, reject with a reason), the audit log."""

import datetime as dt

from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import AuditEntry, RefundApplication, SandboxRefund, Staff
from sbweb.services import staff as staff_service
from tests.bank.test_bank import report
from tests.support.journeys import choose, order, order_no_of, pay, sign_in

PASSWORD = "correct horse battery"


def make_staff(app, username="shenhe", role="reviewer"):
    result = app.test_cli_runner().invoke(
        args=["staff", "create", username, "--name", "审核员甲", "--role", role], env={"SBWEB_STAFF_PASSWORD": PASSWORD}
    )
    assert result.exit_code == 0, result.output


def staff_login(client, username="shenhe", password=PASSWORD):
    page = client.page("/admin/login")
    return client.submit(page, {"username": username, "password": password})


def apply_for_refund(client, world):
    sign_in(client, "王芳", verified=True)
    report(client)
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    [ticket] = paid.ticket_nos
    form = client.page(f"/refunds/normal/{paid.order_no}/apply")
    client.submit(form, {"money_type": "多缴费款退费", "reason": "重复参保缴费"})
    db.session.rollback()
    application = db.session.scalar(select(RefundApplication))
    return application.id, application.application_no, paid.order_no, ticket


def review_and_confirm(office, application_id, method="原路退回", data=None):
    """逐笔审核 → 下一步：核对退费 → the confirmation page (what goes back, where), 确认退费."""
    detail = office.page(f"/admin/refunds/{application_id}")
    choice = detail.soup.find("label", string=method)
    plan = office.submit(
        detail,
        {"method": detail.soup.find(id=choice["for"])["value"], **(data or {})},
        button="下一步：核对退费",
        selector="main form.form-card",
    )
    assert plan.h1.startswith("核对退费"), plan.text[:300]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SandboxRefund)) == 0  # nothing moved yet
    return plan, office.submit(plan, button="确认退费", selector="main form.form-card")


def test_passwords_are_hashed_and_wrong_ones_lock_the_account(app, client, world, ctx):
    make_staff(app)
    db.session.rollback()
    staff = db.session.scalar(select(Staff))
    assert PASSWORD not in staff.password_hash and staff.password_hash.startswith(("scrypt:", "pbkdf2:"))
    unknown = staff_login(client, username="nobody")
    wrong = staff_login(client, password="wrong password")
    assert unknown.summary() == wrong.summary() == ["用户名或密码不正确"]
    for _ in range(4):
        staff_login(client, password="wrong password")
    locked = staff_login(client)  # the right password, but locked now
    assert "账号已锁定" in " ".join(locked.summary())
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=16)
    assert staff_service.authenticate("shenhe", PASSWORD, now=later).username == "shenhe"


def test_a_resident_session_is_not_a_staff_session(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    response = client.get("/admin/refunds")
    assert response.status_code == 303 and response.location.startswith("/admin/login")


def test_approval_refunds_once_and_the_resident_sees_it(app, client, world, ctx):
    from tests.support import ResidentClient

    application_id, application_no, order_no, _ = apply_for_refund(client, world)
    make_staff(app)
    app.test_client_class = ResidentClient
    office = app.test_client()
    assert staff_login(office).h1 == "后台"
    listing = office.page("/admin/refunds")
    assert application_no in listing.text
    plan, done = review_and_confirm(office, application_id)
    assert "将退回 ¥352.00" in plan.text and "原路退回至缴费人" in plan.text
    assert done.h1 == "退费审核" and "已审核通过" in done.text
    again = office.submit(plan, button="确认退费", selector="main form.form-card")
    assert again.status == 422 and "该申请已处理" in " ".join(again.summary())
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SandboxRefund)) == 1
    assert order(order_no).state == "refunded"
    records = client.page("/refunds/records")
    assert "已退费" in records.text
    assert "原路退回" in client.page("/records/").text
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"refund.approve", "money.refund", "staff.login", "staff.create"} <= actions
    movements = [(m.order_no, m.to_state) for m in staff_service.money_movements()]
    assert (order_no, "settled") in movements and (order_no, "refunded") in movements


def test_a_refund_the_provider_will_not_take_is_listed_for_staff_with_why(app, client, world, ctx, monkeypatch):
    from sbweb.payments import orders
    from tests.support import ResidentClient

    application_id, application_no, order_no, _ = apply_for_refund(client, world)
    make_staff(app)
    app.test_client_class = ResidentClient
    office = app.test_client()
    staff_login(office)
    assert "原路退回未完成" not in office.page("/admin/refunds").text

    def refused(*args, **kwargs):
        raise orders.ProviderError("alipay.trade.refund: ACQ.SELLER_BALANCE_NOT_ENOUGH 卖家余额不足")

    monkeypatch.setattr(type(orders.provider_for(order(order_no))), "refund", refused)
    review_and_confirm(office, application_id)
    listing = office.page("/admin/refunds")
    section = listing.soup.find("h2", string="原路退回未完成").find_next("table")
    row = section.find("td", string=application_no).find_parent("tr")
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert cells[1] == order_no and cells[2] == "待发送" and "卖家余额不足" in cells[4] and cells[4].startswith("1")
    assert order(order_no).state == "settled"  # nothing returned yet: not 原路退回


def test_rejection_needs_a_reason_and_the_payment_can_be_applied_for_again(app, client, world, ctx):
    from tests.support import ResidentClient

    application_id, _, _, ticket_no = apply_for_refund(client, world)
    make_staff(app)
    app.test_client_class = ResidentClient
    office = app.test_client()
    staff_login(office)
    detail = office.page(f"/admin/refunds/{application_id}")
    no_reason = office.submit(detail, button="全部不通过", selector="main form.form-card")
    assert no_reason.field_error("note") == "请填写不通过的原因"
    office.submit(detail, {"note": "重复参保情况不属实"}, button="全部不通过", selector="main form.form-card")
    records = client.page("/refunds/records")
    assert "审核不通过" in records.text and "重复参保情况不属实" in records.text
    assert "申请退费" in client.page(f"/refunds/normal/?ticket_no={ticket_no}").text


def test_only_an_admin_reads_the_audit_log(app, client, world, ctx):
    make_staff(app)
    make_staff(app, username="guanli", role="admin")
    staff_login(client)
    assert client.get("/admin/audit").status_code == 403
    client.post(
        "/admin/logout", data={"csrf_token": client.page("/admin/").soup.select_one("input[name=csrf_token]")["value"]}
    )
    staff_login(client, username="guanli")
    log = client.page("/admin/audit")
    assert log.h1 == "审计日志" and "新建工作人员账号" in log.text and "资金变动" in log.text


def test_approval_to_the_bank_account_is_confirmed_once_the_transfer_is_made(app, client, world, ctx):
    from tests.support import ResidentClient

    application_id, application_no, order_no, _ = apply_for_refund(client, world)
    make_staff(app)
    app.test_client_class = ResidentClient
    office = app.test_client()
    staff_login(office)
    plan, _ = review_and_confirm(office, application_id, method="退至申请人银行账户")
    assert "中国工商银行 **** 3446" in plan.text and "由工作人员转账后确认" in plan.text
    assert "审核通过，退费中" in client.page("/refunds/records").text
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SandboxRefund)) == 0  # not 原路退回
    listing = office.page("/admin/refunds")
    assert "待退至银行账户" in listing.text and application_no in listing.text
    confirm = office.page(f"/admin/refunds/{application_id}")
    office.submit(confirm, button="确认已退至银行账户", selector="main form.form-card")
    again = office.submit(confirm, button="确认已退至银行账户", selector="main form.form-card")
    assert again.status == 422 and "不在待退至银行账户的状态" in " ".join(again.summary())
    records = client.page("/refunds/records")
    assert "已退费" in records.text and "已退至 中国工商银行 **** 3446" in records.text
    assert order(order_no).state == "refunded"
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).filter_by(action="refund.bank_transfer")) == 1
