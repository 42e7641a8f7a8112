"""Every error a resident can meet, in Chinese, in the app's layout; never a bare 500, never a
traceback or a setting, even when the layout itself cannot be drawn (a broken template, the
database gone, DEBUG left on): then a fixed page written here, and as the outermost WSGI layer
the same page for anything that escapes Flask. A 500 names its reference: the request id,
which is in the log line with the traceback."""

import contextlib
import datetime as dt
import logging
from html import escape

from flask import current_app, g, make_response, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from sbweb import limits
from sbweb.clock import SHANGHAI, utcnow
from sbweb.db import db
from sbweb.htmx import fragment_wanted_by, render_step
from sbweb.logs import REQUEST_ID_HEADER, new_request_id, safe_request_id

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("请求无效", "页面提交的内容无法识别，请返回重新操作。"),
    403: ("无权访问", "您没有权限查看该页面。"),
    404: ("页面不存在", "未找到您要访问的页面或记录，请返回首页重新进入。"),
    405: ("操作无效", "该页面不支持此操作，请返回重新操作。"),
    413: ("提交内容过长", "提交的内容超出限制，请检查后重新提交。"),
    429: ("操作过于频繁", "操作过于频繁，请稍后再试。"),
    500: ("系统繁忙", "系统暂时无法处理您的请求，请稍后重试。您的费款不会被重复扣缴。"),
    503: ("系统繁忙", "系统繁忙，请稍后再试。您的费款不会被重复扣缴。"),
}
DATABASE_RETRY_AFTER = 10  # seconds, outside an app (the app's is its DATABASE_RETRY_AFTER)
RETRY = "操作过于频繁，为保护您的信息安全，请{wait}后再试（北京时间 {at} 之后）。"


def _wait_words(seconds: int) -> str:
    return f"{seconds}秒" if seconds < 60 else f"{-(-seconds // 60)}分钟"


def too_many_message(seconds: int | None) -> str:
    if not seconds:
        return MESSAGES[429][1]
    at = (utcnow() + dt.timedelta(seconds=seconds)).astimezone(SHANGHAI).strftime("%H:%M")
    return RETRY.format(wait=_wait_words(seconds), at=at)


def fixed_page(reference: str, fragment: bool, status: int = 500) -> str:
    """The 500 page without templates, session or database: what is left when those fail."""
    title, message = MESSAGES[status]
    body = (
        f'<h1>{title}</h1><p>{message}</p><p class="reference">参考编号：{escape(reference)}</p>'
        '<p><a href="/">返回首页</a></p>'
    )
    if fragment:
        return f"<title>{title} - 社保费缴纳</title>{body}"
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title} - 社保费缴纳</title></head><body><main>{body}</main></body></html>"
    )


def _machine_error(status: int, reference: str):
    """The machine API answers an agency's system in problem+json (with the reference), not with
    a page; None for any other request."""
    if request.blueprint != "api":
        return None
    from sbweb.views.api import problems

    return problems.response(status, reference=reference)


def _reference() -> str:
    if "request_id" not in g:
        g.request_id = new_request_id()
    return g.request_id


def _error_page(status: int, title: str, message: str, **context):
    try:
        return render_step("errors/error.html", title=title, message=message, status=status, **context)
    except Exception as exc:
        reference = _reference()
        why = database_unavailable(exc)
        if why:  # the layout needed the database that is out of reach: the resident may retry
            status = 503
            log.error("the error page could not reach the database (%s, ref %s)", why, reference)
        else:
            log.exception("the error page itself failed (status %s, ref %s)", status, reference)
        response = make_response(
            fixed_page(reference, fragment_wanted_by(request.environ), status if status in (500, 503) else 500), status
        )
        response.headers.update({"Cache-Control": "no-store", "Vary": "HX-Request"})
        if status == 503:
            response.headers["Retry-After"] = str(_retry_after())
        return response


def _retry_after() -> int:
    return int(current_app.config.get("DATABASE_RETRY_AFTER", DATABASE_RETRY_AFTER))


def last_resort(wsgi_app, retry_after: int = DATABASE_RETRY_AFTER):
    """The outermost layer: an exception nothing inside answered becomes the fixed 500 page — or
    the 503 one when it is the database out of reach (raised by a response hook, or with DEBUG or
    PROPAGATE_EXCEPTIONS on)."""

    def app(environ, start_response):
        try:
            return wsgi_app(environ, start_response)
        except Exception as exc:
            given = environ.get("HTTP_X_REQUEST_ID", "")
            reference = given if safe_request_id(given) else new_request_id()
            why = database_unavailable(exc)
            headers = [("Cache-Control", "no-store"), ("Vary", "HX-Request"), (REQUEST_ID_HEADER, reference)]
            if why:
                log.error(
                    "database unavailable outside the app on %s %s (ref %s): %s",
                    environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"),
                    reference,
                    why,
                )
                status, headers = "503 SERVICE UNAVAILABLE", headers + [("Retry-After", str(retry_after))]
            else:
                log.exception(
                    "unhandled error outside the app on %s %s (ref %s)",
                    environ.get("REQUEST_METHOD"),
                    environ.get("PATH_INFO"),
                    reference,
                )
                status = "500 INTERNAL SERVER ERROR"
            page = fixed_page(reference, fragment_wanted_by(environ), int(status[:3])).encode()
            start_response(
                status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page))), *headers]
            )
            return [page]

    return app


# PostgreSQL SQLSTATEs that mean "wait and retry": connection exception (08…), shutting down or
# cannot connect now (57P01-03), too many connections (53300), a lock not granted within
# lock_timeout (55P03), a statement cancelled by statement_timeout (57014).
RETRY_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "55P03", "57014")
DRIVERS = ("sqlite3", "psycopg", "psycopg2")


def database_unavailable(error: BaseException) -> str | None:
    """Why the database cannot answer now, or None: it could not be reached or dropped the
    connection (restarting, network, a full connection table), or a lock was held past the wait
    (SQLITE_BUSY_TIMEOUT, DATABASE_LOCK_TIMEOUT, DATABASE_STATEMENT_TIMEOUT), or no pooled
    connection came free — a moment to wait, not a fault in a statement. A missing table or a
    deadlock is a fault and gets the 500 with its traceback. The reason is a code (SQLSTATE,
    SQLite's error name, the exception's class), never the statement or its parameters."""
    if isinstance(error, sa_exc.TimeoutError):
        return "pool timeout"
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return "connection lost"
        orig = error.orig
    elif type(error).__module__.split(".")[0] in DRIVERS:
        orig = error  # raised by the driver where SQLAlchemy did not wrap it (a connect event)
    else:
        return None
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        return sqlstate if sqlstate.startswith(RETRY_SQLSTATES) else None
    name = getattr(orig, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return name
    if type(orig).__name__ == "InterfaceError":
        return "InterfaceError"
    # No code: psycopg failing to connect at all; SQLite unable to open its file, or locked (on
    # Python without sqlite_errorname).
    words = str(orig).lower()
    if type(orig).__name__ == "OperationalError" and any(
        w in words
        for w in (
            "connection",
            "unable to open database",
            "server closed",
            "database is locked",
            "database table is locked",
        )
    ):
        return "OperationalError"
    return None


def register(app):
    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return _error_page(400, "页面已过期", "页面已过期或来源无法验证，请返回上一页刷新后重新提交。")

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code == 500:  # what Flask made of an exception raised past the view (a hook)
            return unexpected(getattr(error, "original_exception", None) or error)
        title, message = MESSAGES.get(error.code, (error.name, "请返回重新操作。"))
        if error.code == 429:
            message = too_many_message(limits.retry_after_seconds())
        response = _error_page(error.code, title, message)
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error):
        reference = _reference()
        why = database_unavailable(error)
        if why:
            # Not a fault of ours to trace: the database is restarting, unreachable or held by a
            # lock past the wait. Nothing was written (the transaction rolled back or died with the
            # connection); the resident may simply retry.
            log.error("database unavailable on %s %s (ref %s): %s", request.method, request.path, reference, why)
            # The connection is gone (any driver's error); the session is reset anyway.
            with contextlib.suppress(Exception):
                db.session.rollback()
            title, message = MESSAGES[503]
            response = _machine_error(503, reference) or _error_page(503, title, message, reference=reference)
            response.headers["Retry-After"] = str(_retry_after())
            return response
        log.exception(
            "unhandled error %s on %s %s (ref %s)", type(error).__name__, request.method, request.path, reference
        )
        title, message = MESSAGES[500]
        return _machine_error(500, reference) or _error_page(500, title, message, reference=reference)
