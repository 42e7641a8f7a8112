"""系统繁忙，请稍后再试: a database that holds a lock past the wait, or cannot be reached, answers 503
with Retry-After on every route — never a 500, never a request that hangs until gunicorn kills
its worker (30 s) — and nothing is written.

The routes are sampled from `app.url_map`: for each blueprint, the GET pages (path arguments
filled from the world) that read the database — measured, by the statements run while each was
drawn before the lock — and the POSTs that write (申报, 去支付, 存款账户账号报告, 缴费证明, 添加被代缴人,
缴费提醒, 缴费标准). They are asked as pages and as HTMX fragments in turn. After the lock ends the
database holds what it held before, and each POST sent again goes through: it was a real write
that the lock stopped.

Another connection holds the database for writers (SQLite: BEGIN EXCLUSIVE, which in WAL stops no
reader; PostgreSQL: every table IN EXCLUSIVE MODE): the pages go on being read at once, every write
answers 503 after the wait (SQLITE_BUSY_TIMEOUT, DATABASE_LOCK_TIMEOUT). Or for readers too
(SQLite: the whole file, locking_mode=EXCLUSIVE, as a maintenance tool or a restore may take it;
PostgreSQL: ACCESS EXCLUSIVE, as ALTER TABLE takes it): every route that reads answers 503. Then,
outside a view: a before-request hook, a response hook, the rate-limited lookup and an error page
whose layout needs the database. PostgreSQL only: a row lock past DATABASE_LOCK_TIMEOUT, a statement
past DATABASE_STATEMENT_TIMEOUT, and the server gone — a TCP forwarder in front of it is stopped
(connections end, new ones are refused) and started again; the shared server is never stopped."""

import logging
import re
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urljoin

import pytest
from sqlalchemy import event, select, text, update
from werkzeug.datastructures import MultiDict

from sbweb import create_app
from sbweb.db import db, write_transaction
from sbweb.identity import access, captcha
from sbweb.models import Person, Standard
from tests.admin.test_admin import make_staff, staff_login
from tests.app.test_fuzz_forms import changed, stored
from tests.bank.test_bank import ACCOUNT
from tests.conftest import JINJA_CACHE, ON_POSTGRES
from tests.proxy.test_proxy import ZHAO
from tests.support import ResidentClient, check_page, form_values, identity_of
from tests.support.journeys import choose, go_to_provider, order_no_of, sandbox_pay, sign_in

pytestmark = pytest.mark.usefixtures("clock")

WAIT = 1.0  # seconds: SQLITE_BUSY_TIMEOUT and DATABASE_LOCK_TIMEOUT of the apps here
SLACK = 1.5  # drawing the 503 page on a busy two-core machine
# The blueprints whose every GET needs no database (or needs what cannot be filled here, or, the
# operator's doors, answers a held database in its own words): the sample says so instead of
# pretending to cover them.
NO_DATABASE_GETS = {"notify", "static", "ops"}


