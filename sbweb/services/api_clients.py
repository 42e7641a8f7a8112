"""The machine API's clients: one per agency system (or the tax bureau's), created and revoked by
`flask api-client`. The HMAC secret is shown once; the server keeps it sealed (AES-GCM, a key of
its own derived from SECRET_KEY, the client id as associated data — the way sbweb.typed seals
what a resident typed), since it must compute each request's signature again. A secret sealed
under a key since rotated out of SECRET_KEY is opened with SECRET_KEY_FALLBACKS."""

import hashlib
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import Agency, ApiClient
from sbweb.models.api import API_SCOPES
from sbweb.models.base import utcnow
from sbweb.services.staff import audit


class ApiClientError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Created:
    client: ApiClient
    secret: str  # shown once, never stored in clear


def _cipher(key: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"sbweb api client secrets\0" + str(key).encode()).digest())


def _keys() -> list[str]:
    config = current_app.config
    return [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ())]


def seal(client_id: str, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher(_keys()[0]).encrypt(nonce, secret.encode(), client_id.encode())


def open_secret(client: ApiClient) -> str | None:
    """The client's secret, or None when no key of ours opens it (SECRET_KEY replaced outright)."""
    blob = bytes(client.secret_sealed)
    for key in _keys():
        try:
            return _cipher(key).decrypt(blob[:12], blob[12:], client.client_id.encode()).decode()
        except InvalidTag:
            continue
    return None


def _scopes(scopes: list[str]) -> str:
    unknown = sorted(set(scopes) - set(API_SCOPES))
    if unknown:
        raise ApiClientError(f"未知的权限范围：{', '.join(unknown)}（可选：{', '.join(API_SCOPES)}）")
    if not scopes:
        raise ApiClientError("请至少给一项权限范围")
    return " ".join(s for s in API_SCOPES if s in scopes)


def create(name: str, scopes: list[str], agency_code: str | None = None, *, staff_id: int | None = None) -> Created:
    """A new client (its secret returned once); `staff_id`: who did it in the back office (None: the CLI)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ApiClientError("请填写客户端名称（100 字以内）")
    agency = None
    if agency_code:
        agency = db.session.scalar(select(Agency).filter_by(code=agency_code))
        if agency is None:
            raise ApiClientError(f"没有代码为 {agency_code} 的社保经办机构")
    client_id = "ak_" + secrets.token_hex(10)
    secret = "sk_" + secrets.token_urlsafe(32)
    with write_transaction():
        client = ApiClient(
            client_id=client_id,
            name=name,
            agency_id=agency.id if agency else None,
            scopes=_scopes(scopes),
            secret_sealed=seal(client_id, secret),
        )
        db.session.add(client)
        audit(staff_id, "api_client.create", f"api_client:{client_id}", None, {"name": name, "scopes": client.scopes})
    return Created(client, secret)


def revoke(client_id: str, *, staff_id: int | None = None) -> ApiClient:
    with write_transaction():
        client = db.session.scalar(select(ApiClient).filter_by(client_id=client_id).with_for_update())
        if client is None:
            raise ApiClientError(f"没有客户端 {client_id}")
        if client.revoked_at is None:
            client.revoked_at = utcnow()
            audit(staff_id, "api_client.revoke", f"api_client:{client_id}", {"revoked": False}, {"revoked": True})
    return client


def all_clients() -> list[ApiClient]:
    return list(db.session.scalars(select(ApiClient).order_by(ApiClient.created_at, ApiClient.id)))


def find(client_id: str) -> ApiClient | None:
    if not client_id or len(client_id) > 40:
        return None
    return db.session.scalar(select(ApiClient).filter_by(client_id=client_id))


def unseal(associated: str, blob: bytes) -> str | None:
    """A secret sealed with `seal(associated, …)` (a webhook endpoint's, under its key id)."""
    for key in _keys():
        try:
            return _cipher(key).decrypt(blob[:12], blob[12:], associated.encode()).decode()
        except InvalidTag:
            continue
    return None
