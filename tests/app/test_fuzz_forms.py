"""A fuzz run over every route of the app (hypothesis): each GET and POST rule of `app.url_map`
gets generated requests — from every identity level (signed out, 证件 lookup, verified resident,
another resident, staff), with a valid, missing, junk or someone else's CSRF token, as a page or
as an HTMX fragment, with the form's own field names (found by reading every form the app
shows) filled with the form's own values, other people's ids, unicode (NUL, RTL marks, emoji,
markup), numbers out of range, calendar edges (days near date.min and date.max, leap days that
are and are not, month ends, years 0 and 10000, month 13, 2**31, 2**63), huge strings and repeated
keys, and the path's own ids, other people's, or garbage. Every answer must be below 500, pass the
page checks of tests/support/__init__.py, and an answer of 400 or more must leave the database exactly as it was.

tests/<journey>/test_<journey>_bad_input.py sweep fixed cases over the newer journeys; this one covers every route
with generated ones. `make test` runs a few examples per route, derandomized (the same ones on
every run); `make fuzz` (100 per route; `FUZZ_EXAMPLES=500 make fuzz` for more) runs random
ones — a failure prints the example, shrunk, and a `@reproduce_failure` line to run it again.

The world is the one tests/support/bad_input.py builds (王芳 and her payee, 张伟's things as the
"someone else's"), plus a staff member. On SQLite it is restored after each example that wrote
(valid input may write); on PostgreSQL it drifts from example to example, which the checks allow.
"""

import datetime as dt
import hashlib
import io
import itertools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from bs4 import BeautifulSoup
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from sbweb.database import sqlite_file
from sbweb.db import db
from sbweb.models import Order, Person, SandboxTrade
from tests.conftest import ON_POSTGRES
from tests.support import PageProblem
from tests.support.bad_input import MARKUP, Site, _make_site

