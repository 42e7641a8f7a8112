"""Test helpers: a client that fills and submits forms the way a browser does and checks
every page it gets (one h1, a title that names it, unique ids, a label on every field)."""

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup
from flask.globals import _cv_app
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

CSRF_RE = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def body_of(response) -> bytes:
    """The body as sent before compression (a test that asks with Accept-Encoding gets br or gzip)."""
    import gzip

    import brotli

    decode = {"br": brotli.decompress, "gzip": gzip.decompress, None: bytes}
    return decode[response.headers.get("Content-Encoding")](response.get_data())


def start_config(tmp_path) -> dict:
    """The settings create_app needs besides a provider's, for tests of what it refuses at start:
    an instance folder and a SQLite file of the test's own."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'config.sqlite3'}",
    }


class PageProblem(AssertionError):
    pass


def check_page(html: str, *, fragment: bool) -> BeautifulSoup:
    soup = BeautifulSoup(html, "html.parser")
    problems = _heading_problems(soup, fragment=fragment) + _label_problems(soup) + _external_problems(soup)
    if problems:
        raise PageProblem("; ".join(problems))
    return soup


def _heading_problems(soup: BeautifulSoup, *, fragment: bool) -> list[str]:
    """One h1, one title that names it, and a whole document (with a language) only when not a fragment."""
    problems = []
    h1s = soup.find_all("h1")
    if len(h1s) != 1:
        problems.append(f"{len(h1s)} h1 elements")
    titles = soup.find_all("title")
    if len(titles) != 1:
        problems.append(f"{len(titles)} title elements")
    elif h1s and h1s[0].get_text(strip=True) not in titles[0].get_text():
        problems.append(f"title {titles[0].get_text()!r} does not name h1 {h1s[0].get_text(strip=True)!r}")
    if fragment and soup.find("html"):
        problems.append("an HTMX fragment with a whole document in it")
    if not fragment and not soup.find("html", attrs={"lang": True}):
        problems.append("a page without <html lang>")
    return problems


def _label_problems(soup: BeautifulSoup) -> list[str]:
    """Unique ids, and a label on every field a person fills in."""
    problems = []
    ids = Counter(tag["id"] for tag in soup.find_all(id=True))
    duplicates = {i for i, n in ids.items() if n > 1}
    label_targets = {label["for"] for label in soup.find_all("label", attrs={"for": True})}
    if duplicates:
        problems.append(f"duplicate ids {sorted(duplicates)}")
    for control in soup.find_all(["input", "select", "textarea"]):
        if control.name == "input" and control.get("type") in ("hidden", "submit", "button"):
            continue
        control_id = control.get("id")
        labelled = (
            (control_id in label_targets)
            or control.find_parent("label")
            or control.get("aria-label")
            or control.get("aria-labelledby")
        )
        if not labelled:
            problems.append(f"no label for {control.name} {control.get('name')!r}")
    return problems


def _external_problems(soup: BeautifulSoup) -> list[str]:
    """Nothing linked or loaded from another site: the app and its assets are all ours."""
    problems = []
    for a in soup.find_all("a", href=True):
        if re.match(r"^(https?:)?//", a["href"]) and "127.0.0.1" not in a["href"] and "localhost" not in a["href"]:
            problems.append(f"external link {a['href']}")
    for tag in soup.find_all(["script", "link", "img"]):
        src = tag.get("src") or tag.get("href") or ""
        if re.match(r"^(https?:)?//", src):
            problems.append(f"external resource {src}")
    return problems


@dataclass
class Page:
    response: object
    soup: BeautifulSoup | None
    url: str
    history: list = field(default_factory=list)

    @property
    def status(self):
        return self.response.status_code

    @property
    def h1(self) -> str:
        return self.soup.h1.get_text(" ", strip=True)

    @property
    def text(self) -> str:
        return self.soup.get_text(" ", strip=True)

    def field_error(self, name: str) -> str | None:
        control = self.soup.find(attrs={"name": name})
        if control is None:
            return None
        wrapper = control.find_parent(class_="field-error")
        if wrapper is None:
            return None
        message = wrapper.find(class_="field-message")
        return message.get_text(strip=True).replace("错误：", "") if message else None

    def summary(self) -> list[str]:
        box = self.soup.find(attrs={"data-error-summary": True})
        return [li.get_text(strip=True) for li in box.find_all("li")] if box else []

    def form(self, selector: str = "main form[method=post]"):
        forms = self.soup.select(selector)
        if not forms:
            raise AssertionError(f"no form {selector!r} on {self.url}")
        return forms[0]

    def links(self) -> dict[str, str]:
        return {a.get_text(" ", strip=True): a["href"] for a in self.soup.select("main a[href]")}


class ResidentClient(FlaskClient):
    """The test client, with pages parsed and checked and forms submitted as filled in."""

    htmx = False

    def open(self, *args, **kwargs):
        """Each request gets its own app context, as in production, even when the test holds
        one open for its own queries (Flask would otherwise reuse it, sharing `g`, the CSRF
        token cache and the database session between requests)."""
        held = _cv_app.get(None)
        if held is not None:
            held.pop()
        try:
            return self._open(*args, **kwargs)
        finally:
            if held is not None:
                held.push()

    def _open(self, *args, **kwargs):
        if self.htmx:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("HX-Request", "true")
            headers.setdefault("HX-Current-URL", "http://localhost/")
            kwargs["headers"] = headers
        response = super().open(*args, **kwargs)
        # A server closes each response once sent (running any call_on_close work); the body is
        # read into memory first, so the test can still read it. Work the request handed to a
        # thread of its own (the blind code's mail) is waited for, so the test sees its result.
        response.make_sequence()
        response.close()
        for thread in threading.enumerate():
            if thread.name == "blind-code-mail":
                thread.join(timeout=30)
        if response.mimetype == "text/html" and response.status_code != 204:
            html = body_of(response).decode()
            fragment = self.htmx and "HX-Request" in response.vary and "<html" not in html
            # The page parsed once: _to_page reads the same tree (the body is not read again).
            response.checked_soup = check_page(html, fragment=fragment)
        return response

    def page(self, url: str, follow: bool = True, **kwargs) -> Page:
        response = self.get(url, **kwargs)
        return self._to_page(response, url, follow)

    def _to_page(self, response, url, follow) -> Page:
        history = []
        while follow and response.status_code in (301, 302, 303) and _local(response.location):
            history.append(response)
            url = urljoin(url, response.location)
            response = self.get(url)
        pushed = response.headers.get("HX-Push-Url")
        if pushed and pushed != "false":  # an HTMX POST answered with the next step, as a browser shows it
            url = urljoin(url, pushed)
        soup = getattr(response, "checked_soup", None)
        if soup is None and response.mimetype == "text/html":
            soup = BeautifulSoup(response.get_data(as_text=True), "html.parser")
        if soup is not None and soup.find("wbr"):  # a line-break hint in a long number, no text:
            for hint in soup.find_all("wbr"):  # 452010<wbr>226000 reads 452010226000
                hint.decompose()
            soup.smooth()
        return Page(response, soup, url, history)

    def submit(
        self,
        page: Page,
        data: dict | None = None,
        *,
        selector: str = "main form[method=post]",
        button: str | None = None,
        follow: bool = True,
        drop: tuple = (),
    ) -> Page:
        """Submit a form as a browser would: its hidden fields, checked boxes and chosen
        options, with `data` typed over them. A list value checks exactly those boxes."""
        form = page.form(selector)
        values = form_values(form)
        for key, value in (data or {}).items():
            values[key] = value if isinstance(value, list) else [value]
        for key in drop:
            values.pop(key, None)
        if button is not None:
            for b in form.find_all("button"):
                if b.get_text(strip=True) == button and b.get("name"):
                    values[b["name"]] = [b.get("value", "")]
        action = urljoin(page.url, form.get("action") or page.url)
        response = self.post(action, data=MultiDict([(k, v) for k, vs in values.items() for v in vs]))
        return self._to_page(response, action, follow)


def form_values(form) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for control in form.find_all(["input", "select", "textarea"]):
        name = control.get("name")
        if not name or control.has_attr("disabled"):
            continue
        if control.name == "select":
            chosen = control.find("option", selected=True) or control.find("option")
            if chosen is not None:
                values.setdefault(name, []).append(chosen.get("value", chosen.get_text()))
        elif control.name == "textarea":
            values.setdefault(name, []).append(control.get_text())
        elif control.get("type") in ("checkbox", "radio"):
            if control.has_attr("checked"):
                values.setdefault(name, []).append(control.get("value", "on"))
        elif control.get("type") not in ("submit", "button"):
            values.setdefault(name, []).append(control.get("value", ""))
    return values


def _local(location: str | None) -> bool:
    return bool(location) and (location.startswith("/") or urlsplit(location).hostname in ("localhost", None))


def alipay_account(app, gateway_base: str) -> dict:
    """Settings of a live-style Alipay app whose "Alipay" is the sandbox at `gateway_base`:
    our key registered there and its public key, as files in the instance folder (the public
    key as the open platform shows it: bare base64)."""
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization

    from sbweb.payments import sandbox

    keys = Path(app.instance_path) / "keys" / "alipay"
    keys.mkdir(parents=True, exist_ok=True)
    with app.app_context():
        (keys / "app_private_key.pem").write_bytes(
            sandbox.merchant_key().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pem = (
            sandbox.platform_key()
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
    (keys / "alipay_public_key.txt").write_text("".join(pem.splitlines()[1:-1]))
    return {
        "app_id": app.config["SANDBOX_APP_ID"],
        "gateway": f"{gateway_base}/sandbox/gateway.do",
        "app_private_key_file": "keys/alipay/app_private_key.pem",
        "alipay_public_key_file": "keys/alipay/alipay_public_key.txt",
        # Short, so a stalled gateway's tests end soon; not 1 s: on a loaded CI machine a real
        # answer (two RSA signatures over HTTP) once took longer than that.
        "timeout": 3,
    }


def identity_of(client) -> dict:
    """Who the client's session is on the server (sbweb.identity.sessions keeps only a token in the cookie):
    person_id, level, host, and host_subject when there is one; {} when signed out or ended."""
    import hashlib

    from sqlalchemy import select

    from sbweb.db import db
    from sbweb.models import LoginSession

    with client.session_transaction() as session:
        token = session.get("sid")
    if not token:
        return {}
    with client.application.app_context():
        row = db.session.scalar(select(LoginSession).filter_by(token_hash=hashlib.sha256(token.encode()).hexdigest()))
        if row is None or row.ended_at is not None:
            return {}
        found = {"person_id": row.person_id, "level": row.level, "host": row.host, "session_id": row.id}
        if row.host_subject:
            found["host_subject"] = row.host_subject
        db.session.remove()
    return found
