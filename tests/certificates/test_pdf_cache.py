"""A download's PDF is rendered once per process and kept until the document's state changes
(sbweb.services.documents.download): a voided document is never served from what was kept,
whichever process voided it, and the holder's own copy (full 证件号码) is never handed to a
session that gets the masked one. PDFs are read with poppler, as the other document tests do."""

import datetime as dt
import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, update

from sbweb import create_app
from sbweb.db import db
from sbweb.models import Document
from sbweb.services import documents
from tests.certificates.test_certificates import needs_poppler
from tests.certificates.test_documents_follow_the_money import (
    WANG_ID,
    WANG_MASKED,
    doc_no_of,
    document,
    pay_a_month,
    pdftotext,
)
from tests.refunds.test_refunds_by_item import apply, approve_all
from tests.support import ResidentClient
from tests.support.journeys import order, sign_in

pytestmark = needs_poppler
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def renders(monkeypatch):
    """How many PDFs were rendered (xhtml2pdf run), not served from what was kept."""
    made = []
    real = documents.html_to_pdf

    def counted(html):
        made.append(html)
        return real(html)

    monkeypatch.setattr(documents, "html_to_pdf", counted)
    return made


def paid_voucher(client, world) -> tuple[str, str]:
    """王芳 (verified) pays a month; returns (order number, her voucher's number)."""
    sign_in(client, "王芳", verified=True)
    from tests.bank.test_bank import report

    report(client)
    paid = pay_a_month(client, world, "2026-07")
    return paid, doc_no_of(client.page(f"/orders/{paid}/voucher"))


def test_a_voucher_downloaded_then_refunded_says_void_at_once(app, client, world, ctx, tmp_path, renders):
    paid, doc_no = paid_voucher(client, world)
    first = client.get(f"/certificates/d/{doc_no}.pdf")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert "已作废" not in pdftotext(first.data, tmp_path, "valid")
    assert client.get(f"/certificates/d/{doc_no}.pdf").data == first.data
    assert len(renders) == 1  # the second download was the kept PDF

    application, _ = apply(client, paid, order(paid).items[0].due_id, money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)
    assert document(doc_no).state == "void"
    text = pdftotext(client.get(f"/certificates/d/{doc_no}.pdf").data, tmp_path, "void")
    assert "已作废" in text and f"退费申请 {application.application_no}" in text, text[:600]
    assert len(renders) == 2
    # Mailed after the refund: the void copy too.
    again = client.page(f"/certificates/d/{doc_no}")
    client.submit(again, {"email": "wangfang@example.com"}, selector="main form[action$='/mail']")
    assert len(renders) == 2  # the void one, kept


def test_a_void_written_by_another_process_is_seen_by_every_process_at_once(app, client, world, ctx, tmp_path):
    """Two apps on one database stand for two gunicorn workers (each its own kept PDFs). The void
    is written with plain SQL, as another process (a worker, the job consumer) would write it:
    nothing tells either app, and neither serves what it kept."""
    _, doc_no = paid_voucher(client, world)
    other = create_app(dict(app.config))
    other.test_client_class = ResidentClient
    other_client = other.test_client()
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    other_client.set_cookie(cookie.key, cookie.value)
    for who in (client, other_client):
        text = pdftotext(who.get(f"/certificates/d/{doc_no}.pdf").data, tmp_path, "valid")
        assert "已作废" not in text

    at = dt.datetime(2026, 8, 3, 2, 0, tzinfo=dt.UTC)
    db.session.execute(
        update(Document)
        .where(Document.doc_no == doc_no)
        .values(state="void", voided_at=at, void_reason="费款已退费（退费申请 TEST-1）")
    )
    db.session.commit()

    for who, name in ((client, "one"), (other_client, "other")):
        response = who.get(f"/certificates/d/{doc_no}.pdf")
        assert response.status_code == 200, name
        text = pdftotext(response.data, tmp_path, name)
        assert "已作废" in text and "2026年08月03日" in text and "TEST-1" in text, (name, text[:600])
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_holders_own_copy_is_never_handed_to_a_looked_up_session(app, client, world, ctx, tmp_path, renders):
    """The same voucher, downloaded by a looked-up session (证件号码 + 姓名 prove nothing) after
    the holder's verified one, is masked; and the holder's still carries her full number."""
    app.test_client_class = ResidentClient
    looked_up = app.test_client()
    sign_in(looked_up, "王芳")
    paid = pay_a_month(looked_up, world, "2026-06")
    doc_no = doc_no_of(looked_up.page(f"/orders/{paid}/voucher"))
    sign_in(client, "王芳", verified=True)

    for who, name in ((client, "own-1"), (looked_up, "looked-up-1"), (client, "own-2"), (looked_up, "looked-up-2")):
        text = pdftotext(who.get(f"/certificates/d/{doc_no}.pdf").data, tmp_path, name)
        if name.startswith("own"):
            assert WANG_ID in text, (name, text[:400])
        else:
            assert WANG_ID not in text and WANG_MASKED in text, (name, text[:400])
    assert len(renders) == 2  # one of each copy


@pytest.mark.parametrize("app", [{"PDF_CACHE_BYTES": 0}], indirect=True)
def test_with_the_cache_off_every_download_is_rendered(app, client, world, ctx, tmp_path, renders):
    _, doc_no = paid_voucher(client, world)
    for _ in range(2):
        assert client.get(f"/certificates/d/{doc_no}.pdf").data[:5] == b"%PDF-"
    assert len(renders) == 2


def test_a_new_gunicorn_worker_renders_each_kind_once_before_its_first_request(app, tmp_path, monkeypatch, renders):
    """deploy/gunicorn.conf.py's post_worker_init: one made-up document of each kind, rendered
    (the first download then finds the templates compiled), none stored, none kept."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "metrics"))  # the config would set it
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(len(renders)))  # not this test process's objects
    hooks = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    said = []
    log = SimpleNamespace(
        info=lambda msg, *a: said.append(("info", msg % a)), warning=lambda msg, *a: said.append(("warning", msg % a))
    )
    hooks["post_worker_init"](SimpleNamespace(wsgi=app, pid=4321, log=log))
    assert [level for level, _ in said] == ["info"] and "worker 4321: PDF documents warmed in" in said[0][1]
    titles = [html.split("<h1>")[1].split("</h1>")[0] for html in renders]
    assert titles == ["电子缴费凭证", "缴费证明", "中华人民共和国税收完税证明"]
    assert frozen == [3]  # after the warm-up: what it made stays out of the full collections
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Document)) == 0
        assert app.extensions.get("sbweb.pdf_cache") is None  # warm renders, keeps nothing
