"""POST /api/v1/batches/{enrollments,dues,agencies,standards}: what an agency's system pushes,
upserted by the agency's own keys, all or nothing, each batch under an Idempotency-Key
(sbweb.services.api_batches). A rejected batch answers 422 problem+json naming every rejected
row: its index in `rows`, the field, the reason in Chinese."""

import hashlib
import json
import re

import marshmallow as ma
from flask import g, request

from sbweb.request_checks import upload_limit
from sbweb.services import api_batches
from sbweb.views.api.auth import require
from sbweb.views.api.blueprint import SIGNED, ProblemSchema, bp
from sbweb.views.api.problems import PROBLEM, Problem

MAX_ROWS = 1000
# A batch of 1000 rows is larger than the app's MAX_CONTENT_LENGTH (64 KB, for forms).
MAX_BYTES = 1024 * 1024
KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "8–80 位字母、数字或 _ . : -；同一批数据重发时用同一个键：原样答复，不再写入",
    "schema": {"type": "string", "pattern": KEY.pattern},
}
UNUSABLE = "Unusable characters."
# marshmallow's messages for what a schema checks (types, shape), as an agency's staff read them.
MESSAGES = {
    "Missing data for required field.": "缺少该字段",
    "Unknown field.": "不认识的字段",
    "Field may not be null.": "不能为 null",
    "Not a valid string.": "应为字符串",
    "Not a valid integer.": "应为整数",
    "Not a valid list.": "应为数组",
    "Invalid input type.": "应为 JSON 对象",
    "Invalid type.": "应为 JSON 对象",
    UNUSABLE: "含有不可用的字符（NUL 或不成对的代理码位）",
}
# NUL, which PostgreSQL's text refuses, and lone surrogates, which no UTF-8 can hold: JSON may
# carry both (\u0000, \ud84a), so each row's strings are checked before any rule reads them.
_UNUSABLE = re.compile("[\\x00\\ud800-\\udfff]")


def _words(message: str) -> str:
    return MESSAGES.get(message, "格式不正确")


def _rejections(messages: dict) -> list[api_batches.Rejection]:
    """{"rows": {3: {"amount_fen": ["Not a valid integer."]}}} → rows[3].amount_fen: 应为整数."""
    found = []
    for index, fields in (messages.get("rows") or {}).items() if isinstance(messages.get("rows"), dict) else ():
        if isinstance(fields, dict):
            for name, texts in fields.items():
                found += [api_batches.Rejection(int(index), name, _words(t)) for t in _texts(texts)]
        else:  # the row itself is not an object
            found += [api_batches.Rejection(int(index), "", _words(t)) for t in _texts(fields)]
    return found


def _texts(value) -> list[str]:
    if isinstance(value, dict):  # a list field's items: {0: ["Not a valid integer."]}
        return [t for v in value.values() for t in _texts(v)]
    return list(value) if isinstance(value, list) else [str(value)]


class RowSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema
    def _usable_characters(self, data, **kwargs):
        bad = {name: [UNUSABLE] for name, value in data.items() if isinstance(value, str) and _UNUSABLE.search(value)}
        if bad:
            raise ma.ValidationError(bad)


class BatchSchema(ma.Schema):
    """A batch: `rows`, 1–1000 of them. A row that is not of the schema's shape is rejected like a
    row that breaks a rule: by its index, field and reason, in the one 422 answer."""

    class Meta:
        unknown = ma.RAISE

    def handle_error(self, error, data, **kwargs):
        rejections = _rejections(error.messages)
        if rejections:
            rejected = api_batches.BatchRejected(rejections)
            raise Problem(422, rejected.detail, "rows-rejected", rows=rejected.rows)
        fields = sorted(error.messages)
        words = "；".join(f"{name}：{_words(t)}" for name in fields for t in _texts(error.messages[name])[:1])
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            words = '请求体应为 {"rows": [...]}，rows 为 1 至 1000 行'
        elif "rows" in fields:
            words = f"rows 应为 1 至 {MAX_ROWS} 行"
        raise Problem(422, f"请求体不合法：{words}", "invalid-parameters", invalid_params=[{"name": n} for n in fields])


def _text(description: str, **kwargs):
    return ma.fields.String(required=True, metadata={"description": description, **kwargs})


def _fen(description: str, required=False):
    return ma.fields.Integer(strict=True, required=required, metadata={"description": description + "（分）"})


