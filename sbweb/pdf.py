"""PDF documents: HTML templates rendered by xhtml2pdf, Chinese text in an embedded CJK font.

The font is a TrueType collection installed with the system (Debian `fonts-wqy-microhei`,
which `make run` and CI install), registered with ReportLab once per process and named in
the documents' CSS, so every PDF embeds a subset of it: no boxes, no missing glyphs, and
no reliance on a font the reader may lack. It is also ReportLab's starting font for a page
and for a table cell, which otherwise name an unembedded Helvetica even when no text is set
in it (`pdffonts` must say emb yes on every row). QR codes are PNG data URIs made by segno.
"""

import base64
import io
import threading
from pathlib import Path

import segno
from reportlab import rl_config
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import tables
from xhtml2pdf import default as pisa_default
from xhtml2pdf import pisa

FONT_NAME = "SbwebCJK"
# Tried in order; the first that exists is used.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
_lock = threading.Lock()
_registered: dict[str, str] = {}


class FontMissing(RuntimeError):
    """No CJK font to embed: PDFs would show boxes, so none is made."""


def font_path(configured: str | None = None) -> Path:
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing("未找到中文字体（Debian: apt-get install fonts-wqy-microhei），无法生成 PDF")


def register_font(configured: str | None = None) -> str:
    """Register the CJK font with ReportLab and xhtml2pdf, once per process; returns its path."""
    with _lock:
        if FONT_NAME not in _registered:
            path = font_path(configured)
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
            pisa_default.DEFAULT_FONT[FONT_NAME.lower()] = FONT_NAME
            # Each page's canvas and each table cell start in a font of their own (Helvetica),
            # which the PDF then lists though it is not embedded.
            rl_config.canvas_basefontname = FONT_NAME
            tables.CellStyle.fontname = FONT_NAME
            _registered[FONT_NAME] = str(path)
        return _registered[FONT_NAME]


def qr_data_uri(text: str, scale: int = 4) -> str:
    buffer = io.BytesIO()
    # A fixed mask: choosing the best of eight costs most of the QR code's time, for no reader's gain.
    segno.make(text, error="m", mask=0).save(buffer, kind="png", scale=scale, border=2)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class RenderError(RuntimeError):
    pass


# xhtml2pdf parses its default stylesheet (xhtml2pdf.default.DEFAULT_CSS, ~3 KB: lists, forms,
# tables of contents…) on every render, and the cascade then weighs every rule against every
# element. Our templates use only these elements, and these are its rules for them, as they are
# there: ~3 ms (7 %) of a voucher. The pages come out pixel for pixel the same
# (tests/certificates/test_pdf_default_css.py renders each kind both ways and compares).
DEFAULT_CSS = """
html { font-family: Helvetica; font-size: 10px; font-weight: normal; color: #000000; margin: 0; padding: 0;
       line-height: 150%; border: 1px none; display: inline; width: auto; height: auto; white-space: normal; }
b, strong { font-weight: bold; }
h1 { font-weight: bold; -pdf-outline: true; -pdf-outline-open: false; font-size: 138.5%; -pdf-outline-level: 0; }
h1, p { margin: 1em 0; }
body, div, h1, p, table, th, tr, td { display: block; }
tr, th, td { vertical-align: middle; width: auto; }
th { text-align: center; font-weight: bold; }
"""
# The elements DEFAULT_CSS is written for; a template using another needs its rule added.
DEFAULT_CSS_ELEMENTS = frozenset(
    {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "div",
        "h1",
        "p",
        "br",
        "img",
        "table",
        "tr",
        "th",
        "td",
        "b",
        "strong",
    }
)


def html_to_pdf(html: str, default_css: str = DEFAULT_CSS) -> bytes:
    """One HTML document (our own template, no remote resources) → PDF bytes."""
    buffer = io.BytesIO()
    result = pisa.CreatePDF(html, dest=buffer, encoding="utf-8", default_css=default_css)
    if result.err:
        raise RenderError(f"xhtml2pdf reported {result.err} error(s)")
    return buffer.getvalue()
