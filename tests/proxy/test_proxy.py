"""我帮他人缴: the payer's 被代缴人 list (add, duplicate, invalid, delete, 自动缴) and paying a
payee's dues through the self-pay steps, with the same one-charge guarantees."""

from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import Due, Order, Payee
from tests.support.journeys import pay, sign_in

ZHAO = {"id_type": "201", "id_number": "370212196011203469", "name": "赵秀英"}


def payee_rows(world, payer="张伟"):
    db.session.rollback()
    return list(db.session.scalars(select(Payee).filter_by(payer_id=world.people[payer])))


def add(client, **fields):
    return client.submit(client.page("/proxy/add"), {**ZHAO, **fields})


def test_add_a_payee_and_see_them_masked(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    page = add(client)
    assert page.h1 == "我帮他人缴" and "已添加被代缴人 赵秀英" in page.text
    assert "3702**********3469" in page.text and "370212196011203469" not in page.text
    assert "700.00" in page.text  # her open pension 300 + medical 400
    assert [p.person_id for p in payee_rows(world)] == [world.people["赵秀英"]]


def test_duplicate_self_unenrolled_wrong_name_and_bad_number_are_refused(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    again = add(client)
    assert again.status == 422 and again.field_error("id_number") == "该被代缴人已在您的列表中"
    me = add(client, id_number="370202197805127818", name="张伟")
    assert me.field_error("id_number").startswith("不能添加本人")
    unenrolled = add(client, id_number="330102198808082426", name="陈静")
    assert "未查询到参保登记信息" in " ".join(unenrolled.summary())
    wrong_name = add(client, name="赵秀")
    assert "证件号码与姓名不一致" in " ".join(wrong_name.summary())
    bad = add(client, id_number="370212196011203468")
    assert bad.field_error("id_number") == "证件号码格式不正确"
    assert len(payee_rows(world)) == 1


def test_the_list_needs_a_verified_session(client, world, ctx):
    sign_in(client, "张伟")  # lookup level
    response = client.get("/proxy/")
    assert response.status_code == 303 and response.location.startswith("/auth/")


def test_pay_a_payees_due_through_the_self_pay_steps(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    page = client.page(f"/proxy/{payee.id}/")
    assert page.h1 == "我帮他人缴" and "被代缴人：赵秀英" in page.text
    link = next(a["href"] for a in page.soup.select("main a.cell-link") if "医疗保险" in a.get_text())
    dues = client.page(link)
    assert "被代缴人 赵秀英（3702**********3469）" in dues.text
    confirm = client.submit(dues)
    assert confirm.h1 == "缴费信息确认" and "被代缴人 赵秀英" in confirm.text and "400.00" in confirm.text
    result = pay(client, confirm)
    assert "缴费成功" in result.text
    db.session.rollback()
    order = db.session.scalar(select(Order))
    assert order.payer_id == world.people["张伟"] and order.state == "settled"
    assert [d.state for d in world.dues("赵秀英", "medical", state="paid")] == ["paid"]
    # Deleting her keeps the payment in 张伟's records.
    remove = client.page(f"/proxy/{payee.id}/remove")
    after = client.submit(remove)
    assert "已删除被代缴人 赵秀英" in after.text and payee_rows(world) == []
    records = client.page("/records/?tab=proxy")
    assert f"/orders/{order.order_no}" in [a["href"] for a in records.soup.select("main a.record")]


def test_another_payer_cannot_reach_a_payee_by_changing_the_id(app, world, ctx):
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    zhang, wang = app.test_client(), app.test_client()
    sign_in(zhang, "张伟", verified=True)
    add(zhang)
    payee = payee_rows(world)[0]
    sign_in(wang, "王芳", verified=True)
    for url in (f"/proxy/{payee.id}/", f"/proxy/{payee.id}/remove", f"/proxy/{payee.id}/370212200000045679/dues"):
        assert wang.get(url).status_code == 404, url
    assert "赵秀英" not in wang.page("/proxy/").text


def test_a_payee_removed_after_confirm_cannot_be_paid_for(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    dues = client.page(f"/proxy/{payee.id}/370212200000045679/dues")
    confirm = client.submit(dues)
    method = client.submit(confirm)
    assert method.h1 == "选择缴款方式"
    client.submit(client.page(f"/proxy/{payee.id}/remove"))
    refused = client.submit(method, {"channel": "alipay"})
    assert "被代缴人已从您的列表中删除" in refused.text
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0


def test_auto_pay_is_stored_and_says_what_it_needs(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    page = client.page("/proxy/")
    on = client.submit(page, selector="main form.inline-form")
    assert "自动缴需要您本人签订的银行缴费协议" in on.text
    assert payee_rows(world)[0].auto_pay is True
    off = client.submit(on, selector="main form.inline-form")
    assert "已为 赵秀英 关闭自动缴" in off.text and payee_rows(world)[0].auto_pay is False


def test_a_due_of_a_payee_is_not_payable_through_someone_elses_selection(client, world, ctx):
    """Changing the due id in the proxy dues form to another person's due pays nothing."""
    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    others = world.dues("王芳", "medical")
    dues = client.page(f"/proxy/{payee.id}/370212200000045679/dues")
    refused = client.submit(dues, {"dues": [str(others[0].id)]})
    assert refused.status == 422
    db.session.rollback()
    assert db.session.get(Due, others[0].id).order_id is None


def test_a_family_batch_pays_two_peoples_dues_in_one_order(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    add(client)
    mine = world.dues("张伟", "pension")[0]
    hers = world.dues("赵秀英", "medical")[0]
    page = client.page("/proxy/batch")
    assert page.h1 == "合并缴费" and "本人 张伟" in page.text and "被代缴人 赵秀英" in page.text
    empty = client.submit(page, {"dues": []})
    assert empty.status == 422 and empty.field_error("dues") == "请至少选择一笔要缴纳的费款"
    confirm = client.submit(page, {"dues": [str(mine.id), str(hers.id)]})
    assert confirm.h1 == "缴费信息确认" and "被代缴人 赵秀英" in confirm.text
    total = mine.amount_fen + hers.amount_fen
    assert f"{total // 100:,}.{total % 100:02d}" in confirm.text
    result = pay(client, confirm)
    assert "缴费成功" in result.text
    db.session.rollback()
    [order] = db.session.scalars(select(Order)).all()
    assert order.total_fen == total and sorted(i.due_id for i in order.items) == sorted([mine.id, hers.id])
    assert {db.session.get(Due, i).state for i in (mine.id, hers.id)} == {"paid"}
    # One record in each tab.
    assert len(client.page("/records/").soup.select("main a.record")) == 1
    assert len(client.page("/records/?tab=proxy").soup.select("main a.record")) == 1


def test_a_batch_cannot_take_a_stranger_s_due(client, world, ctx):
    sign_in(client, "张伟", verified=True)
    stranger = world.dues("王芳", "medical")[0]
    refused = client.submit(client.page("/proxy/batch"), {"dues": [str(stranger.id)]})
    assert refused.status == 422
    db.session.rollback()
    assert db.session.get(Due, stranger.id).order_id is None


def test_a_double_tap_on_go_pay_for_a_payee_makes_one_order(client, world, ctx):
    from tests.orders.test_payment_guarantees import post_go_pay

    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    method = client.submit(client.submit(client.page(f"/proxy/{payee.id}/370212200000045679/dues")))
    assert method.h1 == "选择缴款方式"
    first, second = post_go_pay(client, method), post_go_pay(client, method)
    assert first.status_code == second.status_code == 303
    db.session.rollback()
    [order] = db.session.scalars(select(Order)).all()
    assert [i.due_id for i in order.items] == [world.dues("赵秀英", "medical", state="open")[0].id]


def test_only_her_own_name_field_offers_her_name(app, client, world, ctx):
    """A browser fills autocomplete="name" with the resident's own name: right where she types
    hers, wrong wherever the name is a 被代缴人's (she would pay for, or certify, herself)."""
    from tests.support import ResidentClient

    app.test_client_class = ResidentClient
    anonymous = app.test_client()
    own = {url: anonymous.page(url) for url in ("/auth/manual?next=/selfpay/", "/auth/verify/identity?next=/")}
    sign_in(client, "张伟", verified=True)
    others = {
        url: client.page(url)
        for url in (
            "/proxy/add",
            "/proxy/once",
            "/certificates/proxy",
            "/certificates/proxy/tax/first",
            "/queries/proxy-paid",
        )
    }
    for url, page in {**own, **others}.items():
        [name] = page.soup.select("main input[name=name]")
        assert name["autocomplete"] == ("name" if url in own else "off"), (url, name)
