"""证明开具: issue documents (each issue recorded), fix what each certifies, render it, and void it
when the money it certifies goes back.

- 电子缴费凭证 (voucher): one settled order of the payer; one valid document per order.
- 缴费证明 (payment): a person's paid items of a year — own person, or (代缴) only what this
  payer paid for a payee.
- 完税证明 (tax): one ticket (so one 主管税务机关), found by 查询 (票证号码, 费款所属期, 缴费日期,
  主管税务机关; 补开 also 开具日期) and picked from 证明信息列表; 首开 once per ticket and holder,
  补开 only after it, any number of times; every issue is a Document row (开具记录).

An issued document never changes: its lines (the items, each at what it kept), totals, holder
and tax office are stored at issue, and the PDF and the verify page read only those. Its state
does change: certificates follow the money, so a document listing an item whose money went
back is 已作废 from then on (`void_covering`). Every document has a verification code; its QR
code links to the public verification page.
"""

import contextlib
import datetime as dt
import secrets
import threading
from dataclasses import dataclass

from cachetools import LRUCache
from flask import current_app, render_template
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from sbweb.clock import SHANGHAI, shanghai_now
from sbweb.db import db, write_transaction
from sbweb.id_numbers import mask
from sbweb.models import (
    Agency,
    Document,
    DocumentItem,
    Enrollment,
    FirstIssue,
    LoginSession,
    Order,
    OrderItem,
    Person,
    TaxOffice,
    Ticket,
)
from sbweb.pdf import html_to_pdf, qr_data_uri, register_font
from sbweb.services import records
from sbweb.services.numbers import issue_number

PREFIX = {"voucher": "PZ", "payment": "ZM", "tax": "WS"}
# Codes are read aloud and typed from paper: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class DocumentError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


# The field a "nothing left to certify" message goes beside, by kind.
_FIELD = {"voucher": None, "payment": "year", "tax": "ticket_no"}


def _new_document(lines: list[records.RecordLine], **fields) -> Document:
    """A document of `fields` (kind, holder_id, requested_by, …) certifying `lines` — each paid item
    at what it keeps — stored with its totals, holder, payer and tax office as they are now, so
    that nothing it says depends on what happens later. Call inside a write transaction: the
    items are held while it is written, so a refund either comes first (and the item is listed
    at what it kept, or not at all) or after (and voids this document)."""
    held = _hold(line.item_id for line in lines)
    lines = [line for line in lines if held.get(line.item_id, 0) > 0]
    if not lines:
        raise DocumentError(_FIELD[fields["kind"]], "所选费款已全部退费，没有可开具的缴费记录")
    holder = db.session.get(Person, fields["holder_id"])
    payer = db.session.get(Person, fields["requested_by"])
    office = tax_office(holder, fields.get("ticket_no") if fields["kind"] == "tax" else None)
    doc = Document(
        doc_no=f"{PREFIX[fields['kind']]}{shanghai_now():%Y%m%d}{issue_number('document'):08d}",
        verify_code="".join(secrets.choice(CODE_ALPHABET) for _ in range(12)),
        amount_fen=sum(held[line.item_id] for line in lines),
        items=len(lines),
        holder_name=holder.name,
        holder_id_number=holder.id_number,
        payer_name=payer.name,
        payer_id_number=payer.id_number,
        tax_office=office,
        **fields,
    )
    doc.lines = [
        DocumentItem(
            position=n,
            item_id=line.item_id,
            person_id=line.person_id,
            person_name=line.person_name,
            id_number=line.id_number,
            category=line.category,
            insurance=line.insurance,
            kind=line.kind,
            period_start=line.period_start,
            period_end=line.period_end,
            amount_fen=held[line.item_id],
            order_no=line.order_no,
            ticket_no=line.ticket_no,
            tax_office=getattr(line, "tax_office", None) or office,
            paid_at=line.settled_at,
            channel=line.channel,
        )
        for n, line in enumerate(lines, 1)
    ]
    db.session.add(doc)
    db.session.flush()
    return doc


