"""GET /api/v1/settlement-files: the daily settlement files of each tax office (每日结算文件) —
the list of a range of days with their totals, and each file as CSV or XLSX
(sbweb.services.settlement_files). An agency's client sees only its own tax office's files."""

import datetime as dt

import marshmallow as ma
from flask import g, make_response, url_for

from sbweb.services import settlement_files
from sbweb.views.api.auth import require
from sbweb.views.api.blueprint import SIGNED, ProblemSchema, bp
from sbweb.views.api.problems import PROBLEM, Problem

MAX_DAYS = 31
STRING = {"type": "string"}


class FileQuery(ma.Schema):
    day_from = ma.fields.Date(
        data_key="from", load_default=None, metadata={"description": "起始结算日（北京时间），默认昨天"}
    )
    days = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(1, MAX_DAYS),
        metadata={"description": f"自起始日起的天数（1–{MAX_DAYS}），默认 1"},
    )


class OfficeSchema(ma.Schema):
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class FileSchema(ma.Schema):
    day = ma.fields.String(required=True, metadata={"format": "date", "description": "结算日（北京时间）"})
    tax_office = ma.fields.Nested(OfficeSchema, required=True)
    revision = ma.fields.Integer(required=True, metadata={"description": "该日资金变动后重新生成时加一"})
    generated_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    tickets = ma.fields.Integer(required=True)
    items = ma.fields.Integer(required=True)
    refunds = ma.fields.Integer(required=True)
    paid_fen = ma.fields.Integer(required=True)
    refunded_fen = ma.fields.Integer(required=True)
    net_fen = ma.fields.Integer(required=True)
    csv_sha256 = ma.fields.String(required=True)
    xlsx_sha256 = ma.fields.String(required=True)
    csv_url = ma.fields.String(required=True)
    xlsx_url = ma.fields.String(required=True)


class FileListSchema(ma.Schema):
    files = ma.fields.List(ma.fields.Nested(FileSchema), required=True)


def _range(query: dict) -> tuple[dt.date, dt.date]:
    from sbweb.clock import shanghai_today

    day_from = query["day_from"] or shanghai_today() - dt.timedelta(days=1)
    last = query["days"] - 1
    day_to = day_from + dt.timedelta(days=last) if (dt.date.max - day_from).days >= last else dt.date.max
    return day_from, day_to


def _office_id() -> int | None:
    agency = g.api_client.agency
    return agency.tax_office_id if agency else None


def _described(kept) -> dict:
    day, code = kept.day.isoformat(), kept.tax_office.code
    return {
        "day": day,
        "tax_office": {"code": code, "name": kept.tax_office.name},
        "revision": kept.revision,
        "generated_at": kept.generated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        **{k: getattr(kept, k) for k in ("tickets", "items", "refunds", "paid_fen", "refunded_fen", "net_fen")},
        "csv_sha256": kept.csv_sha256,
        "xlsx_sha256": kept.xlsx_sha256,
        "csv_url": url_for("api.settlement_csv", day=day, tax_office=code),
        "xlsx_url": url_for("api.settlement_xlsx", day=day, tax_office=code),
    }


@bp.route("/settlement-files", methods=["GET"])
@bp.arguments(FileQuery, location="query")
@bp.response(200, FileListSchema)
@bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)
@bp.alt_response(403, schema=ProblemSchema, description="缺少 events:read 权限", content_type=PROBLEM)
@bp.doc(security=SIGNED)
@require("events:read")
def settlement_list(query):
    """每日结算文件列表

    结算日按北京时间计；每个主管税务机关每天一份（当天无缴费也有，合计为 0）。
    经办机构的客户端只看到其主管税务机关的文件。
    """
    day_from, day_to = _range(query)
    return {"files": [_described(f) for f in settlement_files.listed(day_from, day_to, _office_id())]}


def _file(day: str, tax_office: str, extension: str):
    try:
        when = dt.date.fromisoformat(day) if len(day) == 10 else None
    except ValueError:
        when = None
    kept = settlement_files.find(when, tax_office, _office_id()) if when else None
    if kept is None:
        raise Problem(404, "没有这一天、这个税务机关的结算文件", "settlement-file-not-found")
    data, digest = (kept.csv, kept.csv_sha256) if extension == "csv" else (kept.xlsx, kept.xlsx_sha256)
    answer = make_response(bytes(data))
    answer.mimetype = settlement_files.CSV_TYPE if extension == "csv" else settlement_files.XLSX_TYPE
    answer.headers["Content-Disposition"] = f'attachment; filename="{settlement_files.filename(kept, extension)}"'
    answer.headers["ETag"] = f'"{digest}"'
    return answer


@bp.route("/settlement-files/<string:day>/<string:tax_office>.csv", methods=["GET"])
@bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)
@bp.alt_response(403, schema=ProblemSchema, description="缺少 events:read 权限", content_type=PROBLEM)
@bp.alt_response(404, schema=ProblemSchema, description="没有这份结算文件", content_type=PROBLEM)
@bp.doc(
    security=SIGNED,
    responses={"200": {"description": "CSV（UTF-8，金额单位为分）", "content": {"text/csv": {"schema": STRING}}}},
)
@require("events:read")
def settlement_csv(day, tax_office):
    """下载一份结算文件（CSV）

    每行一条记录（record 列：ticket、item、refund，最后是 total.tickets、total.items、total.refunds、total.net）。
    """
    return _file(day, tax_office, "csv")


@bp.route("/settlement-files/<string:day>/<string:tax_office>.xlsx", methods=["GET"])
@bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)
@bp.alt_response(403, schema=ProblemSchema, description="缺少 events:read 权限", content_type=PROBLEM)
@bp.alt_response(404, schema=ProblemSchema, description="没有这份结算文件", content_type=PROBLEM)
@bp.doc(
    security=SIGNED,
    responses={
        "200": {
            "description": "XLSX：汇总、票证、缴费明细、退费明细四个工作表",
            "content": {settlement_files.XLSX_TYPE: {"schema": STRING}},
        }
    },
)
@require("events:read")
def settlement_xlsx(day, tax_office):
    """下载一份结算文件（XLSX）"""
    return _file(day, tax_office, "xlsx")