@pytest.fixture
def app_config(request):
    config = {"SQLITE_BUSY_TIMEOUT": WAIT, "DATABASE_LOCK_TIMEOUT": WAIT, "DATABASE_STATEMENT_TIMEOUT": 5}
    if "forwarder" in request.fixturenames:  # the app reaches PostgreSQL through it
        config["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("forwarder").url
    return config


def needs(what: str):
    """Skip, saying why (CI runs the suite on both databases)."""
    if what == "postgres" and not ON_POSTGRES:
        print("SKIP reason: needs PostgreSQL (DATABASE_URL=postgresql+psycopg://…); this run is on SQLite")
        pytest.skip("needs PostgreSQL: its lock_timeout, statement_timeout and a server that goes away")


# -- the sample ------------------------------------------------------------------------------------


@dataclass
class Post:
    name: str
    client: object
    open: object  # () -> (url, data): the form as shown now, filled in as a resident would
    done: tuple = (303,)  # what it answers when it goes through


@dataclass
class Sample:
    app: object
    resident: object
    staff: object
    gets: list = field(default_factory=list)  # (blueprint, path, client, baseline status)
    posts: list = field(default_factory=list)
    not_sampled: dict = field(default_factory=dict)  # blueprint → why


def _form(page, selector="main form[method=post]"):
    form = page.form(selector)
    return urljoin(page.url, form.get("action") or page.url), form_values(form)


def _with(values: dict, data: dict) -> MultiDict:
    values = {**values, **{k: (v if isinstance(v, list) else [v]) for k, v in data.items()}}
    return MultiDict([(k, v) for k, vs in values.items() for v in vs])


def _captcha_answer(client, app) -> str:
    session_id = identity_of(client)["session_id"]
    with app.app_context():
        return captcha.answer_of(app.config["SECRET_KEY"], captcha.current(session_id))


def _posts(app, resident, staff, paid_year: int) -> list[Post]:
    def declare():
        url, values = _form(resident.page("/declare/flexible-pension"))
        return url, _with(
            values, {"month_from": "12", "month_to": "12", "base": "5000", "action": "confirm"}
        )  # 确定 on 再次确认经办机构信息

    def go_pay():  # 去支付 on 选择缴款方式 for her medical due: makes the order
        page = resident.submit(choose(resident, "medical"))
        assert page.h1 == "选择缴款方式", page.text[:200]
        url, values = _form(page)
        return url, _with(values, {"channel": "alipay"})

    def bank_account():
        url, values = _form(resident.page("/bank/accounts/new"))
        return url, _with(values, ACCOUNT)

    def certificate():
        url, values = _form(resident.page("/certificates/payment"))
        return url, _with(values, {"year": str(paid_year), "captcha": _captcha_answer(resident, app)})

    def payee():
        url, values = _form(resident.page("/proxy/add"))
        return url, _with(values, ZHAO)

    def reminder():
        page = resident.page("/reminders/")
        option = next(o["value"] for o in page.soup.select("#person option") if o.get_text().startswith("本人"))
        url, values = _form(page)
        return url, _with(values, {"person": option, "email": "wangfang@example.com"})

    def standard():
        with app.app_context():
            standard_id = db.session.scalar(
                select(Standard.id).filter_by(region_code="520000", year=2026, category="flexible")
            )
        url, values = _form(staff.page(f"/admin/standards/{standard_id}"), "main form.form-card")
        return url, _with(values, {"medical_rate": "9"})

    return [
        Post("申报", resident, declare),
        Post("去支付", resident, go_pay),
        Post("存款账户账号报告", resident, bank_account),
        Post("缴费证明", resident, certificate),
        Post("添加被代缴人", resident, payee),
        Post("缴费提醒", resident, reminder),
        Post("缴费标准", staff, standard),
    ]


@contextmanager
def counting_statements(app):
    counted = []

    def count(*_args):
        counted.append(1)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _fill(rule, values: dict) -> str | None:
    path = rule.rule
    for name in rule.arguments:
        if name not in values:
            return None
        path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(values[name]), path)
    return path


class SignedClient(ResidentClient):
    """The bureau's system on the machine API: every request signed afresh (a nonce is good once)."""

    key: tuple[str, str] = ("", "")

    def _open(self, path, *args, method="GET", headers=None, **kwargs):
        from sbweb import api_signing

        where, _, query = path.partition("?")
        headers = {**(headers or {}), **api_signing.signed_headers(*self.key, method, where, query)}
        return super()._open(path, *args, method=method, headers=headers, **kwargs)


def _agency_system(app) -> SignedClient:
    from sbweb.services import api_clients

    with app.app_context():
        made = api_clients.create("busy-bureau", ["events:read"])
        key = (made.client.client_id, made.secret)
        db.session.remove()
    client = SignedClient(app, app.response_class)
    client.key = key
    return client


