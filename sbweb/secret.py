"""The app's secret key: from configuration (instance/config.py, SBWEB_SECRET_KEY), else made
once in instance/secret_key; never from the code. Rotation keeps the earlier keys as
SECRET_KEY_FALLBACKS, which still read (never sign) what they signed: sessions, CSRF tokens
and staff cookies, so nobody is signed out by a new key."""

import secrets
from pathlib import Path

from sbweb.instance_files import read_or_create, write_private

KEY_FILE = "secret_key"
OLD_KEYS_FILE = "secret_key.old"  # earlier instance keys, one a line, newest last
MIN_LENGTH = 16


def _read_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _write_private(path: Path, text: str) -> None:
    write_private(path, text.encode())


def configure(config, instance_path: str) -> None:
    """Fill in SECRET_KEY (and its fallbacks) from the instance folder when configuration has none;
    refuse a key too short to be a secret outside tests."""
    folder = Path(instance_path)
    if not config.get("SECRET_KEY"):
        # Workers starting together share one key: the first to write the file wins.
        made = read_or_create(folder / KEY_FILE, lambda: secrets.token_hex(32).encode())
        config["SECRET_KEY"] = made.decode().strip()
        if not config.get("SECRET_KEY_FALLBACKS"):
            config["SECRET_KEY_FALLBACKS"] = _read_lines(folder / OLD_KEYS_FILE)
    config["SECRET_KEY_FALLBACKS"] = list(config.get("SECRET_KEY_FALLBACKS") or ())
    if not config.get("TESTING"):
        for name, key in [
            ("SECRET_KEY", config["SECRET_KEY"]),
            *(("SECRET_KEY_FALLBACKS", k) for k in config["SECRET_KEY_FALLBACKS"]),
        ]:
            if why := weakness(key):
                raise ValueError(
                    f"{name} {why}: set a long random one, e.g. `python -c 'import secrets; "
                    "print(secrets.token_hex(32))'` (or remove SECRET_KEY to have one made in "
                    "instance/secret_key)"
                )
    # Flask reads sessions with SECRET_KEY_FALLBACKS itself; Flask-WTF signs CSRF tokens with one
    # key, but itsdangerous verifies with a list (the last one signs).
    config["WTF_CSRF_SECRET_KEY"] = signing_keys(config)


# Words of placeholders (our own sample said change-me) and of keys copied from tutorials: a key
# with one of them in it was not made by a random generator, whatever its length. (Words of five
# letters or more: a random key of 64 hex digits or 43 url-safe characters holds none by chance.)
PLACEHOLDER_WORDS = (
    "change",
    "replace",
    "secret",
    "example",
    "sample",
    "default",
    "password",
    "sbweb",
    "flask",
    "please",
    "xxxxx",
    "12345",
)


def weakness(key: str) -> str | None:
    """Why `key` would be guessed (None when it looks random): too short, too few distinct
    characters, or a placeholder word in it."""
    if len(key) < MIN_LENGTH:
        return f"is shorter than {MIN_LENGTH} characters"
    if len(set(key)) < 8:
        return "has too few different characters to be random"
    lowered = key.lower()
    if word := next((w for w in PLACEHOLDER_WORDS if w in lowered), None):
        return f"contains '{word}', as a placeholder or a made-up key does"
    return None


def signing_keys(config) -> list[str]:
    """For itsdangerous: every key that may have signed something still alive, the current last."""
    return [*config.get("SECRET_KEY_FALLBACKS", ()), config["SECRET_KEY"]]


def rotate(instance_path: str, keep: int = 2) -> Path:
    """A new instance/secret_key; the old one joins instance/secret_key.old (the `keep` newest stay).
    Only for a key made in the instance folder: a key set in configuration is rotated there."""
    folder = Path(instance_path)
    path = folder / KEY_FILE
    old = _read_lines(folder / OLD_KEYS_FILE)
    if path.exists():
        old.append(path.read_text().strip())
    _write_private(folder / OLD_KEYS_FILE, "".join(f"{key}\n" for key in old[-keep:]))
    _write_private(path, secrets.token_hex(32))
    return path
