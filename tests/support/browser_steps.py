"""What a resident does and sees in the browser tests, in the words on the screen."""

import re
from urllib.parse import unquote

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

WANG_FANG = {"name": "王芳", "id_number": "520102198503151246"}


def h1(tab):
    return tab.get_by_role("heading", level=1)


def path_of(tab) -> str:
    """The address bar without the origin, %-escapes decoded (`next=/selfpay/`)."""
    return unquote(re.sub(r"^https?://[^/]+", "", tab.url))


def press_forward(tab):
    """Forward, as Playwright manages it while a reload races it. What it waits for can fail
    when the page is between documents: the navigation it waits for is replaced by the reload
    app.js starts (ERR_ABORTED; Forward was pressed), or it could not read the history of a page
    that was detaching (Forward was not pressed: pressed again once the page is there, up to four
    times: a press too many is harmless, the step pressed to is the last in the history). What
    counts is checked after: the address and what the page shows."""
    for attempt in range(4):
        try:
            tab.go_forward()
            return
        except PlaywrightError as error:
            if "ERR_ABORTED" in error.message:
                return
            if attempt == 3 or "Not attached to an active page" not in error.message:
                raise
            tab.wait_for_load_state("load")


def mark_document(tab):
    """Tag this document: the tag survives htmx swaps and is gone after a full page load."""
    tab.evaluate("window.__sbwebDocument = 'still here'")


def same_document(tab) -> bool:
    return tab.evaluate("window.__sbwebDocument === 'still here'")


def consent(tab, name: str):
    """同意授权 as the host app's signed-in user (the sandbox's 宿主应用 box): verified."""
    expect(h1(tab)).to_have_text("授权")
    who = tab.get_by_label("宿主应用当前登录用户（沙箱）")
    who.select_option(who.locator("option", has_text=name).get_attribute("value"))
    tab.get_by_role("button", name="同意授权").click()


def checkout(tab):
    """选择缴费信息 as ticked → 缴费信息确认 → 支付宝 → 立即付款 in the sandbox → 缴费成功."""
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    pay_by_alipay(tab)


def pay_by_alipay(tab):
    """缴费信息确认 → 支付宝 → 立即付款 in the sandbox → 缴费成功."""
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    tab.get_by_role("button", name="立即付款").click()
    expect(h1(tab)).to_have_text("缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")


def type_identity(tab, id_number=WANG_FANG["id_number"], name=WANG_FANG["name"]):
    tab.get_by_label("证件号码", exact=True).fill(id_number)
    tab.get_by_label("姓名", exact=True).fill(name)
    tab.get_by_role("button", name="确定").click()


def ticket_no(tab) -> str:
    row = tab.locator(".summary-list > div").filter(has=tab.locator("dt", has_text="票证号码"))
    return row.locator("dd").inner_text().strip()


def mailed_code(app, after: int = 0, timeout: float = 10.0) -> str:
    """The newest 验证码 in the outbox once more than `after` codes are there: a code for a
    locked number is mailed after the response has gone, so the page can be shown first."""
    import time

    from tests.support.wechat_steps import sent_codes

    deadline = time.monotonic() + timeout
    while True:
        codes = sent_codes(app)
        if len(codes) > after:
            return codes[-1]
        assert time.monotonic() < deadline, f"no 验证码 mailed within {timeout:g} s"
        time.sleep(0.05)


def image_loaded(image, timeout: float = 10_000) -> bool:
    """Wait for an <img> to finish loading; true if it decoded to a picture."""
    image.page.wait_for_function("img => img.complete", arg=image.element_handle(), timeout=timeout)
    return image.evaluate("img => img.naturalWidth > 0")


def report_bank_account(tab, live_server, name: str, card: str, bank: str = "中国工商银行"):
    """存款账户账号报告 as `name` (同意授权 first): the account a refund can go to."""
    tab.goto(live_server("/bank/accounts/new"))
    consent(tab, name)
    tab.get_by_label("开户银行").select_option(bank)
    tab.get_by_label("账号 *", exact=True).fill(card)
    tab.get_by_role("button", name="保存").click()
    expect(tab.locator("main")).to_contain_text("账户信息已保存")


def confirm_agency(tab, agency: str, office: str):
    """再次确认经办机构信息 after 下一步 on a 缴费申报 form: the agency and its 主管税务机关, then 确定."""
    expect(h1(tab)).to_have_text("再次确认经办机构信息")
    main = tab.locator("main")
    expect(main).to_contain_text(agency)
    expect(main).to_contain_text(office)
    tab.get_by_role("button", name="确定").click()