EXAMPLES = int(os.environ.get("SBWEB_FUZZ_EXAMPLES", "0") or 0)
LONG_RUN = EXAMPLES > 0
FUZZ = settings(
    max_examples=EXAMPLES or 10,
    derandomize=not LONG_RUN,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
WHO = ("me", "staff", "me_lookup", "resident", "anon")
STAFF = ("fuzz-admin", "值班员", "fuzz-password-123")
SKIP_RULES = {"/static/<path:filename>"}
# What an answer of 400+ may still have written, on purpose: a failed 证件 lookup is counted
# (sbweb.identity.throttle), and so is a staff member's wrong password (and the lock it leads
# to, in the audit log).
WRITES_ON_REFUSAL = {"lookup_failures": None, "staff": ("failed_logins", "locked_until"), "audit_log": None}


# -- the world --------------------------------------------------------------------------------------


@dataclass
class Fuzzed:
    site: Site
    cookies: dict  # who → their cookies as signed in
    tokens: dict  # who → a good CSRF token of their session
    fields: dict  # (endpoint, method) → {field name: [values the app's forms use]}
    shown: dict  # (endpoint, method) → who was shown that page or a form posting there
    args: dict  # path argument name → its values in the world (own and others')
    others: list  # ids of other people's things, to put into fields
    counter: itertools.count


def _cookies(client) -> list:
    return [(c.key, c.value, c.path) for c in client._cookies.values()]


def _restore_cookies(client, saved):
    client._cookies.clear()
    for key, value, path in saved:
        client.set_cookie(key, value, path=path)


def _token_of(html: str) -> str | None:
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
    return found.group(1) if found else None


def _world_args(site: Site) -> dict:
    ids = site.ids
    with site.app.app_context():
        trades = list(db.session.scalars(select(SandboxTrade.trade_no).limit(2)))
        tokens = list(db.session.scalars(text("select token from reminders limit 2")))
        standard_ids = list(db.session.scalars(text("select id from standards order by id limit 2")))
        db.session.remove()
    return {
        "order_no": [ids["my_order"], ids["their_order"]],
        "doc_no": [ids["my_doc"], ids["my_cert"], ids["their_doc"]],
        "mail_id": [ids["my_mail"], ids["their_mail"]],
        "payee_id": [ids["my_payee"], ids["their_payee"]],
        "enrollment_no": [ids["my_enrollment"], ids["payee_enrollment"], ids["their_enrollment"]],
        "declaration_id": [ids["my_decl"], ids["their_decl"]],
        "reminder_id": [ids["my_reminder"], ids["their_reminder"]],
        "code": [ids["my_code"], ids["their_code"]],
        "token": tokens,
        "flow": ["flexible-pension", "flexible-medical", "resident-pension", "resident-medical"],
        "kind": ["normal", "special"],
        "provider": ["sandbox", "alipay", "wechat"],
        "trade_no": trades or ["T0"],
        "day": ["2026-11-22"],
        "standard_id": standard_ids,
        "application_id": [1],
        "run_id": [1],
        "difference_id": [1],
        "account_id": [1],
        "agreement_id": [1],
    }


def _fill(rule, args, pick) -> str:
    """A path for `rule`, each argument its world value or garbage, as `pick` chooses."""
    path = rule.rule
    for name, converter in rule._converters.items():
        integer = type(converter).__name__ == "IntegerConverter"
        value = pick(name, args.get(name, []), integer)
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", quote(str(value), safe=""), path)
    return path


NOT_PAGES = {
    "certificates.download",
    "certificates.captcha_image",
    "certificates.captcha_audio",
    "static",
}  # no forms in a PDF, a PNG or a WAV


def _read_forms(site: Site, clients: dict, args: dict) -> tuple[dict, dict]:
    """Every form on every page the app shows (to each client, with the world's own ids), by the
    endpoint and method its action goes to; and who was shown each page or form (who gets past
    the sign-in)."""
    app = site.app
    adapter = app.url_map.bind("localhost")
    fields: dict = {}
    shown: dict = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.endpoint.startswith("sandbox."):
            continue
        names = list(rule._converters)
        combos = list(itertools.product(*[(args.get(n) or [1])[:3] for n in names]))
        for who, combo in itertools.product(("me", "me_lookup", "staff", "anon"), combos):
            chosen = dict(zip(names, combo, strict=False))
            path = _fill(rule, args, lambda name, values, integer, chosen=chosen: chosen[name])
            response = FlaskClient.open(clients[who], path)
            if response.mimetype != "text/html" or response.status_code != 200:
                continue
            shown.setdefault((rule.endpoint, "GET"), set()).add(who)
            for form in BeautifulSoup(response.get_data(as_text=True), "html.parser").find_all("form"):
                method = (form.get("method") or "get").upper()
                action = urlsplit(form.get("action") or path).path
                try:
                    endpoint, _ = adapter.match(action, method=method)
                except HTTPException:  # not ours (404), another method (405) or a redirect
                    continue
                shown.setdefault((endpoint, method), set()).add(who)
                found = fields.setdefault((endpoint, method), {})
                for control in form.find_all(["input", "select", "textarea", "button"]):
                    name = control.get("name")
                    if not name or name == "csrf_token":
                        continue
                    values = found.setdefault(name, [])
                    options = [o.get("value", o.get_text()) for o in control.find_all("option")] or [
                        control.get("value", control.get_text() if control.name == "textarea" else "")
                    ]
                    values.extend(v for v in options if v not in values)
    return fields, {key: sorted(who) for key, who in shown.items()}


def _more_world(site: Site) -> dict:
    """What tests/support/bad_input.py's world lacks for the other journeys: a staff member, 王芳's bank
    account and agreement, and a refund application waiting for review."""
    from stdnum import luhn

    from sbweb.services import bank, refund_applications, staff

    me = site.ids["me_id"]
    with site.app.app_context():
        staff.create(STAFF[0], STAFF[1], STAFF[2], "admin")
        person = db.session.get(Person, me)
        card = "622202020011223344"
        account = bank.report(
            person,
            bank_name="中国工商银行",
            kind="card",
            account_no=card + luhn.calc_check_digit(card),
            account_name=person.name,
        )
        agreement = bank.sign(me, enrollment_no=site.ids["my_enrollment"], account_id=account.id, kind="tripartite")
        application = refund_applications.apply(
            person,
            site.ids["my_order"],
            "normal",
            items={
                i.id: None
                for i in refund_applications.refundable_items(
                    db.session.scalar(select(Order).filter_by(order_no=site.ids["my_order"])), "normal"
                )
            },
            money_type=refund_applications.MONEY_TYPES[0],
            reason=refund_applications.reasons()[0],
            account_id=account.id,
            account_name=person.name,
        )
        found = {"account_id": [account.id], "agreement_id": [agreement.id], "application_id": [application.id]}
        db.session.remove()
    return found


def _walk_wizards(site: Site) -> str:
    """Leave 王芳 (verified) on 选择缴款方式 with a selection in her session, and her looked-up
    session with an order in 支付中, so that those steps' forms are reached and fuzzed."""
    from tests.support.journeys import choose, go_to_provider

    method = site.clients["me"].submit(choose(site.clients["me"], "medical"))
    assert method.h1 == "选择缴款方式", method.text[:200]
    cashier = go_to_provider(site.clients["me_lookup"], choose(site.clients["me_lookup"], "pension"))
    assert cashier.status == 200
    with site.app.app_context():
        from sbweb.models import Order

        paying = db.session.scalar(select(Order.order_no).filter_by(state="paying"))
        db.session.remove()
    return paying


def _snapshot_again(site: Site) -> None:
    """The world as it now is becomes what each example starts from (SQLite)."""
    import sqlite3

    with site.app.app_context():
        db.session.remove()
        db.engine.dispose()
        path = sqlite_file(db.engine.url)
    with sqlite3.connect(path) as conn:
        conn.execute("pragma wal_checkpoint(truncate)")
    shutil.copy(path, site.snapshot)


def _build(tmp_dir, key_dir, migrated_database) -> Fuzzed:
    site = _make_site(tmp_dir, key_dir, migrated_database)
    app = site.app
    extra_args = _more_world(site)
    paying = _walk_wizards(site)
    clients = dict(site.clients)
    clients["staff"] = app.test_client()
    login = FlaskClient.open(clients["staff"], "/admin/login")
    FlaskClient.open(
        clients["staff"],
        "/admin/login",
        method="POST",
        data={"csrf_token": _token_of(login.get_data(as_text=True)), "username": STAFF[0], "password": STAFF[2]},
    )
    assert clients["staff"].get_cookie("sbweb_staff", path="/admin") is not None
    site.clients = clients
    args = {**_world_args(site), **extra_args}
    args["order_no"] = [paying, *args["order_no"]]
    tokens = {who: _token_of(FlaskClient.open(c, "/").get_data(as_text=True)) for who, c in clients.items()}
    fields, shown = _read_forms(site, clients, args)
    ids = site.ids
    others = [
        str(ids[k])
        for k in (
            "them_id",
            "their_payee",
            "their_due",
            "their_decl",
            "their_mail",
            "their_reminder",
            "their_order",
            "their_doc",
            "their_ticket",
            "their_enrollment",
        )
    ]
    if not ON_POSTGRES:
        _snapshot_again(site)
    return Fuzzed(
        site, {who: _cookies(c) for who, c in clients.items()}, tokens, fields, shown, args, others, itertools.count(1)
    )


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, key_dir, migrated_database):
    from sbweb import clock as app_clock

    built = _build(tmp_path_factory.mktemp("fuzz"), key_dir, migrated_database)
    yield built
    app_clock.set_source(None)
    with built.site.app.app_context():
        db.session.remove()
        db.engine.dispose()


