"""代他人缴费 once (the Guizhou seeds: 缴费人信息 → 证件类型 + 证件号码 + 姓名 → 下一步): 张伟 pays
赵秀英's medical due without adding her to his list — looked up with the same name check and
the same lookup limits as 添加被代缴人 — then the usual dues → 缴费信息确认 → pay; the result
page offers 加入被代缴人列表."""

from sqlalchemy import func, select

from sbweb.db import db
from sbweb.identity.lookup import NO_MATCH
from sbweb.models import LookupFailure, Order, Payee
from tests.proxy.test_proxy import ZHAO, add, payee_rows
from tests.support.journeys import pay, sign_in

ZHAO_MEDICAL = "370212200000045679"


def once(client, **fields):
    return client.submit(client.page("/proxy/once"), {**ZHAO, **fields})


def failures():
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(LookupFailure))


def test_zhang_wei_pays_for_zhao_xiuying_once_and_then_keeps_her_on_his_list(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    index = client.page("/proxy/")
    assert index.links()["代他人缴费（不加入列表）"] == "/proxy/once"
    form = client.page("/proxy/once")
    assert form.h1 == "代他人缴费"
    assert [b.get_text(strip=True) for b in form.soup.select("main form button")] == ["下一步"]
    enrollments = once(client)
    assert enrollments.h1 == "代他人缴费" and "被代缴人：赵秀英（3702**********3469）" in enrollments.text
    assert "370212196011203469" not in enrollments.text
    assert payee_rows(world) == []  # not on his list
    link = next(a["href"] for a in enrollments.soup.select("main a.cell-link") if "医疗保险" in a.get_text())
    assert link == f"/proxy/once/{ZHAO_MEDICAL}/dues"
    dues = client.page(link)
    assert dues.h1 == "选择缴费信息" and "被代缴人 赵秀英（3702**********3469）" in dues.text
    confirm = client.submit(dues)
    assert confirm.h1 == "缴费信息确认" and "被代缴人 赵秀英" in confirm.text and "400.00" in confirm.text
    result = pay(client, confirm)
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    order = db.session.scalar(select(Order))
    assert order.payer_id == world.people["张伟"] and order.state == "settled"
    order_no = order.order_no
    assert world.dues("赵秀英", "medical") == []
    assert payee_rows(world) == []
    records = client.page("/records/?tab=proxy")  # what he paid for others, her number masked
    assert f"/orders/{order_no}" in [a["href"] for a in records.soup.select("main a.record")]
    assert "以后还为赵秀英缴费？" in result.text and "3702**********3469" in result.text

    kept = client.submit(result, selector="main form[action='/proxy/keep']")
    assert kept.h1 == "我帮他人缴" and "已添加被代缴人 赵秀英" in kept.text
    assert [p.person_id for p in payee_rows(world)] == [world.people["赵秀英"]]
    again = client.page(result.url)
    assert "加入被代缴人列表" not in again.text  # on the list now: nothing more to offer
    assert client.submit(result, selector="main form[action='/proxy/keep']").h1 == "缴费结果"
    assert len(payee_rows(world)) == 1


def test_a_wrong_name_is_refused_with_the_lookup_message_and_counted(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    before = failures()
    wrong = once(client, name="赵秀")
    assert wrong.status == 422 and wrong.h1 == "代他人缴费" and wrong.summary() == [NO_MATCH]
    counted = failures() - before  # by number and by client
    assert counted > 0
    assert add(client, name="赵秀").summary() == [NO_MATCH]  # the same words as adding a payee
    assert failures() == before + 2 * counted
    unknown = once(client, id_number="110101199003074514", name="某某")
    assert unknown.summary() == [NO_MATCH]  # an unknown number reads the same
    assert client.get(f"/proxy/once/{ZHAO_MEDICAL}/dues").status_code == 303  # nobody chosen


def test_the_lookup_limits_count_across_adding_and_paying_once(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    for guess in ("赵一", "赵二", "赵三"):
        add(client, name=guess)
    for guess in ("赵四", "赵五"):
        once(client, name=guess)
    refused = once(client)  # the right name, after five wrong ones for her number
    assert refused.status == 429 and "查询失败次数过多" in " ".join(refused.summary())
    assert client.get("/proxy/once/enrollments").status_code == 303


def test_oneself_an_unenrolled_person_and_a_looked_up_session_are_refused(client, world, ctx):
    sign_in(client, "张伟")  # looked up: paying for someone needs what adding one needs
    response = client.get("/proxy/once")
    assert response.status_code == 303 and response.location.startswith("/auth/")
    sign_in(client, "张伟", verified=True)
    me = once(client, id_number="370202197805127818", name="张伟")
    assert me.field_error("id_number").startswith("不能代缴本人")
    unenrolled = once(client, id_number="330102198808082426", name="陈静")
    assert "未查询到参保登记信息" in " ".join(unenrolled.summary())


def test_someone_paid_for_once_is_only_reachable_by_that_payer_and_that_selection(app, client, world, ctx):
    from tests.support import ResidentClient

    sign_in(client, "张伟", verified=True)
    once(client)
    app.test_client_class = ResidentClient
    wang = app.test_client()
    sign_in(wang, "王芳", verified=True)
    assert wang.get(f"/proxy/once/{ZHAO_MEDICAL}/dues").status_code == 303  # she typed nobody in
    assert client.get("/proxy/once/330106200000023457/dues").status_code == 404  # not 赵秀英's
    # A later lookup of someone else replaces her: her dues are no longer reachable through it.
    once(client, id_number="330106199207084573", name="李明")
    assert client.get(f"/proxy/once/{ZHAO_MEDICAL}/dues").status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Payee)) == 0


def test_the_once_steps_render_as_fragments_for_htmx(htmx_client, world, ctx):
    htmx_client.htmx = False
    sign_in(htmx_client, "张伟", verified=True)
    htmx_client.htmx = True
    page = htmx_client.page("/proxy/once")
    assert page.h1 == "代他人缴费" and page.soup.find("html") is None
    wrong = htmx_client.submit(page, {**ZHAO, "name": "赵秀"}, selector="form[method=post]")
    assert wrong.status == 422 and wrong.soup.find("html") is None and wrong.summary() == [NO_MATCH]
    enrollments = htmx_client.submit(page, ZHAO, selector="form[method=post]")
    assert enrollments.h1 == "代他人缴费" and "被代缴人：赵秀英" in enrollments.text
