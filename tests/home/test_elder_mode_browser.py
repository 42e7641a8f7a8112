"""长辈版 against MIIT's 2021 适老化 numbers, measured in Chromium on the resident pages (JS on):
normal text and 长辈版, at 390 px, and at 320 px with the host's font made larger (WeChat's
关怀模式 at 23.8 px, or 200 % text size in normal mode). On every page: the smallest text (in
three kinds: main-function, minor, body), the smallest target (a radio or checkbox counts as its
whole row, and any dead point in the row fails), sideways overflow, and — on forms with the
sticky 下一步 bar — how much of each control the bar covers when the control gets focus. Each
figure is held to its number and a failure names the worst element; axe-core finds nothing
serious on every page, in 长辈版 too. Screenshots in test-artifacts/screens/<test>/."""

import re
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from tests.home.test_large_text_browser import MEASURE
from tests.support.browser_steps import consent, h1, ticket_no

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("clock")]


@dataclass(frozen=True)
class Mode:
    """One way a resident's phone is set: our 长辈版 on or off, the screen width, and the host
    app's text size (the browser's default font size, as WeChat's 关怀模式 or the phone's text
    setting changes it; None for the default 16 px)."""

    elder: bool
    width: int
    host_font: float | None = None
    axe: bool = False

    # MIIT 2021 for 长辈版; WCAG 2.5.5 and the DESIGN card's 44 px for normal text.
    @property
    def least_text(self):  # every text
        return 18 if self.elder else 14

    @property
    def least_body(self):  # body text and labels
        return 22 if self.elder else 14

    @property
    def least_main(self):  # h1/h2, amounts, primary buttons
        return 30 if self.elder else 14

    @property
    def least_target(self):
        return 60 if self.elder else 44

    @property
    def least_line_height(self):
        return 1.3 if self.elder else 1.2


MODES = {
    "normal-390": Mode(elder=False, width=390, axe=True),
    "elder-390": Mode(elder=True, width=390, axe=True),
    # 200 % text size in normal mode on a small phone.
    "normal-320-200pct": Mode(elder=False, width=320, host_font=32),
    # WeChat 关怀模式 (root 23.8 px: its text zoom, see HOST_TEXT_ZOOM) and 长辈版 on.
    "elder-320-wechat-care": Mode(elder=True, width=320, host_font=23.8),
}

# Figures of every page, printed at the end of each test (the README quotes them).
FIGURES: dict[str, dict] = {}
PROBLEMS: list[str] = []


@pytest.fixture(autouse=True)
def fresh_problems():
    """A test that stopped half-way leaves nothing to the next one."""
    PROBLEMS.clear()
    yield
    PROBLEMS.clear()


FOCUS_UNDER_BAR = """() => {
  const bar = document.querySelector("main .actions.sticky");
  if (!bar) return null;
  const title = document.querySelector(".titlebar");
  const name = el => [el.tagName.toLowerCase(), ...el.classList].join(".") + (el.id ? "#" + el.id : "");
  const shown = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const rowOf = input => {
    if (!input.matches("input[type=radio], input[type=checkbox]")) return input;
    const labels = [...(input.labels || [])];
    let row = input.closest("label") || input.parentElement;
    while (row && !labels.every(l => row.contains(l))) row = row.parentElement;
    return row || input;
  };
  const overlap = (a, b) => Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  window.scrollTo(0, 0);
  const controls = [...document.querySelectorAll(
      "main input:not([type=hidden]), main select, main textarea, main button, main a[href]")]
    .filter(el => shown(el) && !bar.contains(el) && !el.disabled);
  let worst = {covered: 0, el: null, checked: controls.length, hidden: null};
  const button = bar.querySelector("button, a");  // the bar's own button, hit-tested across
  for (const el of controls) {  // in document order, as Tab moves
    el.focus();
    const b = button.getBoundingClientRect();
    for (const fx of [0.03, 0.06, 0.1, 0.15, 0.2, 0.5, 0.8, 0.95]) for (const fy of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const x = b.left + b.width * fx, y = b.top + b.height * fy;  // anything painted over the button?
      const hit = y > 0 && y < innerHeight ? document.elementFromPoint(x, y) : null;
      if (hit && !bar.contains(hit))
        worst.hidden = worst.hidden || `${name(hit)} over the bar's button after focusing ${name(el)}`;
    }
    const r = rowOf(el).getBoundingClientRect();
    const covered = Math.max(overlap(r, bar.getBoundingClientRect()),
                             title ? overlap(r, title.getBoundingClientRect()) : 0);
    if (covered > worst.covered) worst = {...worst, covered: Math.round(covered), el: name(el),
                                          height: Math.round(r.height)};
  }
  document.activeElement.blur();
  window.scrollTo(0, 0);
  return worst;
}"""