# -- what is stored ----------------------------------------------------------------------------------


def stored(app) -> dict:
    """Every row of every table (but what a refusal may write on purpose), hashed per table."""
    found = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            skip = WRITES_ON_REFUSAL.get(table.name, ())
            if table.name in WRITES_ON_REFUSAL and skip is None:
                continue
            columns = [c for c in table.columns if c.name not in skip]
            rows = db.session.execute(select(*columns).order_by(*table.primary_key.columns)).all()
            found[table.name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        db.session.remove()
    return found


def changed(before: dict, after: dict) -> list[str]:
    return [
        f"{name}: {before[name][0]} → {after[name][0]} rows"
        + ("" if before[name][0] != after[name][0] else " (contents)")
        for name in before
        if before[name] != after[name]
    ]


# -- the generated requests ---------------------------------------------------------------------------

ODD = [
    "",
    "\x00",
    "NaN",
    "1e308",
    "-1",
    "0",
    "２０２６",
    "²",
    "\u202e2026\u200f",
    "💰",
    MARKUP,
    "9" * 40,
    "2147483648",
    "-9223372036854775809",
    " ",
    "\r\n",
    "' OR '1'='1",
    "%00",
    "../../etc/passwd",
    "true",
    "on",
]
# (NUL is in ODD: anywhere in a request it makes the whole request a 400, so not in every text.)
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)

