"""我帮他人缴 in Chromium at 390×844, with and without JavaScript: 张伟 adds 赵秀英, pays her
open medical due, and sees it under 代缴 in 缴费记录."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser_steps import consent, h1, pay_by_alipay
from tests.support.journeys import order

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_zhang_wei_pays_for_zhao_xiuying(live_server, page, shot, axe, js):
    tab = page(js=js)
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("我帮他人缴")).click()
    consent(tab, "张伟")
    expect(h1(tab)).to_have_text("我帮他人缴")
    expect(tab.locator("main")).to_contain_text("暂无被代缴人")
    shot(tab, f"proxy-empty-{'js' if js else 'nojs'}")

    tab.get_by_role("link", name="添加人员信息").click()
    expect(h1(tab)).to_have_text("添加被代缴人")
    tab.get_by_role("button", name="添加").click()  # nothing typed
    summary = tab.locator("[data-error-summary]")
    expect(summary).to_contain_text("请输入证件号码")
    if js:
        expect(summary).to_be_focused()
    tab.get_by_label("证件号码", exact=True).fill("370212196011203469")
    tab.get_by_label("姓名", exact=True).fill("赵秀英")
    shot(tab, f"proxy-add-{'js' if js else 'nojs'}")
    if js:
        axe.check(tab, "添加被代缴人")
    tab.get_by_role("button", name="添加").click()

    expect(h1(tab)).to_have_text("我帮他人缴")
    payee = tab.get_by_role("link", name=re.compile("^赵秀英"))
    expect(payee).to_contain_text("3702**********3469")
    expect(payee).to_contain_text("700.00")
    shot(tab, f"proxy-list-{'js' if js else 'nojs'}")
    if js:
        axe.check(tab, "我帮他人缴")
    payee.click()

    expect(h1(tab)).to_have_text("我帮他人缴")
    expect(tab.locator("main .who")).to_contain_text("被代缴人：赵秀英")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab.locator("main")).to_contain_text("被代缴人")
    tab.get_by_role("button", name="下一步").click()

    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("赵秀英（3702**********3469）")
    expect(tab.locator("main")).to_contain_text("肆佰元整")
    shot(tab, f"proxy-confirm-{'js' if js else 'nojs'}")
    pay_by_alipay(tab)
    order_no = tab.url.rsplit("/", 1)[-1]
    with live_server.app.app_context():
        paid = order(order_no)
        assert paid.state == "settled" and paid.payer_id == live_server.world.people["张伟"]
        assert [d.state for d in live_server.world.dues("赵秀英", "medical", state="paid")] == ["paid"]

    tab.goto(live_server("/records/"))
    expect(h1(tab)).to_have_text("缴费记录")
    expect(tab.locator("main")).to_contain_text("暂无缴费记录")  # nothing paid for himself
    tab.get_by_role("link", name="代缴").click()
    record = tab.locator("main a.record")
    expect(record).to_have_count(1)
    expect(record).to_contain_text("被代缴人 赵秀英（3702**********3469）")
    expect(record).to_contain_text("¥400.00")
    expect(record).to_contain_text("成功")
    assert "tab=proxy" in tab.url
    shot(tab, f"records-proxy-{'js' if js else 'nojs'}")
    if js:
        axe.check(tab, "缴费记录（代缴）")
