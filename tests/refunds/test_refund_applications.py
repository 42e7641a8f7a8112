"""退费申请: find a payment by dates or 凭证号码 (both empty → the seeds' message), apply with
one's own account, one live application per payment, states in 退费申请记录."""

import pytest
from sqlalchemy import func, select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import RefundApplication
from tests.bank.test_bank import report
from tests.support.journeys import choose, order, order_no_of, pay, sign_in


def count():
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(RefundApplication))


def test_apply_for_a_normal_payment_by_ticket(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    report(client)
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    [ticket] = paid.ticket_nos
    empty = client.page("/refunds/normal/?date_from=&date_to=&ticket_no=")
    assert empty.status == 422 and "票证号码和税款不能同时为空，请选择其中一种进行查询" in " ".join(empty.summary())
    none = client.page("/refunds/normal/?ticket_no=999999999999999999")
    assert "未查询到任何可退税费信息" in none.text
    special = client.page(f"/refunds/special/?ticket_no={ticket}")
    assert "未查询到任何可退税费信息" in special.text  # a normal payment is not 特殊
    found = client.page(f"/refunds/normal/?ticket_no={ticket}")
    link = found.soup.select_one("main a.cell-link")["href"]
    form = client.page(link)
    assert form.h1 == "正常缴费退费申请" and "¥352.00" in form.text
    missing = client.submit(form, {"money_type": "", "reason": ""})
    assert (
        missing.field_error("money_type") == "请选择退费金类型"
        and missing.field_error("reason") == "请选择退费原因类型"
    )
    wrong_name = client.submit(form, {"money_type": "多缴费款退费", "reason": "重复参保缴费", "account_name": "李明"})
    assert wrong_name.field_error("account_name") == "账号名称与银行账户的户名不一致"
    assert count() == 0
    done = client.submit(form, {"money_type": "多缴费款退费", "reason": "重复参保缴费"})
    assert done.h1 == "退费申请记录" and "保存成功" in done.text and "待审核" in done.text and "¥352.00" in done.text
    # Never twice: the payment is no longer offered, and the form refuses.
    assert "未查询到任何可退税费信息" in client.page(f"/refunds/normal/?ticket_no={ticket}").text
    assert client.get(link).status_code == 404
    assert count() == 1


def test_special_refund_for_a_backpay_by_date_range(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    report(client, account_name="张伟")
    backpay = [d for d in world.dues("张伟", "pension") if d.kind == "backpay"]
    paid = order(order_no_of(pay(client, choose(client, "pension", due_ids=[backpay[0].id]))))
    day = paid.settled_at.astimezone(SHANGHAI).date().isoformat()
    found = client.page(f"/refunds/special/?date_from={day}&date_to={day}")
    assert len(found.soup.select("main a.cell-link")) == 1 and "4,776.00" in found.text


CALENDAR = "请输入1990年至2100年之间的日期"
NO_SUCH_DAY = "请输入正确的日期，如 2026-01-31"


@pytest.mark.parametrize(
    "date_from, date_to, said",
    [
        ("0001-01-01", "9999-12-31", {"date_from": CALENDAR, "date_to": CALENDAR}),  # 9,998 years: a 500 before
        ("2026-01-01", "9999-12-31", {"date_to": CALENDAR}),
        ("0001-01-01", "2026-01-01", {"date_from": CALENDAR}),
        ("1900-02-29", "2024-02-30", {"date_from": NO_SUCH_DAY, "date_to": NO_SUCH_DAY}),
        ("0000-01-01", "10000-01-01", {"date_from": NO_SUCH_DAY, "date_to": NO_SUCH_DAY}),
        ("2026-13-01", "2026-12-32", {"date_from": NO_SUCH_DAY, "date_to": NO_SUCH_DAY}),
        ("2026-02-01", "2026-01-31", {"date_to": "缴费终止日期不能早于缴费起始日期"}),
        ("2147483648", "-1", {"date_from": NO_SUCH_DAY, "date_to": NO_SUCH_DAY}),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_dates_off_the_calendar_are_refused_beside_their_field(client, world, ctx, date_from, date_to, said, htmx):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    client.htmx = htmx
    page = client.page(f"/refunds/normal/?date_from={date_from}&date_to={date_to}")
    assert page.status == 422
    assert {name: page.field_error(name) for name in ("date_from", "date_to") if page.field_error(name)} == said
    assert page.summary() == list(said.values())
    assert not page.soup.select("main a.cell-link")
    assert count() == 0


def test_a_search_over_the_whole_calendar_finds_her_payment(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page("/refunds/normal/?date_from=1990-01-01&date_to=2100-12-31")
    assert page.status == 200 and len(page.soup.select("main a.cell-link")) == 1


def test_applications_are_own_person_only(app, client, world, ctx):
    from tests.support import ResidentClient

    sign_in(client, "王芳", verified=True)
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    [ticket] = paid.ticket_nos
    app.test_client_class = ResidentClient
    li = app.test_client()
    sign_in(li, "李明", verified=True)
    assert li.get(f"/refunds/normal/{paid.order_no}/apply").status_code == 404
    assert "未查询到任何可退税费信息" in li.page(f"/refunds/normal/?ticket_no={ticket}").text
    assert li.get("/refunds/other/").status_code == 404