# Calendar edges, as a date, a 费款所属期 (YYYY-MM), a year, a month or a page may be typed: the first and
# last days Python knows and days near them, leap days of every year (1900's and 2100's do not exist),
# month ends and the day after them, years 0 and 10000, month 0 and 13, numbers past 32 and 64 bits.
EDGE_NUMBERS = [0, -1, 13, 10000, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, -(2**63) - 1]
EDGE_TEXTS = [
    "0001-01-01",
    "9999-12-31",
    "1900-02-29",
    "2100-02-29",
    "2024-02-30",
    "2023-04-31",
    "0000-01-01",
    "10000-01-01",
    "2026-13-01",
    "2026-00-10",
    "2026-12-32",
    "0001-01",
    "9999-12",
    "0000-12",
    "2026-13",
    "2026-00",
    "10000-01",
    "1989-12-31",
    "2101-01-01",
]


def _month_end(year: int, month: int, after: int) -> str:
    import calendar

    return f"{year:04d}-{month:02d}-{calendar.monthrange(year, month)[1] + after:02d}"


NEAR_EDGES = st.one_of(
    st.dates(max_value=dt.date(1, 3, 1)),
    st.dates(min_value=dt.date(9999, 11, 1)),
    st.dates(min_value=dt.date(1989, 12, 1), max_value=dt.date(1990, 1, 31)),
    st.dates(min_value=dt.date(2100, 12, 1), max_value=dt.date(2101, 1, 31)),
    st.dates(),
)
CALENDAR = st.one_of(
    st.sampled_from(EDGE_TEXTS),
    st.sampled_from(EDGE_NUMBERS).map(str),
    NEAR_EDGES.map(lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}"),  # a day
    NEAR_EDGES.map(lambda d: f"{d.year:04d}-{d.month:02d}"),  # a 费款所属期
    NEAR_EDGES.map(lambda d: str(d.year)),  # a year
    st.integers(min_value=1, max_value=9999).map(lambda y: f"{y:04d}-02-29"),  # a leap day, or none
    st.builds(
        _month_end,
        st.integers(min_value=1, max_value=9999),
        st.integers(min_value=1, max_value=12),
        st.sampled_from([0, 1]),
    ),  # a month's end, the day after
)


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
# A valid value, a little wrong: as an input method, a copy and paste or a hand-edited request leaves it.
MUTATIONS = (
    lambda v: v.translate(FULLWIDTH),
    lambda v: v + "\n",
    lambda v: "-" + v,
    lambda v: "\u202e" + v,
    lambda v: v + "0" * 12,
    lambda v: " " + v + " ",
    lambda v: v[:-1],
    lambda v: v + v,
    lambda v: v + "\x00",
)