def _hold(item_ids) -> dict[int, int]:
    """Lock these paid items (in id order) and return what each keeps now (refunds lock them too)."""
    return dict(
        db.session.execute(
            select(OrderItem.id, OrderItem.amount_fen - OrderItem.refunded_fen)
            .where(OrderItem.id.in_(sorted(set(item_ids))))
            .order_by(OrderItem.id)
            .with_for_update()
        ).all()
    )


# -- what a document certifies ----------------------------------------------------------------


def lines_of(doc: Document) -> list[DocumentItem]:
    """The lines a document lists: stored at issue, the same on every download."""
    return list(doc.lines)


def valid_covering(item_id: int) -> list[Document]:
    """The valid documents that list this paid item."""
    return list(
        db.session.scalars(
            select(Document)
            .join(DocumentItem, DocumentItem.document_id == Document.id)
            .where(DocumentItem.item_id == item_id, Document.state == "valid")
            .order_by(Document.id)
        )
    )


def void_covering(item_ids, at: dt.datetime, reason: str) -> list[Document]:
    """Money of these items went back: every valid document listing any of them is 已作废 from
    `at`, for `reason`. Call inside the write transaction that moved the money."""
    ids = list(item_ids)
    if not ids:
        return []
    docs = list(
        db.session.scalars(
            select(Document)
            .where(
                Document.state == "valid",
                Document.id.in_(select(DocumentItem.document_id).where(DocumentItem.item_id.in_(ids))),
            )
            .order_by(Document.id)
            .with_for_update()
        )
    )
    for doc in docs:
        doc.state, doc.voided_at, doc.void_reason = "void", at, reason[:100]
    db.session.flush()
    return docs


# -- issuing -------------------------------------------------------------------------------------


def voucher(payer_id: int, order_no: str) -> Document:
    """The payer's 电子缴费凭证 for a settled order: made on first request, then the same. Once
    it is 已作废 (some of the money went back), a new one lists what the order kept; an order
    whose money all went back keeps its last voucher, which says 已作废."""
    order_id = db.session.scalar(select(Order.id).where(Order.order_no == order_no[:32], Order.payer_id == payer_id))
    if order_id is None:
        raise DocumentError(None, "未找到该缴费记录")
    with write_transaction():
        order = db.session.get(Order, order_id, populate_existing=True)
        # Holding its items makes two taps at once wait for each other (one voucher), and a
        # refund of them too.
        _hold(i.id for i in order.items)
        issued = list(
            db.session.scalars(
                select(Document).filter_by(kind="voucher", order_id=order.id).order_by(Document.id.desc())
            )
        )
        valid = next((d for d in issued if d.state == "valid"), None)
        if valid is not None:
            return valid
        lines = [line for line in _order_lines(order) if line.kept_fen > 0] if order.state == "settled" else []
        if not lines:
            if issued:
                return issued[0]
            raise DocumentError(None, "缴费成功后才能下载电子缴费凭证")
        return _new_document(lines, kind="voucher", holder_id=payer_id, requested_by=payer_id, order_id=order.id)


def _order_lines(order: Order) -> list[records.RecordLine]:
    page = records.records_page(
        order.payer_id, others=None, states=("settled",), order_nos=[order.order_no], per_page=1000
    )
    return sorted(page.lines, key=lambda line: line.item_id)


def payment_certificate(requested_by: int, holder_id: int, year: int, *, proxy: bool = False) -> Document:
    """缴费证明 for a year: the holder's paid items (代缴: only those this payer paid)."""
    lines = records.paid_items_of(holder_id, paid_by=requested_by if proxy else None, year=year)
    if not lines:
        raise DocumentError("year", f"{year}年度没有已缴费记录，无法开具缴费证明")
    with write_transaction():
        return _new_document(
            lines, kind="payment", holder_id=holder_id, requested_by=requested_by, proxy=proxy, year=year
        )


# The seeds' words when a 查询 finds nothing: 首开 looks for tickets not yet first-issued, 补开 for
# tickets already first-issued (so 补开 before 首开 finds nothing, and says so).
NOTHING_TO_ISSUE = {"first": "未查询到任何开具信息，请确认是否首次开具", "reissue": "未查询到任何信息"}


@dataclass(frozen=True)
class TaxTicket:
    """A row of 证明信息列表: one ticket of the holder, with what it paid for them."""

    ticket_no: str
    tax_office: str
    amount_fen: int
    paid_at: dt.datetime
    period_from: str
    period_to: str
    items: int
    first_issued_at: dt.datetime | None


def tax_search(
    requested_by: int,
    holder_id: int,
    *,
    issue: str,
    proxy: bool = False,
    ticket_no: str | None = None,
    period_from: str | None = None,
    period_to: str | None = None,
    paid_from: dt.date | None = None,
    paid_to: dt.date | None = None,
    tax_office: str | None = None,
    issued_from: dt.date | None = None,
    issued_to: dt.date | None = None,
) -> list[TaxTicket]:
    """证明查询信息 → 证明信息列表: the holder's tickets (代缴: of what this payer paid) that 首开 may
    issue (not yet first-issued for the holder) or 补开 may (already first-issued), by 票证号码,
    费款所属期, 缴费日期, 主管税务机关 (its code) and, for 补开, 开具日期. Raises the seeds' words when
    there is none."""
    lines = records.paid_items_of(
        holder_id,
        paid_by=requested_by if proxy else None,
        ticket_no=ticket_no,
        period_from=period_from,
        period_to=period_to,
    )
    by_ticket: dict[str, list[records.RecordLine]] = {}
    for line in lines:
        day = line.settled_at.astimezone(SHANGHAI).date() if line.settled_at else None
        kept = line.ticket_no and line.refunded_fen < line.amount_fen  # money all gone back: nothing to certify
        if kept and (not paid_from or day >= paid_from) and (not paid_to or day <= paid_to):
            by_ticket.setdefault(line.ticket_no, []).append(line)
    if tax_office:
        of_office = set(
            db.session.scalars(
                select(Ticket.ticket_no)
                .join(TaxOffice)
                .where(TaxOffice.code == tax_office, Ticket.ticket_no.in_(list(by_ticket)))
            )
        )
        by_ticket = {t: ls for t, ls in by_ticket.items() if t in of_office}
    first = dict(
        db.session.execute(
            select(FirstIssue.ticket_no, Document.issued_at)
            .join(Document, Document.id == FirstIssue.document_id)
            .where(FirstIssue.holder_id == holder_id, FirstIssue.ticket_no.in_(list(by_ticket)))
        ).all()
    )
    wanted = [t for t in by_ticket if (t in first) == (issue == "reissue")]
    if issue == "reissue" and (issued_from or issued_to):
        wanted = [t for t in wanted if _issued_within(holder_id, t, issued_from, issued_to)]
    found = [_tax_ticket(t, by_ticket[t], first.get(t)) for t in wanted]
    if not found:
        raise DocumentError(None, NOTHING_TO_ISSUE[issue])
    return sorted(found, key=lambda t: (t.paid_at, t.ticket_no), reverse=True)


def _issued_within(holder_id: int, ticket_no: str, issued_from: dt.date | None, issued_to: dt.date | None) -> bool:
    """A 完税证明 of this ticket was issued to the holder on a day within the range (开具日期)."""
    days = [
        at.astimezone(SHANGHAI).date()
        for at in db.session.scalars(
            select(Document.issued_at).where(
                Document.kind == "tax", Document.holder_id == holder_id, Document.ticket_no == ticket_no
            )
        )
    ]
    return any((not issued_from or d >= issued_from) and (not issued_to or d <= issued_to) for d in days)


def _tax_ticket(ticket_no: str, lines: list, first_issued_at) -> TaxTicket:
    return TaxTicket(
        ticket_no=ticket_no,
        tax_office=lines[0].tax_office or "",
        amount_fen=sum(line.amount_fen - line.refunded_fen for line in lines),
        paid_at=lines[0].settled_at,
        period_from=min(line.period_start for line in lines),
        period_to=max(line.period_end for line in lines),
        items=len(lines),
        first_issued_at=first_issued_at,
    )