# The host app's text zoom as WeChat applies it (on iOS it sets -webkit-text-size-adjust on the
# page; Android's WebView text zoom scales text the same way, through Chromium's text autosizer):
# every text × the factor, our rem/em sizes and 长辈版's 137.5 % included, while boxes keep their
# size. The DevTools protocol's default font size (Page.setFontSizes) takes whole pixels only,
# so 23.8 px cannot be had there. Put first in <head>, under our stylesheet: a page that set
# text-size-adjust itself would undo the zoom, and the root-font check below would see it.
HOST_TEXT_ZOOM = """(() => {
  const zoom = "%s%%";
  const add = () => {
    const style = document.createElement("style");
    style.textContent = `html { -webkit-text-size-adjust: ${zoom}; text-size-adjust: ${zoom}; }`;
    document.head.prepend(style);
  };
  if (document.head) add();
  else new MutationObserver((_, seen) => { if (document.head) { seen.disconnect(); add(); } })
    .observe(document, {childList: true, subtree: true});
})()"""


def phone(page, live_server, mode: Mode):
    """A tab set as `mode`: 长辈版 as the cookie its switch sets (the switch itself is pressed on
    the first page), the host's font size as the phone's default font (DevTools protocol, whole
    pixels) or, for a fraction, as the host's text zoom (HOST_TEXT_ZOOM)."""
    tab = page(js=True, width=mode.width, height=640 if mode.width < 390 else 844)
    if mode.host_font and float(mode.host_font).is_integer():
        cdp = tab.context.new_cdp_session(tab)
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": int(mode.host_font)}})
    elif mode.host_font:
        tab.add_init_script(HOST_TEXT_ZOOM % round(mode.host_font / 16 * 100, 4))
    return tab


def measure(tab, mode: Mode, label: str, axe=None, sticky: bool = False) -> dict:
    """Measure the page and hold it to `mode`'s numbers; `sticky` also focuses each control of
    the form under the sticky bar. What falls short is kept in PROBLEMS (every page's, not only
    the first's) and the test fails at its end with all of them."""
    return _measure(tab, mode, label, axe, sticky)


def assert_no_problems(axe):
    problems, PROBLEMS[:] = list(PROBLEMS), []
    print(FIGURES)
    blocking = axe.blocking()
    assert not problems and not blocking, "\n".join(problems) + (
        f"\naxe found serious or critical problems: {blocking}" if blocking else ""
    )


def _figures(m: dict) -> dict:
    """The page's smallest text, body and main text, smallest target, overflow and paragraph spacing."""
    fonts, targets = m["fonts"], m["targets"]
    return {
        "text": min(f["px"] for k, f in fonts.items() if f and k != "lineHeight"),
        "body": fonts["body"]["px"] if fonts["body"] else None,
        "main": fonts["main"]["px"] if fonts["main"] else None,
        "target": min(targets["width"]["px"], targets["height"]["px"]),
        "overflow": m["scrollWidth"] - m["clientWidth"],
        "paragraphs": m["paragraphs"]["ratio"] if m["paragraphs"] else None,
    }


def _check_sticky_bar(tab, where: str, need, figures: dict):
    """A sticky bar there, and the focused control never under it (its cover counted in `figures`)."""
    bar = tab.evaluate(FOCUS_UNDER_BAR)
    if bar is None:
        need(False, f"{where} has no sticky bar")
    else:
        need(bar["checked"] > 0, f"{where} no control before the sticky bar")
        need(bar["covered"] == 0, f"{where} the sticky bar covers the focused control: {bar}")
        need(not bar["hidden"], f"{where} the sticky bar is painted over: {bar['hidden']}")
        figures["covered"] = bar["covered"]


