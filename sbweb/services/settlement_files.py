"""每日结算文件: one file per 主管税务机关 and Asia/Shanghai day — the tickets settled that day,
their items, the item refunds done that day, and the totals — as CSV (machines: one header row of
stable English names, one row per record, money in fen) and XLSX (people: a sheet each, Chinese
headings). `make_day` builds them from the books and keeps them (sbweb.models.SettlementFile);
a day made again whose money changed since (a payment the provider reported late, settled by 对账
with its own paid time) gets a new revision; one whose money did not is left as it was.
`flask ledger check` recomputes each kept file's totals from the books (sbweb.services.ledger).

CSV records (`record` column): `ticket` (one per 票证号码: its total in amount_fen, its item count
in count), `item` (one per order item of those tickets), `refund` (one per item refund done that
day, amount_fen what went back, a positive number), then `total.tickets`, `total.items`,
`total.refunds` (count and amount) and `total.net` (paid less refunded)."""

import csv
import datetime as dt
import hashlib
import io
from collections import defaultdict
from dataclasses import dataclass, field

from openpyxl import Workbook
from sqlalchemy import select

from sbweb.clock import SHANGHAI, shanghai_today, utcnow
from sbweb.db import db, write_transaction
from sbweb.models import (
    Agency,
    Due,
    Enrollment,
    Order,
    OrderItem,
    RefundApplication,
    RefundItem,
    SettlementFile,
    TaxOffice,
    Ticket,
)
from sbweb.services import api_events

COLUMNS = (
    "record",
    "ticket_no",
    "order_no",
    "item_id",
    "refund_item_id",
    "application_no",
    "enrollment_no",
    "agency_code",
    "category",
    "insurance",
    "due_kind",
    "period_start",
    "period_end",
    "channel",
    "at",
    "count",
    "amount_fen",
    "reason",
    "effect",
)
# Days before yesterday that the daily job makes again, so that a late settlement reaches its day's file.
RECHECK_DAYS = 7
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Built:
    """One office's day, read from the books."""

    tickets: list[dict] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    refunds: list[dict] = field(default_factory=list)

    @property
    def paid_fen(self) -> int:
        return sum(i["amount_fen"] for i in self.items)

    @property
    def refunded_fen(self) -> int:
        return sum(r["amount_fen"] for r in self.refunds)

    def totals(self) -> dict:
        return {
            "tickets": len(self.tickets),
            "items": len(self.items),
            "refunds": len(self.refunds),
            "paid_fen": self.paid_fen,
            "refunded_fen": self.refunded_fen,
        }


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    return start, start + dt.timedelta(days=1)


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def _item_fields(item: OrderItem, due: Due, enrollment: Enrollment, agency_code: str) -> dict:
    """The item as the feed describes it, without what a file row gives itself (its amount) or
    leaves out (the due's id)."""
    described = api_events.item_payload(item, due, enrollment, agency_code)
    return {key: value for key, value in described.items() if key not in ("due_id", "amount_fen")}


def _items_joined(query):
    return (
        query.join(Due, Due.id == OrderItem.due_id)
        .join(Enrollment, Enrollment.id == Due.enrollment_id)
        .join(Agency, Agency.id == Enrollment.agency_id)
    )


def read_day(day: dt.date) -> dict[int, Built]:
    """Every tax office's tickets, items and refunds of `day`, by tax office id."""
    start, end = day_bounds(day)
    found: dict[int, Built] = defaultdict(Built)
    settled = (Order.settled_at >= start) & (Order.settled_at < end)
    for ticket, order in db.session.execute(
        select(Ticket, Order)
        .join(Order, Order.id == Ticket.order_id)
        .where(settled)
        .order_by(Order.settled_at, Ticket.id)
    ):
        found[ticket.tax_office_id].tickets.append(
            {
                "ticket_no": ticket.ticket_no,
                "order_no": order.order_no,
                "channel": order.channel,
                "at": _local(order.settled_at),
                "count": 0,
                "amount_fen": 0,
            }
        )
    by_ticket = {t["ticket_no"]: t for b in found.values() for t in b.tickets}
    query = _items_joined(
        select(OrderItem, Due, Enrollment, Agency.code, Ticket.ticket_no, Ticket.tax_office_id, Order.order_no)
        .join(Ticket, Ticket.id == OrderItem.ticket_id)
        .join(Order, Order.id == OrderItem.order_id)
    ).where(settled)
    for item, due, enrollment, agency_code, ticket_no, office_id, order_no in db.session.execute(
        query.order_by(OrderItem.id)
    ):
        found[office_id].items.append(
            {
                "ticket_no": ticket_no,
                "order_no": order_no,
                **_item_fields(item, due, enrollment, agency_code),
                "amount_fen": item.amount_fen,
            }
        )
        by_ticket[ticket_no]["count"] += 1
        by_ticket[ticket_no]["amount_fen"] += item.amount_fen
    _read_refunds(found, start, end)
    return found