def tax_certificate(requested_by: int, holder_id: int, *, issue: str, ticket_no: str, proxy: bool = False) -> Document:
    """开具 a 完税证明 of one ticket for its holder: 首开 once per ticket and holder, 补开 only for a
    ticket already first-issued (any number of times). The ticket must be one 查询 would list."""
    try:
        tax_search(requested_by, holder_id, issue=issue, proxy=proxy, ticket_no=ticket_no)
    except DocumentError as exc:
        raise DocumentError("ticket", exc.message) from None
    lines = records.paid_items_of(holder_id, paid_by=requested_by if proxy else None, ticket_no=ticket_no)
    try:
        with write_transaction():
            doc = _new_document(
                lines,
                kind="tax",
                issue=issue,
                holder_id=holder_id,
                requested_by=requested_by,
                proxy=proxy,
                ticket_no=ticket_no,
            )
            if issue == "first":
                db.session.add(FirstIssue(ticket_no=ticket_no, holder_id=holder_id, document_id=doc.id))
                db.session.flush()
    except IntegrityError:  # a second tap or tab got there first
        raise DocumentError("ticket", NOTHING_TO_ISSUE["first"]) from None
    return doc


def issued_by(person_id: int, kind: str | None = None) -> list[Document]:
    """开具记录: what this person had issued, newest first."""
    query = select(Document).where(Document.requested_by == person_id)
    if kind:
        query = query.where(Document.kind == kind)
    return list(db.session.scalars(query.order_by(Document.issued_at.desc(), Document.id.desc())))


def own_document(person_id: int, doc_no: str) -> Document | None:
    return db.session.scalar(select(Document).where(Document.doc_no == doc_no[:24], Document.requested_by == person_id))


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


def render(doc: Document, *, verify_url: str, font: str | None = None, full_id: bool = False) -> Rendered:
    """The document's PDF from what was stored at issue: its template with its lines, a QR code to
    `verify_url`, and the 已作废 mark when it is void. `full_id`: the holder's own copy, which
    carries their full 证件号码 (as official certificates do); every other copy is masked."""
    register_font(font)

    def id_of(number: str, person_id: int) -> str:
        return number if full_id and person_id == doc.holder_id and not doc.proxy else mask(number)

    html = render_template(
        f"documents/{doc.kind}.html",
        doc=doc,
        lines=lines_of(doc),
        id_of=id_of,
        mask=mask,
        total=doc.amount_fen,
        verify_url=verify_url,
        qr=qr_data_uri(verify_url),
        issued_at=doc.issued_at.astimezone(SHANGHAI),
        voided_at=doc.voided_at.astimezone(SHANGHAI) if doc.voided_at else None,
    )
    return Rendered(f"{doc.label}-{doc.doc_no}.pdf", html_to_pdf(html))


# -- the PDF of a download, rendered once per process and state ---------------------------------
# An issued document's lines, totals and holder never change; its state does (valid → void, with
# when and why). A download's PDF is kept in the process's memory under a key of everything its
# bytes depend on, read from the row the request has just loaded: the document (its number and
# random verification code too, so a database restored or swapped under a running process cannot
# hand out another document's PDF), its state, when and why it was voided, which copy (full
# 证件号码 or masked), the verify URL and the font. A void made anywhere — another gunicorn worker,
# the job consumer, a staff approval — changes the key on the next download of every process,
# with no message between them: a voided document is never served from a stale entry. Nothing is
# written to disk (the holder's own copy carries their full 证件号码).
_cache_lock = threading.Lock()


def _pdf_cache() -> LRUCache | None:
    app = current_app._get_current_object()
    with _cache_lock:
        if "sbweb.pdf_cache" not in app.extensions:
            size = int(app.config.get("PDF_CACHE_BYTES") or 0)
            app.extensions["sbweb.pdf_cache"] = (
                LRUCache(maxsize=size, getsizeof=lambda r: len(r.data)) if size > 0 else None
            )
        return app.extensions["sbweb.pdf_cache"]


def cache_key(doc: Document, *, verify_url: str, font: str | None, full_id: bool) -> tuple:
    return (
        doc.id,
        doc.doc_no,
        doc.verify_code,
        doc.issued_at,
        doc.state,
        doc.voided_at,
        doc.void_reason,
        bool(full_id),
        verify_url,
        font,
    )


