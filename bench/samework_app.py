"""The fairer yardstick for bench/fragment_bench.py (issue 15): a Flask app doing the same kind of
work as sbweb's dues fragment, and nothing else.

Per request it decodes and verifies a signed session cookie (Flask's own, itsdangerous, HMAC),
takes the person's id from it, runs one SQLite SELECT (the enrollment, its agency and its open
dues, by the person's id and the enrollment number in the URL) on the same bench database, and
renders one compiled Jinja template (autoescaped, a loop over the dues, a money filter) whose
output is padded once, at start, to the size of sbweb's fragment. No CSRF, no server-side session,
no rate limiter, no access log, no security headers, no ORM, no middleware.

    DATABASE_URL=sqlite:///… SAMEWORK_SECRET_KEY=… SAMEWORK_FRAGMENT_BYTES=2606 \\
        gunicorn -w 2 -k sync -b 127.0.0.1:8002 --chdir bench samework_app:app

GET /signin/<enrollment_no> (not measured) signs in the enrollment's owner: a cookie holding the
person's id beside a random session token and CSRF secret, the shape of sbweb's cookie.
GET /selfpay/<enrollment_no>/dues is the measured page (404 when it is not the person's, 401
without a valid cookie).
"""

import os
import secrets
import sqlite3

from flask import Flask, abort, render_template, session
from jinja2 import DictLoader
from markupsafe import Markup

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("SAMEWORK_SECRET_KEY") or secrets.token_hex(32),
    SESSION_COOKIE_NAME="samework_session",
    SESSION_REFRESH_EACH_REQUEST=False,
)
DATABASE = os.environ.get("DATABASE_URL", "sqlite:///bench.sqlite3").removeprefix("sqlite:///")
SIZE = int(os.environ.get("SAMEWORK_FRAGMENT_BYTES", "0"))

SELECT = """
SELECT e.enrollment_no, e.category, e.insurance, a.name, d.id, d.kind, d.period_start, d.period_end,
       d.amount_fen
FROM enrollments e JOIN agencies a ON a.id = e.agency_id
LEFT JOIN dues d ON d.enrollment_id = e.id AND d.state = 'open'
WHERE e.person_id = ? AND e.enrollment_no = ?
ORDER BY d.period_start, d.id"""

TEMPLATE = """<h1>选择缴费信息</h1>
<dl class="card summary-list">
  <div><dt>险种</dt><dd>{{ e.category }} {{ e.insurance }}</dd></div>
  <div><dt>个人参保编号</dt><dd>{{ e.enrollment_no }}</dd></div>
  <div><dt>经办机构</dt><dd>{{ e.agency }}</dd></div>
</dl>
<form method="post" action="/selfpay/{{ e.enrollment_no }}/dues">
  <fieldset class="due-list" id="dues"><legend>选择要缴纳的费款</legend>
  {% for d in dues %}
    <div class="cell due"><input type="checkbox" name="dues" value="{{ d.id }}" id="due-{{ d.id }}" checked>
      <label for="due-{{ d.id }}"><span class="cell-title">{{ d.kind }}</span>
        <span class="cell-sub">费款所属期 {{ d.period_start }}–{{ d.period_end }}</span>
        <span class="amount">{{ d.amount_fen|yuan }}</span></label></div>
  {% endfor %}
  </fieldset>
  <input type="hidden" name="csrf_token" value="{{ csrf }}">
</form>
{{ padding }}"""


def yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


app.jinja_env.filters["yuan"] = yuan
app.jinja_env.loader = DictLoader({"dues.html": TEMPLATE})  # compiled once, then cached
_db = None


def db() -> sqlite3.Connection:
    """One connection per worker process (gunicorn forks before the first request)."""
    global _db
    if _db is None:
        _db = sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True, check_same_thread=False)
    return _db


def _page(person_id: int, enrollment_no: str, padding: str = "") -> str:
    rows = db().execute(SELECT, (person_id, enrollment_no)).fetchall()
    if not rows:
        abort(404)
    e = dict(zip(("enrollment_no", "category", "insurance", "agency"), rows[0][:4], strict=False))
    dues = [
        dict(zip(("id", "kind", "period_start", "period_end", "amount_fen"), r[4:], strict=False))
        for r in rows
        if r[4] is not None
    ]
    return render_template("dues.html", e=e, dues=dues, csrf=session.get("csrf_token", ""), padding=padding)


_padding: dict[str, str] = {}  # enrollment_no → filler bringing the page to SIZE bytes


@app.get("/signin/<enrollment_no>")
def signin(enrollment_no):
    row = db().execute("SELECT person_id FROM enrollments WHERE enrollment_no = ?", (enrollment_no,)).fetchone()
    if row is None:
        abort(404)
    session.update(sid=secrets.token_urlsafe(32), csrf_token=secrets.token_hex(20), person_id=row[0])
    return "signed in"


@app.get("/selfpay/<enrollment_no>/dues")
def dues(enrollment_no):
    person_id = session.get("person_id")
    if not isinstance(person_id, int):
        abort(401)
    if enrollment_no not in _padding:  # once per worker: the filler, from the unpadded size
        short = len(_page(person_id, enrollment_no).encode())
        _padding[enrollment_no] = Markup("<!--" + "x" * (SIZE - short - 7) + "-->") if short + 7 <= SIZE else ""
    return _page(person_id, enrollment_no, _padding[enrollment_no])
