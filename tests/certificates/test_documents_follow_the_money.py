"""Issued documents never change, and certificates follow the money (issue 13): a document's lines,
totals and holder are fixed at issue, so every download says the same; once money it lists goes
back it is 已作废 — on the verify page (never 核验通过), on its PDF, in 开具记录 — and a 缴费证明
issued again lists only what was kept. Every font a PDF uses is embedded; the holder's own copy
carries the full 证件号码, every other copy is masked. PDFs are read with poppler."""

import email
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from sbweb.clock import SHANGHAI
from sbweb.db import db, write_transaction
from sbweb.models import Document
from sbweb.services import ledger, registry
from tests.certificates.test_certificates import issue, needs_poppler
from tests.proxy.test_proxy import ZHAO, add, payee_rows
from tests.refunds.test_refunds_by_item import apply, approve_all, three_months_paid
from tests.support import ResidentClient
from tests.support.journeys import choose, order, order_no_of, pay, sign_in

WANG_ID = "520102198503151246"
WANG_MASKED = "5201**********1246"

pytestmark = needs_poppler


def pdf_file(data: bytes, tmp_path: Path, name: str = "doc") -> Path:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(data)
    return path


def pdftotext(data: bytes, tmp_path: Path, name: str = "doc") -> str:
    path = pdf_file(data, tmp_path, name)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def unembedded_fonts(data: bytes, tmp_path: Path, name: str = "doc") -> list[str]:
    """The rows of `pdffonts` whose font is not embedded (the emb column, fifth from the end)."""
    path = pdf_file(data, tmp_path, name)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = out.splitlines()[2:]
    assert rows, out
    return [row for row in rows if row.split()[-5] != "yes"]


def document(doc_no: str) -> Document:
    db.session.rollback()
    return db.session.scalar(select(Document).filter_by(doc_no=doc_no))


def doc_no_of(page) -> str:
    return page.url.rsplit("/", 1)[-1]


def pay_a_month(client, world, month: str) -> str:
    """王芳 pays one more month of her 医疗保险, pushed by the agency; returns the order number."""
    enrollment = world.enrollment("王芳", "medical")
    with write_transaction():
        due_id = registry.add_due(enrollment, kind="normal", period_start=month, period_end=month, amount_fen=35200).id
    return order_no_of(pay(client, choose(client, enrollment_no=enrollment.enrollment_no, due_ids=[due_id])))


def issue_tax(client, app, kind, data):
    """完税证明 首开 / 补开: 查询 with `data`, then 开具 the one ticket 证明信息列表 shows."""
    listing = client.submit(client.page(f"/certificates/tax/{kind}"), data)
    assert listing.url.endswith(f"/certificates/tax/{kind}/list"), listing.text[:300]
    return issue(client, app, listing.url, {})


def issued_three(app, client, paid):
    """王芳's voucher of the three-month payment, her 2026 缴费证明 and the ticket's 完税证明 (首开)."""
    voucher = client.page(f"/orders/{paid.order_no}/voucher")
    assert voucher.h1 == "电子缴费凭证"
    payment = issue(client, app, "/certificates/payment", {"year": "2026"})
    assert payment.h1 == "缴费证明", payment.text[:300]
    tax = issue_tax(client, app, "first", {"ticket_no": paid.ticket_no})
    assert tax.h1 == "完税证明（首开）", tax.text[:300]
    return [doc_no_of(p) for p in (voucher, payment, tax)]