def _bp(description: str):
    return ma.fields.Integer(strict=True, metadata={"description": description})


class EnrollmentRowSchema(RowSchema):
    enrollment_no = _text("个人参保编号（经办机构的键）")
    id_type = _text("证件类型代码（201 居民身份证等）或名称")
    id_number = _text("证件号码")
    name = _text("姓名")
    category = _text("人员类别", enum=["flexible", "resident"])
    insurance = _text("险种", enum=["pension", "medical"])
    agency_code = _text("经办机构代码（须已推送）")


class DueRowSchema(RowSchema):
    enrollment_no = _text("个人参保编号（须已推送）")
    kind = _text("缴费类型：normal 正常缴费，backpay 补缴", enum=["normal", "backpay"])
    period_start = _text("费款所属期起 YYYY-MM")
    period_end = ma.fields.String(metadata={"description": "费款所属期止 YYYY-MM（缺省同起）"})
    amount_fen = _fen("应缴金额", required=True)


class AgencyRowSchema(RowSchema):
    agency_code = _text("经办机构代码")
    agency_name = _text("经办机构名称")
    region_code = _text("地区代码（6 位行政区划代码）")
    city = _text("所在地市")
    tax_office_code = _text("主管税务机关代码（11 位）")
    tax_office_name = _text("主管税务机关名称")
    tax_office_phone = ma.fields.String(metadata={"description": "主管税务机关纳税服务电话"})


class StandardRowSchema(RowSchema):
    region_code = _text("地区代码（6 位）")
    year = ma.fields.Integer(strict=True, required=True, metadata={"description": "年度"})
    category = _text("人员类别", enum=["flexible", "resident"])
    opens = _text("征收期开始日期", format="date")
    closes = _text("征收期结束日期", format="date")
    late_fee_bp_per_day = ma.fields.Integer(
        strict=True, load_default=0, metadata={"description": "滞纳金，每日万分之几（5 = 0.05%）"}
    )
    base_min_fen = _fen("灵活就业：月缴费基数下限")
    base_max_fen = _fen("灵活就业：月缴费基数上限")
    pension_rate_bp = ma.fields.Integer(
        strict=True, metadata={"description": "灵活就业：养老保险费率（基点，2000 = 20%）"}
    )
    medical_rate_bp = ma.fields.Integer(strict=True, metadata={"description": "灵活就业：医疗保险费率（基点）"})
    grades_fen = ma.fields.List(
        ma.fields.Integer(strict=True), metadata={"description": "城乡居民：养老缴费档次（分/年）"}
    )
    medical_fen = _fen("城乡居民：医疗保险缴费标准")


def _batch_schema(row_schema, name):
    return type(
        name,
        (BatchSchema,),
        {"rows": ma.fields.List(ma.fields.Nested(row_schema), required=True, validate=ma.validate.Length(1, MAX_ROWS))},
    )


EnrollmentBatchSchema = _batch_schema(EnrollmentRowSchema, "EnrollmentBatchSchema")
DueBatchSchema = _batch_schema(DueRowSchema, "DueBatchSchema")
AgencyBatchSchema = _batch_schema(AgencyRowSchema, "AgencyBatchSchema")
StandardBatchSchema = _batch_schema(StandardRowSchema, "StandardBatchSchema")


class RowResultSchema(ma.Schema):
    index = ma.fields.Integer(required=True, metadata={"description": "该行在 rows 中的下标（从 0 起）"})
    result = ma.fields.String(required=True, metadata={"enum": ["created", "updated", "unchanged"]})
    enrollment_no = ma.fields.String()
    due_id = ma.fields.Integer()
    agency_code = ma.fields.String()
    standard_id = ma.fields.Integer()
    region_code = ma.fields.String()
    year = ma.fields.Integer()
    category = ma.fields.String()


class BatchResultSchema(ma.Schema):
    kind = ma.fields.String(required=True)
    idempotency_key = ma.fields.String(required=True)
    rows = ma.fields.Integer(required=True)
    created = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)
    results = ma.fields.List(ma.fields.Nested(RowResultSchema), required=True)


class RejectedRowSchema(ma.Schema):
    index = ma.fields.Integer(required=True, metadata={"description": "rows 中的下标（从 0 起）"})
    field = ma.fields.String(required=True, metadata={"description": "字段名（整行有误时为空）"})
    reason = ma.fields.String(required=True, metadata={"description": "中文原因"})


