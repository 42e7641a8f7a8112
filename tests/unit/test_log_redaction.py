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
    from sbweb.identity import redact

    text = redact("台胞证 12345678 and 1234567890; order SB20261123000001 stays readable")
    assert "12345678" not in text and "1234567890" not in text
    assert "12****78" in text and "12******90" in text and "SB20261123000001" in text