def _measure(tab, mode: Mode, label: str, axe=None, sticky: bool = False) -> dict:
    tab.wait_for_load_state("load")  # with the stylesheet applied
    problems = []

    def need(holds, problem):
        if not holds:
            problems.append(problem)

    m = tab.evaluate(MEASURE)
    where = f"[{label}]"
    need(m["large"] is mode.elder, f"{where} html.large-text is {m['large']}")
    root = (mode.host_font or 16) * (1.375 if mode.elder else 1)
    need(abs(m["rootFont"] - root) < 0.5, f"{where} root font {m['rootFont']} px, not {root}")
    need(
        m["scrollWidth"] <= m["clientWidth"],
        f"{where} scrolls sideways ({m['scrollWidth']} > {m['clientWidth']}): {m['wide']}",
    )
    need(not m["wide"], f"{where} past the right edge: {m['wide']}")
    need(not m["broken"], f"{where} numbers broken inside a group of digits: {m['broken']}")
    need(not m["clipped"], f"{where} select or label text cut: {m['clipped']}")
    if mode.elder and m["paragraphs"]:  # MIIT: paragraph spacing ≥ 1.3 × the line spacing
        need(m["paragraphs"]["ratio"] >= 1.3 - 0.01, f"{where} paragraphs closer than 1.3 lines: {m['paragraphs']}")
    fonts, targets = m["fonts"], m["targets"]
    for kind, least in (("main", mode.least_main), ("body", mode.least_body), ("minor", mode.least_text)):
        if fonts[kind]:
            need(fonts[kind]["px"] >= least - 0.01, f"{where} {kind} text under {least} px: {fonts[kind]}")
    need(
        fonts["lineHeight"]["px"] >= mode.least_line_height - 0.01,
        f"{where} line height under {mode.least_line_height}: {fonts['lineHeight']}",
    )
    need(targets["count"] > 0, f"{where} no controls measured")
    for side in ("width", "height"):
        need(
            targets[side]["px"] >= mode.least_target,
            f"{where} a target under {mode.least_target} px {side}: {targets[side]}",
        )
    need(not targets["dead"], f"{where} rows with points that miss their control: {targets['dead']}")
    need(not targets["offscreen"], f"{where} controls off the screen: {targets['offscreen']}")
    figures = _figures(m)
    if sticky:
        _check_sticky_bar(tab, where, need, figures)
    FIGURES[label] = figures
    if axe is not None:
        axe.check(tab, label)
    for line in problems:
        PROBLEMS.append(line)
    return m


def looker(tab, mode_id: str, axe, shot):
    """`look("缴费结果")`: measure the page as `mode_id` (axe too where the mode says) and
    keep a screenshot of it."""
    mode = MODES[mode_id]

    def look(label: str, sticky: bool = False):
        measure(tab, mode, f"{mode_id} {label}", axe if mode.axe else None, sticky=sticky)
        shot(tab, label)

    return look


def see(tab, heading: str):
    expect(h1(tab)).to_have_text(heading)