def _read_refunds(found: dict[int, Built], start: dt.datetime, end: dt.datetime) -> None:
    query = _items_joined(
        select(
            RefundItem,
            RefundApplication.application_no,
            RefundApplication.reason,
            OrderItem,
            Due,
            Enrollment,
            Agency.code,
            Ticket.ticket_no,
            Ticket.tax_office_id,
            Order.order_no,
        )
        .join(RefundApplication, RefundApplication.id == RefundItem.application_id)
        .join(OrderItem, OrderItem.id == RefundItem.item_id)
        .join(Ticket, Ticket.id == OrderItem.ticket_id)
        .join(Order, Order.id == OrderItem.order_id)
    ).where(RefundItem.decision == "approved", RefundItem.done_at >= start, RefundItem.done_at < end)
    for row in db.session.execute(query.order_by(RefundItem.done_at, RefundItem.id)):
        refund, application_no, reason, item, due, enrollment, agency_code, ticket_no, office_id, order_no = row
        found[office_id].refunds.append(
            {
                "ticket_no": ticket_no,
                "order_no": order_no,
                "refund_item_id": refund.id,
                "application_no": application_no,
                **_item_fields(item, due, enrollment, agency_code),
                "at": _local(refund.done_at),
                "amount_fen": refund.amount_fen,
                "reason": reason,
                "effect": refund.effect,
            }
        )


# -- the files ------------------------------------------------------------------------------


def as_csv(built: Built) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="raise", lineterminator="\r\n")
    writer.writeheader()
    for record, rows in (("ticket", built.tickets), ("item", built.items), ("refund", built.refunds)):
        for row in rows:
            writer.writerow({"record": record, **row})
    totals = built.totals()
    writer.writerow({"record": "total.tickets", "count": totals["tickets"], "amount_fen": totals["paid_fen"]})
    writer.writerow({"record": "total.items", "count": totals["items"], "amount_fen": totals["paid_fen"]})
    writer.writerow({"record": "total.refunds", "count": totals["refunds"], "amount_fen": totals["refunded_fen"]})
    writer.writerow({"record": "total.net", "amount_fen": totals["paid_fen"] - totals["refunded_fen"]})
    return out.getvalue().encode("utf-8")


TICKET_HEADINGS = [
    ("票证号码", "ticket_no"),
    ("订单号", "order_no"),
    ("支付渠道", "channel"),
    ("缴费时间", "at"),
    ("明细笔数", "count"),
    ("金额（分）", "amount_fen"),
]
ITEM_HEADINGS = [("票证号码", "ticket_no"), ("订单号", "order_no"), ("明细号", "item_id"),
                 ("个人参保编号", "enrollment_no"), ("经办机构代码", "agency_code"), ("人员类别", "category"),
                 ("险种", "insurance"), ("缴费类型", "due_kind"), ("费款所属期起", "period_start"),
                 ("费款所属期止", "period_end"), ("金额（分）", "amount_fen")]  # fmt: skip
REFUND_HEADINGS = [("票证号码", "ticket_no"), ("订单号", "order_no"), ("退费明细号", "refund_item_id"),
                   ("退费申请号", "application_no"), ("明细号", "item_id"), ("个人参保编号", "enrollment_no"),
                   ("费款所属期起", "period_start"), ("费款所属期止", "period_end"), ("退费时间", "at"),
                   ("退费原因", "reason"), ("退费后处理", "effect"), ("退费金额（分）", "amount_fen")]  # fmt: skip


def _sheet(book: Workbook, title: str, headings: list[tuple[str, str]], rows: list[dict]) -> None:
    sheet = book.create_sheet(title)
    sheet.append([h for h, _ in headings])
    for row in rows:
        sheet.append([row.get(key) for _, key in headings])
    sheet.freeze_panes = "A2"


