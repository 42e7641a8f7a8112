"""王芳 pays her dues on a phone, start to finish, in Chromium: with JavaScript (htmx swaps,
the 支付中 page polling) and without (plain forms and redirects). axe-core checks every page
of the JavaScript journey; screenshots of each step land in test-artifacts/screens/."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser_steps import (
    WANG_FANG,
    h1,
    mark_document,
    path_of,
    press_forward,
    same_document,
    ticket_no,
    type_identity,
)
from tests.support.journeys import order

pytestmark = pytest.mark.browser

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshot.png"
ORDER_URL = re.compile(r"/orders/(\w+)$")


def test_wang_fang_pays_her_medical_due_with_javascript(live_server, page, shot, axe):
    # The 支付中 page polls every 2 s and asks the provider at most this often (3 s by default).
    live_server.app.config["ORDER_QUERY_INTERVAL"] = timedelta(seconds=1)
    tab = page(js=True)
    tab.goto(live_server("/"))
    expect(h1(tab)).to_have_text("社保费自助缴纳")
    shot(tab, "home")
    axe.check(tab, "首页")

    # 我为自己缴 needs to know who she is: the host app's 授权 sheet.
    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    expect(h1(tab)).to_have_text("授权")
    assert path_of(tab) == "/auth/?next=/selfpay/"
    shot(tab, "authorize")
    axe.check(tab, "授权")

    # 拒绝授权 swaps in 授权信息确认 without a page load and puts its URL in the address bar.
    mark_document(tab)
    tab.get_by_role("link", name="拒绝授权").click()
    expect(h1(tab)).to_have_text("授权信息确认")
    expect(tab).to_have_url(re.compile(r"/auth/manual\?next=(/|%2F)selfpay(/|%2F)$"))
    assert same_document(tab), "拒绝授权 reloaded the page instead of an htmx swap"
    expect(tab).to_have_title("授权信息确认 - 社保费缴纳")
    shot(tab, "manual")
    axe.check(tab, "授权信息确认")

    # 确定 with nothing typed: a message beside each field, a summary on top that has focus.
    tab.get_by_role("button", name="确定").click()
    summary = tab.locator("[data-error-summary]")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name="请输入证件号码")).to_be_visible()
    name_field = tab.locator(".field-error").filter(has=tab.get_by_label("姓名", exact=True))
    expect(name_field).to_contain_text("请输入姓名")
    expect(tab).to_have_title(re.compile("^错误："))
    shot(tab, "manual-errors")
    axe.check(tab, "授权信息确认（有错误）")

    # A name that does not match the number: told so, nothing found.
    type_identity(tab, name="王小芳")
    expect(summary).to_contain_text("证件号码与姓名不一致")
    expect(tab.get_by_label("证件号码", exact=True)).to_have_value(WANG_FANG["id_number"])
    shot(tab, "manual-no-match")

    type_identity(tab)
    expect(h1(tab)).to_have_text("我为自己缴")
    expect(tab).to_have_url(live_server("/selfpay/"))
    expect(tab.get_by_text("参保人：王芳")).to_be_visible()
    assert same_document(tab)
    shot(tab, "enrollments")
    axe.check(tab, "我为自己缴（参保登记）")

    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab).to_have_url(live_server("/selfpay/520102200000012346/dues"))
    due = tab.get_by_role("checkbox", name=re.compile("医疗保险"))
    expect(due).to_be_checked()
    expect(tab.locator("main")).to_contain_text("352.00")
    shot(tab, "dues")
    axe.check(tab, "选择缴费信息")

    # Nothing ticked: the list says so, beside itself and in the summary.
    due.uncheck()
    tab.get_by_role("button", name="下一步").click()
    expect(tab.locator("[data-error-summary]")).to_be_focused()
    shot(tab, "dues-none-chosen")
    axe.check(tab, "选择缴费信息（有错误）")
    tab.get_by_role("checkbox", name=re.compile("医疗保险")).check()
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab).to_have_url(live_server("/selfpay/confirm"))
    expect(tab.locator("main")).to_contain_text("叁佰伍拾贰元整")
    assert same_document(tab), "the wizard reloaded the page instead of swapping the step"
    shot(tab, "confirm")
    axe.check(tab, "缴费信息确认")

    # Back returns to the dues as they were chosen, Forward to the check page again.
    tab.go_back()
    expect(tab).to_have_url(live_server("/selfpay/520102200000012346/dues"))
    expect(h1(tab)).to_have_text("选择缴费信息")
    expect(tab.get_by_role("checkbox", name=re.compile("医疗保险"))).to_be_checked()
    # Back reloads the page (no history cache: sensitive pages are not kept in localStorage);
    # Forward is pressed at once, before that reload may have started htmx (app.js reloads a
    # page whose address changed before htmx was there to follow).
    press_forward(tab)
    expect(tab).to_have_url(live_server("/selfpay/confirm"))
    expect(h1(tab)).to_have_text("缴费信息确认")

    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    expect(tab).to_have_url(live_server("/selfpay/method"))
    shot(tab, "method")
    axe.check(tab, "选择缴款方式")

    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    # htmx hands the whole window over to the provider (HX-Redirect), as a payment page needs.
    tab.wait_for_url(re.compile(r"/sandbox/gateway\.do\?"))
    expect(h1(tab)).to_have_text("付款详情")
    expect(tab.locator("main")).to_contain_text("352.00")
    cashier_url = tab.url
    shot(tab, "cashier")
    axe.check(tab, "付款详情（沙箱收银台）")

    # She leaves the cashier without paying: our 支付中 page, which keeps asking.
    tab.get_by_role("button", name="取消").click()
    tab.wait_for_url(ORDER_URL)
    expect(h1(tab)).to_have_text("支付中")
    order_url = tab.url
    shot(tab, "paying")
    axe.check(tab, "支付中")
    mark_document(tab)

    # …and pays in the wallet app after all (the cashier again, in a second tab), where the
    # provider never sends its notify. The page she left open finds out by polling.
    wallet = tab.context.new_page()
    wallet.goto(cashier_url)
    wallet.get_by_label("不发送异步通知").check()
    wallet.get_by_role("button", name="立即付款").click()
    wallet.wait_for_url(ORDER_URL)
    wallet.close()

    expect(h1(tab)).to_have_text("缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    assert tab.url == order_url and same_document(tab), "支付中 did not resolve in place by polling"
    ticket = ticket_no(tab)
    assert re.fullmatch(r"\d{18}", ticket), ticket
    shot(tab, "result")
    axe.check(tab, "缴费结果")

    tab.get_by_role("link", name="查看缴费记录").click()
    expect(h1(tab)).to_have_text("缴费记录")
    expect(tab).to_have_url(live_server("/records/"))
    record = tab.get_by_role("link", name=re.compile(ticket))
    expect(record).to_be_visible()
    expect(record.locator(".state")).to_have_text("成功")
    expect(record).to_contain_text("352.00")
    shot(tab, "records")
    axe.check(tab, "缴费记录")

    # Back from the records is the result again; once more Back is the provider's page, which
    # now refuses to take the money twice.
    tab.go_back()
    expect(tab).to_have_url(order_url)
    expect(h1(tab)).to_have_text("缴费结果")
    tab.go_back()
    expect(tab.locator("main")).to_contain_text("该订单已支付，请勿重复付款")
    expect(tab.get_by_role("button", name="立即付款")).to_have_count(0)
    shot(tab, "back-to-cashier")

    # Every journey page has a title and an h1 it names; a link that leads nowhere is a 404.
    tab.goto(live_server("/orders/NO-SUCH-ORDER"))
    expect(h1(tab)).to_have_text("页面不存在")
    shot(tab, "not-found")
    axe.check(tab, "页面不存在（404）")

    print(axe.summary())
    blocking = axe.blocking()
    assert not blocking, f"axe found serious or critical problems: {blocking}"


def test_wang_fang_pays_her_pension_without_javascript(live_server, page, shot):
    tab = page(js=False)
    tab.goto(live_server("/"))
    expect(h1(tab)).to_have_text("社保费自助缴纳")
    shot(tab, "home")

    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    expect(h1(tab)).to_have_text("授权")
    tab.get_by_role("link", name="拒绝授权").click()
    expect(h1(tab)).to_have_text("授权信息确认")
    assert path_of(tab) == "/auth/manual?next=/selfpay/"
    shot(tab, "manual")

    tab.get_by_role("button", name="确定").click()
    expect(tab.locator("[data-error-summary]")).to_contain_text("请输入证件号码")
    shot(tab, "manual-errors")
    type_identity(tab)
    expect(h1(tab)).to_have_text("我为自己缴")
    assert path_of(tab) == "/selfpay/"
    shot(tab, "enrollments")

    tab.get_by_role("link", name=re.compile("养老保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    assert path_of(tab) == "/selfpay/520102100000012345/dues"
    dues = tab.get_by_role("checkbox")
    expect(dues).to_have_count(2)
    for i in range(2):
        expect(dues.nth(i)).to_be_checked()
    shot(tab, "dues")

    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    assert path_of(tab) == "/selfpay/confirm"
    expect(tab.locator("main")).to_contain_text("1,760.00")  # 2 × 4400 × 20 %
    expect(tab.locator("main")).to_contain_text("壹仟柒佰陆拾元整")
    shot(tab, "confirm")
    # The README's picture: SBWEB_UPDATE_SCREENSHOT=1 pytest tests/selfpay/test_selfpay_browser.py -k pension
    if os.environ.get("SBWEB_UPDATE_SCREENSHOT"):
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        tab.screenshot(path=str(DOCS_SCREENSHOT), animations="disabled", caret="hide")

    # Back and forward on plain pages: the dues as chosen, then the check page again.
    tab.go_back()
    expect(h1(tab)).to_have_text("选择缴费信息")
    tab.go_forward()
    expect(h1(tab)).to_have_text("缴费信息确认")

    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    assert path_of(tab) == "/selfpay/method"
    shot(tab, "method")

    tab.get_by_label("微信支付").check()
    tab.get_by_role("button", name="去支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    expect(tab.locator("main")).to_contain_text("1,760.00")
    shot(tab, "cashier")

    # 取消 at the cashier: 支付中, with 刷新 and 继续支付 as buttons (nothing polls without JS).
    tab.get_by_role("button", name="取消").click()
    expect(h1(tab)).to_have_text("支付中")
    order_url = tab.url
    assert ORDER_URL.search(order_url)
    shot(tab, "paying")
    tab.get_by_role("button", name="刷新").click()
    expect(h1(tab)).to_have_text("支付中")
    assert tab.url.rstrip("?") == order_url  # a GET form with no fields leaves a bare "?"

    # 继续支付 is the same order at the provider, not a second one.
    tab.get_by_role("button", name="继续支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    expect(tab.locator("main")).to_contain_text(order_url.rsplit("/", 1)[-1])
    shot(tab, "cashier-again")
    tab.get_by_role("button", name="立即付款").click()

    # The provider's notify reached the server before the browser came back: 缴费结果 at once.
    expect(h1(tab)).to_have_text("缴费结果")
    assert tab.url == order_url
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    ticket = ticket_no(tab)
    assert re.fullmatch(r"\d{18}", ticket), ticket
    with live_server.app.app_context():
        paid = order(order_url.rsplit("/", 1)[-1])
        assert (paid.state, paid.ticket_nos, paid.total_fen) == ("settled", [ticket], 176000)
        assert paid.events[-1].cause == "sandbox异步通知: 支付成功"  # posted over HTTP to /notify
        paid_dues = live_server.world.dues("王芳", "pension", state="paid")
        assert [d.state for d in paid_dues] == ["paid", "paid"]
    shot(tab, "result")

    tab.get_by_role("link", name="查看缴费记录").click()
    expect(h1(tab)).to_have_text("缴费记录")
    assert path_of(tab) == "/records/"
    # One line per month paid, both under the order's 票证号码.
    record = tab.get_by_role("link", name=re.compile(ticket))
    expect(record).to_have_count(2)
    for i in range(2):
        expect(record.nth(i).locator(".state")).to_have_text("成功")
        expect(record.nth(i)).to_contain_text("880.00")
    shot(tab, "records")

    tab.go_back()
    expect(h1(tab)).to_have_text("缴费结果")
    assert tab.url == order_url


def one_request(tab, tap, heading: str) -> list[str]:
    """Tap, wait for the step named heading, and return the requests the tap made (a 303 the
    browser followed would be two: Playwright reports each hop of a redirect)."""
    made = []

    def seen(request):
        made.append(f"{request.method} {path_of_url(request.url)}")

    tab.on("request", seen)
    try:
        tap()
        expect(h1(tab)).to_have_text(heading)
    finally:
        tab.remove_listener("request", seen)
    assert len(made) == 1, f"{heading}: {made}"
    return made


def path_of_url(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_with_javascript_each_step_is_one_request(live_server, page, shot):
    """Issue 15: a POST that succeeds answers with the next step (HX-Push-Url), not 303 + GET;
    the address bar, Back, Forward and reload follow the steps; the home tiles swap too."""
    tab = page(js=True)
    tab.goto(live_server("/auth/manual?next=/selfpay/"))
    expect(h1(tab)).to_have_text("授权信息确认")
    mark_document(tab)

    assert one_request(tab, lambda: type_identity(tab), "我为自己缴") == ["POST /auth/manual"]
    expect(tab).to_have_url(live_server("/selfpay/"))
    expect(tab.get_by_text("参保人：王芳")).to_be_visible()
    one_request(tab, lambda: tab.get_by_role("link", name=re.compile("医疗保险")).click(), "选择缴费信息")
    assert one_request(tab, lambda: tab.get_by_role("button", name="下一步").click(), "缴费信息确认") == [
        "POST /selfpay/520102200000012346/dues"
    ]
    expect(tab).to_have_url(live_server("/selfpay/confirm"))
    one_request(tab, lambda: tab.get_by_role("button", name="下一步").click(), "选择缴款方式")
    expect(tab).to_have_url(live_server("/selfpay/method"))
    assert same_document(tab), "a step loaded a whole page"
    shot(tab, "one-round-trip-method")

    tab.reload()
    expect(h1(tab)).to_have_text("选择缴款方式")
    tab.go_back()
    expect(tab).to_have_url(live_server("/selfpay/confirm"))
    expect(h1(tab)).to_have_text("缴费信息确认")
    tab.wait_for_load_state("load")  # Back reloads (no history cache); Forward once htmx has run
    tab.go_forward()
    expect(tab).to_have_url(live_server("/selfpay/method"))
    expect(h1(tab)).to_have_text("选择缴款方式")

    # From the home tiles to a journey: a swap, with its address.
    tab.goto(live_server("/"))
    mark_document(tab)
    one_request(tab, lambda: tab.get_by_role("link", name=re.compile("我为自己缴")).click(), "我为自己缴")
    expect(tab).to_have_url(live_server("/selfpay/"))
    assert same_document(tab), "a home tile loaded a whole page"
    tab.go_back()
    expect(h1(tab)).to_have_text("社保费自助缴纳")