@pytest.mark.parametrize("mode_id", list(MODES))
def test_paying_for_herself_meets_the_numbers(mode_id, live_server, page, shot, axe):
    """王芳 turns 长辈版 on (or leaves it off), signs in, pays her pension, and looks at her
    缴费记录 and the 退费申请 for what she paid."""
    mode = MODES[mode_id]
    tab = phone(page, live_server, mode)
    tab.goto(live_server("/"))
    switch = tab.get_by_role("button", name="长辈版")
    expect(switch).to_contain_text("大字")
    if mode.elder:
        switch.click()
        expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
        expect(switch).to_have_attribute("aria-pressed", "true")
    look = looker(tab, mode_id, axe, shot)
    look("首页")
    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    see(tab, "授权")
    look("授权")
    consent(tab, "王芳")
    see(tab, "我为自己缴")
    look("我为自己缴")
    tab.get_by_role("link", name=re.compile("养老保险")).click()
    see(tab, "选择缴费信息")
    look("选择缴费信息", sticky=True)
    tab.get_by_role("button", name="下一步").click()
    see(tab, "缴费信息确认")
    look("缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    see(tab, "选择缴款方式")
    look("选择缴款方式", sticky=True)
    tab.get_by_label("支付宝").check()
    tab.get_by_role("button", name="去支付").click()
    see(tab, "付款详情")  # the provider's page: its own look, not measured
    tab.get_by_role("button", name="立即付款").click()
    see(tab, "缴费结果")
    expect(tab.locator(".result-state")).to_have_text("缴费成功")
    look("缴费结果")
    ticket = ticket_no(tab)
    tab.get_by_role("link", name="查看缴费记录").click()
    see(tab, "缴费记录")
    expect(tab.locator("main a.record").first).to_be_visible()
    look("缴费记录")

    tab.goto(live_server(f"/refunds/normal/?ticket_no={ticket}"))
    expect(tab.get_by_role("list", name="可退费的缴费")).to_be_visible()
    look("退费查询")
    tab.get_by_role("list", name="可退费的缴费").get_by_role("link").first.click()
    expect(tab.get_by_role("group", name="选择要退费的费款")).to_be_visible()
    look("退费申请")
    assert_no_problems(axe)


@pytest.mark.parametrize("mode_id", list(MODES))
def test_the_other_resident_pages_meet_the_numbers(mode_id, live_server, page, shot, axe):
    """张伟 (signed in by his host app) goes through 证明开具, 退费申请, 银行账户, 缴费申报,
    涉费查询 and 我帮他人缴."""
    mode = MODES[mode_id]
    tab = phone(page, live_server, mode)
    if mode.elder:
        tab.context.add_cookies([{"name": "sbweb_text", "value": "large", "url": live_server.url}])
    tab.goto(live_server("/auth/?next=/certificates/"))
    consent(tab, "张伟")
    see(tab, "证明开具")
    look = looker(tab, mode_id, axe, shot)
    pages = [
        ("/certificates/", "证明开具", {}),
        ("/certificates/payment", "缴费证明", {}),
        ("/certificates/tax", "完税证明", {}),
        ("/certificates/proxy", None, {}),
        ("/refunds/", "退费申请", {}),
        ("/refunds/normal/", None, {}),
        ("/bank/", None, {}),
        ("/bank/accounts/new", None, {}),
        ("/declare/", "缴费申报", {}),
        ("/declare/flexible-pension", "灵活就业人员养老保险费申报", {"sticky": True}),
        ("/queries/", "涉费查询", {}),
        ("/queries/paid", None, {}),
        ("/declare/history", "申报查询", {}),
        ("/proxy/", "我帮他人缴", {}),
        ("/proxy/once", None, {}),
        ("/proxy/add", None, {}),
    ]
    for path, heading, extra in pages:
        tab.goto(live_server(path))
        if heading:
            see(tab, heading)
        look(path.strip("/").replace("/", "-"), **extra)
    # An error summary and its links: 添加被代缴人 sent empty.
    tab.locator("main form .button.primary").click()
    expect(tab.locator("[data-error-summary]")).to_be_visible()
    look("proxy-add-errors")
    tab.get_by_label("证件号码", exact=True).fill("370212196011203469")
    tab.get_by_label("姓名", exact=True).fill("赵秀英")
    tab.get_by_role("button", name="添加").click()
    see(tab, "我帮他人缴")
    look("proxy-with-payee")
    tab.goto(live_server("/proxy/batch"))
    expect(tab.get_by_role("group", name="选择要缴纳的费款")).to_be_visible()
    look("proxy-batch", sticky=True)
    assert_no_problems(axe)


# The contrast of an element's text against what is painted behind it: its colour and every
# ancestor's opacity composited over the nearest opaque background (gradients count as their
# solid fallback: the pages use none behind text).
CONTRAST = """el => {
  const rgba = s => {
    const m = s.match(/[\\d.]+/g).map(Number);
    return {r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1};
  };
  const over = (top, under) => ({r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a),
                                 b: top.b * top.a + under.b * (1 - top.a), a: 1});
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
                     return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => p - q); return (y + 0.05) / (x + 0.05); };
  const layers = [];
  let opacity = 1;
  for (let e = el; e; e = e.parentElement) {
    const s = getComputedStyle(e);
    opacity *= parseFloat(s.opacity);
    layers.push({bg: rgba(s.backgroundColor), opacity});
  }
  let back = {r: 255, g: 255, b: 255, a: 1};  // the canvas
  for (const layer of layers.reverse()) {
    if (layer.bg.a > 0) back = over({...layer.bg, a: layer.bg.a * layer.opacity}, back);
  }
  const text = rgba(getComputedStyle(el).color);
  return Math.round(ratio(over({...text, a: text.a * opacity}, back), back) * 100) / 100;
}"""

FOCUS_RING = """() => {
  const el = document.activeElement, s = getComputedStyle(el);
  return {visible: el.matches(":focus-visible"), color: s.outlineColor, width: parseFloat(s.outlineWidth),
          style: s.outlineStyle, page: getComputedStyle(document.body).backgroundColor};
}"""


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_greyed_out_text_and_the_focus_ring_keep_their_contrast(elder, live_server, page, shot):
    """Inside WeChat, 支付宝 and 云闪付 are offered greyed out with the reason; 去支付 is greyed
    for a moment after a tap. Both stay readable (4.5:1); the focus ring is ≥ 2 px and ≥ 3:1
    against white and against the page's grey."""
    from tests.support.wechat_fixtures import WECHAT_UA

    tab = page(js=True, user_agent=WECHAT_UA)
    if elder:
        tab.context.add_cookies([{"name": "sbweb_text", "value": "large", "url": live_server.url}])
    tab.goto(live_server("/auth/?next=/selfpay/"))
    consent(tab, "王芳")
    see(tab, "我为自己缴")
    tab.get_by_role("link", name=re.compile("养老保险")).click()
    tab.get_by_role("button", name="下一步").click()
    see(tab, "缴费信息确认")
    tab.get_by_role("button", name="下一步").click()
    see(tab, "选择缴款方式")
    reason = tab.locator("#channel-alipay-why")
    expect(reason).to_have_text("在微信中无法使用此方式")
    figures = {
        "reason": reason.evaluate(CONTRAST),
        "unavailable name": tab.locator(".channel-alipay").evaluate(CONTRAST),
    }
    pay = tab.get_by_role("button", name="去支付")
    pay.evaluate("b => b.setAttribute('aria-disabled', 'true')")  # as app.js does after a tap
    figures["去支付 greyed"] = pay.evaluate(CONTRAST)
    pay.evaluate("b => b.removeAttribute('aria-disabled')")
    shot(tab, "method-in-wechat")

    tab.get_by_label("微信支付").focus()
    tab.keyboard.press("Tab")  # from the keyboard: the ring shows (:focus-visible)
    ring = tab.evaluate(FOCUS_RING)
    assert ring["visible"] and ring["style"] == "solid", ring
    color = f"rgb({ring['color'].split('(')[1]}"
    on_white = tab.evaluate(f"""() => {{ const p = document.createElement("p"); p.textContent = "x";
        p.style.cssText = "color: {color}; background: #fff"; document.body.append(p);
        const r = ({CONTRAST})(p); p.remove(); return r; }}""")
    on_page = tab.evaluate(f"""() => {{ const p = document.createElement("p"); p.textContent = "x";
        p.style.cssText = "color: {color}; background: {ring["page"]}"; document.body.append(p);
        const r = ({CONTRAST})(p); p.remove(); return r; }}""")
    figures.update({"ring width": ring["width"], "ring on white": on_white, "ring on page": on_page})
    print(figures)
    assert ring["width"] >= 2, f"focus ring {ring['width']} px"
    assert on_white >= 3 and on_page >= 3, f"focus ring contrast: {figures}"
    greyed = ("reason", "unavailable name", "去支付 greyed")
    low = {k: v for k, v in figures.items() if k in greyed and v < 4.5}
    assert not low, f"greyed text under 4.5:1: {figures}"
