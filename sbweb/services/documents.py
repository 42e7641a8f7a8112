"""证明开具: issue documents (each issue recorded), gather what each certifies, and render it.

- 电子缴费凭证 (voucher): one settled order of the payer; one document per order.
- 缴费证明 (payment): a person's paid items of a year — own person, or (代缴) only what this
  payer paid for a payee.
- 完税证明 (tax): by 费款所属期 range or by 票证号码; 首开 once per ticket, 补开 any number of
  times; every issue is a Document row (开具记录).

Every document has a verification code; its QR code links to the public verification page.
"""
import secrets
from dataclasses import dataclass

from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sbweb.clock import SHANGHAI, shanghai_now
from sbweb.db import db, write_transaction
from sbweb.identity import mask
from sbweb.models import Agency, Document, Enrollment, FirstIssue, Order, Person
from sbweb.payments.orders import issue_number
from sbweb.pdf import html_to_pdf, qr_data_uri, register_font
from sbweb.services import records

PREFIX = {"voucher": "PZ", "payment": "ZM", "tax": "WS"}
# Codes are read aloud and typed from paper: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class DocumentError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _new_document(**fields) -> Document:
    doc = Document(
        doc_no=f"{PREFIX[fields['kind']]}{shanghai_now():%Y%m%d}{issue_number('document'):08d}",
        verify_code="".join(secrets.choice(CODE_ALPHABET) for _ in range(12)), **fields)
    db.session.add(doc)
    db.session.flush()
    return doc


# -- what a document certifies ----------------------------------------------------------------

def lines_of(doc: Document) -> list[records.RecordLine]:
    """The paid items a document lists, recomputed from the orders (they never change once
    settled, so a re-download shows the same figures)."""
    if doc.kind == "voucher":
        page = records.records_page(doc.requested_by, others=None, states=("settled", "refunded"),
                                    order_nos=[doc.order.order_no], per_page=1000)
        return page.lines
    payer = doc.requested_by if doc.proxy else None
    return records.paid_items_of(doc.holder_id, paid_by=payer, year=doc.year, period_from=doc.period_from,
                                 period_to=doc.period_to, ticket_no=doc.ticket_no)


# -- issuing -------------------------------------------------------------------------------------

def voucher(payer_id: int, order_no: str) -> Document:
    """The payer's 电子缴费凭证 for a settled order (made on first request, then the same)."""
    order = db.session.scalar(select(Order).where(Order.order_no == order_no[:32], Order.payer_id == payer_id))
    if order is None:
        raise DocumentError(None, "未找到该缴费记录")
    if order.state != "settled":
        raise DocumentError(None, "缴费成功后才能下载电子缴费凭证")
    existing = db.session.scalar(select(Document).filter_by(kind="voucher", order_id=order.id))
    if existing is not None:
        return existing
    try:
        with write_transaction():
            doc = _new_document(kind="voucher", holder_id=payer_id, requested_by=payer_id,
                                order_id=order.id, amount_fen=order.total_fen, items=len(order.items))
    except IntegrityError:  # two taps at once: the other one made it
        db.session.rollback()
        return db.session.scalar(select(Document).filter_by(kind="voucher", order_id=order.id))
    return doc


def payment_certificate(requested_by: int, holder_id: int, year: int, *, proxy: bool = False) -> Document:
    """缴费证明 for a year: the holder's paid items (代缴: only those this payer paid)."""
    lines = records.paid_items_of(holder_id, paid_by=requested_by if proxy else None, year=year)
    if not lines:
        raise DocumentError("year", f"{year}年度没有已缴费记录，无法开具缴费证明")
    with write_transaction():
        return _new_document(kind="payment", holder_id=holder_id, requested_by=requested_by, proxy=proxy,
                             year=year, amount_fen=sum(l.amount_fen for l in lines), items=len(lines))