def sample(app, world, *, per_blueprint: int = 2) -> Sample:
    """王芳 (verified) with a paid order and a payee to come, a staff admin; the GETs of every
    blueprint that read the database, and the POSTs that write."""
    app.test_client_class = ResidentClient
    resident, staff, lookup = app.test_client(), app.test_client(), app.test_client()
    sign_in(resident, "王芳", verified=True)
    sign_in(lookup, "王芳")  # (verifying a session is for a looked-up one)
    cashier = go_to_provider(resident, choose(resident, "pension"))
    paid = sandbox_pay(resident, cashier)
    assert paid.h1 == "缴费结果", paid.text[:300]
    make_staff(app, username="busy-admin", role="admin")
    staff_login(staff, username="busy-admin")
    with app.app_context():
        pension = world.enrollment("王芳", "pension")
        paid_year = int(min(d.period_start for d in world.dues("王芳", "pension", state="paid"))[:4])
        values = {
            "enrollment_no": pension.enrollment_no,
            "order_no": order_no_of(paid),
            "kind": "normal",
            "flow": "flexible-pension",
            "name": "sandbox",
            "provider": "sandbox",
        }
        db.session.remove()
    found = Sample(app, resident, staff, posts=_posts(app, resident, staff, paid_year))
    clients = {"admin": staff, "verify": lookup, "api": _agency_system(app)}
    by_blueprint: dict = {}
    # The sandbox's cashier (付款详情) of her paid trade: its query is signed, so it is taken as the
    # payment left it rather than built from the rule.
    paths = [(rule, _fill(rule, values)) for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule)]
    paths += [(app.url_map._rules_by_endpoint["sandbox.gateway"][0], cashier.url)]
    for rule, path in paths:
        blueprint = rule.endpoint.split(".")[0]
        by_blueprint.setdefault(blueprint, [])
        # The operator's doors answer a held database in their own words (tests/ops/test_operations.py):
        # /readyz a JSON 503 naming it, /metrics its counters with sbweb_figures_up 0.
        if (
            "GET" not in rule.methods
            or path is None
            or rule.endpoint == "static"
            or blueprint == "ops"
            or len(by_blueprint[blueprint]) >= per_blueprint
        ):
            continue
        client = clients.get(blueprint, resident)
        with counting_statements(app) as counted:
            response = ResidentClient.open(client, path)
        if response.status_code < 400 and counted:
            by_blueprint[blueprint].append((blueprint, path, client, response.status_code))
    for blueprint, gets in sorted(by_blueprint.items()):
        if gets:
            found.gets += gets
        else:
            found.not_sampled[blueprint] = "no GET that reads the database could be filled"
    assert set(found.not_sampled) <= NO_DATABASE_GETS, found.not_sampled
    return found


# -- asking under the lock ---------------------------------------------------------------------------


def ask(client, method, path, data=None, htmx=False):
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/"} if htmx else {}
    client.htmx = htmx
    started = time.monotonic()
    try:
        response = client.open(path, method=method, data=data, headers=headers)
    finally:
        client.htmx = False
    return response, time.monotonic() - started


def assert_busy(response, elapsed, htmx, about, retry_after=10):
    body = response.get_data(as_text=True)
    assert response.status_code == 503, f"{about} → {response.status_code}: {body[:300]}"
    assert int(response.headers["Retry-After"]) >= retry_after, about
    if response.mimetype == "application/problem+json":  # the machine API: to a system, not a person
        assert about.split()[1].startswith("/api/"), about
        assert response.get_json()["status"] == 503 and response.get_json()["reference"], body
        assert elapsed < WAIT + SLACK, f"{about}: answered after {elapsed:.1f} s"
        return
    soup = check_page(body, fragment=htmx)
    assert soup.h1.get_text() == "系统繁忙" and "系统繁忙，请稍后再试" in body, about
    assert ("<html" in body) is not htmx, about
    assert elapsed < WAIT + SLACK, f"{about}: answered after {elapsed:.1f} s"


def assert_logged_without_traceback(caplog, count):
    said = [
        r
        for r in caplog.records
        if "database unavailable" in r.getMessage() or "could not reach the database" in r.getMessage()
    ]
    assert len(said) >= count, caplog.text[-2000:]
    assert not any(r.exc_info for r in said), "a traceback was logged for the database being busy"
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR), caplog.text[-2000:]


def open_forms(found: Sample):
    """Each POST's form, opened before the lock (opening one reads the database)."""
    return [(post, *post.open()) for post in found.posts]


