"""Static files a phone downloads once: each served under a URL with its content's hash in it
(`/static/app.3f9c2a1b7d4e.css`) and kept by the browser for a year without asking again; a new
version is a new URL. Served by WhiteNoise ahead of Flask (no session, no database), with gzip and
Brotli copies made once per version, so htmx's 52 KB arrive as 15 KB.

At start-up the files in sbweb/static are hashed; each version is written, with its .br and .gz
beside it, to ASSET_DIR (instance/assets by default): each file put in place whole, by rename, and
its owner's only, like everything in instance/. Versions already there stay and keep being
served: a page rendered by a worker that still runs the old code finds its files during a
rolling restart. A fingerprint that was never made is not found (404). The plain URLs
(`/static/app.css`) still answer, from Flask, revalidated each time.

Templates name files with `asset_url('app.css')`."""

import hashlib
from pathlib import Path

from flask import Flask, url_for
from whitenoise import WhiteNoise
from whitenoise.compress import Compressor

from sbweb.instance_files import write_private

IMMUTABLE = "public, max-age=31536000, immutable"
HASH_LENGTH = 12
# Files a page needs together, served as one (one request instead of three on a first visit),
# in this order: htmx first, as when each had a deferred <script> of its own.
BUNDLES = {
    "bundle.js": ("vendor/htmx-2.0.11.min.js", "wechat-pay.js", "provider-form.js")
}  # app.js stays apart: it runs first
_COMPRESSIBLE = Compressor(quiet=True)  # only its list of file types not worth compressing

# Compressed bodies by content hash: a process that makes many apps (the tests) compresses once.
_compressed: dict[str, tuple[bytes | None, bytes | None]] = {}


def fingerprinted(name: str, digest: str) -> str:
    """vendor/htmx-2.0.11.min.js → vendor/htmx-2.0.11.min.<digest>.js"""
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{digest}.{ext}" if dot and "/" not in ext else f"{name}.{digest}"


def _compress(digest: str, data: bytes) -> tuple[bytes | None, bytes | None]:
    """WhiteNoise's own compressor (Brotli at its best, gzip -9); a copy that saves < 5 % is left out."""
    if digest not in _compressed:
        copies = []
        for make in (Compressor.compress_brotli, Compressor.compress_gzip):
            body = make(data) if data else None
            copies.append(body if body is not None and len(body) <= 0.95 * len(data) else None)
        _compressed[digest] = tuple(copies)
    return _compressed[digest]


def build(static: Path, target: Path) -> dict[str, str]:
    """Write every static file's current version, and each bundle's, to `target`; return
    {name: fingerprinted name}."""
    sources = {
        path.relative_to(static).as_posix(): path.read_bytes()
        for path in sorted(static.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }
    for bundle, parts in BUNDLES.items():
        # Each part ends its last statement: a file that leaves off its final ";" stays whole.
        sources[bundle] = b"\n;\n".join(sources[part].rstrip() for part in parts) + b"\n"
    manifest = {}
    for name, data in sources.items():
        digest = hashlib.sha256(data).hexdigest()[:HASH_LENGTH]
        out = target / fingerprinted(name, digest)
        manifest[name] = out.relative_to(target).as_posix()
        if out.exists() and out.stat().st_size == len(data):
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        br, gz = _compress(digest, data) if _COMPRESSIBLE.should_compress(name) else (None, None)
        # The compressed copies first: WhiteNoise offers a copy only if it is there with the file.
        for suffix, body in ((".br", br), (".gz", gz)):
            if body is not None:
                write_private(out.with_name(out.name + suffix), body)
        write_private(out, data)
    return manifest


class Assets(WhiteNoise):
    """WhiteNoise serving only fingerprinted files, each immutable for a year."""

    def update_files_dictionary(self, root, prefix):
        """WhiteNoise's scan, but past the temporary files (dot names) of another worker writing a
        version at the same moment: they come and go while this one looks."""
        stat_cache = {}
        for path in Path(root).rglob("*"):
            if not path.name.startswith("."):
                try:
                    if path.is_file():
                        stat_cache[str(path)] = path.stat()
                except FileNotFoundError:
                    continue
        for path in stat_cache:
            self.add_file_to_dictionary(prefix + Path(path).relative_to(root).as_posix(), path, stat_cache=stat_cache)

    def add_cache_headers(self, headers, path, url):
        headers["Cache-Control"] = IMMUTABLE

    def add_headers(self, headers, path, url):
        headers["X-Content-Type-Options"] = "nosniff"


def init_app(app: Flask) -> None:
    static = Path(app.static_folder)
    target = Path(app.config.get("ASSET_DIR") or Path(app.instance_path) / "assets")
    manifest = build(static, target)
    prefix = app.static_url_path.rstrip("/") + "/"
    # `flask run --debug`: a file edited while the app runs is a new version at once (WhiteNoise
    # then looks each file up on each request).
    served = Assets(app.wsgi_app, allow_all_origins=False, max_age=None, autorefresh=app.debug)
    served.add_headers_function = served.add_headers
    served.add_files(str(target), prefix=prefix)
    app.wsgi_app = served
    app.extensions["sbweb_assets"] = manifest

    def asset_url(filename: str) -> str:
        """The URL of a static file's current version (a file added since start-up: its plain URL)."""
        if app.debug:
            manifest.update(build(static, target))
        return url_for("static", filename=manifest.get(filename, filename))

    app.jinja_env.globals["asset_url"] = asset_url
