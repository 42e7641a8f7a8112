"""Where focus goes and what is said after each htmx swap, in Chromium with a screen reader's
view of it: after every swap focus is on the new heading, the error summary or the region that
changed (the element is named on failure) and #status (role=status, polite) says what changed —
also when the h1 stays the same. 支付中 refreshes its status line without moving focus from
取消支付; the live price (#quote) and 缴费记录's results keep their element and change only what
is inside. 长辈版 (大字) switches in place with JavaScript and keeps what was typed without it.
Forward right after Back lands on the step the address names."""

import re

import pytest
from playwright.sync_api import expect

from tests.certificates.test_certificates_browser import text_captcha_answer
from tests.support.browser_steps import consent, h1, mark_document, path_of, press_forward, same_document
from tests.support.journeys import paid_history

pytestmark = pytest.mark.browser

ZHAO = {"id": "370212196011203469", "name": "赵秀英"}

ACTIVE = """() => { const el = document.activeElement;
  if (!el || el === document.body) return "the page body (focus lost)";
  const text = (el.getAttribute("aria-label") || el.textContent || el.value || "").trim().replace(/\\s+/g, " ");
  return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} «${text.slice(0, 40)}»`; }"""


def hush(tab):
    """Empty #status, so that the next announcement is seen even if it says the same words."""
    tab.evaluate("document.getElementById('status').textContent = ''")


def focus_is_on(tab, locator, what: str):
    try:
        expect(locator).to_be_focused()
    except AssertionError:
        raise AssertionError(f"focus should be on {what}, it is on {tab.evaluate(ACTIVE)}") from None


