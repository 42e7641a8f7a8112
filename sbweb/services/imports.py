"""Import what 人社/医保 push: people, enrollments and dues (补缴 among them) from CSV or XLSX.

Every row is checked first; the report names each rejected row by its number in the file
(the header is row 1) and why. Nothing is written when any row is wrong, nor on a dry run
(试运行). A clean file is written in one transaction with one audit entry, through the same
registry functions the demo loader uses, so a re-import of the same file changes nothing.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from sqlalchemy import select

from sbweb import id_numbers
from sbweb.db import db, write_transaction
from sbweb.identity.people import normalise_name
from sbweb.models import Agency, Enrollment, Person
from sbweb.money import MAX_FEN, yuan_to_fen
from sbweb.services import registry
from sbweb.services.registry import PERIOD

COLUMNS = {
    "证件类型": "id_type",
    "证件号码": "id_number",
    "姓名": "name",
    "人员类别": "category",
    "险种": "insurance",
    "个人参保编号": "enrollment_no",
    "经办机构代码": "agency_code",
    "经办机构名称": "agency_name",
    "地区代码": "region",
    "所在地市": "city",
    "缴费类型": "kind",
    "费款所属期起": "period_start",
    "费款所属期止": "period_end",
    "金额": "amount",
    # Optional: an agency new to us, in a region whose 主管税务机关 we do not know yet, needs them.
    "主管税务机关代码": "tax_office_code",
    "主管税务机关名称": "tax_office_name",
}
REQUIRED = (
    "证件类型",
    "证件号码",
    "姓名",
    "人员类别",
    "险种",
    "个人参保编号",
    "经办机构代码",
    "经办机构名称",
    "地区代码",
    "所在地市",
)
# Our codes are accepted too (the machine API sends them: sbweb/services/api_batches.py).
CATEGORIES = {"灵活就业人员": "flexible", "灵活就业": "flexible", "城乡居民": "resident"} | {
    c: c for c in ("flexible", "resident")
}
INSURANCES = {"养老保险": "pension", "养老": "pension", "医疗保险": "medical", "医疗": "medical"} | {
    i: i for i in ("pension", "medical")
}
KINDS = {"正常缴费": "normal", "正常": "normal", "补缴": "backpay", "特殊缴费": "backpay"} | {
    k: k for k in ("normal", "backpay")
}
ID_TYPES = {t.label: t.code for t in id_numbers.ID_TYPES} | {t.code: t.code for t in id_numbers.ID_TYPES}
MAX_ROWS = 20_000
# Each rule below names the field it is about, (field, Chinese reason), so that the machine API
# (sbweb/services/api_batches.py) names the field of a rejected row; the file's report joins the
# reasons of a row.
Reasons = list[tuple[str, str]]


class ImportError_(ValueError):
    """The file as a whole cannot be read (format, header, size)."""


@dataclass
class Report:
    rows: list[dict] = field(default_factory=list)  # the checked rows, ready to write
    errors: list[tuple[int, str]] = field(default_factory=list)
    dues: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def read(filename: str, data: bytes) -> list[dict[str, str]]:
    """The file's rows as {header: text}, from CSV (UTF-8, with or without BOM, or GB18030) or XLSX."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        table = _xlsx(data)
    elif name.endswith(".csv"):
        table = _csv(data)
    else:
        raise ImportError_("仅支持 .csv 或 .xlsx 文件")
    if not table:
        raise ImportError_("文件为空")
    header = [str(h or "").strip() for h in table[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportError_("缺少列：" + "、".join(missing))
    if len(table) - 1 > MAX_ROWS:
        raise ImportError_(f"一次最多导入 {MAX_ROWS} 行")
    # strict=False on purpose: a row may be shorter than the header (a CSV's empty cells at its end
    # left out) or longer (notes beyond the last column); a missing cell reads as empty.
    return [{h: ("" if v is None else str(v).strip()) for h, v in zip(header, row, strict=False)} for row in table[1:]]


def _csv(data: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ImportError_("无法识别文件编码，请保存为 UTF-8 的 CSV")
    # newline="": the csv module splits lines itself, so a file saved with old Mac line ends (a bare
    # CR) reads like any other; a NUL or a broken quote is a file we say we cannot read.
    try:
        return [row for row in csv.reader(io.StringIO(text, newline="")) if any(cell.strip() for cell in row)]
    except csv.Error:
        raise ImportError_("无法读取该 CSV 文件，请检查格式后重新导出") from None


def _xlsx(data: bytes) -> list[list]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise ImportError_("无法读取该 XLSX 文件") from None
    rows = []
    for row in sheet.iter_rows(values_only=True):
        if any(v not in (None, "") for v in row):
            rows.append([_cell(v) for v in row])
    return rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "strftime"):
        return value.strftime("%Y-%m")
    return str(value)


def check(raw_rows: list[dict[str, str]]) -> Report:
    report = Report()
    seen_enrollments: dict[str, str] = {}
    regions_with_office: set[str] = set()  # named by an earlier row of the file
    for number, raw in enumerate(raw_rows, start=2):
        row = {COLUMNS[k]: v for k, v in raw.items() if k in COLUMNS}
        reasons = _row_reasons(row, regions_with_office)
        if not reasons:
            reasons = clashes(row, seen_enrollments)
        if reasons:
            report.errors.append((number, "；".join(reason for _, reason in reasons)))
        else:
            report.rows.append(row)
            report.dues += "amount_fen" in row
    return report


def _row_reasons(row: dict, regions_with_office: set[str]) -> Reasons:
    """What is wrong with the row by itself, in the report's order; its fields become our codes on the way."""
    reasons = person_reasons(row) + enrollment_reasons(row) + agency_reasons(row)
    reasons += region_reasons(row, regions_with_office)
    if any(row.get(k) for k in ("kind", "period_start", "period_end", "amount")):
        reasons += _due_reasons(row)
    return reasons


def person_reasons(row: dict) -> Reasons:
    reasons = []
    id_type = ID_TYPES.get(row.get("id_type", ""))
    if id_type is None:
        reasons.append(("id_type", "证件类型无效"))
    else:
        try:
            row["id_number"] = id_numbers.validate(id_type, row.get("id_number", ""))
            row["id_type"] = id_type
        except id_numbers.InvalidIdNumber:
            reasons.append(("id_number", "证件号码格式不正确"))
    if not row.get("name"):
        reasons.append(("name", "姓名为空"))
    return reasons


def enrollment_reasons(row: dict) -> Reasons:
    reasons = []
    row["category"] = CATEGORIES.get(row.get("category", ""))
    row["insurance"] = INSURANCES.get(row.get("insurance", ""))
    if row["category"] is None:
        reasons.append(("category", "人员类别应为灵活就业人员或城乡居民"))
    if row["insurance"] is None:
        reasons.append(("insurance", "险种应为养老保险或医疗保险"))
    if not re.fullmatch(r"[0-9A-Za-z]{6,32}", row.get("enrollment_no", "")):
        reasons.append(("enrollment_no", "个人参保编号应为6至32位数字或字母"))
    return reasons


def agency_reasons(row: dict) -> Reasons:
    if not re.fullmatch(r"[0-9A-Za-z]{2,16}", row.get("agency_code", "")) or not row.get("agency_name"):
        return [("agency_code", "经办机构代码或名称无效")]
    return []


def region_reasons(row: dict, regions_with_office: set[str]) -> Reasons:
    """The region, and its 主管税务机关: named in the row, by an earlier row, or known to us already."""
    if not re.fullmatch(r"[1-9]\d{5}", row.get("region", "")) or not row.get("city"):
        return [("region", "地区代码应为6位数字，所在地市不能为空")]
    if row.get("tax_office_code") or row.get("tax_office_name"):
        if not re.fullmatch(r"\d{11}", row.get("tax_office_code", "")) or not row.get("tax_office_name"):
            return [("tax_office_code", "主管税务机关代码应为11位数字，名称不能为空")]
        regions_with_office.add(row["region"])
    elif row["region"] not in regions_with_office and not _office_known(row):
        return [("tax_office_code", f"地区 {row['region']} 尚无主管税务机关，请填写主管税务机关代码和名称")]
    return []


def _due_reasons(row: dict) -> Reasons:
    """A row that names any of a due's columns is a due: all of them must be right."""
    reasons = due_kind_period_reasons(row)
    try:
        row["amount_fen"] = yuan_to_fen(row.get("amount", ""))
    except ValueError:
        row["amount_fen"] = None
    return reasons + amount_reasons(row)


def due_kind_period_reasons(row: dict) -> Reasons:
    """缴费类型 and 费款所属期 (止 empty: the same month as 起)."""
    reasons = []
    row["kind"] = KINDS.get(row.get("kind", ""))
    if row["kind"] is None:
        reasons.append(("kind", "缴费类型应为正常缴费或补缴"))
    start, end = row.get("period_start", ""), row.get("period_end", "") or row.get("period_start", "")
    if not (PERIOD.match(start) and PERIOD.match(end)) or end < start:
        reasons.append(("period_start", "费款所属期应为 YYYY-MM，且止不早于起"))
    row["period_end"] = end
    return reasons


def amount_reasons(row: dict) -> Reasons:
    """row["amount_fen"]: more than nothing, at most MAX_FEN."""
    fen = row.get("amount_fen")
    if isinstance(fen, bool) or not isinstance(fen, int) or not 0 < fen <= MAX_FEN:
        return [("amount_fen", f"金额应为大于0、不超过{MAX_FEN // 100}元的数字，最多两位小数")]
    return []


def clashes(row: dict, seen_enrollments: dict[str, str], where: str = "文件") -> Reasons:
    """A good row against the file's (batch's) earlier rows and what the database already says."""
    reasons = []
    owner = f"{row['id_type']}:{row['id_number']}"
    if seen_enrollments.setdefault(row["enrollment_no"], owner) != owner:
        reasons.append(("enrollment_no", f"同一个人参保编号在{where}中属于不同的人"))
    return reasons + _conflicts(row)


def _office_known(row: dict) -> bool:
    """The row's agency has its tax office already, or its region has one."""
    agency = db.session.scalar(select(Agency).filter_by(code=row.get("agency_code", "")))
    return agency is not None or registry.tax_office_of_region(row["region"]) is not None


def _conflicts(row: dict) -> Reasons:
    """What the database already says differently."""
    reasons = []
    person = db.session.scalar(select(Person).filter_by(id_type=row["id_type"], id_number=row["id_number"]))
    if person is not None and normalise_name(person.name) != normalise_name(row["name"]):
        reasons.append(("name", "姓名与已登记的不一致"))
    enrollment = db.session.scalar(select(Enrollment).filter_by(enrollment_no=row["enrollment_no"]))
    if enrollment is not None and (person is None or enrollment.person_id != person.id):
        reasons.append(("enrollment_no", "个人参保编号已属于他人"))
    elif enrollment is not None and (enrollment.category, enrollment.insurance) != (row["category"], row["insurance"]):
        reasons.append(("category", "个人参保编号的人员类别或险种与已登记的不一致"))
    return reasons


def apply(staff_id: int, filename: str, report: Report) -> dict[str, int]:
    """Write a clean report's rows in one transaction, with one audit entry."""
    from sbweb.services.staff import audit

    if not report.ok:
        raise ImportError_("文件有错误行，未导入")
    counts = {"rows": len(report.rows), "dues": 0}
    with write_transaction():
        for row in report.rows:
            office = (
                registry.ensure_tax_office(row["tax_office_code"], row["tax_office_name"], row["region"])
                if row.get("tax_office_code")
                else None
            )
            agency = registry.ensure_agency(row["agency_code"], row["agency_name"], row["region"], row["city"], office)
            person = registry.register_person(row["id_type"], row["id_number"], row["name"])
            enrollment = registry.enroll(person, row["category"], row["insurance"], agency, row["enrollment_no"])
            if "amount_fen" in row:
                registry.add_due(
                    enrollment,
                    kind=row["kind"],
                    period_start=row["period_start"],
                    period_end=row["period_end"],
                    amount_fen=row["amount_fen"],
                )
                counts["dues"] += 1
        audit(staff_id, "import.apply", f"file:{filename[:60]}", None, counts)
    return counts
