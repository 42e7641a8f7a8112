"""What a resident had typed when they switched 长辈版 (大字) without JavaScript.

The switch brings the page's form along (the 大字 button's form= and formaction=); what it held
is kept for one round trip in a cookie that is encrypted (AES-GCM, a key of its own derived from
SECRET_KEY), bound to the page's path, sent only to that path and alive for two minutes, and
fills the form once when the page comes back. It is never logged nor stored anywhere else: ID
numbers are among what is typed."""

import base64
import hashlib
import json
import os
import time

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app, g, request
from werkzeug.datastructures import MultiDict

COOKIE = "sbweb_typed"
FORM_ID = "typed-form"
LIFETIME = 120  # seconds: one round trip, with room for a slow phone
MAX_COOKIE = 3800  # characters: browsers keep about 4 KB a cookie; more is not kept at all


def form_id() -> str:
    """The id for a form of the page: the first form rendered with fields is the one the 大字
    switch brings along (base.html points the button at it); '' for any later one."""
    if g.get("typed_form"):
        return ""
    g.typed_form = FORM_ID
    return FORM_ID


def _cipher() -> AESGCM:
    secret = current_app.config["SECRET_KEY"]
    return AESGCM(hashlib.sha256(b"sbweb typed values\0" + str(secret).encode()).digest())


def keep(response, path: str, fields: MultiDict) -> None:
    """Keep `fields` (the CSRF token left out) for the page at `path`, on `response`."""
    values = [[k, v] for k, v in fields.items(multi=True) if k != "csrf_token"]
    if not values:
        return
    nonce = os.urandom(12)
    sealed = _cipher().encrypt(nonce, json.dumps({"at": int(time.time()), "values": values}).encode(), path.encode())
    value = base64.urlsafe_b64encode(nonce + sealed).decode()
    if len(value) > MAX_COOKIE:
        return
    response.set_cookie(
        COOKIE,
        value,
        max_age=LIFETIME,
        path=path,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


def take() -> MultiDict | None:
    """On a GET of the page they were kept for: what was typed there, once (the cookie is
    deleted with this response)."""
    if "typed_values" in g:
        return g.typed_values
    g.typed_values = None
    raw = request.cookies.get(COOKIE)
    if request.method != "GET" or not raw:
        return None
    g.typed_taken = True
    try:
        blob = base64.urlsafe_b64decode(raw.encode())
        kept = json.loads(_cipher().decrypt(blob[:12], blob[12:], request.path.encode()))
    except (ValueError, InvalidTag):
        return None  # another page's, or from before a new key: nothing
    if time.time() - kept["at"] <= LIFETIME:
        g.typed_values = MultiDict([tuple(pair) for pair in kept["values"]])
    return g.typed_values


def init_app(app) -> None:
    app.jinja_env.globals["typed_form_id"] = form_id

    @app.after_request
    def forget_typed(response):
        if g.get("typed_taken"):
            response.delete_cookie(
                COOKIE, path=request.path, httponly=True, samesite="Lax", secure=app.config["SESSION_COOKIE_SECURE"]
            )
        return response
