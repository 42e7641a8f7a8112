"""微信支付 as a resident meets it: inside WeChat by JSAPI through our bridge page, outside by
H5; the channel list in WeChat; the return that carries no signature."""

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Order
from tests.support.journeys import choose, order, sign_in
from tests.support.wechat_steps import (
    agree,
    bound_and_signed_in,
    bridge_params,
    confirm_in_wechat,
    go_pay,
    inside_wechat,
    method_page,
    post_notify,
    resident,
)


def test_inside_wechat_only_wechat_pay_is_offered_and_the_page_says_why(client, world, wechat_oauth):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    method = method_page(client, choose(client, "medical"))
    alipay = method.soup.select_one("#channel-alipay")
    assert alipay.has_attr("disabled") and "在微信中无法使用此方式" in method.text
    assert method.soup.select_one("#channel-wechat").has_attr("checked")  # the only one: chosen
    assert method.soup.select_one("#channel-unionpay") is None  # not configured here


def test_in_a_browser_both_configured_channels_are_offered(client, world):
    sign_in(client, "王芳")
    method = method_page(client, choose(client, "medical"))
    assert not method.soup.select_one("#channel-alipay").has_attr("disabled")
    assert not method.soup.select_one("#channel-wechat").has_attr("disabled")
    assert "无法使用" not in method.text


def test_wang_fang_pays_her_medical_due_by_jsapi_inside_wechat(client, world, wechat_oauth, wechat_pay):
    openid = bound_and_signed_in(client, wechat_oauth, "王芳")
    leave = go_pay(client, method_page(client, choose(client, "medical")))
    assert leave.status_code == 303 and leave.location.startswith("/pay/wechat/SB")
    page = client.page(leave.location)
    assert page.h1 == "微信支付" and "¥352.00" in page.text
    assert "请在微信中打开本页面" in page.text or "微信支付需要在微信中打开本页面" in page.text  # said without JS
    params = bridge_params(page)
    number = leave.location.split("/")[-1]
    trade = wechat_pay.trades[number]
    assert trade.openid == openid and trade.total == 35200 and trade.trade_type == "JSAPI"
    assert params["package"] == f"prepay_id={trade.prepay_id}" and params["signType"] == "RSA"

    assert confirm_in_wechat(wechat_pay, params) == "get_brand_wcpay_request:ok"  # paySign checked there
    answer = post_notify(client, wechat_pay, number)
    assert answer.status_code == 204 and answer.get_data() == b""
    result = client.page(f"/orders/{number}")
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    with client.application.app_context():
        paid = order(number)
        assert paid.state == "settled" and paid.provider_trade_no == trade.transaction_id
        assert paid.ticket_nos[0] in result.text


def test_without_an_openid_the_resident_signs_in_with_wechat_first(client, world, wechat_oauth, wechat_pay):
    inside_wechat(client)
    sign_in(client, "王芳")  # 拒绝授权 → 证件信息 inside WeChat: WeChat does not know who pays
    leave = go_pay(client, method_page(client, choose(client, "medical")))
    assert leave.status_code == 303 and leave.location.startswith("/auth/?next=/orders/")
    number = leave.location.rsplit("/", 1)[-1]
    assert wechat_pay.trades == {}
    with client.application.app_context():  # not 支付中 yet: nothing has gone to WeChat Pay
        assert order(number).state == "created" and "paying" not in [e.to_state for e in order(number).events]
    authorize = client.page(leave.location)
    assert authorize.h1 == "授权" and "使用微信支付需先授权" in authorize.text
    openid = wechat_oauth.user = wechat_oauth.new_user("小王")
    shown = agree(client, f"/orders/{number}")
    assert shown.h1 == "支付中"  # still her session, now with her openid
    resumed = client.submit(shown, selector=f"main form[action='/orders/{number}/resume']", follow=False).response
    assert resumed.location == f"/pay/wechat/{number}"
    assert wechat_pay.trades[number].openid == openid


