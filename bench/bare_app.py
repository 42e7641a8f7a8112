"""The yardstick for bench/fragment_bench.py: a bare Flask app returning one static HTML fragment.

No database, no session, no templates: the fastest a Flask view behind the same gunicorn
set-up can answer. The fragment is read once at import from $BARE_FRAGMENT_FILE (the bench
writes the real dues fragment there, so the body is the same size byte for byte); without it,
a filler fragment of $BARE_FRAGMENT_BYTES bytes (default 2048) is served.

    gunicorn -w 2 -k sync -b 127.0.0.1:8001 --chdir bench bare_app:app
"""

import os

from flask import Flask, Response


def _fragment() -> bytes:
    path = os.environ.get("BARE_FRAGMENT_FILE")
    if path:
        with open(path, "rb") as f:
            return f.read()
    size = int(os.environ.get("BARE_FRAGMENT_BYTES", "2048"))
    head, tail = b'<section class="card"><h1>bare</h1><p>', b"</p></section>\n"
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


FRAGMENT = _fragment()
app = Flask(__name__)


@app.get("/fragment")
def fragment():
    return Response(FRAGMENT, mimetype="text/html")
