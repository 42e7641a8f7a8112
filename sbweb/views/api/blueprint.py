"""The machine API's blueprint (flask-smorest's), its hooks, and what its operations share; the
operations are in events.py and tickets.py, the app's wiring in __init__.py."""

import marshmallow as ma
from flask_smorest import Blueprint
from werkzeug.exceptions import HTTPException

from sbweb.views.api import auth, problems

bp = Blueprint(
    "api",
    __name__,
    url_prefix="/api/v1",
    description="社保费缴纳的机器接口：事件流与票证查询。每个请求都须签名（见 docs/api.md）。",
)
SIGNED = [{"sbwebHmac": []}]


class InvalidParamSchema(ma.Schema):
    name = ma.fields.String(required=True)


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details; `detail` is Chinese. Extension members may follow (RFC 9457 §3.2),
    so the document allows more than these."""

    class Meta:
        unknown = ma.INCLUDE  # documented as additionalProperties: true

    type = ma.fields.String(required=True, metadata={"description": "问题类型（URI）"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True, metadata={"description": "中文说明"})
    invalid_params = ma.fields.List(
        ma.fields.Nested(InvalidParamSchema), metadata={"description": "不合法的参数（invalid-parameters）"}
    )
    scope = ma.fields.String(metadata={"description": "缺少的权限范围（scope-missing）"})


@bp.before_request
def _signed():
    auth.authenticate()


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


bp.register_error_handler(HTTPException, problems.handle)
