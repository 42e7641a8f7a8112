"""An agency's system calling the machine API: requests signed the documented way
(sbweb.api_signing), through the test client."""

import json as jsonlib
from urllib.parse import urlsplit

import pytest
from flask import has_app_context

from sbweb import api_signing
from sbweb.db import db


class AgencySystem:
    """A client as an agency runs it: its key id and secret, and a test client to send with."""

    def __init__(self, http, client_id: str, secret: str):
        self.http, self.client_id, self.secret = http, client_id, secret

    def headers(self, method: str, url: str, body: bytes = b"", **overrides) -> dict:
        parts = urlsplit(url)
        return api_signing.signed_headers(
            self.client_id, self.secret, method, parts.path, parts.query, body, **overrides
        )

    def get(self, url: str, **overrides):
        return self.http.get(url, headers=self.headers("GET", url, **overrides))

    def post(self, url: str, payload: dict, **overrides):
        body = jsonlib.dumps(payload).encode()
        headers = self.headers("POST", url, body, **overrides)
        return self.http.post(url, data=body, headers={**headers, "Content-Type": "application/json"})

    def feed(self, after="0", limit=100):
        answer = self.get(f"/api/v1/events?after={after}&limit={limit}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()


@pytest.fixture
def make_system(app):
    def make(name="省社保局系统", scopes=("events:read",), agency_code=None):
        from sbweb.services import api_clients

        with app.app_context():
            made = api_clients.create(name, list(scopes), agency_code)
            system = AgencySystem(app.test_client(), made.client.client_id, made.secret)
        if has_app_context():  # a test's own context: its read snapshot began before the client
            db.session.commit()
        return system

    return make


@pytest.fixture
def system(make_system):
    return make_system()
