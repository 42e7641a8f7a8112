"""Words residents know from the seeds: +添加人员信息 on 我帮他人缴, 撤销 for a bank agreement,
立即付款 on the cashier, 特殊缴费 for a paid 补缴, 申报查询 by 申报日期, and how long 原路退回
takes on the refund pages (per payment channel)."""

import pytest
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Declaration
from sbweb.models.order import REFUND_WORKING_DAYS
from tests.bank.test_bank import report
from tests.selfpay.test_steps import hx
from tests.support.journeys import choose, go_to_provider, order, order_no_of, pay, sign_in

pytestmark = pytest.mark.usefixtures("clock")


def test_proxy_list_offers_plus_add_person(client, world):
    sign_in(client, "王芳", verified=True)
    page = client.page("/proxy/")
    link = next(a for a in page.soup.select("main a") if a.get_text() == "+添加人员信息")
    assert link["href"] == "/proxy/add" and link.select_one("[aria-hidden=true]").get_text() == "+"


def test_the_sandbox_cashier_says_li_ji_fu_kuan(client, world):
    sign_in(client, "王芳")
    cashier = go_to_provider(client, choose(client, "medical"))
    assert [b.get_text() for b in cashier.soup.select("main button")] == ["立即付款", "取消"]


def test_a_paid_backpay_is_special_on_the_order_and_in_the_records(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    backpay = [d for d in world.dues("张伟", "pension") if d.kind == "backpay"]
    result = pay(client, choose(client, "pension", due_ids=[backpay[0].id]))
    assert [t.get_text() for t in result.soup.select("main .tag")] == ["特殊缴费"]
    records = client.page("/records/")
    assert "特殊缴费" in [t.get_text() for t in records.soup.select("main .tag")]


# -- 申报查询 by 申报日期 ------------------------------------------------------------------------------


def declared_days(world, name):
    db.session.rollback()
    return sorted(
        {d.declared_at for d in db.session.scalars(select(Declaration).filter_by(person_id=world.people[name]))}
    )


def listed(page):
    return len(page.soup.select("main ul.records > li"))


def test_history_filters_by_declaration_date(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    everything = client.page("/declare/history")
    assert everything.status == 200 and listed(everything) == 3  # the demo's three
    assert everything.soup.select_one("#declared_from")["type"] == "date"
    from sbweb.clock import SHANGHAI

    first = declared_days(world, "王芳")[0].astimezone(SHANGHAI).date()
    same_day = client.page(f"/declare/history?declared_from={first}&declared_to={first}")
    assert same_day.status == 200 and 1 <= listed(same_day) <= 3
    later = client.page("/declare/history?declared_from=2099-01-01")
    assert listed(later) == 0 and "所选申报日期内没有申报记录" in later.text
    earlier = client.page("/declare/history?declared_to=1999-12-31")
    assert listed(earlier) == 0
    # The other filters keep the dates chosen.
    kept = later.soup.select_one("nav[aria-label=有效状态] a[href*=void]")["href"]
    assert "declared_from=2099-01-01" in kept


@pytest.mark.parametrize(
    "query, field, said",
    [
        ("declared_from=2026-02-30", "declared_from", "请输入正确的日期，如 2026-01-31"),
        ("declared_from=yesterday", "declared_from", "请输入正确的日期，如 2026-01-31"),
        ("declared_to=0001-01-01", "declared_to", "请输入1990年至2100年之间的日期"),
        ("declared_from=2026-03-01&declared_to=2026-02-01", "declared_to", "申报日期止不能早于申报日期起"),
        ("declared_from=" + "9" * 400, "declared_from", "请输入正确的日期，如 2026-01-31"),
    ],
)
def test_a_bad_declaration_date_is_told_in_words(client, world, query, field, said):
    sign_in(client, "王芳", verified=True)
    page = client.page(f"/declare/history?{query}")
    assert page.status == 422 and page.field_error(field) == said and said in " ".join(page.summary())
    assert listed(page) == 0 and page.soup.title.get_text().startswith("错误：")
    fragment = hx(client, f"/declare/history?{query}")
    assert fragment.status_code == 422 and said in fragment.get_data(as_text=True)


# -- 原路退回 takes 2–5 个工作日 (per channel) --------------------------------------------------------


@pytest.mark.parametrize(
    "channel, label, words", [("alipay", "支付宝", "2–5 个工作日"), ("unionpay", "云闪付", "1–5 个工作日")]
)
def test_refund_pages_say_how_long_the_money_takes_by_channel(client, world, ctx, channel, label, words):
    low, high = REFUND_WORKING_DAYS[channel]
    assert words == f"{low}–{high} 个工作日"
    sign_in(client, "王芳", verified=True)
    report(client)
    paid = order(order_no_of(pay(client, choose(client, "medical"), channel=channel)))
    form = client.page(f"/refunds/normal/{paid.order_no}/apply")
    said = form.soup.find("dt", string="原路退回").find_next("dd").get_text()
    assert said == f"审核通过后 {words}内退回{label}付款账户"
    done = client.submit(form, {"money_type": "多缴费款退费", "reason": "重复参保缴费"})
    back = next(s.get_text() for s in done.soup.select("main .cell-sub") if "原路退回" in s.get_text())
    assert done.h1 == "退费申请记录" and back.startswith(f"原路退回{label}付款账户，审核通过后 {words}内到账")
