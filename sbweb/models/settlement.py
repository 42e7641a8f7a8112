"""每日结算文件: for each 主管税务机关 and Asia/Shanghai day, the tickets settled, their items, the
item refunds done and the totals, as CSV (for the agencies' and the tax bureau's systems) and XLSX
(for people), made by the daily job (sbweb.services.settlement_files) and kept here, in the
database, so every process serving the app (and a restored backup) has the same files."""

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from sbweb.db import db
from sbweb.models.base import UTCDateTime, utcnow


class SettlementFile(db.Model):
    __tablename__ = "settlement_files"
    __table_args__ = (UniqueConstraint("tax_office_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tax_office_id: Mapped[int] = mapped_column(ForeignKey("tax_offices.id"), index=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    # 1 when first made; +1 each time the day's money changed after it was made (a payment the
    # provider reported late, settled by 对账) and the file was made again.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The totals, as in the files' total rows (checked against the books by `flask ledger check`).
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    items: Mapped[int] = mapped_column(Integer, default=0)
    refunds: Mapped[int] = mapped_column(Integer, default=0)
    paid_fen: Mapped[int] = mapped_column(Integer, default=0)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    csv: Mapped[bytes] = mapped_column(LargeBinary)
    xlsx: Mapped[bytes] = mapped_column(LargeBinary)
    csv_sha256: Mapped[str] = mapped_column(String(64))
    xlsx_sha256: Mapped[str] = mapped_column(String(64))

    tax_office = relationship("TaxOffice")

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen
