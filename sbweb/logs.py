"""Log records: identity numbers masked in every one, each tagged with the id of the request it
belongs to, written as text (the default) or as one JSON object a line (LOG_FORMAT = "json")
for a log shipper — gunicorn's access log too, with `--logger-class sbweb.logs.GunicornLogger`."""

import datetime as dt
import logging
import os
import re
import secrets
import sys
import traceback

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

from sbweb.id_numbers import redact

# An X-Request-ID from a proxy in front is kept when it could not smuggle anything into a log
# line or a header (letters, digits and . _ : - only, 8 to 64 of them) and the log would show it
# as it is (no run of digits that masking takes for an identity number). Else we make one.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{7,63}")
REQUEST_ID_HEADER = "X-Request-ID"


def safe_request_id(given: str) -> bool:
    return bool(_SAFE_REQUEST_ID.fullmatch(given)) and redact(given) == given


def new_request_id() -> str:
    # 12 hex characters: short enough to read out over the phone, and never masked in a log
    # (masking takes only 8, 10 or 18 digits standing alone).
    return secrets.token_hex(6)


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def install_redaction() -> None:
    """Identity numbers never reach a log line, whoever logs them and wherever it goes: each
    record is cleaned as it is made (message, arguments, traceback and stack), before any
    handler, and carries its request's id. Fields passed with `extra=` are set after this
    runs; the JSON formatter cleans those (text formats do not print them)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "sbweb_redacts", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if has_request_context():  # (outside one, a caller may pass request_id in `extra`)
            record.request_id = request_id()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed log call: leave it to logging's own error path
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory.sbweb_redacts = True
    logging.setLogRecordFactory(factory)


def _clean(value):
    """A JSON field's value with identity numbers masked; numbers that are one become text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _clean(v) for key, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_clean(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
        return value if redact(text) == text else redact(text)
    return value


def _json_default(value):
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return redact(str(value))


class JSONFormatter(JsonFormatter):
    """{"time": UTC ISO 8601, "level", "logger", "message", "request_id", any extra fields,
    "exc_info" with the (masked) traceback} on one line."""

    def __init__(self):
        super().__init__(
            "%(levelname)s %(name)s %(message)s %(request_id)s",
            timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
            json_default=_json_default,
            json_ensure_ascii=False,
        )

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        log_data.setdefault("request_id", None)

    def process_log_record(self, log_data):
        return {key: _clean(value) for key, value in log_data.items()}


def _json_handlers(logger: logging.Logger) -> None:
    """Every handler of `logger` writes JSON; a logger without one gets one on stderr."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.sbweb_json = True
        logger.addHandler(handler)
    for handler in logger.handlers:
        handler.setFormatter(JSONFormatter())


def init_app(app: Flask) -> None:
    install_redaction()
    if os.environ.get("SBWEB_LOG_LEVEL"):
        logging.getLogger("sbweb").setLevel(os.environ["SBWEB_LOG_LEVEL"])
    if app.config["LOG_FORMAT"] == "json":
        from flask.logging import default_handler

        # Our records go to the root logger's JSON handler, not Flask's text one.
        app.logger.removeHandler(default_handler)
        _json_handlers(logging.getLogger())
        if logging.getLogger().level > logging.INFO:
            logging.getLogger().setLevel(logging.INFO)
    elif app.config["LOG_FORMAT"] != "text":
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json', not {app.config['LOG_FORMAT']!r}")

    @app.before_request
    def assign_request_id():
        given = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = given if safe_request_id(given) else new_request_id()

    @app.after_request
    def return_request_id(response):
        if "request_id" in g:
            response.headers[REQUEST_ID_HEADER] = g.request_id
        return response


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is in the `scale` extra
    _GunicornLogger = None

if _GunicornLogger is not None:

    class GunicornLogger(_GunicornLogger):
        """gunicorn's logger, writing its error and access logs as JSON when SBWEB_LOG_FORMAT is
        json (and as gunicorn writes them otherwise). An access record names the request's id
        (the X-Request-ID the app answered with) and its path and query, masked like any log."""

        def setup(self, cfg):
            super().setup(cfg)
            if self._json():
                for log in (self.error_log, self.access_log):
                    for handler in log.handlers:
                        handler.setFormatter(JSONFormatter())

        @staticmethod
        def _json() -> bool:
            return os.environ.get("SBWEB_LOG_FORMAT", "text").strip().lower() == "json"

        def access(self, resp, req, environ, request_time):
            if not self._json():
                return super().access(resp, req, environ, request_time)
            if not self.access_log_enabled:
                return
            status = str(resp.status).split(None, 1)[0]
            headers = dict((k.lower(), v) for k, v in resp.headers)
            query = environ.get("QUERY_STRING", "")
            path = environ.get("PATH_INFO", "")
            try:
                self.access_log.info(
                    "%s %s %s",
                    environ.get("REQUEST_METHOD"),
                    path + (f"?{query}" if query else ""),
                    status,
                    extra={
                        "method": environ.get("REQUEST_METHOD"),
                        "path": path,
                        "query": query,
                        "status": int(status) if status.isdigit() else status,
                        "bytes": getattr(resp, "sent", None),
                        "duration_ms": round(request_time.total_seconds() * 1000, 1),
                        "remote_addr": environ.get("REMOTE_ADDR"),
                        "user_agent": environ.get("HTTP_USER_AGENT"),
                        "request_id": headers.get(REQUEST_ID_HEADER.lower()),
                    },
                )
            except Exception:  # noqa: BLE001 - as gunicorn's own access(): a log line must never fail a request
                self.error(traceback.format_exc())