def send_posts(prepared, htmx_every=2):
    answers = []
    for n, (post, url, data) in enumerate(prepared):
        htmx = n % htmx_every == 1
        response, elapsed = ask(post.client, "POST", url, data, htmx)
        answers.append((post, response, elapsed, htmx))
    return answers


def posts_go_through_again(found: Sample):
    """Each POST, sent again after the lock: it goes through and writes (so what the lock
    stopped was a real write)."""
    for post in found.posts:
        url, data = post.open()
        before = stored(found.app)
        response, _ = ask(post.client, "POST", url, data)
        assert response.status_code in post.done, f"{post.name} after the lock → {response.status_code}"
        assert stored(found.app) != before, f"{post.name} after the lock wrote nothing"


# -- another connection holding the database -------------------------------------------------------


@contextmanager
def postgres_holding(app, statement: str):
    """Another connection (a migration, a long report, a stuck transaction) holding a lock."""
    import psycopg

    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        tables = [t.name for t in db.metadata.sorted_tables]
    holder = psycopg.connect(url)
    try:
        holder.execute(statement.format(tables=", ".join(tables)))
        yield holder
    finally:
        holder.rollback()
        holder.close()


@contextmanager
def holding(app, *, reads: bool):
    """Another connection holding the database: writers wait, and with `reads` readers too.
    SQLite: a write transaction, BEGIN EXCLUSIVE (in WAL it stops no reader); with reads, the whole
    file (locking_mode=EXCLUSIVE, as a maintenance tool or a restore may take it — only while no
    other connection has it open, so the app's pool is emptied first). PostgreSQL: every table
    locked IN EXCLUSIVE MODE (reads go on), or IN ACCESS EXCLUSIVE MODE as ALTER TABLE takes it."""
    if ON_POSTGRES:
        with postgres_holding(app, f"LOCK TABLE {{tables}} IN {'ACCESS EXCLUSIVE' if reads else 'EXCLUSIVE'} MODE"):
            yield
        return
    with app.app_context():
        path = db.engine.url.database
        if reads:
            db.session.remove()
            db.engine.dispose()
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    if reads:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


LOCK_CODE = "55P03" if ON_POSTGRES else "SQLITE_BUSY"  # what the log line names


def test_a_writer_holding_the_database_makes_every_write_a_503_and_reads_go_on(app, world, caplog):
    found = sample(app, world)
    prepared = open_forms(found)
    before = stored(app)
    caplog.set_level(logging.INFO, logger="sbweb")
    # A signed-in request slides its session's idle limit, a write, at most once a minute
    # (TOUCH_EVERY): on a busy machine a minute can pass after the sign-ins, so each client asks
    # once first, and no touch falls due while the writer holds the database.
    for client in {id(c): c for _, _, c, _ in found.gets}.values():
        ask(client, "GET", "/")
    with holding(app, reads=False):
        writing_gets = []
        for n, (_blueprint, path, client, status) in enumerate(found.gets):
            htmx = n % 2 == 1
            response, elapsed = ask(client, "GET", path, htmx=htmx)
            if response.status_code == 503:  # a page that writes as it is shown (the sandbox's cashier)
                assert_busy(response, elapsed, htmx, f"GET {path}")
                writing_gets.append(path)
            else:  # a reader is not held up by a writer: the page is what it was, at once
                # (a redirect out of the app is HX-Redirect's 204 to an HTMX request)
                wanted = {status, 204} if htmx and status == 303 else {status}
                assert response.status_code in wanted, f"GET {path} → {response.status_code}"
                assert elapsed < WAIT, f"GET {path} waited {elapsed:.1f} s"
        assert len(writing_gets) < len(found.gets) / 2, writing_gets
        for post, response, elapsed, htmx in send_posts(prepared):
            assert_busy(response, elapsed, htmx, f"POST {post.name}")
    assert_logged_without_traceback(caplog, len(found.posts) + len(writing_gets))
    assert LOCK_CODE in caplog.text
    after = stored(app)
    assert after == before, f"written under the lock: {changed(before, after)}"
    posts_go_through_again(found)


