"""票证号码 per 主管税务机关: 合并缴费 for 李明 (杭州) and 赵秀英 (青岛) is one payment with two tickets,
each of its own tax office, shown by ticket and by person on 缴费结果, 缴费记录 and the voucher;
refund search finds the payment by either ticket. 完税证明 as the seeds do it: 查询 → 证明信息列表 →
开具, 首开 once per ticket, 补开 only after 首开, the seeds' words when nothing is found, the same
for a payee (代缴), each step as a whole page and as an HTMX fragment."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from sbweb.clock import SHANGHAI
from sbweb.db import db
from sbweb.models import Document, FirstIssue, Order, SandboxTrade, TaxOffice, Ticket
from sbweb.services import ledger
from tests.certificates.test_certificates import answer, needs_poppler, pdf_text
from tests.proxy.test_proxy import ZHAO, add
from tests.selfpay.test_steps import hx, post_form
from tests.support.journeys import choose, order_no_of, pay, sign_in

HANGZHOU = "国家税务总局杭州市西湖区税务局"
QINGDAO = "国家税务总局青岛市崂山区税务局"
FIRST_NONE = "未查询到任何开具信息，请确认是否首次开具"
REISSUE_NONE = "未查询到任何信息"


def batch_for_li_ming_and_zhao(client, world):
    """李明 pays his 医疗保险 and 赵秀英's in one 合并缴费; returns the 缴费结果 page."""
    sign_in(client, "李明", verified=True)
    add(client)
    mine, hers = world.dues("李明", "medical")[0], world.dues("赵秀英", "medical")[0]
    confirm = client.submit(client.page("/proxy/batch"), {"dues": [str(mine.id), str(hers.id)]})
    assert confirm.h1 == "缴费信息确认"
    return pay(client, confirm)


def tickets_by_office(order_no: str) -> dict[str, str]:
    db.session.rollback()
    rows = db.session.execute(
        select(TaxOffice.name, Ticket.ticket_no)
        .join(Ticket.tax_office)
        .join(Ticket.order)
        .where(Order.order_no == order_no)
    )
    return dict(rows.all())


def test_a_batch_across_hangzhou_and_qingdao_is_one_payment_with_a_ticket_per_tax_office(client, world, ctx):
    result = batch_for_li_ming_and_zhao(client, world)
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    order_no = order_no_of(result)
    tickets = tickets_by_office(order_no)
    assert set(tickets) == {HANGZHOU, QINGDAO}
    assert tickets[HANGZHOU].startswith("4330106") and tickets[QINGDAO].startswith("4370212")
    order = db.session.scalar(select(Order).filter_by(order_no=order_no))
    # One payment: one order, one trade at the provider, for both.
    assert db.session.scalar(select(func.count()).select_from(Order)) == 1
    assert db.session.scalar(select(func.count()).select_from(SandboxTrade)) == 1
    assert order.total_fen == 80000
    for item in order.items:
        person = item.due.enrollment.person.name
        assert item.ticket.tax_office.name == (HANGZHOU if person == "李明" else QINGDAO)
    assert ledger.check() == []

    # 缴费结果: one section per ticket, with its tax office and the person by name and masked ID.
    sections = result.soup.select("main section.ticket-group")
    assert len(sections) == 2
    said = {s.select_one("h2").get_text(" ", strip=True): s.get_text(" ", strip=True) for s in sections}
    hangzhou, qingdao = said[f"票证号码 {tickets[HANGZHOU]}"], said[f"票证号码 {tickets[QINGDAO]}"]
    assert HANGZHOU in hangzhou and "参保人 李明（3301**********4573）" in hangzhou and "赵秀英" not in hangzhou
    assert QINGDAO in qingdao and "参保人 赵秀英（3702**********3469）" in qingdao and "李明" not in qingdao
    assert "2 张，见下方明细" in result.text
    assert "370212196011203469" not in result.text

    # 缴费记录: grouped by ticket with its tax office; each line names its person.
    own, proxy = client.page("/records/"), client.page("/records/?tab=proxy")
    assert f"票证号码 {tickets[HANGZHOU]}" in own.text and HANGZHOU in own.text and QINGDAO not in own.text
    assert "参保人 李明（3301**********4573）" in own.text
    assert f"票证号码 {tickets[QINGDAO]}" in proxy.text and QINGDAO in proxy.text
    assert "被代缴人 赵秀英（3702**********3469）" in proxy.text


