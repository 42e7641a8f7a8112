"""大字: the resident turns on large text on a small phone (320 px wide) and pays; no page of
the journey scrolls sideways and every primary button stays a comfortable tap target."""
import re

import pytest
from playwright.sync_api import expect

from tests.browser.steps import h1, type_identity

pytestmark = pytest.mark.browser

MEASURE = """() => {
  const root = document.documentElement;
  const shown = el => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== "hidden";
  const buttons = [...document.querySelectorAll("main .button.primary, main button.primary")]
    .filter(shown);
  const name = el => [el.tagName.toLowerCase(), ...el.classList].join(".");
  const wide = [...document.querySelectorAll("body *")].filter(shown)
    .filter(el => el.getBoundingClientRect().right > root.clientWidth + 0.5).map(name);
  return {
    scrollWidth: root.scrollWidth, clientWidth: root.clientWidth,
    large: root.classList.contains("large-text"),
    primary: buttons.map(b => ({text: b.textContent.trim(),
                                height: b.getBoundingClientRect().height})),
    wide: wide.slice(0, 5),
  };
}"""


def test_large_text_at_320_px_keeps_every_step_on_the_screen(live_server, page, shot):
    tab = page(js=True, width=320, height=640)
    measured = {}

    def check(step: str, large: bool = True):
        tab.wait_for_load_state("load")  # measure with the stylesheet applied, not before
        m = tab.evaluate(MEASURE)
        measured[step] = m
        shot(tab, step)
        assert m["large"] is large, f"{step}: html.large-text is {m['large']}"
        assert m["scrollWidth"] <= m["clientWidth"], f"{step} scrolls sideways: {m}"
        short = [b for b in m["primary"] if b["height"] < 44]
        assert not short, f"{step}: primary buttons under 44 px: {short}"

    tab.goto(live_server("/"))
    size = tab.get_by_role("button", name="大字")
    expect(size).to_have_attribute("aria-pressed", "false")
    size.click()
    expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
    expect(size).to_have_attribute("aria-pressed", "true")
    assert tab.url == live_server("/")
    check("home")

    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    expect(h1(tab)).to_have_text("授权")
    check("authorize")
    tab.get_by_role("link", name="拒绝授权").click()
    expect(h1(tab)).to_have_text("授权信息确认")
    check("manual")
    tab.get_by_role("button", name="确定").click()
    expect(tab.locator("[data-error-summary]")).to_be_visible()
    check("manual-errors")
    type_identity(tab)
    expect(h1(tab)).to_have_text("我为自己缴")
    check("enrollments")

    tab.get_by_role("link", name=re.compile("养老保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    check("dues")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("缴费信息确认")
    check("confirm")
    tab.get_by_role("button", name="下一步").click()
    expect(h1(tab)).to_have_text("选择缴款方式")
    tab.get_by_label("云闪付").check()
    check("method")
    tab.get_by_role("button", name="去支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    check("cashier", large=False)  # the provider's page: its own look, not our 大字

    tab.get_by_role("button", name="取消").click()
    expect(h1(tab)).to_have_text("支付中")
    check("paying")
    tab.get_by_role("button", name="继续支付").click()
    expect(h1(tab)).to_have_text("付款详情")
    tab.get_by_role("button", name="确认付款").click()
    expect(h1(tab)).to_have_text("缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    check("result")
    tab.get_by_role("link", name="查看缴费记录").click()
    expect(h1(tab)).to_have_text("缴费记录")
    expect(tab.locator("main a.record")).to_have_count(2)  # one line per month paid
    expect(tab.locator("main a.record").first).to_contain_text("880.00")
    check("records")

    # 大字 again turns it off, on the page she is on.
    tab.get_by_role("button", name="大字").click()
    expect(tab.locator("html")).not_to_have_class(re.compile(r"\blarge-text\b"))
    expect(h1(tab)).to_have_text("缴费记录")
    check("records-normal-text", large=False)
    print({step: (m["scrollWidth"], [round(b["height"]) for b in m["primary"]])
           for step, m in measured.items()})