def weighted(draw, *options):
    """Draw from one of `options`, (weight, strategy) pairs, as often as its weight says
    (hypothesis's own one_of favours the branches that still give new values)."""
    n = draw(st.integers(min_value=0, max_value=sum(w for w, _ in options) - 1))
    for weight, strategy in options:
        if n < weight:
            return draw(strategy)
        n -= weight
    raise AssertionError("unreachable")


def garbage_for(draw, known: list, others: list):
    """A garbled value for a field: one of its own a little wrong, odd or random text, someone
    else's id, a number far out of range, a huge string (past MAX_CONTENT_LENGTH sometimes), or
    now and then one of its own values after all."""
    mutated = st.tuples(st.sampled_from(known or [""]), st.sampled_from(MUTATIONS)).map(lambda p: p[1](p[0]))
    return weighted(
        draw,
        (3, mutated),
        (3, st.sampled_from(ODD)),
        (2, TEXT),
        (1, st.sampled_from(others)),
        (1, st.integers(min_value=-(2**70), max_value=2**70).map(str)),
        (2, CALENDAR),
        (1, st.integers(min_value=1, max_value=40_000).map(lambda n: "王" * n)),
        (1, st.sampled_from(known or ODD)),
    )


class Upload(tuple):
    """A file field's value: (content, filename), sent as multipart/form-data."""


def upload_for(draw) -> Upload:
    """A file for 导入: a CSV with the import's columns (some of them) and garbled rows, raw bytes
    (a broken XLSX), or nothing, under a name the import accepts or not."""
    from sbweb.services.imports import COLUMNS

    def csv_file():
        header = draw(st.lists(st.sampled_from(list(COLUMNS)), min_size=1, unique=True))
        rows = [[garbage_for(draw, [], ODD) for _ in header] for _ in range(draw(st.integers(0, 3)))]
        text = "\n".join(",".join(cell.replace(",", " ") for cell in row) for row in [header, *rows])
        return text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"])), errors="replace")

    content = weighted(
        draw,
        (3, st.builds(csv_file)),
        (1, st.binary(max_size=2000)),
        (1, st.just(b"PK\x03\x04" + bytes(100))),
        (1, st.just(b"")),
    )
    return Upload((content, draw(st.sampled_from(["import.csv", "import.xlsx", "import.CSV", "x.txt", "", "王.xlsx"]))))


@st.composite
def requests_for(draw, fuzzed: Fuzzed, rule, method):
    key = (rule.endpoint, method)
    known = fuzzed.fields.get(key, {})
    names = list(known) + (
        ["page", "year", "date_from", "date_to", "month", "id_number", "name", "next", "filler"]
        if method == "GET" or not known
        else ["filler"]
    )
    data = []
    if known and weighted(draw, (3, st.just(True)), (1, st.just(False))):
        # Mostly: the form as the app shows it, with one to three fields garbled, dropped or repeated.
        garbled = set(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3)))
        for name in known:
            if name not in garbled:
                data.append((name, draw(st.sampled_from(known[name]))))
        for name in garbled:
            for _ in range(weighted(draw, (6, st.just(1)), (2, st.just(0)), (1, st.just(2)))):
                data.append((name, garbage_for(draw, known.get(name, []), fuzzed.others)))
    else:  # or any of the names, any values
        for name in draw(st.lists(st.sampled_from(names), max_size=10)):
            for _ in range(weighted(draw, (4, st.just(1)), (1, st.just(2)))):  # a key repeated now and then
                data.append((name, garbage_for(draw, known.get(name, []), fuzzed.others)))

    def pick(name, values, integer):
        garbage = (
            st.one_of(st.integers(min_value=0, max_value=10**30), st.sampled_from(EDGE_NUMBERS[4:]))
            if integer
            else TEXT.filter(lambda v: v and "/" not in v)
        )
        return weighted(draw, (6, st.sampled_from(values)), (1, garbage)) if values else draw(garbage)

    if method == "POST" and "file" in known:  # 导入: the file itself garbled
        data = [(k, v) for k, v in data if k != "file"] + [("file", upload_for(draw))]
    shown = fuzzed.shown.get(key)
    return {
        # Mostly someone who gets past the sign-in (so that the form itself is what is tested).
        "who": weighted(draw, (3, st.sampled_from(shown)), (1, st.sampled_from(WHO)))
        if shown
        else draw(st.sampled_from(WHO)),
        "path": _fill(rule, fuzzed.args, pick),
        "data": data,
        # (A bad token is refused before the view: test_bad_input*.py try each kind on every form.)
        "token": weighted(draw, (9, st.just("good")), (1, st.sampled_from(["none", "junk", "stranger"])))
        if method == "POST"
        else None,
        "htmx": draw(st.booleans()),
    }