def assert_every_route_busy(found, prepared):
    """Every sampled GET (every other one as HTMX) and every prepared POST: 系统繁忙, to retry."""
    for n, (blueprint, path, client, _) in enumerate(found.gets):
        htmx = n % 2 == 1
        response, elapsed = ask(client, "GET", path, htmx=htmx)
        assert_busy(response, elapsed, htmx, f"GET {path} ({blueprint})")
    for post, response, elapsed, htmx in send_posts(prepared):
        assert_busy(response, elapsed, htmx, f"POST {post.name}")


def test_the_database_held_for_readers_too_makes_every_route_that_reads_a_503(app, world, caplog):
    found = sample(app, world)
    prepared = open_forms(found)
    before = stored(app)
    caplog.set_level(logging.INFO, logger="sbweb")
    with holding(app, reads=True):
        assert_every_route_busy(found, prepared)
    assert_logged_without_traceback(caplog, len(found.gets) + len(found.posts))
    assert LOCK_CODE in caplog.text
    after = stored(app)
    assert after == before, f"written under the lock: {changed(before, after)}"
    for _blueprint, path, client, status in found.gets:  # and served again
        assert ResidentClient.open(client, path).status_code == status, path
    posts_go_through_again(found)
    print(
        f"sampled {len(found.gets)} GETs of {len({g[0] for g in found.gets})} blueprints and "
        f"{len(found.posts)} POSTs; not sampled: {found.not_sampled}"
    )


# -- outside a view ---------------------------------------------------------------------------------

PRODUCTION = {"TESTING": False, "SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637"}
both_modes = pytest.mark.parametrize("app", [{}, PRODUCTION], ids=["testing", "production"], indirect=True)


def a_form_that_needs_no_database(client):
    """授权信息确认's form is drawn without the database: whatever waits, a hook waited."""
    page = client.page("/auth/manual")
    assert page.status == 200
    return page


@both_modes
@pytest.mark.parametrize("htmx", [False, True])
def test_a_before_request_hook_that_reads_a_held_database_is_a_503(app, client, world, caplog, htmx):

    @app.before_request
    def load_session():  # as a server-side session store reads the session
        db.session.execute(select(Person.id).limit(1)).all()

    a_form_that_needs_no_database(client)
    caplog.set_level(logging.INFO, logger="sbweb")
    with holding(app, reads=True):
        response, elapsed = ask(client, "GET", "/auth/manual", htmx=htmx)
        assert_busy(response, elapsed, htmx, "GET /auth/manual, its hook held")
    assert_logged_without_traceback(caplog, 1)
    assert client.get("/auth/manual").status_code == 200


@both_modes
@pytest.mark.parametrize("htmx", [False, True])
def test_a_response_hook_that_writes_behind_a_lock_is_a_503_after_one_wait(app, client, world, caplog, htmx):
    """Raised past the view: answered by the outermost layer, which does not run the hooks again
    (Flask would, and wait the lock out a second time)."""

    @app.after_request
    def save_session(response):  # as a server-side session store writes the session
        with write_transaction():
            db.session.execute(update(Person).where(Person.id == -1).values(name=Person.name))
        return response

    a_form_that_needs_no_database(client)
    caplog.set_level(logging.INFO, logger="sbweb")
    with holding(app, reads=False):
        response, elapsed = ask(client, "GET", "/auth/manual", htmx=htmx)
        assert_busy(response, elapsed, htmx, "GET /auth/manual, its response hook behind the lock")
        assert elapsed < 2 * WAIT, f"the lock was waited out twice ({elapsed:.1f} s)"
    assert_logged_without_traceback(caplog, 1)
    assert client.get("/auth/manual").status_code == 200


