"""Files in the instance folder: they hold personal data and secrets (the database, mails with
验证码 and certificates, backups, keys), so they are their owner's only — 0600, folders 0700.

`keep_private()` sets that once per process (a umask, so it holds for whatever SQLite, huey or
pg_dump create too) and takes group and other access from what is already there.
`write_private()` writes a file whole or not at all; `read_or_create()` makes a file once for
every process that serves the app: the secret key and the sandbox's key pairs. Several gunicorn
workers start at the same moment; the first to write a file wins and the others take its
content, so all sign and verify alike."""

import contextlib
import logging
import os
import stat
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077  # new files 0600 (0666 & ~077), new folders 0700


def keep_private(folder, *files) -> None:
    """From now on this process creates files and folders for its owner only; and `folder`
    (recursively) and `files` (each with the -wal, -shm and -journal files SQLite keeps beside
    it) lose any group or other access they have now."""
    os.umask(PRIVATE_UMASK)
    folder = Path(folder)
    _private(folder)
    for root, dirs, names in os.walk(folder):
        for name in (*dirs, *names):
            _private(Path(root, name))
    for path in files:
        for each in (path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
            _private(Path(each))


def _private(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)) or not mode & 0o077:
        return
    try:
        path.chmod(stat.S_IMODE(mode) & ~0o077)
    except FileNotFoundError:  # a temporary file another process has just renamed
        pass
    except OSError as exc:  # another user's file: say so, and go on
        log.warning("could not make %s private (%s): chmod go-rwx it", path, exc.strerror)


def write_private(path, data: bytes) -> Path:
    """`data` into `path` (mode 0600), whole or not at all: a reader sees the old file or the new
    one, never half of one, and a crash leaves no partial file under the name."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def read_or_create(path: Path, make) -> bytes:
    """The content of `path`; if there is none, `make()`'s bytes, written (mode 0600) unless
    another process wrote the file first, in which case that one's content is returned."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):  # another process made it first: theirs stands
            os.link(tmp, path)  # atomic, and refuses to replace a file another process made
    finally:
        os.unlink(tmp)
    return path.read_bytes()
