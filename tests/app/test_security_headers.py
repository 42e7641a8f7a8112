"""Every response carries the security headers; the policy allows no inline script."""

import pytest

from sbweb.config import from_environment


def test_pages_carry_a_strict_policy(client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    assert policy.count("unsafe-inline") == 1 and "style-src 'self' 'unsafe-inline'" in policy
    assert "frame-ancestors 'self'" in policy and "form-action 'self'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP here
    assert "<style" not in response.get_data(as_text=True) and " style=" not in response.get_data(as_text=True)


def test_hsts_over_tls(client):
    response = client.get("/", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


@pytest.mark.parametrize(
    "app",
    [{"CSP_FORM_ACTION": ("https://openapi.alipay.com",), "FRAME_ANCESTORS": ("https://host.example",)}],
    indirect=True,
)
def test_a_live_gateway_and_a_host_app_are_allowed_when_configured(client):
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "form-action 'self' https://openapi.alipay.com" in policy
    assert "frame-ancestors https://host.example" in policy


def test_origins_from_the_environment(monkeypatch):
    monkeypatch.setenv("SBWEB_CSP_FORM_ACTION", "https://openapi.alipay.com, https://mapi.alipay.com")
    assert from_environment()["CSP_FORM_ACTION"] == ("https://openapi.alipay.com", "https://mapi.alipay.com")


@pytest.mark.parametrize("app", [{"PROXY_FIX_X_PROTO": 1}], indirect=True)
def test_behind_a_tls_proxy_that_says_so_hsts_is_sent(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_without_proxy_fix_a_forwarded_proto_is_not_believed(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