@pytest.mark.parametrize("app", [{"RATE_LIMIT_LOOKUP": "2 per minute"}], indirect=True)
def test_the_rate_limited_lookup_is_a_503_behind_a_lock_and_its_429_needs_no_database(app, client, world, caplog):
    """The limits live in memory (or Redis), not in the database: a refusal is told at once
    while the database is held; a lookup that passes them meets the lock and is a 503 whose
    Retry-After is at least ours (the limiter may name its window's end)."""
    page = a_form_that_needs_no_database(client)
    url, values = _form(page)
    data = _with(values, {"id_type": "201", "id_number": "520102198503151246", "name": "王芳"})
    caplog.set_level(logging.INFO, logger="sbweb")
    with holding(app, reads=True):
        first, elapsed = ask(client, "POST", url, data)
        assert_busy(first, elapsed, False, "POST /auth/manual, the database held")
        ask(client, "POST", url, data)
        refused, elapsed = ask(client, "POST", url, data, htmx=True)
        assert refused.status_code == 429, refused.status_code
        assert "操作过于频繁" in refused.get_data(as_text=True) and elapsed < WAIT, elapsed
    assert_logged_without_traceback(caplog, 1)


@pytest.mark.parametrize("htmx", [False, True])
def test_an_error_page_that_needs_the_held_database_is_the_fixed_503_page(app, client, world, caplog, htmx):
    """A layout that reads the database (the resident's name in the title bar, say) cannot be
    drawn: the error page falls back to the fixed one — a 503 to retry, not a 404 or a 500."""

    @app.context_processor
    def person_in_the_title_bar():
        return {"shown_person": db.session.execute(select(Person.name).limit(1)).scalar()}

    assert client.get("/no/such/page").status_code == 404
    caplog.set_level(logging.INFO, logger="sbweb")
    with holding(app, reads=True):
        response, elapsed = ask(client, "GET", "/no/such/page", htmx=htmx)
        assert_busy(response, elapsed, htmx, "GET /no/such/page, its layout held")
    assert_logged_without_traceback(caplog, 1)
    assert client.get("/no/such/page").status_code == 404


# -- PostgreSQL -----------------------------------------------------------------------------------


def test_postgres_a_row_lock_on_her_due_past_lock_timeout_makes_paying_a_503(app, client, world, caplog):
    needs("postgres")
    sign_in(client, "王芳", verified=True)
    method = client.submit(choose(client, "medical"))
    url, values = _form(method)
    with app.app_context():
        due_ids = [d.id for d in world.dues("王芳", "medical")]
        db.session.remove()
    before = stored(app)
    caplog.set_level(logging.INFO, logger="sbweb")
    ids = ", ".join(str(i) for i in due_ids)
    with postgres_holding(app, f"SELECT id FROM dues WHERE id IN ({ids}) FOR UPDATE"):
        for htmx in (False, True):
            response, elapsed = ask(client, "POST", url, _with(values, {"channel": "alipay"}), htmx=htmx)
            assert_busy(response, elapsed, htmx, "POST 去支付, her due locked")
    assert_logged_without_traceback(caplog, 2)
    after = stored(app)
    assert after == before, f"written under the lock: {changed(before, after)}"
    response, _ = ask(client, "POST", url, _with(values, {"channel": "alipay"}))
    assert response.status_code == 303 and "/sandbox/" in response.location


def test_postgres_a_statement_past_statement_timeout_is_a_503(app, tmp_path, key_dir, caplog):
    needs("postgres")
    # An app of its own, with a statement timeout too short for the fixtures' own work.
    config = {
        k: app.config[k]
        for k in ("TESTING", "SECRET_KEY", "SQLALCHEMY_DATABASE_URI", "PAYMENT_KEY_DIR", "HUEY_IMMEDIATE")
    }
    slow = create_app({**config, "INSTANCE_PATH": str(tmp_path / "slow"), "DATABASE_STATEMENT_TIMEOUT": 1})
    slow.jinja_env.bytecode_cache = JINJA_CACHE
    slow.test_client_class = ResidentClient

    @slow.get("/test-only/slow-report")
    def slow_report():  # a report that runs longer than a request may
        db.session.execute(text("select pg_sleep(10)"))
        return "done"

    access.classify(slow, "slow_report", read=access.PUBLIC)

    client = slow.test_client()
    caplog.set_level(logging.INFO, logger="sbweb")
    try:
        for htmx in (False, True):
            response, elapsed = ask(client, "GET", "/test-only/slow-report", htmx=htmx)
            assert_busy(response, elapsed, htmx, "a statement past statement_timeout")
    finally:
        with slow.app_context():
            db.engine.dispose()
    assert_logged_without_traceback(caplog, 2)
    assert "57014" in caplog.text  # query_canceled: the statement_timeout the app set