def download(doc: Document, *, verify_url: str, font: str | None = None, full_id: bool = False) -> Rendered:
    """`render`, kept per process until the document's state changes (see above)."""
    cache = _pdf_cache()
    if cache is None:
        return render(doc, verify_url=verify_url, font=font, full_id=full_id)
    key = cache_key(doc, verify_url=verify_url, font=font, full_id=full_id)
    with _cache_lock:
        kept = cache.get(key)
    if kept is not None:
        return kept
    rendered = render(doc, verify_url=verify_url, font=font, full_id=full_id)
    # ValueError: larger than the whole cache. A voided document's old entry is left to age out.
    with _cache_lock, contextlib.suppress(ValueError):
        cache[key] = rendered
    return rendered


def warm(font: str | None = None) -> float:
    """Get a process ready for its first download: render a made-up document of each kind (never
    stored), so that the templates are compiled and xhtml2pdf's and ReportLab's first-use set-up is
    done, and run the download's reads for no row. A fresh gunicorn worker's first download then
    costs ~60 ms of CPU instead of ~250 (bench/README.md). For a process about to serve
    (gunicorn's post_worker_init, `flask serve`); needs an app context. Returns the seconds it took."""
    import time

    started = time.perf_counter()
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    number = "110101199001010000"
    for kind, state in (("voucher", "valid"), ("payment", "valid"), ("tax", "void")):
        doc = Document(
            doc_no=f"{PREFIX[kind]}000000000000000",
            kind=kind,
            issue="first" if kind == "tax" else None,
            holder_id=0,
            requested_by=0,
            proxy=False,
            year=2026,
            ticket_no="0" * 18,
            amount_fen=10000,
            items=1,
            verify_code="2" * 12,
            issued_at=at,
            holder_name="示例",
            holder_id_number=number,
            payer_name="示例",
            payer_id_number=number,
            tax_office="示例",
            state=state,
            voided_at=at if state == "void" else None,
            void_reason="示例" if state == "void" else None,
        )
        doc.lines = [
            DocumentItem(
                position=1,
                item_id=0,
                person_id=0,
                person_name="示例",
                id_number=number,
                category="resident",
                insurance="pension",
                kind="normal",
                period_start="2026-01",
                period_end="2026-01",
                amount_fen=10000,
                order_no="0",
                ticket_no="0" * 18,
                tax_office="示例",
                paid_at=at,
                channel="alipay",
            )
        ]
        with current_app.test_request_context("/"):
            render(doc, verify_url="https://example.invalid/verify/" + "2" * 12, font=font)
    # The download's reads, of no row: SQLAlchemy builds and caches what a query of each class
    # needs (its loaders, the compiled statement) on its first use in a process, which would
    # otherwise be the first download's. A database out of reach only means that download pays.
    try:
        for model in (LoginSession, Person, Order):
            db.session.scalars(select(model).where(model.id == 0)).all()
        own_document(0, "")
        db.session.scalars(select(DocumentItem).where(DocumentItem.document_id == 0)).all()
    except SQLAlchemyError as exc:
        current_app.logger.warning("PDF warm-up: no database (%s)", type(exc).__name__)
    finally:
        db.session.rollback()
    return time.perf_counter() - started


def tax_office(holder: Person, ticket_no: str | None = None) -> str:
    """税务机关: the 主管税务机关 of the ticket, or (a certificate of no one ticket) of the agency
    where the holder was first enrolled."""
    if ticket_no:
        name = db.session.scalar(
            select(TaxOffice.name)
            .join(Ticket, Ticket.tax_office_id == TaxOffice.id)
            .where(Ticket.ticket_no == ticket_no)
        )
        if name:
            return name
    return (
        db.session.scalar(
            select(TaxOffice.name)
            .join(Agency, Agency.tax_office_id == TaxOffice.id)
            .join(Enrollment, Enrollment.agency_id == Agency.id)
            .where(Enrollment.person_id == holder.id)
            .order_by(Enrollment.id)
            .limit(1)
        )
        or ""
    )


def count_issued(person_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Document).where(Document.requested_by == person_id))
