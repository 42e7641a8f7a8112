"""Files made once in the instance folder and shared by every process that serves the app: the
secret key and the sandbox's key pairs. Several gunicorn workers start at the same moment; the
first to write a file wins and the others take its content, so all sign and verify alike."""
import os
import tempfile
from pathlib import Path


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
        try:
            os.link(tmp, path)  # atomic, and refuses to replace a file another process made
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_bytes()
