"""What the agencies' systems push through the machine API: batches of enrollments, dues (正常缴费
and 补缴), agencies with their 主管税务机关, and contribution standards, each upserted by the
agency's own keys (个人参保编号; enrollment × 缴费类型 × 费款所属期; 经办机构代码; region × year ×
category).

A batch is all or nothing: every row is checked first — by the staff import's rules
(sbweb.services.imports) and the standards' (sbweb.services.standards.parse_standard), then
against what the database holds — and if any row is rejected nothing is written and every
rejected row is named (index, field, Chinese reason). A clean batch is written in one transaction
with one audit entry per object written, naming the client. Its answer is kept under the
client's Idempotency-Key with the body's SHA-256: the same batch again is answered the same and
writes nothing; the same key with another body is refused. Batches run one at a time
(PostgreSQL: an advisory lock; SQLite: the write lock), so a check holds until its write."""

from dataclasses import dataclass, field

from sqlalchemy import select, text

from sbweb.db import db, write_transaction
from sbweb.models import Agency, ApiBatch, ApiClient, Due, Enrollment, Standard
from sbweb.money import fen_to_yuan
from sbweb.services import imports, registry
from sbweb.services import standards as standards_service
from sbweb.services.provisional import Settlement
from sbweb.services.staff import audit

ADVISORY_LOCK = 0x5B_AE_31  # PostgreSQL advisory lock id of the inbound batches (any constant of ours)
KINDS = ("enrollments", "dues", "agencies", "standards")
HELD = "应缴记录正在支付中，暂不能更改，请在支付结束后再推送"


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str
    reason: str

    def as_json(self) -> dict:
        return {"index": self.index, "field": self.field, "reason": self.reason}


class BatchRejected(Exception):
    """Rows rejected: nothing was written."""

    def __init__(self, rejections: list[Rejection]):
        super().__init__(f"{len(rejections)} rejections")
        self.rejections = sorted(rejections, key=lambda r: r.index)

    @property
    def rows(self) -> list[dict]:
        return [r.as_json() for r in self.rejections]

    @property
    def detail(self) -> str:
        indexes = sorted({r.index for r in self.rejections})
        first = self.rejections[0]
        return f"{len(indexes)} 行未通过校验，整批未写入；第一处：rows[{first.index}].{first.field}：{first.reason}"


class KeyReused(Exception):
    """The Idempotency-Key was used before for another batch (another body or kind)."""


@dataclass
class Outcome:
    status: int
    answer: dict
    replayed: bool = False


@dataclass
class _Batch:
    client: ApiClient
    kind: str
    key: str
    results: list[dict] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, index: int, reasons: list[tuple[str, str]]) -> None:
        self.rejections += [Rejection(index, f, r) for f, r in reasons]

    def done(self, index: int, result: str, **keys) -> None:
        self.results.append({"index": index, "result": result, **keys})

    def audit(self, action: str, before: dict | None, after: dict) -> None:
        """One audit entry per object written, the client named as its target."""
        audit(None, action, f"api_client:{self.client.client_id}", before, {**after, "batch": self.key})