@pytest.mark.parametrize("partial", [False, True], ids=["whole item", "part of an item"])
def test_a_refund_of_one_item_of_three_voids_what_lists_it_and_a_new_certificate_lists_what_was_kept(
    app, client, world, ctx, tmp_path, partial
):
    paid, ids = three_months_paid(client, world)
    other = pay_a_month(client, world, "2025-06")  # another payment, another year: its voucher stays
    other_voucher = doc_no_of(client.page(f"/orders/{other}/voucher"))
    doc_nos = issued_three(app, client, paid)
    public = app.test_client()
    for doc_no in doc_nos:
        assert "核验通过" in public.get(f"/verify/{document(doc_no).verify_code}").get_data(as_text=True)

    if partial:
        application, item_id = apply(
            client, paid.order_no, ids[1], money_type="多缴费款退费", reason="其他原因", amount="52.00"
        )
    else:
        application, item_id = apply(
            client, paid.order_no, ids[1], money_type="误缴费款退费", reason="缴费档次或基数选择错误"
        )
    approve_all(app, app.test_client(), application)
    why = f"费款已退费（退费申请 {application.application_no}）"

    for doc_no in doc_nos:
        doc = document(doc_no)
        assert doc.state == "void" and doc.void_reason == why, doc_no
        day = doc.voided_at.astimezone(SHANGHAI).date()
        # The public verify page says so in words, with the date and the reason; never 核验通过.
        verdict = public.get(f"/verify/{doc.verify_code}").get_data(as_text=True)
        assert "已作废" in verdict and "核验通过" not in verdict, doc_no
        assert f"{day:%Y-%m-%d}" in verdict and why in verdict
        # The PDF carries the mark, the date and the reason, and still its lines as issued.
        text = pdftotext(client.get(f"/certificates/d/{doc_no}.pdf").data, tmp_path, doc_no)
        assert "已作废" in text and f"{day:%Y年%m月%d日}" in text and why in text, text[:600]
        assert "1,056.00" in text or "1056.00" in text, text  # the three months as issued
        # The document's own page says it too.
        assert "本证明已作废" in client.page(f"/certificates/d/{doc_no}").text
    # A document that does not list the refunded item is untouched.
    assert document(other_voucher).state == "valid"
    assert "核验通过" in public.get(f"/verify/{document(other_voucher).verify_code}").get_data(as_text=True)

    # 开具记录 shows each one's state.
    listing = client.page("/certificates/issued")
    cells = {
        a.select_one(".cell-sub").get_text(): a.get_text(" ", strip=True)
        for a in listing.soup.select("main a.cell-link")
    }
    for doc_no in doc_nos:
        assert "已作废" in cells[f"编号 {doc_no}"] and why in cells[f"编号 {doc_no}"]
    assert "有效" in cells[f"编号 {other_voucher}"] and "已作废" not in cells[f"编号 {other_voucher}"]

    # The 缴费证明 issued again lists what was kept: without the refunded month, or at what it kept.
    again = issue(client, app, "/certificates/payment", {"year": "2026"})
    assert again.h1 == "缴费证明" and doc_no_of(again) not in doc_nos
    lines = {line.item_id: line.amount_fen for line in document(doc_no_of(again)).lines}
    kept = {i.id: i.kept_fen for i in order(paid.order_no).items}
    if partial:
        assert lines[item_id] == 30000 and {i: lines[i] for i in kept} == kept
    else:
        assert item_id not in lines and all(lines[i] == kept[i] for i in kept if i != item_id)
    text = pdftotext(client.get(again.url + ".pdf").data, tmp_path, "again")
    assert "已作废" not in text
    if partial:
        assert "1,004.00" in text and "300.00" in text, text
    else:
        assert "704.00" in text and "2026年09月" not in text and "2026年08月" in text, text
    assert "核验通过" in public.get(f"/verify/{document(doc_no_of(again)).verify_code}").get_data(as_text=True)

    # The order's voucher, asked for again, is a new one of what the order kept.
    voucher = client.page(f"/orders/{paid.order_no}/voucher")
    assert doc_no_of(voucher) != doc_nos[0] and document(doc_no_of(voucher)).state == "valid"
    assert document(doc_no_of(voucher)).amount_fen == sum(kept.values())
    assert ledger.check() == []


def test_a_voucher_whose_money_all_went_back_stays_void(app, client, world, ctx, tmp_path):
    sign_in(client, "王芳", verified=True)
    from tests.bank.test_bank import report

    report(client)
    paid = pay_a_month(client, world, "2026-07")
    first = doc_no_of(client.page(f"/orders/{paid}/voucher"))
    due_id = order(paid).items[0].due_id
    application, _ = apply(client, paid, due_id, money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)
    assert order(paid).state == "refunded"
    again = client.page(f"/orders/{paid}/voucher")
    assert doc_no_of(again) == first and "本证明已作废" in again.text
    assert "已作废" in pdftotext(client.get(again.url + ".pdf").data, tmp_path)
    assert ledger.check() == []


def test_every_download_says_the_same_whatever_happens_after_issue(app, client, world, ctx, tmp_path):
    """A 缴费证明 and a voucher, downloaded before and after other payments of the year and a
    refund of an item they do not list: the same text, the same lines, still 核验通过."""
    paid, ids = three_months_paid(client, world)
    voucher = doc_no_of(client.page(f"/orders/{paid.order_no}/voucher"))
    payment = doc_no_of(issue(client, app, "/certificates/payment", {"year": "2026"}))
    before = {n: pdftotext(client.get(f"/certificates/d/{n}.pdf").data, tmp_path, f"{n}-1") for n in (voucher, payment)}

    enrollment = world.enrollment("王芳", "medical")
    with write_transaction():
        later = [
            registry.add_due(enrollment, kind="normal", period_start=m, period_end=m, amount_fen=35200).id
            for m in ("2026-11", "2026-12")
        ]
    second = order(order_no_of(pay(client, choose(client, enrollment_no=enrollment.enrollment_no, due_ids=later))))
    application, _ = apply(client, second.order_no, later[0], money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)

    for n in (voucher, payment):
        after = pdftotext(client.get(f"/certificates/d/{n}.pdf").data, tmp_path, f"{n}-2")
        twice = pdftotext(client.get(f"/certificates/d/{n}.pdf").data, tmp_path, f"{n}-3")
        assert after == before[n] == twice, n
        assert "2026年11月" not in after and "1,056.00" in after
        assert document(n).state == "valid" and len(document(n).lines) == 3
        assert "核验通过" in app.test_client().get(f"/verify/{document(n).verify_code}").get_data(as_text=True)
    assert ledger.check() == []


