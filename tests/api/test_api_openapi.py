"""The OpenAPI 3.1 document is generated from the code, valid, public, and describes what the API
answers; the readable page is ours (no CDN)."""

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError


def test_the_document_is_valid_openapi_3_1(client):
    answer = client.get("/api/v1/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    spec = answer.get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on an invalid document (3.1 schema chosen from "openapi")
    batches = {f"/api/v1/batches/{kind}" for kind in ("enrollments", "dues", "agencies", "standards")}
    settlements = {
        "/api/v1/settlement-files",
        "/api/v1/settlement-files/{day}/{tax_office}.csv",
        "/api/v1/settlement-files/{day}/{tax_office}.xlsx",
    }
    assert (
        set(spec["paths"])
        >= {"/api/v1/events", "/api/v1/tickets/{ticket_no}", "/api/v1/orders/{order_no}"} | batches | settlements
    )
    for path in batches:
        push = spec["paths"][path]["post"]
        assert push["parameters"][0]["name"] == "Idempotency-Key" and push["parameters"][0]["required"]
        assert push["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("Batch")
        assert push["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
            "/RejectedBatch"
        )
    assert spec["components"]["schemas"]["DueRow"]["properties"]["amount_fen"]["type"] == "integer"
    feed = spec["paths"]["/api/v1/events"]["get"]
    assert {p["name"] for p in feed["parameters"]} == {"after", "limit"}
    assert {"200", "401", "403", "422"} <= set(feed["responses"])
    assert "application/problem+json" in feed["responses"]["401"]["content"]
    assert feed["security"] == [{"sbwebHmac": []}]


def test_the_validator_would_refuse_a_broken_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    spec["paths"]["/api/v1/events"]["get"]["parameters"][0]["in"] = "body"  # OpenAPI 2's, gone in 3
    with pytest.raises(OpenAPIValidationError):
        validate(spec)


def test_the_page_lists_every_operation_without_outside_resources(client):
    page = client.page("/api/v1/")
    assert page.h1 == "机器接口说明"
    for operation in ("GET /api/v1/events", "GET /api/v1/tickets/{ticket_no}"):
        assert operation in page.text
    assert not page.soup.select("script[src^='http'], link[href^='http']")