def send(fuzzed: Fuzzed, method: str, asked: dict):
    site = fuzzed.site
    client = site.clients[asked["who"]]
    _restore_cookies(client, fuzzed.cookies[asked["who"]])
    n = next(fuzzed.counter)  # an address of its own: the rate limits are tested elsewhere
    client.environ_base["REMOTE_ADDR"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    pairs = MultiDict([(k, (io.BytesIO(v[0]), v[1]) if isinstance(v, Upload) else v) for k, v in asked["data"]])
    kwargs = {}
    if method == "POST":
        token = {
            "good": fuzzed.tokens[asked["who"]],
            "junk": "junk",
            "none": None,
            "stranger": fuzzed.tokens["anon" if asked["who"] != "anon" else "me"],
        }[asked["token"]]
        if token is not None:
            pairs.add("csrf_token", token)
        kwargs["data"] = pairs
    else:
        kwargs["query_string"] = pairs
    if asked["htmx"]:
        kwargs["headers"] = {"HX-Request": "true", "HX-Current-URL": "http://localhost/elsewhere"}
    client.htmx = asked["htmx"]  # so that the page check knows a fragment from a page
    try:
        return client.open(asked["path"], method=method, **kwargs)
    finally:
        client.htmx = False


def _rules() -> list[tuple[str, str]]:
    """(rule, method) for every GET and POST of the app, from a throwaway app's url_map."""
    from sbweb import create_app
    from tests.conftest import _base_config

    with tempfile.TemporaryDirectory() as folder:
        app = create_app(_base_config(Path(folder), Path(folder), "sqlite://"))
        rules = sorted(
            (r.rule, m)
            for r in app.url_map.iter_rules()
            for m in ("GET", "POST")
            if m in r.methods and r.rule not in SKIP_RULES
        )
        with app.app_context():
            db.engine.dispose()
    return rules


RULES = _rules()


@pytest.mark.parametrize("rule_text, method", RULES, ids=[f"{m} {r}" for r, m in RULES])
def test_no_generated_request_gets_a_5xx_or_writes_when_refused(fuzzed, clock, rule_text, method):
    rule = next(r for r in fuzzed.site.app.url_map.iter_rules() if r.rule == rule_text and method in r.methods)

    @FUZZ
    @given(asked=requests_for(fuzzed, rule, method))
    def example(asked):
        before = stored(fuzzed.site.app)
        try:
            response = send(fuzzed, method, asked)
        except PageProblem as problem:
            raise AssertionError(f"{method} {asked['path']}: {problem}") from None
        after = stored(fuzzed.site.app)
        about = f"{method} {asked['path']} as {asked['who']} → {response.status_code}"
        try:
            assert response.status_code < 500, about
            if response.status_code >= 400:
                assert after == before, f"{about}: written: {changed(before, after)}"
            if response.mimetype == "text/html" and response.status_code not in (204, 301, 302, 303):
                body = response.get_data(as_text=True)
                assert MARKUP not in body, f"{about}: markup reflected unescaped"
        finally:
            if after != before and not ON_POSTGRES:
                fuzzed.site.restore()

    example()
