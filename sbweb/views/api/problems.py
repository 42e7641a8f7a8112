"""Errors of the machine API as RFC 9457 problem details (`application/problem+json`), the
`detail` in Chinese for the agency's staff who read their system's log."""

from flask import jsonify
from werkzeug.exceptions import HTTPException

PROBLEM = "application/problem+json"
PROBLEM_TYPE = "https://sbweb.invalid/problems/"  # + a slug; documentation only, never fetched

TITLES = {
    400: ("bad-request", "请求有误", "请求格式不正确。"),
    401: ("unauthorized", "未通过签名验证", "请求未通过签名验证。"),
    403: ("forbidden", "无权访问", "该客户端无权进行此操作。"),
    404: ("not-found", "未找到", "没有这个地址或对象。"),
    405: ("method-not-allowed", "方法不允许", "该地址不接受这种请求方法。"),
    413: ("too-large", "请求过大", "请求体过大。"),
    422: ("invalid-parameters", "参数不合法", "请求参数不合法。"),
    429: ("too-many-requests", "请求过于频繁", "该客户端的请求过于频繁，请稍后再试。"),
    500: ("internal", "服务器内部错误", "服务器内部错误，请稍后重试。"),
    503: ("unavailable", "服务暂不可用", "服务暂不可用，请稍后重试。"),
}


class Problem(HTTPException):
    """Raised by the API's checks; the handler below turns it into the response."""

    def __init__(self, status: int, detail: str, slug: str | None = None, **extra):
        super().__init__(detail)
        self.code = status
        self.detail = detail
        self.slug = slug
        self.extra = extra


def response(status: int, detail: str | None = None, slug: str | None = None, **extra):
    default_slug, title, default_detail = TITLES.get(status, ("error", "错误", "请求未能完成。"))
    body = {
        "type": PROBLEM_TYPE + (slug or default_slug),
        "title": title,
        "status": status,
        "detail": detail or default_detail,
        **extra,
    }
    answer = jsonify(body)
    answer.status_code = status
    answer.mimetype = PROBLEM
    return answer


def _invalid_parameters(error: HTTPException) -> dict:
    """webargs' messages ({location: {field: [English]}}) as the fields named, in Chinese."""
    messages = (getattr(error, "data", None) or {}).get("messages") or {}
    fields = sorted({name for where in messages.values() if isinstance(where, dict) for name in where})
    if not fields:
        return {}
    return {"detail": f"参数不合法：{'、'.join(fields)}", "invalid_params": [{"name": name} for name in fields]}


def handle(error: HTTPException):
    if isinstance(error, Problem):
        return response(error.code, error.detail, error.slug, **error.extra)
    status = error.code or 500
    extra = _invalid_parameters(error) if status in (400, 422) else {}
    detail = extra.pop("detail", None)
    answer = response(status, detail, **extra)
    if status == 405 and getattr(error, "valid_methods", None):
        answer.headers["Allow"] = ", ".join(error.valid_methods)
    if status == 429 and getattr(error, "retry_after", None):
        answer.headers["Retry-After"] = str(error.retry_after)
    return answer