def test_outside_wechat_h5_goes_to_wechats_page_and_the_return_only_shows_the_order(client, world, wechat_pay):
    sign_in(client, "王芳")
    leave = go_pay(client, method_page(client, choose(client, "medical")))
    assert leave.status_code == 303 and leave.location.startswith(f"{wechat_pay.url}/fake/h5?prepay_id=")
    assert "redirect_url=http%3A%2F%2Flocalhost%2Fpay%2Freturn%2Fwechat%3Fout_trade_no%3DSB" in leave.location
    number = next(iter(wechat_pay.trades))
    assert wechat_pay.requests[0][2]["scene_info"] == {"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}}
    back = client.page(f"/pay/return/wechat?out_trade_no={number}")
    assert back.h1 == "支付中"  # not paid yet: the return settles nothing
    wechat_pay.pay(number)
    back = client.page(f"/pay/return/wechat?out_trade_no={number}")
    assert back.h1 == "缴费结果" and "缴费成功" in back.text  # settled by the trade query


def test_an_unsigned_return_for_someone_elses_order_asks_nothing_and_shows_nothing(app, world, wechat_pay):
    wang, stranger = resident(app), resident(app)
    sign_in(wang, "王芳")
    go_pay(wang, method_page(wang, choose(wang, "medical")))
    number = next(iter(wechat_pay.trades))
    wechat_pay.pay(number)
    asked = len(wechat_pay.requests)
    sign_in(stranger, "李明")
    response = stranger.get(f"/pay/return/wechat?out_trade_no={number}")
    assert response.status_code == 303
    assert stranger.get(response.location).status_code == 404
    assert resident(app).get(f"/pay/return/wechat?out_trade_no={number}").status_code == 303
    assert len(wechat_pay.requests) == asked  # no query was made for them
    with app.app_context():
        assert order(number).state == "paying"


def test_a_garbled_return_is_a_bad_request(client, world):
    assert client.get("/pay/return/wechat?out_trade_no=<script>").status_code == 400
    assert client.get("/pay/return/wechat").status_code == 400


def test_with_htmx_go_pay_leads_to_the_bridge_fragment(client, world, wechat_oauth, wechat_pay):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    method = method_page(client, choose(client, "medical"))
    client.htmx = True
    # The bridge is in the answer to 去支付 itself (one round trip), its address pushed.
    fragment = client.submit(method, {"channel": "wechat"}, follow=False).response
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and fragment.headers["HX-Push-Url"].startswith("/pay/wechat/SB")
    assert "<html" not in html and "<h1>微信支付</h1>" in html and "data-wechat-pay" in html


def test_the_bridge_page_without_a_prepay_in_the_session_goes_to_the_order(client, world, wechat_oauth, wechat_pay):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    leave = go_pay(client, method_page(client, choose(client, "medical")))
    number = leave.location.split("/")[-1]
    with client.session_transaction() as session:
        session.pop("bridge")
    page = client.page(leave.location)
    assert page.h1 == "支付中" and page.url == f"/orders/{number}"


def test_a_double_tap_on_go_pay_is_one_trade(client, world, wechat_oauth, wechat_pay):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    method = method_page(client, choose(client, "medical"))
    first, second = go_pay(client, method), go_pay(client, method)
    assert first.location == second.location
    assert len(wechat_pay.trades) == 1
    with client.application.app_context():
        assert len(list(db.session.scalars(select(Order)))) == 1


def test_wechat_pay_down_at_go_pay_says_try_again(client, world, wechat_oauth, wechat_pay):
    bound_and_signed_in(client, wechat_oauth, "王芳")
    method = method_page(client, choose(client, "medical"))
    wechat_pay.stop()
    try:
        page = client.submit(method, {"channel": "wechat"})
    finally:
        wechat_pay.start()
    assert page.h1 == "支付中" and "暂时无法连接支付机构，请稍后重试" in page.text
