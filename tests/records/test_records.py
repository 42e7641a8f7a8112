"""缴费记录: own and 代缴 tabs, year and 险种 filters, paging (full pages and HTMX swaps),
states as residents read them, and nobody else's record by changing an id."""

from tests.proxy.test_proxy import add, payee_rows
from tests.selfpay.test_steps import hx
from tests.support.journeys import choose, paid_history, pay, sign_in


def record_titles(page):
    return [a.select_one(".cell-sub").get_text(" ", strip=True) for a in page.soup.select("main a.record")]


def test_own_and_proxy_payments_are_in_their_own_tabs(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    pay(client, choose(client, "pension", due_ids=[world.dues("张伟", "pension")[0].id]))
    dues = client.page(f"/proxy/{payee.id}/370212200000045679/dues")
    pay(client, client.submit(dues))
    own = client.page("/records/")
    assert len(own.soup.select("main a.record")) == 1 and "被代缴人" not in own.text
    proxy = client.page("/records/?tab=proxy")
    assert len(proxy.soup.select("main a.record")) == 1
    assert "被代缴人 赵秀英（3702**********3469）" in proxy.text and "¥400.00" in proxy.text
    assert proxy.soup.select_one("main .state").get_text() == "成功"


def test_filters_by_year_and_insurance_and_pages_newest_first(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 30, start_year=2023)
    paid_history(world.people["王芳"], world.enrollment("王芳", "medical"), 5, start_year=2024, amount_fen=35200)
    first = client.page("/records/")
    assert "共 35 条" in first.text and "第 1 / 2 页" in first.text
    assert len(first.soup.select("main a.record")) == 20
    # Newest first: the last-made payment (medical 2024-05) heads the list.
    assert record_titles(first)[0] == "费款所属期 2024年05月"
    second = client.page(first.soup.select_one("a[rel=next]")["href"])
    assert len(second.soup.select("main a.record")) == 15 and "第 2 / 2 页" in second.text
    pension_2024 = client.page("/records/?year=2024&insurance=pension")
    assert "共 12 条" in pension_2024.text
    assert all("2024年" in t for t in record_titles(pension_2024))
    medical = client.page("/records/?insurance=medical")
    assert "共 5 条" in medical.text and "¥352.00" in medical.text
    # Nonsense in the query string is ignored, not a 500.
    for query in ("page=abc", "page=-1", "page=99999999999", "year=abc", "insurance=x", "tab=<script>"):
        assert client.get(f"/records/?{query}").status_code == 200, query


def test_a_page_past_the_end_is_the_last_page_and_one_before_the_start_the_first(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 25, start_year=2023)
    last = record_titles(client.page("/records/?page=2"))
    first = record_titles(client.page("/records/?page=1"))
    assert len(first) == 20 and len(last) == 5
    for page in ("3", "10000", "999999", str(2**31), str(2**63), "9" * 5000, "0002"):
        shown = client.page(f"/records/?page={page}")
        assert shown.status == 200 and "第 2 / 2 页" in shown.text, page
        assert record_titles(shown) == last, page
    for page in ("0", "-1", "000", "", "²", "２"):
        shown = client.page(f"/records/?page={page}")
        assert shown.status == 200 and record_titles(shown) == first, page
    # Years off the calendar are no filter at all (the filter offers only her years).
    for year in ("0", "1989", "2101", "10000", str(2**63)):
        assert len(record_titles(client.page(f"/records/?year={year}"))) == 20, year


def test_filters_and_paging_swap_only_the_results_with_htmx(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 25, start_year=2023)
    response = hx(client, "/records/?page=2")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="records-results"' in body and "<html" not in body
    assert body.count('class="cell cell-link record"') == 5


def test_states_failed_and_refunded_are_named(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 1, start_year=2020, state="failed")
    paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 1, start_year=2021, state="refunded")
    states = [s.get_text() for s in client.page("/records/").soup.select("main .state")]
    assert sorted(states) == ["原路退回", "失败"]


def test_another_persons_record_is_not_found(app, world, ctx):
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    wang, li = app.test_client(), app.test_client()
    sign_in(wang, "王芳", verified=True)
    [order_no] = paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 1)
    sign_in(li, "李明", verified=True)
    assert li.get(f"/orders/{order_no}").status_code == 404
    assert order_no not in li.page("/records/").text  # (the page's text: a number there is split by <wbr>s)