def as_xlsx(built: Built, office: TaxOffice, day: dt.date, made_at: dt.datetime) -> bytes:
    book = Workbook()
    summary = book.active
    summary.title = "汇总"
    totals = built.totals()
    for line in (
        ("主管税务机关", f"{office.name}（{office.code}）"),
        ("结算日（北京时间）", day.isoformat()),
        ("票证笔数", totals["tickets"]),
        ("缴费明细笔数", totals["items"]),
        ("缴费金额（分）", totals["paid_fen"]),
        ("退费笔数", totals["refunds"]),
        ("退费金额（分）", totals["refunded_fen"]),
        ("净额（分）", totals["paid_fen"] - totals["refunded_fen"]),
    ):
        summary.append(line)
    summary.column_dimensions["A"].width = 22
    summary.column_dimensions["B"].width = 40
    _sheet(book, "票证", TICKET_HEADINGS, built.tickets)
    _sheet(book, "缴费明细", ITEM_HEADINGS, built.items)
    _sheet(book, "退费明细", REFUND_HEADINGS, built.refunds)
    book.properties.creator = "sbweb"
    book.properties.created = book.properties.modified = made_at.replace(tzinfo=None)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- keeping them ---------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _keep(office: TaxOffice, day: dt.date, built: Built, kept: SettlementFile | None) -> bool:
    """Store the office's file of `day` unless the one kept says the same; True when written."""
    data = as_csv(built)
    if kept is not None and kept.csv_sha256 == _sha(data):
        return False
    now = utcnow()
    if kept is None:
        kept = SettlementFile(tax_office_id=office.id, day=day, revision=0)
        db.session.add(kept)
    kept.revision += 1
    kept.generated_at = now
    for name, value in built.totals().items():
        setattr(kept, name, value)
    kept.csv, kept.csv_sha256 = data, _sha(data)
    kept.xlsx = as_xlsx(built, office, day, now)
    kept.xlsx_sha256 = _sha(kept.xlsx)
    return True


def make_day(day: dt.date) -> int:
    """Every tax office's file of `day` made and kept; the number of files written (new or revised)."""
    found = read_day(day)
    written = 0
    with write_transaction():
        kept = {
            f.tax_office_id: f
            for f in db.session.scalars(select(SettlementFile).where(SettlementFile.day == day).with_for_update())
        }
        for office in db.session.scalars(select(TaxOffice).order_by(TaxOffice.code)):
            written += _keep(office, day, found.get(office.id, Built()), kept.get(office.id))
    return written


def run_daily(today: dt.date | None = None) -> dict[str, int]:
    """The daily job: yesterday's files, and the RECHECK_DAYS days before it made again where their money changed."""
    today = today or shanghai_today()
    return {
        (today - dt.timedelta(days=back)).isoformat(): make_day(today - dt.timedelta(days=back))
        for back in range(RECHECK_DAYS + 1, 0, -1)
    }


# -- reading them back ----------------------------------------------------------------------


def listed(day_from: dt.date, day_to: dt.date, tax_office_id: int | None = None) -> list[SettlementFile]:
    """Files of the days from..to (inclusive), newest day first, then by office code."""
    query = (
        select(SettlementFile)
        .join(TaxOffice, TaxOffice.id == SettlementFile.tax_office_id)
        .where(SettlementFile.day >= day_from, SettlementFile.day <= day_to)
        .order_by(SettlementFile.day.desc(), TaxOffice.code)
    )
    if tax_office_id is not None:
        query = query.where(SettlementFile.tax_office_id == tax_office_id)
    return list(db.session.scalars(query))


def find(day: dt.date, office_code: str, tax_office_id: int | None = None) -> SettlementFile | None:
    """The file of one office and day (None too when `tax_office_id` is given and is another office)."""
    found = db.session.scalar(
        select(SettlementFile)
        .join(TaxOffice, TaxOffice.id == SettlementFile.tax_office_id)
        .where(SettlementFile.day == day, TaxOffice.code == office_code[:11])
    )
    if found is None or tax_office_id not in (None, found.tax_office_id):
        return None
    return found


def filename(kept: SettlementFile, extension: str) -> str:
    return f"settlement-{kept.tax_office.code}-{kept.day.isoformat()}.{extension}"


def csv_totals(data: bytes) -> dict[str, tuple[int, int]]:
    """The total rows of a CSV file: {record: (count, amount_fen)} (count 0 where empty)."""
    rows = csv.DictReader(io.StringIO(data.decode("utf-8")))
    return {
        r["record"]: (int(r["count"] or 0), int(r["amount_fen"] or 0)) for r in rows if r["record"].startswith("total.")
    }
