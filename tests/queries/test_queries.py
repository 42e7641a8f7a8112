"""涉费查询: each query empty and full, and the 代缴 query shows only this payer's payments."""

from tests.proxy.test_proxy import ZHAO, add, payee_rows
from tests.support.journeys import paid_history, pay, sign_in


def rows(page):
    return page.soup.select("main table.items tbody tr")


def test_the_queries_need_a_verified_session(client, world, ctx):
    sign_in(client, "王芳")
    for url in ("/queries/", "/queries/paid", "/queries/proxy-paid", "/declare/history"):
        response = client.get(url)
        assert response.status_code == 303 and response.location.startswith("/auth/"), url


def test_paid_query_empty_then_full(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    menu = client.page("/queries/")
    assert menu.h1 == "涉费查询" and "社保费已缴费查询（代缴）" in menu.text
    empty = client.page("/queries/paid?year=0")
    assert "未查询到已缴费信息" in empty.text
    paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 14, start_year=2024)
    full = client.page("/queries/paid?year=2024")
    assert len(rows(full)) == 12 and "1,200.00" in full.text  # 12 × 100.00
    assert "企业职工基本养老保险费（灵活就业）" in full.text
    everything = client.page("/queries/paid?year=0")
    assert len(rows(everything)) == 14
    assert client.get("/queries/paid?year=abc").status_code == 422


def test_proxy_paid_query_shows_only_what_this_payer_paid(app, client, world, ctx):
    from tests.support import ResidentClient

    sign_in(client, "张伟", verified=True)
    query = {"id_type": ZHAO["id_type"], "id_number": ZHAO["id_number"], "name": ZHAO["name"], "year": "0"}
    before = client.page("/queries/proxy-paid?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert "未查询到已缴费信息" in before.text
    add(client)
    payee = payee_rows(world)[0]
    pay(client, client.submit(client.page(f"/proxy/{payee.id}/370212200000045679/dues")))
    # Someone else paying her pension is not 张伟's to see.
    app.test_client_class = ResidentClient
    other = app.test_client()
    sign_in(other, "王芳", verified=True)
    other.submit(other.page("/proxy/add"), ZHAO)
    other_payee = payee_rows(world, "王芳")[0]
    pay(other, other.submit(other.page(f"/proxy/{other_payee.id}/370212100000045678/dues")))
    after = client.page("/queries/proxy-paid?" + "&".join(f"{k}={v}" for k, v in query.items()))
    assert len(rows(after)) == 1 and "城乡居民基本医疗保险费" in after.text and "养老" not in after.text
    assert "赵秀英（3702**********3469）" in after.text
    wrong = client.page("/queries/proxy-paid?" + "&".join(f"{k}={v}" for k, v in {**query, "name": "赵秀"}.items()))
    assert wrong.status == 422 and "证件号码与姓名不一致" in " ".join(wrong.summary())
    bad = client.page("/queries/proxy-paid?" + "&".join(f"{k}={v}" for k, v in {**query, "id_number": "123"}.items()))
    assert bad.field_error("id_number") == "证件号码格式不正确"


def test_grade_record_query_lists_choices_valid_and_void(client, world, ctx):
    sign_in(client, "李明", verified=True)
    page = client.page("/declare/history?kind=choice")
    assert page.h1 == "选档记录查询" and "缴费档次 500.00 元/年" in page.text
    assert "定额缴费" not in page.text  # the medical fixed amount is not a 选档 record
    assert "暂无申报记录" in client.page("/declare/history?kind=choice&state=void").text


def test_declaration_query_filters_by_payer_type(client, world, ctx):
    sign_in(client, "王芳", verified=True)
    everything = client.page("/declare/history")
    assert len(everything.soup.select("main li.cell")) == 3
    assert "暂无申报记录" in client.page("/declare/history?category=resident").text
    flexible = client.page("/declare/history?category=flexible&state=valid")
    assert len(flexible.soup.select("main li.cell")) == 3
    assert client.get("/declare/history?category=<x>&state=zzz").status_code == 200