class Forwarder:
    """A TCP forwarder on 127.0.0.1 in front of the PostgreSQL server. Stopped, it is to the app
    what a stopped server is — its connections end, new ones are refused — and the shared server
    the other tests use is never touched."""

    def __init__(self, url):
        from sqlalchemy.engine import make_url

        self.target = make_url(url)
        self.port = 0
        self._listener = None
        self._sockets: list = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.target.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def start(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port, self._listener = listener.getsockname()[1], listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                near, _ = listener.accept()
            except OSError:  # stopped
                return
            try:
                far = socket.create_connection((self.target.host, self.target.port or 5432), timeout=5)
                far.settimeout(None)
            except OSError:
                near.close()
                continue
            with self._lock:
                self._sockets += [near, far]
            for source, sink in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def stop(self):
        self._listener.shutdown(socket.SHUT_RDWR)  # (wakes the accept(); close() alone would not)
        self._listener.close()
        with self._lock:
            ends, self._sockets = self._sockets, []
        for end in ends:
            with suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@pytest.fixture
def forwarder(migrated_database):
    needs("postgres")
    forwarding = Forwarder(migrated_database)
    forwarding.start()
    yield forwarding
    forwarding.stop()


def test_postgres_gone_is_a_503_on_every_route_and_back_is_served(app, world, forwarder, caplog):
    found = sample(app, world)
    prepared = open_forms(found)
    before = stored(app)
    caplog.set_level(logging.INFO, logger="sbweb")
    forwarder.stop()  # the server "stops": pooled connections end, new ones are refused
    assert_every_route_busy(found, prepared)
    assert_logged_without_traceback(caplog, len(found.gets) + len(found.posts))
    forwarder.start()  # and is back, on the same address
    after = stored(app)
    assert after == before, f"written while it was gone: {changed(before, after)}"
    for _blueprint, path, client, status in found.gets:
        assert ResidentClient.open(client, path).status_code == status, path
    posts_go_through_again(found)


# -- the settings -----------------------------------------------------------------------------------


def test_the_waits_are_settings_with_defaults_well_inside_gunicorns_30_seconds(monkeypatch):
    from sbweb import engine_options
    from sbweb.config import Defaults, from_environment

    assert Defaults.SQLITE_BUSY_TIMEOUT.total_seconds() <= 10
    assert Defaults.DATABASE_LOCK_TIMEOUT < Defaults.DATABASE_STATEMENT_TIMEOUT
    assert Defaults.DATABASE_STATEMENT_TIMEOUT.total_seconds() + Defaults.DATABASE_CONNECT_TIMEOUT.total_seconds() < 30
    monkeypatch.setenv("SBWEB_SQLITE_BUSY_TIMEOUT", "1.5")
    monkeypatch.setenv("SBWEB_DATABASE_LOCK_TIMEOUT", "2")
    settings = {k: getattr(Defaults, k) for k in dir(Defaults) if k.isupper()} | from_environment()
    sqlite = engine_options({**settings, "SQLALCHEMY_DATABASE_URI": "sqlite:////tmp/x.sqlite3"})
    assert sqlite["connect_args"] == {"timeout": 1.5}
    postgres = engine_options({**settings, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@db/sbweb"})
    assert postgres["connect_args"] == {
        "options": "-c lock_timeout=2000 -c statement_timeout=20000",
        "connect_timeout": 5,
    }
    assert postgres["pool_pre_ping"] is True
    # What a pilot sets in SQLALCHEMY_ENGINE_OPTIONS wins over ours.
    given = engine_options(
        {
            **settings,
            "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@db/sbweb",
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 3, "connect_args": {"options": "-c x=1"}},
        }
    )
    assert given["connect_args"]["options"] == "-c x=1" and given["pool_size"] == 3
