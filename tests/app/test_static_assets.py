"""Static files are fetched once per version: every static URL in a page carries its content's hash,
answers cacheable for a year (immutable), compressed when the browser asks, and a fingerprint
that was never made is not found. Pages and fragments answer compressed too, and never cached."""

import gzip
import hashlib
import re
from pathlib import Path

import brotli
import pytest

from sbweb import assets
from tests.support import body_of
from tests.support.journeys import sign_in

STATIC = Path(assets.__file__).parent / "static"
FINGERPRINTED = re.compile(r"^/static/(?P<name>.+)\.(?P<hash>[0-9a-f]{12})\.(?P<ext>css|js)$")


def static_urls(page) -> list[str]:
    soup = page.soup
    return [tag.get("href") or tag.get("src") for tag in soup.select("link[rel=stylesheet], script[src]")]


def source_of(url: str) -> bytes:
    """What a fingerprinted URL must serve: the file, or the bundle's files in their order."""
    found = FINGERPRINTED.match(url)
    name = f"{found['name']}.{found['ext']}"
    if name in assets.BUNDLES:
        return b"\n;\n".join((STATIC / part).read_bytes().rstrip() for part in assets.BUNDLES[name]) + b"\n"
    return (STATIC / name).read_bytes()


def test_every_static_url_of_a_page_is_fingerprinted_and_kept_for_a_year(client, world):
    pages = [client.page("/"), sign_in(client, "王芳"), client.page("/selfpay/520102200000012346/dues")]
    urls = {url for page in pages for url in static_urls(page)}
    assert len(urls) == 3, urls  # the stylesheet, app.js (first, not deferred) and one bundle
    for url in urls:
        assert FINGERPRINTED.match(url), f"{url} has no content hash"
        response = client.get(url)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "Set-Cookie" not in response.headers
        assert response.get_data() == source_of(url)


def test_the_hash_is_the_contents(client):
    url = static_urls(client.page("/"))[0]
    found = FINGERPRINTED.match(url)
    assert hashlib.sha256(source_of(url)).hexdigest()[:12] == found["hash"]


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_assets_come_compressed_when_asked_and_decompress_to_the_file(client, encoding):
    for url in static_urls(client.page("/")):
        plain = client.get(url)
        packed = client.get(url, headers={"Accept-Encoding": f"{encoding}, identity"})
        assert packed.headers["Content-Encoding"] == encoding
        assert "Accept-Encoding" in packed.headers["Vary"]
        assert packed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert int(packed.headers["Content-Length"]) == len(packed.get_data()) < len(plain.get_data()) / 2
        assert body_of(packed) == plain.get_data() == source_of(url)
    assert "Content-Encoding" not in client.get(url).headers  # nothing asked, nothing compressed


def test_brotli_is_preferred_when_both_are_accepted(client):
    url = static_urls(client.page("/"))[1]
    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.headers["Content-Encoding"] == "br"


def test_a_fingerprint_never_made_is_not_found(client):
    css = static_urls(client.page("/"))[0]
    for url in (
        FINGERPRINTED.sub(r"/static/\g<name>.000000000000.\g<ext>", css),  # stale or made up
        "/static/bundle.js",  # a bundle has no plain name
        css + ".br",  # a compressed copy is served only as the file's encoding
        "/static/.tmp-x",
        "/static/../config.py",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "immutable" not in response.headers.get("Cache-Control", ""), url


def test_the_plain_name_still_answers_but_is_revalidated(client):
    response = client.get("/static/app.css")
    assert response.status_code == 200 and response.get_data() == (STATIC / "app.css").read_bytes()
    assert "immutable" not in response.headers.get("Cache-Control", "")


def test_a_new_version_is_a_new_url_and_the_old_one_stays(tmp_path):
    static, target = tmp_path / "static", tmp_path / "assets"
    static.mkdir()
    (static / "site.css").write_text("body { color: black; }\n" * 40)
    (static / "vendor").mkdir()
    for part in {p for parts in assets.BUNDLES.values() for p in parts}:
        (static / part).write_text(f"var {Path(part).stem.replace('-', '_').replace('.', '_')} = 1\n")
    first = assets.build(static, target)
    assert assets.build(static, target) == first  # the same contents: nothing new
    (static / "site.css").write_text("body { color: navy; }\n" * 40)
    second = assets.build(static, target)
    assert second["site.css"] != first["site.css"]
    assert (target / first["site.css"]).exists() and (target / second["site.css"]).exists()
    assert gzip.decompress((target / (second["site.css"] + ".gz")).read_bytes()) == (static / "site.css").read_bytes()
    assert brotli.decompress((target / (second["site.css"] + ".br")).read_bytes()) == (static / "site.css").read_bytes()
    assert not [p for p in target.rglob(".*")], "a temporary file was left behind"

    # Another worker writing a version at this moment: its temporary file is not served.
    (target / f".{second['site.css']}.x1y2.tmp").write_bytes(b"half a fi")
    served = assets.Assets(None, max_age=None)
    served.add_files(str(target), prefix="/static/")
    assert f"/static/{second['site.css']}" in served.files and f"/static/{first['site.css']}" in served.files
    assert not [url for url in served.files if "/." in url]


def without_token(html: bytes) -> bytes:
    """The same page but for its CSRF token, which is signed with the time."""
    return re.sub(rb"[\w-]{20,}\.[\w-]{6}\.[\w-]{27}", b"TOKEN", html)


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_pages_answer_compressed_when_asked_and_never_cached(client, world, encoding):
    sign_in(client, "王芳")
    for url in ("/", "/selfpay/", "/selfpay/520102200000012346/dues"):
        plain = client.get(url)
        packed = client.get(url, headers={"Accept-Encoding": encoding})
        assert packed.status_code == 200 and packed.headers["Content-Encoding"] == encoding
        assert packed.headers["Cache-Control"] == "no-store"
        vary = [v.strip() for v in packed.headers["Vary"].split(",")]
        assert "Accept-Encoding" in vary and "HX-Request" in vary
        assert packed.headers["Content-Security-Policy"] == plain.headers["Content-Security-Policy"]
        assert without_token(body_of(packed)) == without_token(plain.get_data())
        assert b"<html" in body_of(packed)


def test_fragments_answer_compressed_and_never_cached(client, world):
    sign_in(client, "王芳")
    client.htmx = True
    response = client.get("/selfpay/520102200000012346/dues", headers={"HX-Request": "true", "Accept-Encoding": "br"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "br"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Accept-Encoding" in response.headers["Vary"] and "HX-Request" in response.headers["Vary"]
    html = body_of(response)
    assert b"<html" not in html and "选择缴费信息".encode() in html