def test_every_font_of_every_kind_of_document_is_embedded(app, client, world, ctx, tmp_path):
    paid, ids = three_months_paid(client, world)
    doc_nos = issued_three(app, client, paid)
    application, _ = apply(client, paid.order_no, ids[0], money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)  # and each as 已作废, with its mark
    doc_nos.append(doc_no_of(issue(client, app, "/certificates/payment", {"year": "2026"})))
    doc_nos.append(doc_no_of(issue_tax(client, app, "reissue", {"period_from": "2026-01", "period_to": "2026-12"})))
    for doc_no in doc_nos:
        data = client.get(f"/certificates/d/{doc_no}.pdf").data
        assert data[:5] == b"%PDF-"
        assert unembedded_fonts(data, tmp_path, doc_no) == [], doc_no


def test_the_holders_own_copy_carries_the_full_id_and_every_other_copy_is_masked(app, client, world, ctx, tmp_path):
    sign_in(client, "王芳", verified=True)
    paid = pay_a_month(client, world, "2026-07")
    voucher = client.page(f"/orders/{paid}/voucher")
    payment = issue(client, app, "/certificates/payment", {"year": "2026"})
    for page in (voucher, payment):
        own = pdftotext(client.get(page.url + ".pdf").data, tmp_path, doc_no_of(page))
        assert WANG_ID in own, own[:400]
        # The page and the public verify page show it masked.
        assert WANG_ID not in page.text and WANG_MASKED in page.text
        verdict = app.test_client().get(f"/verify/{document(doc_no_of(page)).verify_code}").get_data(as_text=True)
        assert WANG_ID not in verdict and WANG_MASKED in verdict

    # Mailed to herself: the full number too.
    client.submit(voucher, {"email": "wangfang@example.com"}, selector="main form[action$='/mail']")
    [eml] = list((Path(app.instance_path) / "outbox").glob("*.eml"))
    [attachment] = [
        p for p in email.message_from_bytes(eml.read_bytes()).walk() if p.get_content_type() == "application/pdf"
    ]
    assert WANG_ID in pdftotext(attachment.get_payload(decode=True), tmp_path, "mailed")

    # A looked-up session (证件号码 + 姓名 prove nothing) gets the voucher masked.
    app.test_client_class = ResidentClient
    looked_up = app.test_client()
    sign_in(looked_up, "王芳")
    second = pay_a_month(looked_up, world, "2026-06")
    page = looked_up.page(f"/orders/{second}/voucher")
    text = pdftotext(looked_up.get(page.url + ".pdf").data, tmp_path, "looked-up")
    assert WANG_ID not in text and WANG_MASKED in text


def test_a_payers_copies_mask_the_payee_and_the_payer_sees_only_their_own_number(app, client, world, ctx, tmp_path):
    sign_in(client, "张伟", verified=True)
    add(client)
    payee = payee_rows(world)[0]
    paid = order(order_no_of(pay(client, client.submit(client.page(f"/proxy/{payee.id}/370212200000045679/dues")))))
    voucher = client.page(f"/orders/{paid.order_no}/voucher")
    text = pdftotext(client.get(voucher.url + ".pdf").data, tmp_path, "voucher")
    assert "370202197805127818" in text  # 张伟's own voucher: his own number in full
    assert "370212196011203469" not in text and "3702**********3469" in text  # 赵秀英's masked
    year = client.page("/certificates/proxy").soup.select_one("#year option")["value"]
    proxy = issue(client, app, "/certificates/proxy", {**ZHAO, "kind": "payment", "year": year})
    assert proxy.h1 == "缴费证明"
    text = pdftotext(client.get(proxy.url + ".pdf").data, tmp_path, "proxy")
    assert "370212196011203469" not in text and "3702**********3469" in text
    assert "370202197805127818" not in text


def test_the_ledger_finds_a_valid_certificate_listing_returned_money(app, client, world, ctx):
    from sqlalchemy import update

    paid, ids = three_months_paid(client, world)
    doc_nos = issued_three(app, client, paid)
    application, item_id = apply(client, paid.order_no, ids[2], money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)
    assert ledger.check() == []
    db.session.execute(update(Document).where(Document.doc_no == doc_nos[1]).values(state="valid"))
    everything = ledger.check()
    found = [v for v in everything if v.rule == "certificate"]
    assert [(v.rule, v.subject) for v in found] == [("certificate", doc_nos[1])], found
    assert f"item {item_id}" in found[0].detail
    # The feed said it was voided (document.voided): that no longer matches either.
    assert [v.subject.split()[0] for v in everything if v.rule == "feed"] == ["document.voided"]
    db.session.rollback()
    assert ledger.check() == []
