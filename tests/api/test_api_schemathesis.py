"""schemathesis over the OpenAPI document the app serves (/api/v1/openapi.json): every operation,
over real HTTP to the live server, each request signed the documented way (sbweb.api_signing) from
the request exactly as it will be sent, so the examples get past the signature check and reach the
views; no answer is a 5xx and every answer conforms to the document (status code, content type,
headers, body schema). Few examples per operation (EXAMPLES) keep the run near a minute on two
cores; the world has a paid ticket and its day's settlement files for the positive paths.

The document is read once, at collection, from an app of its own (it does not depend on the
database); `test_the_document_tested_is_the_one_served` holds it to what the test app serves."""

import datetime as dt
import tempfile
from urllib.parse import unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from sbweb import api_signing
from sbweb.db import db
from sbweb.services import settlement_files
from tests.api.test_settlement_files import settle_at

EXAMPLES = 25
# What is asked of every answer: no 5xx, and the status, content type, headers and body the document
# gives. Not asked: that a request the document
# forbids is refused (negative_data_rejection) — unknown query parameters are ignored by design,
# and the signature headers schemathesis leaves out of a negative example are sent all the same.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]
# A request the document allows is not refused — asked of the reads. The batches (POST) check each
# row by the staff import's rules (ID number check digit, codes that must exist, periods in order),
# which a JSON schema does not say, so a schema-valid row may rightly get 422 rows-rejected.
READ_CHECKS = [*CHECKS, checks.positive_data_acceptance]


def _served_document() -> dict:
    from sbweb import create_app

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            {
                "TESTING": True,
                "SECRET_KEY": "schema-only",
                "INSTANCE_PATH": f"{folder}/instance",
                "SQLALCHEMY_DATABASE_URI": "sqlite://",
                "PAYMENT_KEY_DIR": f"{folder}/keys",
                "ASSET_DIR": f"{folder}/assets",
            }
        )
        return app.test_client().get("/api/v1/openapi.json").get_json()


DOCUMENT = _served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture
def signer(app, world, make_system):
    """The tax bureau's client (every scope) with something to find: a paid ticket, its day's files.
    Every answer is recorded: since every request is signed, none that carried its signature may be
    a 401 (a signature the server computes differently from the client, for some path or query
    schemathesis made up)."""
    from flask import request, request_finished

    from sbweb.models.api import API_SCOPES

    with app.app_context():
        settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), 35200, "2026-09")
        settlement_files.make_day(dt.date(2026, 11, 20))
        db.session.commit()
    answers = []

    def record(sender, response, **extra):
        answers.append((response.status_code, request.full_path, api_signing.SIGNATURE in request.headers))

    request_finished.connect(record, app)
    yield make_system("税务局征收系统", scopes=API_SCOPES)
    request_finished.disconnect(record, app)
    assert answers, "no request reached the app"
    # A negative example may leave out the security scheme's header (X-SB-Signature): that 401 is right.
    assert [a for a in answers if a[0] == 401 and a[2]] == []


def signed(case, base_url: str, system) -> dict:
    """The headers that sign this case as requests will send it: the server reads the path
    percent-decoded, the query's pairs decoded and sorted, and the body's bytes."""
    sent = requests.Request(**case.as_transport_kwargs(base_url=base_url)).prepare()
    url = urlsplit(sent.url)
    body = sent.body or b""
    body = body.encode() if isinstance(body, str) else body
    return api_signing.signed_headers(system.client_id, system.secret, case.method, unquote(url.path), url.query, body)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_within_its_document(case, live_server, signer):
    case.call_and_validate(
        base_url=live_server.url,
        headers=signed(case, live_server.url, signer),
        checks=READ_CHECKS if case.method == "GET" else CHECKS,
    )


def test_the_document_tested_is_the_one_served(client):
    served = client.get("/api/v1/openapi.json").get_json()
    assert served == DOCUMENT
    operations = {(o.ok().method.upper(), o.ok().path) for o in schema.get_all_operations()}
    documented = {(m.upper(), p) for p, item in served["paths"].items() for m in item if m != "parameters"}
    assert operations == documented and ("GET", "/api/v1/settlement-files/{day}/{tax_office}.xlsx") in operations
