"""证明开具 in Chromium at 390×844, with and without JavaScript: 王芳 pays her medical due,
downloads the 电子缴费凭证 from 缴费结果, issues a 缴费证明 (a wrong 验证码 first, then the text
question a resident can read instead of the image), mails it to herself, and its 校验码 is
confirmed at the public 证明核验; an unknown code is told plainly. The 缴费证明 form and the
document page are also looked at in 大字 at 320 px. Screenshots: test-artifacts/screens/<test>/."""

import email
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sbweb.identity.captcha import WORDS
from tests.home.test_large_text_browser import MEASURE
from tests.support.browser_steps import checkout, consent, h1, image_loaded, path_of

pytestmark = pytest.mark.browser

ADDRESS = "wangfang@example.com"
QUESTION = re.compile(rf"^([{WORDS}])加([{WORDS}])等于几？$")


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def text_captcha_answer(tab) -> str:
    """What a resident works out from 请回答：七加五等于几？"""
    question = tab.locator("#captcha-hint strong").inner_text().strip()
    a, b = QUESTION.fullmatch(question).groups()
    return str(WORDS.index(a) + WORDS.index(b))


def summary_value(tab, label: str) -> str:
    row = tab.locator("main .summary-list > div").filter(has=tab.locator("dt", has_text=label))
    return row.locator("dd").inner_text().strip()


def download_the_voucher(tab, tmp_path):
    """电子缴费凭证 from 缴费结果: the document page, then the PDF through the browser's own download."""
    tab.get_by_role("link", name=re.compile("^电子缴费凭证")).click()
    expect(h1(tab)).to_have_text("电子缴费凭证")
    assert re.fullmatch(r"/certificates/d/\w+", path_of(tab)), path_of(tab)
    with tab.expect_download() as info:
        tab.get_by_role("link", name="下载 PDF").click()
    download = info.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    voucher_pdf = tmp_path / "voucher.pdf"
    download.save_as(voucher_pdf)
    assert voucher_pdf.read_bytes()[:4] == b"%PDF"
    text = pdf_text(voucher_pdf)
    assert "电子缴费凭证" in text and "352.00" in text, text


def open_the_payment_form(tab, shot, axe, js: bool, tag: str) -> str:
    """证明开具 → 缴费证明: the first 缴费年度 chosen, the image 验证码 and (when the app can speak) its
    audio. Returns the year chosen."""
    # 证明开具 from the home tile.
    tab.get_by_role("link", name="社保费缴纳").click()
    tab.get_by_role("link", name=re.compile("^证明开具")).click()
    expect(h1(tab)).to_have_text("证明开具")
    expect(tab.locator("main .notice-text")).to_have_count(0)  # verified: nothing to sign in for
    shot(tab, f"certificates-index-{tag}")
    if js:
        axe.check(tab, "证明开具")

    tab.get_by_role("link", name=re.compile("^缴费证明（缴费记录凭证）")).click()
    expect(h1(tab)).to_have_text("缴费证明")
    year = tab.get_by_label("缴费年度")
    first_year = year.locator("option").first.get_attribute("value")
    year.select_option(first_year)
    image = tab.locator("img.captcha-image")
    expect(image).to_have_attribute("alt", re.compile("^图形验证码"))
    assert image_loaded(image), "验证码 image did not load"
    audio = tab.locator("audio.captcha-audio")
    if shutil.which("espeak-ng") is None:  # (CI has it) the app cannot speak: the question in words only
        expect(audio).to_have_count(0)
    else:
        expect(audio).to_be_visible()
        expect(tab.get_by_text("听语音验证码（普通话读两遍）")).to_be_visible()
    if js and shutil.which("espeak-ng"):  # the browser fetches the WAV (allowed by the page's CSP) and can play it
        seconds = audio.evaluate("""a => new Promise((ok, bad) => {
            a.addEventListener("loadedmetadata", () => ok(a.duration)); a.addEventListener("error", bad);
            a.preload = "auto"; a.load(); })""")
        assert 4 <= seconds <= 20, seconds
    shot(tab, f"payment-image-captcha-{tag}")
    if js:
        axe.check(tab, "缴费证明（图形验证码）")
    return first_year


