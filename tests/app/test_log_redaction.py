"""Identity numbers are masked in every log record, from any logger, to any handler added at
any time, tracebacks included."""

import io
import logging


def test_a_handler_added_after_start_gets_masked_numbers_from_any_logger(app):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger("some.library.deep.down")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("lookup for %s failed", "520102198503151246")
        try:
            raise ValueError("bad row: 370202197805127818")
        except ValueError:
            logger.exception("import failed for H12345678")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "5201**********1246" in text and "3702**********7818" in text
    for number in ("520102198503151246", "370202197805127818", "H12345678"):
        assert number not in text
    assert "Traceback" in text  # the traceback is kept, only masked


def test_taiwan_permits_are_masked_too(app):
    from sbweb.id_numbers import redact

    text = redact("台胞证 12345678 and 1234567890; order SB20261123000001 stays readable")
    assert "12345678" not in text and "1234567890" not in text
    assert "12****78" in text and "12******90" in text and "SB20261123000001" in text


def test_a_number_typed_with_spaces_or_dashes_into_a_get_form_is_masked_in_the_access_log():
    from sbweb.id_numbers import redact

    for query in (
        "id_number=5201+0219+8503+1512+46",
        "id_number=520102-19850315-1246",
        "id_number=520102%2019850315%201246",
        "id_number=520102%2D19850315%2D1246",
    ):
        line = redact(f'127.0.0.1 "GET /queries/proxy-paid?id_type=201&{query}&name=x HTTP/1.1" 200')
        assert "id_number=5201**********1246&name=x" in line, line
        assert not any(part in line for part in ("19850315", "8503", "1512"))
    # Dates in a query, and times anywhere, stay readable.
    assert (
        redact("GET /refunds?date_from=2026-12-01&date_to=2026-12-31 at 2026-12-01 13:01:48")
        == "GET /refunds?date_from=2026-12-01&date_to=2026-12-31 at 2026-12-01 13:01:48"
    )


# -- JSON lines (LOG_FORMAT = "json") ---------------------------------------------------------------


def _json_lines(logger_name, log):
    """What `log(logger)` writes through the JSON formatter, parsed line by line."""
    import json

    from sbweb.logs import JSONFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    return [json.loads(line) for line in lines]


def test_a_json_record_is_one_line_with_utc_time_level_logger_message_and_request_id(app):
    import datetime as dt

    with app.test_request_context("/", headers={"X-Request-ID": "edge-0123abcd"}):
        app.preprocess_request()
        records = _json_lines("sbweb.example", lambda log: log.warning("赵秀英 的提醒已发送"))
    [record] = records
    assert record["level"] == "WARNING" and record["logger"] == "sbweb.example"
    assert record["message"] == "赵秀英 的提醒已发送" and record["request_id"] == "edge-0123abcd"
    when = dt.datetime.fromisoformat(record["time"])
    assert when.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.UTC) - when).total_seconds()) < 60
    outside = _json_lines("sbweb.example", lambda log: log.info("no request"))
    assert outside[0]["request_id"] is None


def test_json_fields_extra_fields_and_tracebacks_are_masked(app):
    def log(logger):
        logger.info(
            "lookup %s",
            "520102198503151246",
            extra={
                "id_number": "370202197805127818",
                "as_int": 370202197805127818,
                "nested": {"who": ["H12345678"]},
                "path": "/q?id_number=520102198503151246",
            },
        )
        try:
            raise ValueError("bad row: 370202197805127818")
        except ValueError:
            logger.exception("import failed")

    first, second = _json_lines("some.library", log)
    text = repr(first) + repr(second)
    for number in ("520102198503151246", "370202197805127818", "H12345678"):
        assert number not in text
    assert first["id_number"] == "3702**********7818" and first["as_int"] == "3702**********7818"
    assert first["nested"] == {"who": ["H1*****78"]} and first["path"] == "/q?id_number=5201**********1246"
    assert "Traceback" in second["exc_info"] and "3702**********7818" in second["exc_info"]


def test_json_format_puts_one_json_handler_on_the_root_logger(tmp_path, key_dir, migrated_database):
    from sbweb import create_app
    from sbweb.logs import JSONFormatter

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "x",
                "INSTANCE_PATH": str(tmp_path),
                "LOG_FORMAT": "json",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "PAYMENT_KEY_DIR": str(key_dir),
            }
        )
        assert root.handlers and all(isinstance(h.formatter, JSONFormatter) for h in root.handlers)
        from flask.logging import default_handler

        assert default_handler not in app.logger.handlers
    finally:
        for handler in root.handlers:
            if handler not in before:
                root.removeHandler(handler)


def test_an_unknown_log_format_is_refused(tmp_path, key_dir):
    import pytest

    from sbweb import create_app

    with pytest.raises(ValueError, match="LOG_FORMAT"):
        create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "x",
                "INSTANCE_PATH": str(tmp_path),
                "LOG_FORMAT": "xml",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "PAYMENT_KEY_DIR": str(key_dir),
            }
        )