class RejectedBatchSchema(ProblemSchema):
    rows = ma.fields.List(ma.fields.Nested(RejectedRowSchema), metadata={"description": "被拒绝的行，整批未写入"})
    invalid_params = ma.fields.List(ma.fields.Dict())


def _body_sha256() -> str:
    """The batch's digest: its JSON in one canonical form (keys sorted, no spaces), so the same
    batch re-serialised by the agency's system is still the same batch."""
    canonical = json.dumps(request.get_json(silent=True), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _run(kind: str, batch: dict):
    key = request.headers.get("Idempotency-Key", "")
    if not KEY.match(key):
        raise Problem(
            400, "缺少或不合法的 Idempotency-Key 请求头（8–80 位字母、数字或 _ . : -）", "idempotency-key-missing"
        )
    try:
        outcome = api_batches.run(g.api_client, kind, key, _body_sha256(), batch["rows"])
    except api_batches.BatchRejected as rejected:
        raise Problem(422, rejected.detail, "rows-rejected", rows=rejected.rows) from None
    except api_batches.KeyReused:
        raise Problem(
            409, "该 Idempotency-Key 已用于另一批数据：新的一批请换一个新键", "idempotency-key-reused"
        ) from None
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return outcome.answer, outcome.status, headers


def _documented(view):
    """What every batch operation answers besides 200, and its header."""
    view = bp.alt_response(401, schema=ProblemSchema, description="签名未通过", content_type=PROBLEM)(view)
    view = bp.alt_response(400, schema=ProblemSchema, description="缺少 Idempotency-Key", content_type=PROBLEM)(view)
    view = bp.alt_response(403, schema=ProblemSchema, description="缺少所需权限", content_type=PROBLEM)(view)
    view = bp.alt_response(409, schema=ProblemSchema, description="Idempotency-Key 已用于另一批", content_type=PROBLEM)(
        view
    )
    view = bp.alt_response(
        422,
        schema=RejectedBatchSchema,
        description="有行未通过校验，整批未写入（rows 列出每一处）",
        content_type=PROBLEM,
    )(view)
    return bp.doc(security=SIGNED, parameters=[IDEMPOTENCY_KEY])(upload_limit(MAX_BYTES)(view))


@bp.route("/batches/enrollments", methods=["POST"])
@require("enrollments:write")  # before the body is read: a client without the scope learns nothing of it
@bp.arguments(EnrollmentBatchSchema)
@bp.response(200, BatchResultSchema)
@_documented
def batch_enrollments(batch):
    """批量推送参保登记

    按个人参保编号新增，已有的不变。校验规则与后台导入相同；任一行有误则整批不写入。
    """
    return _run("enrollments", batch)


@bp.route("/batches/dues", methods=["POST"])
@require("dues:write")  # before the body is read: a client without the scope learns nothing of it
@bp.arguments(DueBatchSchema)
@bp.response(200, BatchResultSchema)
@_documented
def batch_dues(batch):
    """批量推送应缴费款（正常缴费、补缴）

    按个人参保编号 × 缴费类型 × 费款所属期新增，或更正待缴记录的金额。
    已缴费的所属期、正在支付中的应缴记录不予接收；
    更正待缴记录的金额会使居民正在看的缴费信息确认页失效。
    """
    return _run("dues", batch)


@bp.route("/batches/agencies", methods=["POST"])
@require("standards:write")  # before the body is read: a client without the scope learns nothing of it
@bp.arguments(AgencyBatchSchema)
@bp.response(200, BatchResultSchema)
@_documented
def batch_agencies(batch):
    """批量推送经办机构及其主管税务机关

    按经办机构代码新增或更新。
    """
    return _run("agencies", batch)


@bp.route("/batches/standards", methods=["POST"])
@require("standards:write")  # before the body is read: a client without the scope learns nothing of it
@bp.arguments(StandardBatchSchema)
@bp.response(200, BatchResultSchema)
@_documented
def batch_standards(batch):
    """批量推送缴费标准

    按地区 × 年度 × 人员类别新增或更新；
    更新会按新标准重新计价由其计价、尚未支付的应缴记录，并结清暂按上年度标准收取的费款。
    """
    return _run("standards", batch)