def answer_wrong_then_in_words(tab, shot, axe, js: bool, tag: str, first_year: str):
    """A wrong 验证码 refused, then 看不清？改用文字题 answered and 开具."""
    # A wrong 验证码 (five digits: the image's answer has four): said on top and beside the box.
    tab.get_by_label("验证码", exact=True).fill("12345")
    tab.get_by_role("button", name="开具").click()
    summary = tab.locator("[data-error-summary]")
    expect(summary).to_contain_text("验证码不正确，请重新输入")
    expect(tab.locator(".field.captcha .field-message")).to_contain_text("验证码不正确，请重新输入")
    expect(tab.get_by_label("验证码", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(tab.get_by_label("验证码", exact=True)).to_have_value("")  # 12345 answered a challenge now gone
    if js:
        expect(summary).to_be_focused()
    expect(tab).to_have_title(re.compile("^错误："))
    shot(tab, f"payment-wrong-captcha-{tag}")
    if js:
        axe.check(tab, "缴费证明（验证码错误）")

    # 看不清？改用文字题: a question in words she can answer.
    tab.get_by_role("button", name="看不清？改用文字题").click()
    expect(tab.locator("#captcha-hint strong")).to_have_text(QUESTION)
    expect(tab.locator("img.captcha-image")).to_have_count(0)
    expect(tab.get_by_role("button", name="改用图形验证码")).to_be_visible()
    assert path_of(tab) == "/certificates/payment"
    tab.get_by_label("缴费年度").select_option(first_year)
    tab.get_by_label("验证码", exact=True).fill(text_captcha_answer(tab))
    shot(tab, f"payment-text-captcha-{tag}")
    if js:
        axe.check(tab, "缴费证明（文字题）")
    tab.get_by_role("button", name="开具").click()


def mail_it_to_herself(tab, live_server, shot, axe, js: bool, tag: str, tmp_path):
    """发送至邮箱: the test app runs jobs inline, so the mail is 已发送 when the page comes back; the mail in
    the outbox carries the PDF."""
    tab.get_by_label("电子邮箱").fill(ADDRESS)
    tab.get_by_role("button", name="发送至邮箱").click()
    expect(tab.locator("main")).to_contain_text(f"已提交发送至 {ADDRESS}")
    sent = tab.get_by_role("list", name="发送记录").get_by_role("listitem")
    expect(sent).to_have_count(1)
    expect(sent).to_contain_text(ADDRESS)
    expect(sent.locator(".state")).to_have_text("已发送")
    shot(tab, f"payment-document-sent-{tag}")
    if js:
        axe.check(tab, "缴费证明（已发送）")
    [eml] = list((Path(live_server.app.instance_path) / "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes())
    assert message["To"] == ADDRESS
    [attachment] = [p for p in message.walk() if p.get_content_type() == "application/pdf"]
    mailed_pdf = tmp_path / "mailed.pdf"
    mailed_pdf.write_bytes(attachment.get_payload(decode=True))
    text = pdf_text(mailed_pdf)
    assert "缴费证明" in text and "352.00" in text, text


def verify_the_code(tab, live_server, shot, axe, js: bool, tag: str, code: str):
    """证明核验: the code on the document (the name masked), and one that is not."""
    tab.goto(live_server(f"/verify/{code}"))
    expect(h1(tab)).to_have_text("证明核验")
    expect(tab.get_by_role("heading", level=2)).to_have_text("核验通过：本系统开具的缴费证明")
    expect(tab.locator("main")).to_contain_text("*芳")
    expect(tab.locator("main")).to_contain_text("352.00")
    expect(tab.locator("main")).not_to_contain_text("王芳")
    shot(tab, f"verify-ok-{tag}")
    if js:
        axe.check(tab, "证明核验（通过）")
    tab.goto(live_server("/verify/ZZZZZZZZZZZZ"))
    expect(tab.get_by_role("heading", level=2)).to_have_text("未找到该校验码对应的证明")
    shot(tab, f"verify-unknown-{tag}")
    if js:
        axe.check(tab, "证明核验（未找到）")


def look_in_large_text(tab, page, live_server, shot, js: bool, tag: str, doc_url: str):
    """大字 on a 320 px phone (and the 验证码 with its 听语音验证码 at 390), signed in as she is: the
    form and the document page."""
    cookies = tab.context.cookies() + [{"name": "sbweb_text", "value": "large", "url": live_server.url}]
    wide = page(js=js)
    wide.context.add_cookies(cookies)
    wide.goto(live_server("/certificates/payment"))
    expect(h1(wide)).to_have_text("缴费证明")
    shot(wide, f"large-390-payment-form-{tag}")
    small = page(js=js, width=320)
    small.context.add_cookies(cookies)
    for step, url, heading in [
        ("payment-form", live_server("/certificates/payment"), "缴费证明"),
        ("document", doc_url, "缴费证明"),
    ]:
        small.goto(url)
        expect(h1(small)).to_have_text(heading)
        small.wait_for_load_state("load")
        m = small.evaluate(MEASURE)
        shot(small, f"large-320-{step}-{tag}")
        assert not m["clipped"] and not m["broken"], f"{step}: {m['clipped']} {m['broken']}"
        assert not m["paragraphs"] or m["paragraphs"]["ratio"] >= 1.3 - 0.01, f"{step}: {m['paragraphs']}"
        assert m["large"], f"{step}: not in 大字"
        assert m["scrollWidth"] <= m["clientWidth"], f"{step} scrolls sideways at 320 px: {m}"
        short = [b for b in m["primary"] if b["height"] < 44]
        assert not short, f"{step}: primary buttons under 44 px: {short}"


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_wang_fang_downloads_a_voucher_and_mails_a_payment_certificate(live_server, page, shot, axe, tmp_path, js):
    tag = "js" if js else "nojs"
    tab = page(js=js)
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("我为自己缴")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    expect(h1(tab)).to_have_text("选择缴费信息")
    checkout(tab)

    download_the_voucher(tab, tmp_path)

    first_year = open_the_payment_form(tab, shot, axe, js, tag)

    answer_wrong_then_in_words(tab, shot, axe, js, tag, first_year)

    expect(h1(tab)).to_have_text("缴费证明")
    expect(tab).to_have_url(re.compile(r"/certificates/d/\w+$"))
    expect(tab.locator("main .summary-list")).to_contain_text("352.00")
    doc_url = tab.url
    code = summary_value(tab, "校验码")
    assert re.fullmatch(r"[0-9A-Z]{12}", code), code

    mail_it_to_herself(tab, live_server, shot, axe, js, tag, tmp_path)

    verify_the_code(tab, live_server, shot, axe, js, tag, code)

    look_in_large_text(tab, page, live_server, shot, js, tag, doc_url)

    if js:
        print(axe.summary())
        blocking = axe.blocking()
        assert not blocking, f"axe found serious or critical problems: {blocking}"
