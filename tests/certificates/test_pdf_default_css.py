"""sbweb.pdf.DEFAULT_CSS: xhtml2pdf's default stylesheet cut to the rules for the elements our
document templates use (a render no longer parses and cascades the rest). Each kind of document,
rendered with the library's whole default stylesheet and with ours, must look the same pixel for
pixel (pdftoppm), and use no element ours leaves out."""

import re
import shutil
import subprocess

import pytest
from xhtml2pdf.default import DEFAULT_CSS as XHTML2PDF_DEFAULT_CSS

from sbweb import pdf
from sbweb.services import documents

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")


def page_png(data: bytes, tmp_path, name: str) -> bytes:
    (tmp_path / f"{name}.pdf").write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "100", str(tmp_path / f"{name}.pdf"), str(tmp_path / name)], check=True)
    pages = sorted(tmp_path.glob(f"{name}-*.png"))
    assert len(pages) == 1
    return pages[0].read_bytes()


def test_each_kind_of_document_looks_the_same_with_the_cut_default_css(app, tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(documents, "html_to_pdf", lambda html: made.append(html) or b"%PDF-")
    with app.app_context():
        documents.warm(app.config.get("PDF_FONT_PATH"))  # a made-up document of each kind (the tax one void)
    assert len(made) == 3 and "已作废" in made[2]
    for n, html in enumerate(made):
        used = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html))
        assert used <= pdf.DEFAULT_CSS_ELEMENTS, used - pdf.DEFAULT_CSS_ELEMENTS
        ours = page_png(pdf.html_to_pdf(html), tmp_path, f"ours-{n}")
        theirs = page_png(pdf.html_to_pdf(html, default_css=XHTML2PDF_DEFAULT_CSS), tmp_path, f"theirs-{n}")
        assert ours == theirs, n
        assert len(ours) > 5000