def _lock() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("select pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK})


def _stored(client_id: int, key: str) -> ApiBatch | None:
    return db.session.scalar(select(ApiBatch).filter_by(api_client_id=client_id, idempotency_key=key))


def _replay(stored: ApiBatch, kind: str, body_sha256: str) -> Outcome:
    if stored.kind != kind or stored.body_sha256 != body_sha256:
        raise KeyReused()
    return Outcome(stored.status, stored.answer, replayed=True)


def run(client: ApiClient, kind: str, key: str, body_sha256: str, rows: list[dict]) -> Outcome:
    """Check and write one batch of `kind` (rows as the schema loaded them), or answer its replay.
    Raises BatchRejected (nothing written) or KeyReused."""
    stored = _stored(client.id, key)
    if stored is not None:
        return _replay(stored, kind, body_sha256)
    with write_transaction():
        _lock()
        stored = _stored(client.id, key)  # a twin that held the lock before us
        if stored is not None:
            return _replay(stored, kind, body_sha256)
        batch = _Batch(client, kind, key)
        WRITERS[kind](batch, rows)
        if batch.rejections:
            raise BatchRejected(batch.rejections)
        counts = {r: sum(1 for x in batch.results if x["result"] == r) for r in ("created", "updated", "unchanged")}
        answer = {"kind": kind, "idempotency_key": key, "rows": len(rows), **counts, "results": batch.results}
        db.session.add(
            ApiBatch(
                api_client_id=client.id,
                idempotency_key=key,
                kind=kind,
                body_sha256=body_sha256,
                status=200,
                answer=answer,
            )
        )
    return Outcome(200, answer)


# -- scope of an agency's client -------------------------------------------------------------


def _own_agency(client: ApiClient, agency_code: str) -> list[tuple[str, str]]:
    """An agency's client writes for its own agency only (the tax bureau's for any)."""
    if client.agency is not None and client.agency.code != agency_code:
        return [("agency_code", f"本客户端只能推送经办机构 {client.agency.code} 的数据")]
    return []


# -- enrollments -----------------------------------------------------------------------------


def _enrollments(batch: _Batch, rows: list[dict]) -> None:
    checked, seen = [], {}
    for index, given in enumerate(rows):
        row = dict(given)
        agency = db.session.scalar(select(Agency).filter_by(code=row.get("agency_code", "")))
        row["agency_name"] = agency.name if agency is not None else ""
        reasons = imports.person_reasons(row) + imports.enrollment_reasons(row)
        reasons += _own_agency(batch.client, row.get("agency_code", ""))
        if agency is None:
            reasons.append(("agency_code", f"经办机构 {row.get('agency_code', '')} 尚未登记，请先推送经办机构"))
        if not reasons:
            reasons = imports.clashes(row, seen, where="本批")
        if not reasons:
            known = db.session.scalar(select(Enrollment).filter_by(enrollment_no=row["enrollment_no"]))
            if known is not None and known.agency_id != agency.id:
                reasons.append(("agency_code", "个人参保编号已登记在其他经办机构"))
        batch.reject(index, reasons)
        checked.append((index, row, agency))
    if batch.rejections:
        return
    for index, row, agency in checked:
        known = db.session.scalar(select(Enrollment).filter_by(enrollment_no=row["enrollment_no"]))
        if known is not None:
            batch.done(index, "unchanged", enrollment_no=row["enrollment_no"])
            continue
        person = registry.register_person(row["id_type"], row["id_number"], row["name"])
        registry.enroll(person, row["category"], row["insurance"], agency, row["enrollment_no"])
        batch.done(index, "created", enrollment_no=row["enrollment_no"])
        batch.audit(
            "api_enrollment.create",
            None,
            {
                "enrollment_no": row["enrollment_no"],
                "category": row["category"],
                "insurance": row["insurance"],
                "agency": agency.code,
            },
        )


# -- dues ------------------------------------------------------------------------------------


def _overlaps(due: Due, start: str, end: str) -> bool:
    return due.period_start <= end and start <= due.period_end


def _due_state_reasons(row: dict, enrollment: Enrollment, taken: list[tuple[int, str, str]]) -> list:
    """The pushed due against the enrollment's dues and the batch's earlier rows: a period paid, a
    due being paid (支付中), a period overlapping another due, a row twice."""
    start, end, kind = row["period_start"], row["period_end"], row["kind"]
    dues = db.session.scalars(
        select(Due).where(Due.enrollment_id == enrollment.id, Due.state != "void").order_by(Due.id)
    ).all()
    for due in dues:
        if not _overlaps(due, start, end):
            continue
        same = (due.kind, due.period_start, due.period_end) == (kind, start, end) and due.difference_of_id is None
        if due.state == "paid":
            return [("period_start", f"费款所属期 {due.period_label} 已缴费，不再接收该期应缴记录")]
        if due.order_id is not None:
            return [
                ("amount_fen", f"费款所属期 {due.period_label} 的应缴记录正在支付中，暂不能更改，请在支付结束后再推送")
            ]
        if not same:
            return [("period_start", f"费款所属期与已有的应缴记录（{due.period_label}，{due.kind_label}）重叠")]
    for other_enrollment, other_start, other_end in taken:
        if other_enrollment == enrollment.id and other_start <= end and start <= other_end:
            return [("period_start", "本批中已有该参保编号费款所属期重叠的应缴记录")]
    taken.append((enrollment.id, start, end))
    return []


def _dues(batch: _Batch, rows: list[dict]) -> None:
    checked, taken = [], []
    for index, given in enumerate(rows):
        row = dict(given)
        reasons = imports.due_kind_period_reasons(row) + imports.amount_reasons(row)
        enrollment = db.session.scalar(select(Enrollment).filter_by(enrollment_no=row.get("enrollment_no", "")))
        if enrollment is None:
            reasons.append(("enrollment_no", "没有该个人参保编号，请先推送参保登记"))
        else:
            reasons += [("enrollment_no", r) for _, r in _own_agency(batch.client, enrollment.agency.code)]
        if not reasons:
            reasons = _due_state_reasons(row, enrollment, taken)
        batch.reject(index, reasons)
        checked.append((index, row, enrollment))
    if batch.rejections:
        return
    for index, row, enrollment in checked:
        _write_due(batch, index, row, enrollment)


def _write_due(batch: _Batch, index: int, row: dict, enrollment: Enrollment) -> None:
    key = {"kind": row["kind"], "period_start": row["period_start"], "period_end": row["period_end"]}
    due = db.session.scalar(
        select(Due)
        .filter_by(enrollment_id=enrollment.id, **key)
        .where(Due.state != "void", Due.difference_of_id.is_(None))
    )
    before = due.amount_fen if due is not None else None
    if due is not None and before == row["amount_fen"]:
        batch.done(index, "unchanged", due_id=due.id, enrollment_no=enrollment.enrollment_no)
        return
    try:
        due = registry.add_due(enrollment, amount_fen=row["amount_fen"], **key)
    except registry.RegistryError:  # an order took it since the check: the batch is refused whole
        raise BatchRejected([Rejection(index, "amount_fen", "该" + HELD)]) from None
    if due.amount_fen != row["amount_fen"]:
        raise BatchRejected([Rejection(index, "amount_fen", "该" + HELD)])
    facts = {
        "due": due.id,
        "enrollment_no": enrollment.enrollment_no,
        "due_kind": row["kind"],
        "period": f"{row['period_start']}..{row['period_end']}",
        "amount_fen": row["amount_fen"],
    }
    if before is None:
        batch.done(index, "created", due_id=due.id, enrollment_no=enrollment.enrollment_no)
        batch.audit("api_due.create", None, facts)
    else:
        batch.done(index, "updated", due_id=due.id, enrollment_no=enrollment.enrollment_no)
        batch.audit("api_due.reprice", {"due": due.id, "amount_fen": before}, facts)


# -- agencies and their 主管税务机关 -------------------------------------------------------------


def _agency_facts(agency: Agency | None) -> dict | None:
    if agency is None:
        return None
    return {
        "agency": agency.code,
        "name": agency.name,
        "region": agency.region_code,
        "city": agency.city,
        "tax_office": agency.tax_office.code,
    }


def _agencies(batch: _Batch, rows: list[dict]) -> None:
    checked, seen = [], set()
    for index, given in enumerate(rows):
        row = dict(given, region=given.get("region_code", ""))
        reasons = imports.agency_reasons(row) + imports.region_reasons(row, set())
        reasons = [("region_code" if f == "region" else f, r) for f, r in reasons]
        reasons += _own_agency(batch.client, row.get("agency_code", ""))
        if row.get("agency_code") in seen:
            reasons.append(("agency_code", "本批中该经办机构代码重复"))
        seen.add(row.get("agency_code"))
        batch.reject(index, reasons)
        checked.append((index, row))
    if batch.rejections:
        return
    for index, row in checked:
        agency = db.session.scalar(select(Agency).filter_by(code=row["agency_code"]))
        before = _agency_facts(agency)
        office = registry.ensure_tax_office(
            row["tax_office_code"], row["tax_office_name"], row["region"], row.get("tax_office_phone"), None
        )
        agency = registry.ensure_agency(row["agency_code"], row["agency_name"], row["region"], row["city"], office)
        agency.name, agency.region_code, agency.city = row["agency_name"], row["region"], row["city"]
        agency.tax_office = office
        db.session.flush()
        after = _agency_facts(agency)
        result = "created" if before is None else ("unchanged" if before == after else "updated")
        batch.done(index, result, agency_code=agency.code)
        if result != "unchanged":
            batch.audit("api_agency.save", before, after)


# -- contribution standards ------------------------------------------------------------------

# parse_standard's reasons begin with their field's words: which field of ours that is.
_STANDARD_FIELDS = (
    ("地区代码", "region_code"),
    ("年度", "year"),
    ("人员类别", "category"),
    ("征收期开始", "opens"),
    ("征收期结束", "closes"),
    ("滞纳金", "late_fee_bp_per_day"),
    ("缴费基数下限应小于", "base_max_fen"),
    ("灵活就业标准缺少缴费基数下限", "base_min_fen"),
    ("灵活就业标准缺少缴费基数上限", "base_max_fen"),
    ("灵活就业标准缺少养老", "pension_rate_bp"),
    ("灵活就业标准缺少医疗", "medical_rate_bp"),
    ("缴费基数下限", "base_min_fen"),
    ("缴费基数上限", "base_max_fen"),
    ("养老保险费率", "pension_rate_bp"),
    ("医疗保险费率", "medical_rate_bp"),
    ("城乡居民标准缺少缴费档次", "grades_fen"),
    ("缴费档次", "grades_fen"),
    ("城乡居民", "medical_fen"),
)


def _standard_field(reason: str) -> str:
    return next((name for words, name in _STANDARD_FIELDS if reason.startswith(words)), "")


def _yuan(value) -> str | None:
    return fen_to_yuan(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _percent(value) -> str | None:
    return standards_service.percent(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _standard_spec(row: dict) -> dict:
    """Our fen and basis points in the words parse_standard reads (yuan, percent)."""
    return {
        "region": row.get("region_code", ""),
        "year": row.get("year"),
        "category": row.get("category"),
        "opens": row.get("opens"),
        "closes": row.get("closes"),
        "late_fee": _percent(row.get("late_fee_bp_per_day", 0)),
        "base_min": _yuan(row.get("base_min_fen")),
        "base_max": _yuan(row.get("base_max_fen")),
        "pension_rate": _percent(row.get("pension_rate_bp")),
        "medical_rate": _percent(row.get("medical_rate_bp")),
        "grades": [_yuan(g) for g in row.get("grades_fen") or []],
        "medical": _yuan(row.get("medical_fen")),
    }


def _standard_facts(standard: Standard | None) -> dict | None:
    if standard is None:
        return None
    names = ("region_code", "year", "category", "base_min_fen", "base_max_fen", "pension_rate_bp")
    names += ("medical_rate_bp", "grades_fen", "medical_fen", "late_fee_bp_per_day")
    facts = {n: getattr(standard, n) for n in names}
    return facts | {"opens": standard.opens.isoformat(), "closes": standard.closes.isoformat()}


def _standard_reasons(client: ApiClient, values: dict | None, seen: set) -> list[tuple[str, str]]:
    reasons = []
    key = (values["region_code"], values["year"], values["category"])
    if key in seen:
        reasons.append(("year", "本批中该地区、年度、人员类别的缴费标准重复"))
    seen.add(key)
    if client.agency is not None and client.agency.region_code != values["region_code"]:
        reasons.append(("region_code", f"本客户端只能推送地区 {client.agency.region_code} 的缴费标准"))
    return reasons


def _standards(batch: _Batch, rows: list[dict]) -> None:
    checked, seen = [], set()
    for index, row in enumerate(rows):
        try:
            values = standards_service.parse_standard(_standard_spec(row))
        except standards_service.StandardError as error:
            batch.reject(index, [(_standard_field(p), p) for p in error.problems])
            continue
        batch.reject(index, _standard_reasons(batch.client, values, seen))
        checked.append((index, values))
    if batch.rejections:
        return
    for index, values in checked:
        key = {k: values[k] for k in ("region_code", "year", "category")}
        before = _standard_facts(db.session.scalar(select(Standard).filter_by(**key)))
        standard, changed = standards_service.save_standard(values, Settlement())
        result = "created" if before is None else ("updated" if changed else "unchanged")
        batch.done(index, result, standard_id=standard.id, **{k: v for k, v in key.items()})
        if result != "unchanged":
            batch.audit("api_standard.save", before, _standard_facts(standard))


WRITERS = {"enrollments": _enrollments, "dues": _dues, "agencies": _agencies, "standards": _standards}
