"""证明开具: the voucher, 缴费证明 (with its 验证码, read aloud or as a question), 完税证明 首开 /
补开 and 开具记录, the 代缴 variant, 证明核验, and mailing a document — each PDF checked for real
with poppler (pdffonts: the CJK font embedded; pdftotext: the text; pdftoppm: it renders)."""

import email
import io
import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.identity import captcha
from sbweb.models import Document, OutboxMail
from tests.proxy.test_proxy import ZHAO, add, payee_rows
from tests.support import identity_of
from tests.support.journeys import choose, order_no_of, pay, sign_in

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pdfs"
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdffonts, pdftoppm) not installed"
)


def pdf_text(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "WenQuanYi" in line or "CJK" in line or "Hei" in line]
    assert cjk, fonts
    assert all(line.split()[-5:-3] == ["yes", "yes"] for line in cjk), fonts  # embedded, subset
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(path), str(tmp_path / "page")], check=True
    )
    assert (tmp_path / "page-1.png").stat().st_size > 5000
    # Kept for a person to look at: test-artifacts/pdfs/<test>.png
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / "page-1.png", ARTIFACTS / f"{tmp_path.name}.png")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def espeak():
    """听语音验证码 needs Debian's espeak-ng; CI installs it and sets SBWEB_REQUIRE_SPEECH."""
    if shutil.which("espeak-ng") is None:
        reason = "espeak-ng is not installed (Debian package espeak-ng): 听语音验证码 is not offered"
        if os.environ.get("SBWEB_REQUIRE_SPEECH"):
            pytest.fail(f"SBWEB_REQUIRE_SPEECH is set but {reason}", pytrace=False)
        print(f"\nskipping: {reason}")
        pytest.skip(reason)


def answer(client, app) -> str:
    session_id = identity_of(client)["session_id"]
    with app.app_context():
        return captcha.answer_of(app.config["SECRET_KEY"], captcha.current(session_id))


def count(model, **where):
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model).filter_by(**where))


def issue(client, app, url, data):
    page = client.page(url)
    return client.submit(page, {**data, "captcha": answer(client, app)})


@needs_poppler
def test_the_voucher_of_a_settled_order(client, world, ctx, tmp_path):
    sign_in(client, "王芳")
    result = pay(client, choose(client, "medical"))
    order_no = order_no_of(result)
    doc_page = client.page(f"/orders/{order_no}/voucher")
    assert doc_page.h1 == "电子缴费凭证"
    again = client.page(f"/orders/{order_no}/voucher")
    assert again.url == doc_page.url  # one voucher per order
    download = client.get(doc_page.url + ".pdf")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert len(download.data) <= 200_000
    text = pdf_text(download.data, tmp_path)
    for expected in (
        "电子缴费凭证",
        "王芳",
        "5201**********1246",
        "352.00",
        "叁佰伍拾贰元整",
        "职工基本医疗保险费（灵活就业）",
        "支付宝",
    ):
        assert expected in text, expected
    assert "520102198503151246" not in text
    db.session.rollback()
    ticket = db.session.scalar(select(Document)).order.ticket_nos[0]
    assert ticket in text


def test_a_voucher_is_only_for_its_payer_and_a_settled_order(app, client, world, ctx):
    from tests.support import ResidentClient

    sign_in(client, "王芳")
    order_no = order_no_of(pay(client, choose(client, "medical")))
    app.test_client_class = ResidentClient
    other = app.test_client()
    sign_in(other, "李明", verified=True)
    assert other.get(f"/orders/{order_no}/voucher").status_code == 404
    doc_no = client.get(f"/orders/{order_no}/voucher").location.rsplit("/", 1)[-1]
    assert other.get(f"/certificates/d/{doc_no}").status_code == 404
    assert other.get(f"/certificates/d/{doc_no}.pdf").status_code == 404


@needs_poppler
def test_payment_certificate_needs_the_captcha(app, client, world, ctx, tmp_path):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page("/certificates/payment")
    wrong = client.submit(page, {"captcha": "abcd"})
    assert wrong.status == 422 and wrong.field_error("captcha") == "验证码不正确，请重新输入"
    assert count(Document) == 0
    year = page.soup.select_one("#year option")["value"]
    doc_page = issue(client, app, "/certificates/payment", {"year": year})
    assert doc_page.h1 == "缴费证明"
    text = pdf_text(client.get(doc_page.url + ".pdf").data, tmp_path)
    assert f"{year}年度已缴纳" in text and "352.00" in text and "叁佰伍拾贰元整" in text


def test_the_text_alternative_to_the_image_captcha(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page("/certificates/payment")
    assert page.soup.select_one("img.captcha-image")["alt"].startswith("图形验证码")
    image = client.get(page.soup.select_one("img.captcha-image")["src"])
    assert image.mimetype == "image/png" and image.data[:4] == b"\x89PNG"
    text_page = client.submit(page, button="看不清？改用文字题")
    assert text_page.h1 == "缴费证明" and "等于几？" in text_page.text
    assert not text_page.soup.select("img.captcha-image")
    doc_page = client.submit(text_page, {"captcha": answer(client, app)})
    assert doc_page.h1 == "缴费证明"


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_wrong_captcha_comes_back_with_an_empty_box(app, client, world, ctx, htmx):
    """What she typed answered a challenge that is gone: the new one starts from an empty box
    (换一张 too); a form sent back for another field keeps it (its challenge still waits)."""
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page("/certificates/payment")
    client.htmx = htmx
    wrong = client.submit(page, {"captcha": "12345"})
    assert wrong.status == 422 and wrong.field_error("captcha") == "验证码不正确，请重新输入"
    assert wrong.soup.select_one("#captcha").get("value", "") == ""
    other = client.submit(page, {"captcha": "12345"}, button="换一张")
    assert other.status == 200 and other.soup.select_one("#captcha").get("value", "") == ""
    kept = client.submit(page, {"captcha": "12345", "year": "1999"})
    assert kept.status == 422 and kept.field_error("year") and not kept.field_error("captcha")
    assert kept.soup.select_one("#captcha")["value"] == "12345"


def _wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getnframes() / wav.getframerate()


def test_the_image_captcha_read_aloud(app, client, world, ctx, espeak):
    """听语音验证码: a WAV of the image's four digits read twice in Mandarin, for the challenge on
    her page only, never kept by a cache; the address names the challenge, not its answer."""
    from tests.support import ResidentClient

    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page("/certificates/payment")
    audio = page.soup.select_one("audio.captcha-audio[controls]")
    assert page.soup.select_one(f"#{audio['aria-labelledby']}").get_text().startswith("听语音验证码")
    assert audio.select_one("a")["href"] == audio["src"]  # where the browser cannot play it
    said = answer(client, app)
    assert said not in audio["src"]
    heard = client.get(audio["src"])
    assert heard.status_code == 200 and heard.mimetype == "audio/wav"
    assert heard.headers["Cache-Control"] == "no-store" and "Content-Disposition" not in heard.headers
    data = heard.data
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and int.from_bytes(data[4:8], "little") == len(data) - 8
    assert 4 <= _wav_seconds(data) <= 20, _wav_seconds(data)  # "验证码：七，二，零，九" twice, slowly

    app.test_client_class = ResidentClient
    other = app.test_client()
    sign_in(other, "李明", verified=True)
    other.page("/certificates/payment")  # a challenge of his own
    assert other.get(audio["src"]).status_code == 404  # her challenge is not his to hear

    fresh = client.submit(page, button="换一张")
    assert client.get(audio["src"]).status_code == 404  # the challenge it read is gone
    again = fresh.soup.select_one("audio.captcha-audio")["src"]
    assert again != audio["src"] and client.get(again).status_code == 200
    text = client.submit(fresh, button="看不清？改用文字题")
    assert not text.soup.select("audio") and client.get(again).status_code == 404


@pytest.mark.parametrize("app", [{"CAPTCHA_SPEECH": "no-such-espeak-ng"}], indirect=True)
def test_without_espeak_the_question_in_words_is_offered_instead(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    pay(client, choose(client, "medical"))
    page = client.page("/certificates/payment")
    assert not page.soup.select("audio") and "听语音" not in page.text
    nonce = page.soup.select_one("img.captcha-image")["src"].split("n=")[1]
    assert client.get(f"/certificates/captcha.wav?n={nonce}").status_code == 404
    text = client.submit(page, button="看不清？改用文字题")
    assert "等于几？" in text.text


@needs_poppler
def test_tax_certificate_first_issue_once_then_reissues_all_recorded(app, client, world, ctx, tmp_path):
    sign_in(client, "王芳", verified=True)
    result = pay(client, choose(client, "medical"))
    ticket = next(
        dd.get_text(strip=True)
        for dd in result.soup.select(".summary-list dd")
        if dd.get_text(strip=True).isdigit() and len(dd.get_text(strip=True)) == 18
    )

    def listing(kind, **data):
        return client.submit(client.page(f"/certificates/tax/{kind}"), data or {"ticket_no": ticket})

    first = issue(client, app, listing("first").url, {})
    assert first.h1 == "完税证明（首开）"
    text = pdf_text(client.get(first.url + ".pdf").data, tmp_path)
    for expected in (
        "税收完税证明",
        "原凭证号",
        ticket,
        "520102198503151246",
        "王芳",
        "国家税务总局贵阳市南明区税务局",
        "职工基本医疗保险费",
        "（灵活就业）",
        "叁佰伍拾贰元整",
        "首开",
    ):
        assert expected in text, expected
    again = listing("first")
    assert again.status == 422 and again.summary() == ["未查询到任何开具信息，请确认是否首次开具"]
    assert issue(client, app, listing("reissue").url, {}).h1 == "完税证明（补开）"
    by_period = listing("reissue", period_from="2020-01", period_to="2030-12")
    assert issue(client, app, by_period.url, {}).h1 == "完税证明（补开）"
    listing = client.page("/certificates/issued")
    assert [a.select_one(".cell-title").get_text() for a in listing.soup.select("main a.cell-link")] == [
        "完税证明（补开）",
        "完税证明（补开）",
        "完税证明（首开）",
    ]


@needs_poppler
def test_the_proxy_variant_shows_only_what_this_payer_paid(app, client, world, ctx, tmp_path):
    from tests.support import ResidentClient

    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    pay(client, client.submit(client.page(f"/proxy/{payee.id}/370212200000045679/dues")))
    app.test_client_class = ResidentClient
    other = app.test_client()  # 王芳 pays 赵秀英's pension: not 张伟's to certify
    sign_in(other, "王芳", verified=True)
    other.submit(other.page("/proxy/add"), ZHAO)
    pay(other, other.submit(other.page(f"/proxy/{payee_rows(world, '王芳')[0].id}/370212100000045678/dues")))
    page = client.page("/certificates/proxy")
    year = page.soup.select_one("#year option")["value"]
    doc_page = issue(client, app, "/certificates/proxy", {**ZHAO, "year": year})
    assert doc_page.h1 == "缴费证明"
    text = pdf_text(client.get(doc_page.url + ".pdf").data, tmp_path)
    assert "城乡居民基本医疗保险费" in text and "城乡居民基本养老保险费" not in text
    assert "代缴人：张伟" in text and "3702**********3469" in text
    wrong = issue(client, app, "/certificates/proxy", {**ZHAO, "name": "赵秀", "year": year})
    assert wrong.status == 422 and "证件号码与姓名不一致" in " ".join(wrong.summary())


def test_verification_page_confirms_a_code_and_says_plainly_when_unknown(app, client, world, ctx):
    sign_in(client, "王芳")
    order_no = order_no_of(pay(client, choose(client, "medical")))
    client.get(f"/orders/{order_no}/voucher")
    db.session.rollback()
    doc = db.session.scalar(select(Document))
    public = app.test_client()
    ok = public.get(f"/verify/{doc.verify_code}")
    body = ok.get_data(as_text=True)
    assert ok.status_code == 200 and "核验通过" in body and doc.doc_no in body
    assert "*芳" in body and "5201**********1246" in body and "352.00" in body and "王芳" not in body
    unknown = public.get("/verify/ZZZZZZZZZZZZ")
    assert unknown.status_code == 404 and "未找到该校验码对应的证明" in unknown.get_data(as_text=True)
    typed = public.get(f"/verify?code={doc.verify_code.lower()}")
    assert "核验通过" in typed.get_data(as_text=True)


def test_mailing_a_document_writes_an_eml_with_the_pdf(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    order_no = order_no_of(pay(client, choose(client, "medical")))
    doc_page = client.page(f"/orders/{order_no}/voucher")
    bad = client.submit(doc_page, {"email": "not-an-address"}, selector="main form[action$='/mail']")
    assert bad.status == 422 and bad.field_error("email") == "请输入正确的电子邮箱地址"
    sent = client.submit(doc_page, {"email": "wangfang@example.com"}, selector="main form[action$='/mail']")
    assert "已提交发送至 wangfang@example.com" in sent.text
    assert count(OutboxMail, state="sent") == 1
    assert "已发送" in client.page(doc_page.url).text
    [eml] = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes())
    assert message["To"] == "wangfang@example.com"
    [attachment] = [part for part in message.walk() if part.get_content_type() == "application/pdf"]
    assert attachment.get_payload(decode=True)[:5] == b"%PDF-"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again at once: connections are refused


@pytest.mark.parametrize(
    "app",
    [{"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": _closed_port(), "MAIL_TIMEOUT": 1, "MAIL_RETRY_DELAYS": ()}],
    indirect=True,
)
def test_a_failed_mail_is_shown_with_a_retry_button(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    order_no = order_no_of(pay(client, choose(client, "medical")))
    doc_page = client.page(f"/orders/{order_no}/voucher")
    after = client.submit(doc_page, {"email": "wangfang@example.com"}, selector="main form[action$='/mail']")
    assert "发送失败，请稍后重试" in after.text
    assert count(OutboxMail, state="failed") == 1
    again = client.submit(after, selector="main ul.mails form")
    assert "已重新提交发送" in again.text
    db.session.rollback()
    assert db.session.scalar(select(OutboxMail)).attempts >= 1


def test_the_sixth_mail_in_an_hour_is_refused_with_a_clear_message(app, client, world, ctx):
    sign_in(client, "王芳", verified=True)
    order_no = order_no_of(pay(client, choose(client, "medical")))
    doc_page = client.page(f"/orders/{order_no}/voucher")
    for _ in range(5):
        client.submit(doc_page, {"email": "wangfang@example.com"}, selector="main form[action$='/mail']")
    refused = client.submit(doc_page, {"email": "wangfang@example.com"}, selector="main form[action$='/mail']")
    assert refused.status == 422 and refused.field_error("email").startswith("发送过于频繁：每小时最多发送5封邮件")
    assert count(OutboxMail) == 5