@needs_poppler
def test_the_voucher_groups_the_batch_by_ticket_and_person(client, world, ctx, tmp_path):
    order_no = order_no_of(batch_for_li_ming_and_zhao(client, world))
    tickets = tickets_by_office(order_no)
    doc_page = client.page(f"/orders/{order_no}/voucher")
    text = pdf_text(client.get(doc_page.url + ".pdf").data, tmp_path)
    for expected in (
        f"票证号码 {tickets[HANGZHOU]}",
        HANGZHOU,
        f"票证号码 {tickets[QINGDAO]}",
        QINGDAO,
        "李明",
        "330106199207084573",
        "赵秀英",
        "3702**********3469",
        "2 张",
        "捌佰元整",
    ):
        assert expected in text, expected
    # Each person under the ticket of their own tax office (the payer's own copy: his number in full).
    lines = text.split("票证号码 ")[1:]  # [0]: the head table
    section = {part.split()[0]: part for part in lines}
    assert "李明" in section[tickets[HANGZHOU]] and "赵秀英" not in section[tickets[HANGZHOU]]
    assert "3702**********3469" in section[tickets[QINGDAO]] and "3301" not in section[tickets[QINGDAO]]


def test_refund_search_finds_the_payment_by_either_ticket(client, world, ctx):
    order_no = order_no_of(batch_for_li_ming_and_zhao(client, world))
    for ticket in tickets_by_office(order_no).values():
        found = client.page(f"/refunds/normal/?ticket_no={ticket}")
        assert found.status == 200 and [a["href"] for a in found.soup.select("main a[href*='/apply']")] == [
            f"/refunds/normal/{order_no}/apply"
        ], ticket
    assert "未查询到任何可退税费信息" in client.page("/refunds/normal/?ticket_no=433010626000000000").text


# -- 完税证明 -----------------------------------------------------------------------------------


def query(client, issue, data=None, *, proxy=False):
    url = f"/certificates/{'proxy/' if proxy else ''}tax/{issue}"
    return client.submit(client.page(url), data or {})


def issue_from_list(client, app, listing, ticket=None):
    return client.submit(listing, {"captcha": answer(client, app), **({"ticket": ticket} if ticket else {})})


def first_issues() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(FirstIssue))


@needs_poppler
def test_first_issue_lists_the_tickets_then_issues_one_once(app, client, world, ctx, tmp_path):
    order_no = order_no_of(batch_for_li_ming_and_zhao(client, world))
    tickets = tickets_by_office(order_no)
    start = client.page("/certificates/tax/first")
    assert start.h1 == "首开完税证明"
    # 主管税务机关 filled in with his own (the seeds: 一般登陆后会自动填充).
    assert start.soup.select_one("#tax_office option[selected]").get_text() == HANGZHOU
    listing = query(client, "first")
    assert listing.h1 == "首开完税证明" and listing.url.endswith("/certificates/tax/first/list")
    # Only his own ticket: 赵秀英's item is under the Qingdao ticket, and not his.
    cards = [c.get_text(" ", strip=True) for c in listing.soup.select("main .ticket-card")]
    assert len(cards) == 1 and tickets[HANGZHOU] in cards[0] and HANGZHOU in cards[0] and "400.00" in cards[0]
    doc = issue_from_list(client, app, listing)
    assert doc.h1 == "完税证明（首开）"
    text = pdf_text(client.get(doc.url + ".pdf").data, tmp_path)
    for expected in ("税收完税证明", tickets[HANGZHOU], HANGZHOU, "李明", "城乡居民基本医疗保险费", "首开"):
        assert expected in text, expected
    assert tickets[QINGDAO] not in text and "国家税务总局杭州市税务局" not in text
    assert first_issues() == 1
    # Once per ticket: 查询 no longer finds it, in the seeds' words.
    again = query(client, "first", {"ticket_no": tickets[HANGZHOU]})
    assert again.status == 422 and FIRST_NONE in again.summary()
    # A tampered 开具 of the same ticket on the old list is refused too.
    stale = client.submit(listing, {"captcha": "0000", "ticket": tickets[HANGZHOU]})
    assert stale.h1 == "首开完税证明" and "/list" not in stale.url and FIRST_NONE in stale.text
    assert first_issues() == 1


