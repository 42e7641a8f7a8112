"""我为自己缴, step by step, as a resident walks it with the test client."""

from tests.support.journeys import choose, order, order_no_of, pay, sign_in


def test_wang_fang_pays_her_medical_due_with_alipay(client, world):
    sign_in(client, "王芳")
    confirm = choose(client, "medical")
    assert confirm.h1 == "缴费信息确认"
    assert "352.00" in confirm.text and "叁佰伍拾贰元整" in confirm.text

    result = pay(client, confirm)

    assert result.h1 == "缴费结果"
    assert "缴费成功" in result.text
    with client.application.app_context():
        paid = order(order_no_of(result))
        assert paid.state == "settled" and len(paid.ticket_nos[0]) == 18
        assert paid.ticket_nos[0] in result.text
        assert [d.state for d in world.dues("王芳", "medical", state="paid")] == ["paid"]
    records = client.page("/records/")
    assert paid.ticket_nos[0] in records.text and records.soup.select_one("main .state").get_text() == "成功"


def test_a_person_without_enrollment_is_told_what_to_do(client, world):
    page = sign_in(client, "陈静")
    assert page.h1 == "我为自己缴"
    assert "未查询到参保登记信息" in page.text
    assert "参保登记" in page.text and "经办机构" in page.text


def test_the_dues_list_marks_normal_and_backpay(client, world):
    sign_in(client, "张伟")
    page = client.page("/selfpay/370202100000034567/dues")
    # A 补缴 the agency pushed is paid as 特殊缴费 (Qingdao's word; Guizhou refunds it as 特殊缴费退费).
    assert {t.get_text() for t in page.soup.select(".tag")} == {"特殊缴费", "正常缴费"}
    assert "4,776.00" in page.text and "2024年01月至2024年06月" in page.text


def test_pages_are_never_kept_in_a_cache(client, world):
    sign_in(client, "王芳")
    for url in ("/", "/selfpay/", "/records/"):
        assert client.get(url).headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/static/app.css").headers.get("Cache-Control", "")


def test_back_after_paying_says_the_dues_are_paid_and_offers_no_second_payment(client, world):
    sign_in(client, "王芳")
    result = pay(client, choose(client, "medical"))
    assert "缴费成功" in result.text
    back = client.page("/selfpay/confirm")  # the browser's Back, twice
    assert back.status == 200 and "所选费款已缴费成功" in back.text
    assert "本次未扣款" not in back.text and "缴费信息已发生变化" not in back.text
    assert back.soup.find("button", string="下一步") is None
    assert back.soup.find("a", string="查看缴费记录")["href"] == "/records/"
    method = client.get("/selfpay/method")  # once more Back: no 去支付 for what is paid
    assert method.status_code == 303 and method.location == "/selfpay/confirm"


def test_dues_held_by_an_open_order_say_where_to_go_on_with_it(client, world):
    from tests.support.journeys import go_to_provider

    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))  # at the cashier; she closes it
    page = client.page("/selfpay/")
    link = next(a for a in page.soup.select("main a.cell-link") if "医疗保险" in a.get_text())
    dues = client.page(link["href"])
    notice = dues.soup.select_one("main p.notice")
    assert "有费款正在支付中" in notice.get_text() and notice.find("a")["href"] == "/records/"
    assert dues.soup.find("button", string="下一步") is None  # nothing left to choose
    assert dues.soup.find("a", string="查看缴费记录")["href"] == "/records/"
    records = client.page("/records/")
    assert records.soup.select_one("main a.record")["href"].startswith("/orders/SB")