def tax_certificate(requested_by: int, holder_id: int, *, issue: str, ticket_no: str | None = None,
                    period_from: str | None = None, period_to: str | None = None,
                    proxy: bool = False) -> Document:
    """完税证明 首开 (once per ticket) or 补开, by 票证号码 or by a 费款所属期 range."""
    if not ticket_no and not (period_from and period_to):
        raise DocumentError("ticket_no", "票证号码和费款所属期不能同时为空")
    if period_from and period_to and period_from > period_to:
        raise DocumentError("period_to", "费款所属期止不能早于起")
    lines = records.paid_items_of(holder_id, paid_by=requested_by if proxy else None, ticket_no=ticket_no,
                                  period_from=None if ticket_no else period_from,
                                  period_to=None if ticket_no else period_to)
    if not lines:
        raise DocumentError("ticket_no" if ticket_no else "period_from", "未查询到可开具完税证明的已缴费记录")
    tickets = sorted({l.ticket_no for l in lines if l.ticket_no})
    try:
        with write_transaction():
            if issue == "first":
                done = set(db.session.scalars(select(FirstIssue.ticket_no).where(FirstIssue.ticket_no.in_(tickets))))
                if done:
                    raise DocumentError("issue", f"票证号码 {min(done)} 已首开，如需再次开具请选择补开")
            doc = _new_document(kind="tax", issue=issue, holder_id=holder_id, requested_by=requested_by,
                                proxy=proxy, ticket_no=ticket_no, period_from=None if ticket_no else period_from,
                                period_to=None if ticket_no else period_to,
                                amount_fen=sum(l.amount_fen for l in lines), items=len(lines))
            if issue == "first":
                for t in tickets:
                    db.session.add(FirstIssue(ticket_no=t, document_id=doc.id))
                db.session.flush()
    except IntegrityError:
        raise DocumentError("issue", "该票证已首开，如需再次开具请选择补开") from None
    return doc


def issued_by(person_id: int, kind: str | None = None) -> list[Document]:
    """开具记录: what this person had issued, newest first."""
    query = select(Document).where(Document.requested_by == person_id)
    if kind:
        query = query.where(Document.kind == kind)
    return list(db.session.scalars(query.order_by(Document.issued_at.desc(), Document.id.desc())))


def own_document(person_id: int, doc_no: str) -> Document | None:
    return db.session.scalar(select(Document).where(Document.doc_no == doc_no[:24],
                                                    Document.requested_by == person_id))


def by_code(code: str) -> Document | None:
    code = "".join(ch for ch in (code or "").upper() if ch.isalnum())[:16]
    if not code:
        return None
    return db.session.scalar(select(Document).where(Document.verify_code == code))


# -- rendering -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    filename: str
    data: bytes


def render(doc: Document, *, verify_url: str, font: str | None = None) -> Rendered:
    """The document's PDF: its template with its lines, a QR code to `verify_url`."""
    register_font(font)
    lines = lines_of(doc)
    holder = db.session.get(Person, doc.holder_id)
    payer = db.session.get(Person, doc.requested_by)
    html = render_template(f"documents/{doc.kind}.html", doc=doc, lines=lines, holder=holder, payer=payer,
                           mask=mask, total=sum(l.amount_fen for l in lines), verify_url=verify_url,
                           qr=qr_data_uri(verify_url), issued_at=doc.issued_at.astimezone(SHANGHAI),
                           order=doc.order, tax_office=tax_office(holder))
    return Rendered(f"{doc.label}-{doc.doc_no}.pdf", html_to_pdf(html))


def tax_office(holder: Person) -> str:
    """税务机关: the tax bureau of the city where the holder is enrolled."""
    city = db.session.scalar(select(Agency.city).join(Enrollment, Enrollment.agency_id == Agency.id)
                             .where(Enrollment.person_id == holder.id).order_by(Enrollment.id).limit(1))
    return f"国家税务总局{city or ''}税务局"


def count_issued(person_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Document).where(Document.requested_by == person_id))