def test_reissue_before_first_issue_finds_nothing_in_the_seeds_words(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    result = pay(client, choose(client, "medical"))
    db.session.rollback()
    ticket = db.session.scalar(select(Order).filter_by(order_no=order_no_of(result))).ticket_nos[0]
    before = query(client, "reissue", {"ticket_no": ticket})
    assert before.status == 422 and before.summary() == [REISSUE_NONE]
    assert client.page("/certificates/tax/reissue/list").url.endswith("/certificates/tax/reissue")  # no list
    issue_from_list(client, app, query(client, "first", {"ticket_no": ticket}))
    today = dt.datetime.now(SHANGHAI).date()
    listing = query(
        client, "reissue", {"ticket_no": ticket, "issued_from": today.isoformat(), "issued_to": today.isoformat()}
    )
    assert listing.url.endswith("/certificates/tax/reissue/list") and "首开于" in listing.text
    assert issue_from_list(client, app, listing).h1 == "完税证明（补开）"
    assert issue_from_list(client, app, client.page(listing.url)).h1 == "完税证明（补开）"  # any number of times
    db.session.rollback()
    assert [d.issue for d in db.session.scalars(select(Document).order_by(Document.id))] == [
        "first",
        "reissue",
        "reissue",
    ]
    # 开具日期 that saw no issue of it.
    earlier = query(client, "reissue", {"issued_from": "2020-01-01", "issued_to": "2020-12-31"})
    assert earlier.status == 422 and earlier.summary() == [REISSUE_NONE]


@pytest.mark.parametrize(
    "issue, data, words",
    [
        ("first", {"ticket_no": "437020226000000001"}, FIRST_NONE),  # a ticket not hers
        ("first", {"period_from": "2001-01", "period_to": "2001-12"}, FIRST_NONE),
        ("first", {"paid_from": "2020-01-01", "paid_to": "2020-01-31"}, FIRST_NONE),
        ("first", {"tax_office": "13702120000"}, FIRST_NONE),  # 崂山: not where she paid
        ("reissue", {"period_from": "2001-01", "period_to": "2001-12"}, REISSUE_NONE),
        ("reissue", {}, REISSUE_NONE),  # nothing first-issued yet
    ],
)
def test_each_not_found_case_says_the_seeds_words(client, world, ctx, issue, data, words):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page(f"/certificates/tax/{issue}")
    options = [o["value"] for o in page.soup.select("#tax_office option")]
    if "tax_office" in data:
        assert data["tax_office"] in options  # every office is not hers, but her choice to make
    nothing = client.submit(page, data)
    assert nothing.status == 422 and nothing.summary() == [words]
    assert first_issues() == 0


def test_each_query_field_finds_her_ticket(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    result = pay(client, choose(client, "medical"))
    db.session.rollback()
    paid = db.session.scalar(select(Order).filter_by(order_no=order_no_of(result)))
    ticket, day = paid.ticket_nos[0], paid.settled_at.astimezone(SHANGHAI).date().isoformat()
    period = paid.items[0].due.period_start
    for data in (
        {"ticket_no": ticket},
        {"period_from": period, "period_to": period},
        {"paid_from": day, "paid_to": day},
        {"tax_office": "15201020000"},
        {},
    ):
        listing = query(client, "first", data)
        assert listing.url.endswith("/list") and ticket in listing.text, data


@needs_poppler
def test_a_payee_s_certificates_offer_first_issue_and_reissue(app, client, world, ctx, tmp_path):
    order_no = order_no_of(batch_for_li_ming_and_zhao(client, world))
    tickets = tickets_by_office(order_no)
    not_yet = query(client, "reissue", ZHAO, proxy=True)
    assert not_yet.status == 422 and REISSUE_NONE in not_yet.summary()
    listing = query(client, "first", ZHAO, proxy=True)
    assert listing.h1 == "首开完税证明（代缴）" and "被代缴人 赵秀英（3702**********3469）" in listing.text
    cards = [c.get_text(" ", strip=True) for c in listing.soup.select("main .ticket-card")]
    assert len(cards) == 1 and tickets[QINGDAO] in cards[0] and QINGDAO in cards[0]
    doc = issue_from_list(client, app, listing)
    assert doc.h1 == "完税证明（首开）"
    text = pdf_text(client.get(doc.url + ".pdf").data, tmp_path)
    for expected in (tickets[QINGDAO], QINGDAO, "赵秀英", "代缴人 李明", "城乡居民基本医疗保险费"):
        assert expected in text, expected
    assert tickets[HANGZHOU] not in text
    assert FIRST_NONE in query(client, "first", ZHAO, proxy=True).summary()
    again = query(client, "reissue", ZHAO, proxy=True)
    assert again.h1 == "补开完税证明（代缴）" and tickets[QINGDAO] in again.text
    assert issue_from_list(client, app, again).h1 == "完税证明（补开）"
    # His own 首开 is untouched by hers: the Hangzhou ticket is still to be first-issued for him.
    assert tickets[HANGZHOU] in query(client, "first").text
    wrong = query(client, "first", {**ZHAO, "name": "赵秀"}, proxy=True)
    assert wrong.status == 422 and "证件号码与姓名不一致" in " ".join(wrong.summary())


def test_the_steps_are_pages_without_htmx_and_fragments_with_it(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    for url in ("/certificates/tax", "/certificates/tax/first", "/certificates/proxy/tax/reissue"):
        whole = client.page(url)
        assert whole.status == 200 and "<html" in whole.response.get_data(as_text=True), url
        part = hx(client, url)
        body = part.get_data(as_text=True)
        assert part.status_code == 200 and "<html" not in body and "HX-Request" in part.vary, url
    # 查询 with htmx: 证明信息列表 in the answer itself (one round trip), setting the address.
    page = client.page("/certificates/tax/first")
    listed = hx(client, "/certificates/tax/first", method="POST", data=post_form(page))
    body = listed.get_data(as_text=True)
    assert listed.status_code == 200 and "<html" not in body and "证明信息列表" in body
    assert listed.headers["HX-Push-Url"] == "/certificates/tax/first/list"
    # A refused 查询 with htmx: 422 with the seeds' words, as a fragment.
    refused = hx(
        client, "/certificates/tax/reissue", method="POST", data=post_form(client.page("/certificates/tax/reissue"))
    )
    assert refused.status_code == 422 and REISSUE_NONE in refused.get_data(as_text=True)
    # 开具 from the list with htmx: the document's page in the answer, its address pushed.
    listing = client.page("/certificates/tax/first/list")
    issued = hx(
        client, "/certificates/tax/first/list", method="POST", data=post_form(listing, {"captcha": answer(client, app)})
    )
    assert issued.status_code == 200 and "/certificates/d/WS" in issued.headers["HX-Push-Url"]
    assert first_issues() == 1


def test_a_looked_up_session_cannot_reach_the_steps(client, world, ctx):
    sign_in(client, "王芳")  # 证件 + 姓名 only
    pay(client, choose(client, "medical"))
    for url in ("/certificates/tax/first", "/certificates/tax/first/list", "/certificates/proxy/tax/first"):
        response = client.get(url)
        assert response.status_code == 303 and response.location.startswith("/auth/"), url
    assert first_issues() == 0