def announced(tab, words):
    status = tab.locator("#status")
    expect(status).to_have_attribute("role", "status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_text(words)


def tag_element(tab, selector: str):
    """Mark the element itself: the mark is gone if the element is replaced."""
    tab.locator(selector).evaluate("el => { el.__kept = true; }")


def same_element(tab, selector: str) -> bool:
    return tab.locator(selector).evaluate("el => el.__kept === true")


def signed_in(tab, live_server, name: str, path: str, heading: str):
    tab.goto(live_server(f"/auth/?next={path}"))
    consent(tab, name)
    expect(h1(tab)).to_have_text(heading)


def test_records_tabs_filters_and_pages_move_focus_and_say_what_changed(live_server, page, shot):
    """缴费记录 with 30 payments: a tab (whole page, same h1), 查询 with a year (the results
    region, kept as an element) and 下一页 inside it."""
    world = live_server.world
    with live_server.app.app_context():
        paid_history(world.people["王芳"], world.enrollment("王芳", "pension"), 30, start_year=2023)
    tab = page(js=True)
    signed_in(tab, live_server, "王芳", "/records/", "缴费记录")
    results = "#records-results"
    expect(tab.locator(results)).to_contain_text("共 30 条")
    mark_document(tab)

    hush(tab)
    tab.get_by_role("link", name="代缴").click()
    expect(tab.get_by_role("link", name="代缴")).to_have_attribute("aria-current", "page")
    focus_is_on(tab, h1(tab), "the h1 缴费记录")
    announced(tab, re.compile(r"^缴费记录，代缴，暂无缴费记录$"))
    hush(tab)
    tab.get_by_role("link", name="本人缴费").click()
    announced(tab, re.compile(r"^缴费记录，本人缴费，共 30 条"))
    focus_is_on(tab, h1(tab), "the h1 缴费记录")

    tag_element(tab, results)
    hush(tab)
    tab.get_by_label("费款所属期").select_option("2024")
    tab.get_by_role("button", name="查询").click()
    announced(tab, "已更新：查询结果，共 12 条")
    region = tab.get_by_role("region", name="查询结果")
    focus_is_on(tab, region, "the results region")
    assert same_element(tab, results), "#records-results was replaced, not only its content"
    expect(tab).to_have_url(re.compile(r"/records/\?year=2024"))

    tab.get_by_label("费款所属期").select_option("")
    tab.get_by_role("button", name="查询").click()
    expect(region).to_contain_text("共 30 条")
    hush(tab)
    tab.get_by_role("link", name="下一页").click()
    announced(tab, re.compile(r"^已更新：查询结果，共 30 条，第 2 / \d+ 页$"))
    focus_is_on(tab, region, "the results region after 下一页")
    assert same_element(tab, results) and same_document(tab)
    shot(tab, "records-page-2")


def test_paid_query_declare_filters_payee_and_captcha_say_what_changed(live_server, page, shot):
    """The swaps that keep the same h1: 已缴费查询 → 查询, 申报查询's filters, opening a payee,
    看不清？改用文字题 (focus to the 验证码 box, which its question describes), and the issued
    缴费证明 (h1 缴费证明 again)."""
    world = live_server.world
    with live_server.app.app_context():
        paid_history(world.people["张伟"], world.enrollment("张伟", "pension"), 3, start_year=2025)
    tab = page(js=True)
    signed_in(tab, live_server, "张伟", "/queries/paid", "社保费已缴费查询")
    mark_document(tab)
    hush(tab)
    tab.get_by_label("费款所属期").select_option("2025")
    tab.get_by_role("button", name="查询").click()
    announced(tab, "社保费已缴费查询，共 3 条")
    focus_is_on(tab, h1(tab), "the h1 社保费已缴费查询")

    tab.goto(live_server("/declare/history"))
    expect(h1(tab)).to_have_text("申报查询")
    hush(tab)
    tab.get_by_role("navigation", name="有效状态").get_by_role("link", name="无效").click()
    announced(tab, re.compile(r"^申报查询，无效，全部类型，"))
    focus_is_on(tab, h1(tab), "the h1 申报查询")

    tab.goto(live_server("/proxy/add"))
    tab.get_by_label("证件号码", exact=True).fill(ZHAO["id"])
    tab.get_by_label("姓名", exact=True).fill(ZHAO["name"])
    hush(tab)
    tab.get_by_role("button", name="添加").click()
    expect(h1(tab)).to_have_text("我帮他人缴")
    announced(tab, re.compile("^我帮他人缴，"))
    hush(tab)
    tab.get_by_role("link", name=re.compile("^赵秀英")).click()
    announced(tab, "我帮他人缴，被代缴人：赵秀英")
    focus_is_on(tab, h1(tab), "the h1 我帮他人缴")

    tab.goto(live_server("/certificates/payment"))
    expect(h1(tab)).to_have_text("缴费证明")
    mark_document(tab)
    hush(tab)
    tab.get_by_role("button", name="看不清？改用文字题").click()
    expect(tab.locator("#captcha-hint strong")).to_be_visible()
    focus_is_on(tab, tab.get_by_label("验证码"), "the 验证码 box")
    announced(tab, re.compile(r"^缴费证明，已更新：验证码，请回答：.+等于几？"))
    shot(tab, "text-question")
    tab.get_by_label("验证码").fill(text_captcha_answer(tab))
    hush(tab)
    tab.get_by_role("button", name="开具").click()
    expect(tab).to_have_url(re.compile(r"/certificates/d/\w+$"))
    expect(h1(tab)).to_have_text("缴费证明")
    focus_is_on(tab, h1(tab), "the h1 of the issued 缴费证明")
    announced(tab, re.compile("^缴费证明"))
    assert same_document(tab)


def test_the_live_price_keeps_its_element_and_choosing_a_city_keeps_focus(live_server, page):
    """缴费申报 (灵活就业 养老): typing the base changes what #quote says, inside the same element,
    focus staying in the box; choosing another 所在地市 redraws the form around the select."""
    tab = page(js=True)
    signed_in(tab, live_server, "张伟", "/declare/flexible-pension", "灵活就业人员养老保险费申报")
    quote = tab.locator("#quote")
    expect(quote).to_have_attribute("aria-live", "polite")
    tag_element(tab, "#quote")
    tab.get_by_label("费款所属期（起）").select_option(label="01月")
    tab.get_by_label("费款所属期（止）").select_option(label="03月")
    base = tab.get_by_label("缴费基数（元/月）")
    base.press_sequentially("5000")
    expect(quote).to_contain_text("合计 3,000.00 元")
    assert same_element(tab, "#quote"), "#quote was replaced: its update may go unannounced"
    focus_is_on(tab, base, "the 缴费基数 box")

    hush(tab)
    city = tab.get_by_label("所在地市")
    city.focus()  # as a tap on it does; then another city is chosen
    other = city.locator("option:not(:checked)").first.get_attribute("value")
    city.select_option(other)
    announced(tab, "已更新：参保地与缴费信息")
    focus_is_on(tab, tab.get_by_label("所在地市"), "the 所在地市 select")


def to_paying(tab, live_server):
    """王芳 goes to pay her medical due and leaves the cashier unpaid: 支付中. Returns the
    cashier's address."""
    signed_in(tab, live_server, "王芳", "/selfpay/", "我为自己缴")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    cashier_url = tab.url
    tab.get_by_role("button", name="取消").click()
    expect(h1(tab)).to_have_text("支付中")
    return cashier_url


def polled(response):
    return "/orders/" in response.url and response.request.headers.get("hx-trigger") == "order-state"


def test_paying_keeps_focus_on_cancel_while_it_refreshes_then_says_the_result(live_server, page, shot):
    """支付中: the refresh changes only the status line (≥ 2 refreshes seen), focus stays on
    取消支付; paid meanwhile in another tab without a notify, the page shows 缴费结果, focus on its
    heading, and says 缴费成功."""
    from datetime import timedelta

    live_server.app.config["ORDER_QUERY_INTERVAL"] = timedelta(0)
    tab = page(js=True)
    cashier_url = to_paying(tab, live_server)
    cancel = tab.get_by_role("button", name="取消支付")
    cancel.focus()
    mark_document(tab)

    for refresh in range(2):
        tag_element(tab, "#order-state")
        with tab.expect_response(polled):
            pass
        # The answer is swapped in: a new status line, focus where it was.
        tab.wait_for_function("() => !document.getElementById('order-state').__kept")
        expect(tab.locator("#order-state")).to_contain_text("最近查询")
        focus_is_on(tab, cancel, f"取消支付 after refresh {refresh + 1}")
        expect(h1(tab)).to_have_text("支付中")
    shot(tab, "paying")
    tab.get_by_role("button", name="长辈版").click()  # while it polls: in place, polling on
    announced(tab, "已开启长辈版")
    expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
    shot(tab, "paying-elder")

    wallet = tab.context.new_page()
    wallet.goto(cashier_url)
    wallet.get_by_label("不发送异步通知").check()
    wallet.get_by_role("button", name="立即付款").click()
    wallet.close()
    expect(h1(tab)).to_have_text("缴费结果")
    focus_is_on(tab, h1(tab), "the h1 缴费结果")
    announced(tab, "缴费结果，缴费成功")
    assert same_document(tab)
    shot(tab, "result-elder")


def test_a_refresh_answered_with_an_error_page_shows_it_in_place_of_the_page(live_server, page):
    """Should a refresh of 支付中 be answered with an error page, the page shows it (heading
    focused), not the status line."""
    tab = page(js=True)
    to_paying(tab, live_server)
    tab.route(
        re.compile(r"/orders/\w+$"),
        lambda route: route.fulfill(
            status=404,
            content_type="text/html; charset=utf-8",
            body="<title>页面不存在 - 社保费缴纳</title><h1>页面不存在</h1><p>请返回重新操作。</p>",
        ),
    )
    with tab.expect_response(polled):
        pass
    expect(h1(tab)).to_have_text("页面不存在")
    expect(tab.locator("#order-state")).to_have_count(0)
    focus_is_on(tab, h1(tab), "the h1 页面不存在")
    announced(tab, "页面不存在")


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_switching_elder_mode_keeps_what_was_typed(js, live_server, page, shot):
    """添加被代缴人 with 证件号码 and 姓名 typed, then 大字: with JavaScript nothing reloads, focus
    stays on the button and 已开启长辈版 is said; without, the page comes back in 长辈版 with
    both still typed (once: a reload shows the empty form), and the typed values were never
    readable in a cookie. Enter in a field still submits the form, not the switch."""
    tab = page(js=js)
    signed_in(tab, live_server, "张伟", "/proxy/add", "添加被代缴人")
    tab.get_by_label("证件号码", exact=True).fill(ZHAO["id"])
    tab.get_by_label("姓名", exact=True).fill(ZHAO["name"])
    switch = tab.get_by_role("button", name="长辈版")
    expect(switch).to_have_attribute("aria-pressed", "false")
    if js:
        mark_document(tab)
        switch.click()
        expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
        expect(switch).to_have_attribute("aria-pressed", "true")
        announced(tab, "已开启长辈版")
        focus_is_on(tab, switch, "the 大字 button")
        assert same_document(tab), "switching 长辈版 reloaded the page"
    else:
        switch.click()
        expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
        assert path_of(tab) == "/proxy/add"
    expect(tab.get_by_label("证件号码", exact=True)).to_have_value(ZHAO["id"])
    expect(tab.get_by_label("姓名", exact=True)).to_have_value(ZHAO["name"])
    cookies = {c["name"]: c["value"] for c in tab.context.cookies()}
    assert cookies.get("sbweb_text") == "large"
    assert not any(ZHAO["id"] in v or "赵秀英" in v for v in cookies.values()), "typed values in a cookie"
    assert "sbweb_typed" not in cookies, "the kept values outlived their one round trip"
    shot(tab, f"proxy-add-elder-{'js' if js else 'nojs'}")

    if js:
        tab.get_by_label("姓名", exact=True).focus()
        switch.click()
        announced(tab, "已关闭长辈版")
        expect(tab.locator("html")).not_to_have_class(re.compile(r"\blarge-text\b"))
        expect(switch).to_have_attribute("aria-pressed", "false")
        focus_is_on(tab, switch, "the 大字 button")
        expect(tab.get_by_label("姓名", exact=True)).to_have_value(ZHAO["name"])
        assert same_document(tab)
        tab.reload()
        expect(tab.locator("html")).not_to_have_class(re.compile(r"\blarge-text\b"))
    else:
        tab.reload()
        expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
        expect(tab.get_by_label("证件号码", exact=True)).to_have_value("")
        # And back to normal text, again with what was typed.
        tab.get_by_label("姓名", exact=True).fill(ZHAO["name"])
        tab.get_by_role("button", name="长辈版").click()
        expect(tab.locator("html")).not_to_have_class(re.compile(r"\blarge-text\b"))
        expect(tab.get_by_label("姓名", exact=True)).to_have_value(ZHAO["name"])
        shot(tab, "proxy-add-normal-nojs")

    # Enter in a field still means 添加 (the form's own submit), not 大字 (now the form's too).
    tab.get_by_label("证件号码", exact=True).fill(ZHAO["id"])
    tab.get_by_label("姓名", exact=True).fill(ZHAO["name"])
    tab.get_by_label("姓名", exact=True).press("Enter")
    expect(h1(tab)).to_have_text("我帮他人缴")
    expect(tab.get_by_role("link", name=re.compile("^赵秀英"))).to_be_visible()
    expect(tab.locator("html")).not_to_have_class(re.compile(r"\blarge-text\b"))


def test_forward_right_after_back_lands_on_the_step_in_the_address(live_server, page):
    """Back reloads (no history cache); Forward pressed at once, before htmx may have started
    in that reload, still shows the step the address names — three times over."""
    tab = page(js=True)
    signed_in(tab, live_server, "王芳", "/selfpay/", "我为自己缴")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    for wait_for_back in (False, False, True):
        tab.go_back()
        if wait_for_back:  # the dues shown again (htmx may or may not have started yet)
            expect(h1(tab)).to_have_text("选择缴费信息")
        press_forward(tab)
        expect(tab).to_have_url(live_server("/selfpay/confirm"))
        expect(h1(tab)).to_have_text("缴费信息确认")
        expect(tab.locator("main")).to_contain_text("缴费信息确认")
