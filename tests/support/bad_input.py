"""Bad input for the newer journeys (缴费申报, 我帮他人缴, 缴费记录, 涉费查询, 证明开具, 缴费提醒, 退费申请),
the cases and the machinery; each journey runs its own in tests/<journey>/test_<journey>_bad_input.py
(`cases_for(journey)`), and tests/app/test_bad_input_routes.py checks that every route has its cases:
every GET and POST route of their blueprints, enumerated from `app.url_map`, gets

- csrf:    a POST without (or with a broken, or someone else's) CSRF token → 400 页面已过期;
- garbled: letters for numbers, negative numbers, 1e308, NaN, 40-digit numbers, 30 KB and
           100 KB strings, NUL bytes, unknown choices, missing and repeated fields, full-width
           digits, superscripts, RTL marks, emoji, markup, calendar edges (0001-01-01, 9999-12-31,
           1900-02-29, 2024-02-30, year 0 and 10000, month 13, 2**31, 2**63, a range whose end is
           before its start or 9,998 years after it) → a 4xx or a 200/422 page in Chinese;
- ids:     someone else's (or no one's) declaration, payee, enrollment, document, mail, order,
           reminder, due or ticket → 404 in Chinese, nothing of theirs in the body;
- query:   garbage in page=, year=, date_from=, state=, kind=, category=, tab=, code=, n=, … on GET pages;
- htmx:    the same as HTMX requests (fragments);
- anon:    signed out (or only looked up, on a page that needs 授权) → 303 to /auth/;

never a 5xx, and nothing written (Declaration, Due, Order, Payee, Document, OutboxMail, Reminder
and RefundApplication rows compared before and after) unless the input was valid.

The residents' world is built once per module and xdist worker (building it per case would
take minutes); a case that writes marks it dirty and the next case starts from a copy of the
database as it was built. `test_every_route_has_its_cases` fails when a route of these
blueprints has no case of a kind it needs.

The first run found seven faults (Unicode digits and 64-bit overflows giving 500s, a 自动缴
switched off by garbage, periods with a trailing newline or full-width digits written); each
has its cases here. The calendar edges found 退费申请's date search overflowing at 0001-01-01 and
9999-12-31 (500) and answering in English.
"""

import hashlib
import re
import shutil
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict

from sbweb import clock as app_clock
from sbweb import create_app, mail
from sbweb.database import sqlite_file
from sbweb.db import db, write_transaction
from sbweb.identity import captcha
from sbweb.models import (
    Declaration,
    Document,
    Due,
    Order,
    OutboxMail,
    Payee,
    RefundApplication,
    Reminder,
    Ticket,
)
from sbweb.services import documents, payees, reminders
from tests.conftest import COLLECTING, JINJA_CACHE, KEEP_TABLES, ON_POSTGRES, _base_config
from tests.support import ResidentClient, check_page, form_values
from tests.support.journeys import World, paid_history, sign_in

BLUEPRINTS = {"declare", "proxy", "records", "queries", "certificates", "reminders", "refunds"}
PUBLIC = {"/verify", "/verify/<code>", "/reminders/unsubscribe/<token>"}  # no sign-in needed
CJK = re.compile(r"[\u4e00-\u9fff]")
ERROR_TITLES = {
    400: {"页面已过期", "请求无效"},
    404: {"页面不存在"},
    405: {"操作无效"},
    413: {"提交内容过长"},
    429: {"操作过于频繁"},
}
MARKUP = '<script>alert("x")</script>'


# -- the world the cases run in -----------------------------------------------------------------

# 王芳 (me) pays for 赵秀英; 张伟 (them) pays for 刘洋 and owns everything "someone else's";
# 李明 (resident) declares as a 城乡居民 and has paid his 2027 year, so no declaration goes through.
THEIR_SECRETS = (
    "张伟",
    "370202197805127818",
    "3702**********7818",
    "370202100000034567",
    "zhangwei@example.com",
    "刘洋",
    "520115199501010032",
    "520115200000056789",
)
ZHAO = {"id_type": "201", "id_number": "370212196011203469", "name": "赵秀英"}


def _pay(payer_id: int, person_ids: set[int], dues: list[Due], key: str) -> Order:
    """Pay existing dues the way the app does (order → 支付中 → the provider's success)."""
    from sbweb.payments import TradeState, orders

    order = orders.create_order(
        payer_id=payer_id,
        person_ids=person_ids,
        due_ids=[d.id for d in dues],
        shown=orders.fingerprint(dues),
        channel="alipay",
        idempotency_key=key,
    ).order
    with write_transaction():
        orders.transition(order, "paying", "测试")
    orders.apply_trade_state(
        TradeState(order.order_no, "success", amount_fen=order.total_fen, paid_at=COLLECTING),
        provider=order.provider,
        source="测试",
    )
    return db.session.get(Order, order.id, populate_existing=True)


def _build_data(world: World) -> dict:
    p = world.people
    me, them, resident = p["王芳"], p["张伟"], p["李明"]
    ids = {"me_id": me, "them_id": them}
    # 王芳: two settled orders of 2020 with vouchers, a 缴费证明, five mails (the hourly limit:
    # any mail a case sends is refused), a reminder, and 赵秀英 as payee with 自动缴 on.
    my_orders = paid_history(me, world.enrollment("王芳", "pension"), 2, start_year=2020)
    my_vouchers = [documents.voucher(me, no) for no in my_orders]
    my_cert = documents.payment_certificate(me, me, 2020)
    my_mails = [mail.queue(me, "wangfang@example.com", "测试", "正文", document_id=my_vouchers[0].id) for _ in range(5)]
    zhao = payees.add(me, world.person("赵秀英"))
    payees.set_auto_pay(me, zhao.id, True)
    my_reminder = reminders.subscribe(me, me, "wangfang@example.com")
    my_decl = db.session.scalar(select(Declaration.id).filter_by(person_id=me, state="valid").limit(1))
    ids.update(
        my_order=my_orders[0],
        my_ticket=db.session.scalar(select(Ticket.ticket_no).join(Order).where(Order.order_no == my_orders[0])),
        my_doc=my_vouchers[0].doc_no,
        my_cert=my_cert.doc_no,
        my_code=my_cert.verify_code,
        my_mail=my_mails[0].id,
        my_payee=zhao.id,
        my_reminder=my_reminder.id,
        my_decl=my_decl,
        my_enrollment="520102100000012345",
        payee_enrollment="370212200000045679",
        payee_due=world.dues("赵秀英", "medical")[0].id,
    )
    # 张伟: the same kinds of things, all of them not 王芳's.
    their_orders = paid_history(them, world.enrollment("张伟", "pension"), 1, start_year=2019)
    their_doc = documents.voucher(them, their_orders[0])
    their_mail = mail.queue(them, "zhangwei@example.com", "测试", "正文", document_id=their_doc.id)
    liu = payees.add(them, world.person("刘洋"))
    their_reminder = reminders.subscribe(them, them, "zhangwei@example.com")
    their_decl = db.session.scalar(select(Declaration.id).filter_by(person_id=them).limit(1))
    their_order = db.session.scalar(select(Order).filter_by(order_no=their_orders[0]))
    ids.update(
        their_order=their_orders[0],
        their_doc=their_doc.doc_no,
        their_mail=their_mail.id,
        their_payee=liu.id,
        their_reminder=their_reminder.id,
        their_decl=their_decl,
        their_enrollment="370202100000034567",
        their_payee_enrollment="520115200000056789",
        their_due=world.dues("张伟", "pension")[0].id,
        their_ticket=their_order.ticket_nos[0],
        their_code=their_doc.verify_code,
    )
    # 李明's 2027 year paid: choosing a grade or the fixed amount again is refused, never written.
    for insurance in ("pension", "medical"):
        _pay(resident, {resident}, world.dues("李明", insurance), f"paid-{insurance}")
    assert all(ids.values()), ids
    return ids


def _token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


@dataclass
class Site:
    app: object
    ids: dict
    clients: dict
    tokens: dict
    snapshot: Path | None
    dirty: bool = False

    def restore(self):
        """Back to the database as built (SQLite: a file copy; PostgreSQL: built again)."""
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
            path = sqlite_file(db.engine.url)  # the URL is SQLite's file: form (opens, never creates)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.snapshot, path)
        self.dirty = False


def module_app(tmp_dir: Path, key_dir: Path, migrated_database, **config):
    """An app for a whole module's tests on a database of its own (a copy of the migrated SQLite
    file, or the PostgreSQL one emptied but for KEEP_TABLES), its clock at COLLECTING. Call
    within its app context to empty PostgreSQL's tables: `empty_tables()`."""
    if ON_POSTGRES:
        uri = migrated_database
    else:
        shutil.copy(migrated_database, tmp_dir / "sbweb.sqlite3")
        uri = f"sqlite:///{tmp_dir / 'sbweb.sqlite3'}"
    app = create_app({**_base_config(tmp_dir, key_dir, uri), **config})
    app.jinja_env.bytecode_cache = JINJA_CACHE
    app.test_client_class = ResidentClient
    app_clock.set_source(lambda: COLLECTING)
    return app


def empty_tables():
    """On PostgreSQL, shared by the workers' earlier modules: every table emptied but KEEP_TABLES."""
    if ON_POSTGRES:
        tables = [t.name for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]
        db.session.execute(text(f"truncate {', '.join(tables)} restart identity cascade"))
        db.session.commit()


def _make_site(tmp_dir: Path, key_dir: Path, migrated_database) -> Site:
    app = module_app(tmp_dir, key_dir, migrated_database)
    with app.app_context():
        empty_tables()
        ids = _build_data(World.load())
        db.session.remove()
    clients = {name: app.test_client() for name in ("me", "me_lookup", "resident", "anon")}
    sign_in(clients["me"], "王芳", verified=True)
    # 代他人缴费: 王芳 has typed 赵秀英 in (kept in her session for the steps after it).
    clients["me"].submit(clients["me"].page("/proxy/once"), ZHAO)
    sign_in(clients["me_lookup"], "王芳")
    sign_in(clients["resident"], "李明", verified=True)
    tokens = {name: _token(c) for name, c in clients.items()}
    snapshot = None
    if not ON_POSTGRES:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with sqlite3.connect(tmp_dir / "sbweb.sqlite3") as conn:
            conn.execute("pragma wal_checkpoint(truncate)")
        snapshot = tmp_dir / "snapshot.sqlite3"
        shutil.copy(tmp_dir / "sbweb.sqlite3", snapshot)
    return Site(app, ids, clients, tokens, snapshot)


@pytest.fixture(scope="module")
def holder():
    held = {}
    yield held
    if held.get("site"):
        with held["site"].app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def site(holder, clock, tmp_path_factory, key_dir, migrated_database) -> Site:
    current = holder.get("site")
    if current is not None and current.dirty:
        if current.snapshot is not None:
            current.restore()
        else:  # PostgreSQL: emptied and built again
            with current.app.app_context():
                db.session.remove()
                db.engine.dispose()
            current = None
    if current is None:
        current = holder["site"] = _make_site(tmp_path_factory.mktemp("site"), key_dir, migrated_database)
    return current


TRACKED = {
    Declaration: ("state", "due_id", "amount_fen"),
    Due: ("state", "amount_fen", "revision", "order_id"),
    Order: ("state", "version"),
    Payee: ("payer_id", "person_id", "auto_pay"),
    Document: ("kind", "holder_id"),
    OutboxMail: ("state", "attempts"),
    Reminder: ("active", "person_id"),
    RefundApplication: ("state", "order_id"),
}


def _snapshot_query():
    """One SELECT for every tracked row: (table, id, its columns as text)."""
    from sqlalchemy import String, cast, literal, union_all

    parts = []
    for model, columns in TRACKED.items():
        cols = [cast(getattr(model, c), String) for c in columns] + [literal(None, String)] * (4 - len(columns))
        parts.append(
            select(
                literal(model.__name__, String).label("t"),
                model.id.label("id"),
                *[c.label(f"c{i}") for i, c in enumerate(cols)],
            )
        )
    return union_all(*parts)


SNAPSHOT = _snapshot_query()


def what_is_stored(app) -> dict:
    """Rows of Declaration, Due, Order, Payee, Document, OutboxMail and Reminder (so also their counts)."""
    with app.app_context():
        found = {model.__name__: [] for model in TRACKED}
        for row in db.session.execute(SNAPSHOT):
            found[row[0]].append(tuple(row[1:]))
        db.session.remove()
    return {name: sorted(rows) for name, rows in found.items()}


def changes(before: dict, after: dict) -> str:
    said = []
    for name in before:
        if before[name] != after[name]:
            old, new = set(before[name]), set(after[name])
            said.append(
                f"{name}: {len(before[name])} → {len(after[name])} rows; "
                f"gone {sorted(old - new)[:3]}, new {sorted(new - old)[:3]}"
            )
    return "; ".join(said)


# -- the cases -------------------------------------------------------------------------------------


class Ref(str):
    """A value taken from the built world (an id of 王芳's or 张伟's)."""


CAPTCHA = Ref("@captcha")  # the right answer to the challenge in the session
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
MISSING = object()


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # csrf | garbled | ids | query | htmx | anon
    rule: str  # the url_map rule it exercises
    method: str
    path: str  # str.format()ted with the world's ids
    who: str = "me"
    data: tuple = ()  # (name, value) pairs; Ref values come from the world
    query: tuple = ()
    token: str = "good"  # good | none | empty | junk | nul | stranger | repeated
    htmx: bool = False
    want: tuple = ()  # statuses that are right; empty: any 200/303/4xx the checks accept
    redirect_to: tuple = ()  # where a 303 may go (signed in: never to /auth/)
    pre: str | None = None  # a page to open first (the 验证码's challenge)
    may_write: bool = False  # valid after all (e.g. full-width digits are read as digits)
    leak: bool = False  # nothing of 张伟's may be in the body


# Values for a field meant to hold a number, a choice or text, made from its valid value (a Ref
# when it comes from the world: its variants are made when the case runs). MISSING drops the
# field, a list repeats it.
def _variant(valid, label: str, make):
    return Ref(f"{valid}:{label}") if isinstance(valid, Ref) else make(valid)


# Calendar edges: years 0 and 10000, month 13, numbers past 32 and 64 bits, the first and last days
# Python knows, days the calendar lacks (1900 was no leap year), periods of year 1 and 9999.
CALENDAR_NUMBERS = [
    ("year-0", "0"),
    ("year-10000", "10000"),
    ("month-13", "13"),
    ("2**31", str(2**31)),
    ("2**63", str(2**63)),
    ("2**63-1", str(2**63 - 1)),
]
CALENDAR_TEXT = [
    ("date-min", "0001-01-01"),
    ("date-max", "9999-12-31"),
    ("1900-02-29", "1900-02-29"),
    ("2024-02-30", "2024-02-30"),
    ("period-min", "0001-01"),
    ("period-max", "9999-12"),
    ("month-13", "2026-13"),
    ("period-year-0", "0000-12"),
    ("period-year-10000", "10000-01"),
]


def _number_garbage(valid):
    return [
        ("letters", "abc"),
        ("negative", "-1"),
        ("1e308", "1e308"),
        ("nan", "NaN"),
        ("40-digits", "9" * 40),
        ("nul", "1\x00"),
        ("fullwidth", _variant(valid, "fullwidth", lambda v: v.translate(FULLWIDTH))),
        ("superscript", "²"),
        ("rtl", _variant(valid, "rtl", lambda v: "\u202e" + v)),
        ("emoji", "💰"),
        ("empty", ""),
        ("missing", MISSING),
        ("repeated-bad-first", ["abc", valid]),
        ("repeated-twice", [valid, valid]),
    ] + CALENDAR_NUMBERS


def _text_garbage(valid):
    return [
        ("letters", "abc"),
        ("negative", "-1"),
        ("1e308", "1e308"),
        ("nan", "NaN"),
        ("30kb", "王" * 10_000),
        ("nul", _variant(valid, "nul", lambda v: v + "\x00")),
        ("fullwidth", _variant(valid, "fullwidth", lambda v: v.translate(FULLWIDTH))),
        ("superscript", "²"),
        ("rtl", _variant(valid, "rtl", lambda v: "\u202e" + v + "\u200f")),
        ("emoji", _variant(valid, "emoji", lambda v: "💰" + v)),
        ("empty", ""),
        ("missing", MISSING),
        ("repeated-bad-first", ["abc", valid]),
        ("markup", MARKUP),
        ("newline", _variant(valid, "newline", lambda v: v + "\n")),
    ] + CALENDAR_TEXT


def _choice_garbage(valid):
    return [
        ("unknown", "bitcoin"),
        ("nul", valid + "\x00"),
        ("rtl", "\u202e" + valid),
        ("emoji", "💰"),
        ("empty", ""),
        ("missing", MISSING),
        ("repeated-bad-first", ["bitcoin", valid]),
        ("30kb", "x" * 30_000),
    ]


NUMBER, TEXT, CHOICE = _number_garbage, _text_garbage, _choice_garbage


@dataclass(frozen=True)
class PostForm:
    """A POST route, with a baseline the app refuses or accepts without writing, and what to garble."""

    name: str
    rule: str
    path: str
    base: dict
    fields: dict = field(default_factory=dict)  # name → NUMBER / TEXT / CHOICE
    overrides: dict = field(default_factory=dict)  # name → baseline changes while that field is garbled
    who: str = "me"
    pre: str | None = None
    redirect_to: tuple = ()
    valid_after_all: tuple = ()  # "field=variant"s that are valid input (may write)


FLEX = {
    "city": "贵阳市",
    "agency": "52010201",
    "pay_type": "normal",
    "year": "2026",
    "month_from": "10",
    "month_to": "11",
    "base": "5000",
}  # October and November are declared already: refused
POST_FORMS = [
    PostForm(
        "declare-flexible-pension",
        "/declare/<flow>",
        "/declare/flexible-pension",
        FLEX,
        {
            "city": CHOICE,
            "agency": CHOICE,
            "pay_type": CHOICE,
            "year": NUMBER,
            "month_from": NUMBER,
            "month_to": NUMBER,
            "base": TEXT,
            "action": CHOICE,
        },
        redirect_to=("/declare/backpay/",),
    ),
    PostForm(
        "declare-flexible-pension-preview",
        "/declare/<flow>",
        "/declare/flexible-pension",
        {**FLEX, "action": "preview"},
        {"base": TEXT, "month_from": NUMBER, "year": NUMBER},
    ),
    PostForm(
        "declare-flexible-medical",
        "/declare/<flow>",
        "/declare/flexible-medical",
        {**FLEX, "agency": "52010202", "month_from": "11", "month_to": "11", "base": "4400"},
        {"month_to": NUMBER, "base": TEXT},
    ),
    PostForm(
        "declare-resident-pension",
        "/declare/<flow>",
        "/declare/resident-pension",
        {"city": "杭州市", "agency": "33010601", "pay_type": "normal", "year": "2027", "grade": "50000"},
        {"year": NUMBER, "grade": NUMBER, "agency": CHOICE, "pay_type": CHOICE},
        who="resident",
        redirect_to=("/declare/backpay/",),
    ),
    PostForm(
        "declare-resident-medical",
        "/declare/<flow>",
        "/declare/resident-medical",
        {"city": "杭州市", "agency": "33010602", "year": "2027"},
        {"year": NUMBER, "agency": CHOICE, "city": CHOICE},
        who="resident",
    ),
    # Forms with no field but the token (a valid one would act: void, remove, cancel): the token is garbled.
    PostForm("declare-backpay", "/declare/backpay/<enrollment_no>", "/declare/backpay/{my_enrollment}", {}),
    PostForm("declare-void", "/declare/history/<int:declaration_id>/void", "/declare/history/{my_decl}/void", {}),
    PostForm(
        "proxy-add",
        "/proxy/add",
        "/proxy/add",
        ZHAO,  # already her payee: refused
        {"id_type": CHOICE, "id_number": TEXT, "name": TEXT},
    ),
    PostForm(
        "proxy-dues",
        "/proxy/<int:payee_id>/<enrollment_no>/dues",
        "/proxy/{my_payee}/{payee_enrollment}/dues",
        {"dues": Ref("payee_due")},
        {"dues": NUMBER},
        redirect_to=("/selfpay/confirm",),
    ),
    PostForm(
        "proxy-batch",
        "/proxy/batch",
        "/proxy/batch",
        {"dues": Ref("payee_due")},
        {"dues": NUMBER},
        redirect_to=("/selfpay/confirm",),
    ),
    PostForm("proxy-remove", "/proxy/<int:payee_id>/remove", "/proxy/{my_payee}/remove", {}),
    # 补缴明细确认 of her payee's 补缴 (her medical enrollment has none): refused, nothing written.
    PostForm(
        "proxy-backpay",
        "/proxy/<int:payee_id>/backpay/<enrollment_no>",
        "/proxy/{my_payee}/backpay/{payee_enrollment}",
        {},
    ),
    # 代他人缴费: whom to pay for goes into the session only; her dues go to 缴费信息确认.
    PostForm(
        "proxy-once",
        "/proxy/once",
        "/proxy/once",
        ZHAO,
        {"id_type": CHOICE, "id_number": TEXT, "name": TEXT},
        redirect_to=("/proxy/once/",),
    ),
    PostForm(
        "proxy-once-dues",
        "/proxy/once/<enrollment_no>/dues",
        "/proxy/once/{payee_enrollment}/dues",
        {"dues": Ref("payee_due")},
        {"dues": NUMBER},
        redirect_to=("/selfpay/confirm",),
    ),
    # 加入被代缴人列表 of an order that paid for nobody else: nothing to add, back to the order.
    PostForm(
        "proxy-keep",
        "/proxy/keep",
        "/proxy/keep",
        {"order_no": Ref("my_order"), "person": Ref("me_id")},
        {"order_no": TEXT, "person": NUMBER},
        redirect_to=("/orders/", "/proxy/"),
    ),
    # 自动缴 is on: anything but "on" or "off" must leave it as it is.
    PostForm(
        "proxy-auto-pay",
        "/proxy/<int:payee_id>/auto-pay",
        "/proxy/{my_payee}/auto-pay",
        {"auto_pay": "on"},
        {"auto_pay": CHOICE},
        redirect_to=("/proxy/",),
    ),
    PostForm(
        "certificates-payment",
        "/certificates/payment",
        "/certificates/payment",
        {"year": "2020", "captcha": CAPTCHA},
        {"year": NUMBER, "captcha": TEXT, "captcha_kind": CHOICE},
        overrides={"captcha_kind": {"captcha": "abcd"}},
        pre="/certificates/payment",
        redirect_to=("/certificates/d/",),
        # Full-width digits and spaces around the answer are read as typed digits: issued.
        valid_after_all=("year=fullwidth", "year=repeated-twice", "captcha=fullwidth", "captcha=newline"),
    ),
    # With the right answer to the 验证码, so that the fields themselves are what is checked.
    # 完税证明 查询: nothing is written whatever is asked; a hit goes on to 证明信息列表.
    PostForm(
        "certificates-tax-query",
        "/certificates/tax/<issue>",
        "/certificates/tax/reissue",
        {"period_from": "2020-01", "period_to": "2020-12"},
        {
            "ticket_no": TEXT,
            "period_from": TEXT,
            "period_to": TEXT,
            "paid_from": TEXT,
            "paid_to": TEXT,
            "tax_office": CHOICE,
            "issued_from": TEXT,
            "issued_to": TEXT,
        },
        pre="/certificates/tax/reissue",
        redirect_to=("/certificates/tax/reissue/list",),
    ),
    # 证明信息列表 without a 查询 of this session: back to 查询, nothing issued.
    PostForm(
        "certificates-tax-list",
        "/certificates/tax/<issue>/list",
        "/certificates/tax/first/list",
        {"ticket": Ref("my_ticket"), "captcha": CAPTCHA},
        {"ticket": CHOICE, "captcha": TEXT},
        pre="/certificates/tax/first/list",
        redirect_to=("/certificates/tax/first",),
    ),
    PostForm(
        "certificates-proxy-tax-query",
        "/certificates/proxy/tax/<issue>",
        "/certificates/proxy/tax/first",
        {"id_type": "201", "id_number": "370202197805127818", "name": "张伟"},  # she paid nothing for him
        {"id_type": CHOICE, "id_number": TEXT, "name": TEXT, "ticket_no": TEXT, "tax_office": CHOICE},
        pre="/certificates/proxy/tax/first",
        redirect_to=("/certificates/tax/first/list",),
    ),
    PostForm(
        "certificates-proxy",
        "/certificates/proxy",
        "/certificates/proxy",
        {
            "id_type": "201",
            "id_number": "370202197805127818",
            "name": "张伟",
            "year": "2020",
            "captcha": CAPTCHA,
        },  # she paid nothing for him: refused
        {"id_type": CHOICE, "id_number": TEXT, "name": TEXT, "year": NUMBER, "captcha": TEXT},
        pre="/certificates/proxy",
    ),
    PostForm(
        "certificates-send",
        "/certificates/d/<doc_no>/mail",
        "/certificates/d/{my_doc}/mail",
        {"email": "wangfang@example.com"},
        {"email": TEXT},
    ),  # five sent this hour: refused
    PostForm(
        "certificates-retry",
        "/certificates/mail/<int:mail_id>/retry",
        "/certificates/mail/{my_mail}/retry",
        {},
        redirect_to=("/certificates/issued", "/certificates/d/", "/"),
    ),
    PostForm(
        "reminders-subscribe",
        "/reminders/",
        "/reminders/",
        {"person": Ref("me_id"), "email": "wangfang@example.com"},  # subscribed already: refused
        {"person": NUMBER, "email": TEXT},
    ),
    PostForm(
        "reminders-cancel",
        "/reminders/<int:reminder_id>/cancel",
        "/reminders/{my_reminder}/cancel",
        {},
        redirect_to=("/reminders/",),
    ),
    # 王芳 has reported no bank account: whatever the fields say, nothing is applied for.
    PostForm(
        "refunds-apply",
        "/refunds/<kind>/<order_no>/apply",
        "/refunds/normal/{my_order}/apply",
        {"money_type": "多缴费款退费", "reason": "重复参保缴费", "account": "1", "account_name": "王芳"},
        {"money_type": CHOICE, "reason": CHOICE, "account": NUMBER, "account_name": TEXT},
    ),
]

TOKEN_GARBAGE = [
    ("junk", "junk"),
    ("nul", "nul"),
    ("empty", "empty"),
    ("emoji", "emoji"),
    ("repeated-bad-first", "repeated"),
]


def _pairs(base: dict, name=None, value=None, overrides=None) -> tuple:
    values = {**base, **(overrides or {})}
    if name is not None:
        values[name] = value
    pairs = []
    for key, v in values.items():
        if v is MISSING:
            continue
        for one in v if isinstance(v, list) else [v]:
            pairs.append((key, one))
    return tuple(pairs)


def _cases_for_post(form: PostForm) -> list[Case]:
    common = dict(rule=form.rule, method="POST", path=form.path, who=form.who, pre=form.pre)
    cases = []
    for label, token in [("none", "none"), ("empty", "empty"), ("junk", "junk"), ("stranger", "stranger")]:
        cases.append(
            Case(f"csrf:{form.name}:token-{label}", "csrf", data=_pairs(form.base), token=token, want=(400,), **common)
        )
    cases.append(
        Case(
            f"csrf:{form.name}:token-none:htmx",
            "htmx",
            data=_pairs(form.base),
            token="none",
            htmx=True,
            want=(400,),
            **common,
        )
    )
    cases.append(
        Case(
            f"garbled:{form.name}:100kb",
            "garbled",
            data=_pairs(form.base, "filler", "9" * 100 * 1024),
            want=(413,),
            **common,
        )
    )
    for label, token in TOKEN_GARBAGE:
        cases.append(
            Case(
                f"garbled:{form.name}:csrf_token={label}",
                "garbled",
                data=_pairs(form.base),
                token=token,
                want=(400,),
                **common,
            )
        )
    for name, garbage in form.fields.items():
        for label, value in garbage(form.base.get(name, "")):
            if label == "missing" and name not in form.base:
                continue
            cases.append(
                Case(
                    f"garbled:{form.name}:{name}={label}",
                    "garbled",
                    data=_pairs(form.base, name, value, form.overrides.get(name)),
                    redirect_to=form.redirect_to,
                    may_write=f"{name}={label}" in form.valid_after_all,
                    **common,
                )
            )
    for label, value in [("letters", "abc"), ("emoji", "💰")]:
        first = next(iter(form.fields), None)
        data = _pairs(form.base, first, value) if first else _pairs(form.base)
        token = "good" if first else "junk"
        cases.append(
            Case(
                f"htmx:{form.name}:{first or 'csrf_token'}={label}",
                "htmx",
                data=data,
                token=token,
                htmx=True,
                redirect_to=form.redirect_to,
                want=() if first else (400,),
                **common,
            )
        )
    return cases


# GET pages, with the path of one of 王芳's own things where the rule needs one.
GET_PAGES = [
    ("/certificates/", "/certificates/"),
    ("/certificates/captcha.png", "/certificates/captcha.png"),
    ("/certificates/captcha.wav", "/certificates/captcha.wav"),
    ("/certificates/d/<doc_no>", "/certificates/d/{my_doc}"),
    ("/certificates/d/<doc_no>.pdf", "/certificates/d/{my_doc}.pdf"),
    ("/certificates/issued", "/certificates/issued"),
    ("/certificates/payment", "/certificates/payment"),
    ("/certificates/proxy", "/certificates/proxy"),
    ("/certificates/tax", "/certificates/tax"),
    ("/certificates/tax/<issue>", "/certificates/tax/first"),
    ("/certificates/tax/<issue>/list", "/certificates/tax/first/list"),
    ("/certificates/proxy/tax/<issue>", "/certificates/proxy/tax/reissue"),
    ("/orders/<order_no>/voucher", "/orders/{my_order}/voucher"),
    ("/verify", "/verify"),
    ("/verify/<code>", "/verify/{my_code}"),
    ("/declare/", "/declare/"),
    ("/declare/<flow>", "/declare/flexible-pension"),
    ("/declare/backpay/<enrollment_no>", "/declare/backpay/{my_enrollment}"),
    ("/declare/history", "/declare/history"),
    ("/declare/history/<int:declaration_id>/void", "/declare/history/{my_decl}/void"),
    ("/proxy/", "/proxy/"),
    ("/proxy/<int:payee_id>/", "/proxy/{my_payee}/"),
    ("/proxy/<int:payee_id>/<enrollment_no>/dues", "/proxy/{my_payee}/{payee_enrollment}/dues"),
    ("/proxy/<int:payee_id>/remove", "/proxy/{my_payee}/remove"),
    ("/proxy/add", "/proxy/add"),
    ("/proxy/batch", "/proxy/batch"),
    ("/proxy/once", "/proxy/once"),
    ("/proxy/<int:payee_id>/backpay/<enrollment_no>", "/proxy/{my_payee}/backpay/{payee_enrollment}"),
    ("/proxy/once/enrollments", "/proxy/once/enrollments"),
    ("/proxy/once/<enrollment_no>/dues", "/proxy/once/{payee_enrollment}/dues"),
    ("/queries/", "/queries/"),
    ("/queries/paid", "/queries/paid"),
    ("/queries/proxy-paid", "/queries/proxy-paid"),
    ("/records/", "/records/"),
    ("/reminders/", "/reminders/"),
    ("/reminders/unsubscribe/<token>", "/reminders/unsubscribe/no-such-token"),
    ("/refunds/", "/refunds/"),
    ("/refunds/<kind>/", "/refunds/normal/"),
    ("/refunds/<kind>/<order_no>/apply", "/refunds/normal/{my_order}/apply"),
    ("/refunds/records", "/refunds/records"),
]
# What a looked-up session may open here (sbweb.identity.access.RULES; tests/auth/test_access_levels.py
# checks the whole table): its records, the certificates menu and its own vouchers.
LEVEL_OK = {
    "/records/",
    "/certificates/",
    "/orders/<order_no>/voucher",
    "/certificates/d/<doc_no>",
    "/certificates/d/<doc_no>.pdf",
}
QUERY_PARAMS = (
    "page",
    "year",
    "state",
    "kind",
    "category",
    "tab",
    "code",
    "n",
    "insurance",
    "id_type",
    "id_number",
    "name",
    "captcha_kind",
    "next",
    "date_from",
    "date_to",
    "ticket_no",
    "month",
    "day",
)
QUERY_GARBAGE = (
    [
        ("letters", "abc"),
        ("negative", "-1"),
        ("1e308", "1e308"),
        ("nan", "NaN"),
        ("40-digits", "9" * 40),
        ("nul", "\x00"),
        ("fullwidth", "２０２６"),
        ("superscript", "²"),
        ("rtl", "\u202e2026"),
        ("emoji", "💰"),
        ("empty", ""),
        ("100kb", "9" * 100 * 1024),
        ("markup", MARKUP),
        ("repeated", ["2026", "abc"]),
    ]
    + CALENDAR_NUMBERS
    + CALENDAR_TEXT[:4]
)
# Pages that read a parameter get each garbage in that one parameter alone too.
READS = {
    "/records/": ("page", "year", "tab", "insurance"),
    "/declare/history": ("state", "kind", "category"),
    "/queries/paid": ("year",),
    "/queries/proxy-paid": ("id_type", "id_number", "name", "year"),
    "/verify": ("code",),
    "/refunds/<kind>/": ("date_from", "date_to", "ticket_no"),
}
SLOW = {"/certificates/d/<doc_no>.pdf"}  # a PDF is drawn per request: three values are enough


def _cases_for_get(rule: str, path: str) -> list[Case]:
    cases = []
    garbage = (
        QUERY_GARBAGE if rule not in SLOW else [g for g in QUERY_GARBAGE if g[0] in ("superscript", "nul", "100kb")]
    )
    for label, value in garbage:
        query = tuple((p, v) for p in QUERY_PARAMS for v in (value if isinstance(value, list) else [value]))
        if label == "100kb":
            query = tuple((p, value) for p in ("page", "year", "code"))
        cases.append(Case(f"query:{path}:all={label}", "query", rule, "GET", path, query=query))
    for param in READS.get(rule, ()):
        for label, value in garbage:
            if label in ("100kb", "markup", "letters", "repeated"):
                continue
            cases.append(Case(f"query:{path}:{param}={label}", "query", rule, "GET", path, query=((param, value),)))
    for label in ("superscript", "nul", "emoji"):
        value = dict(QUERY_GARBAGE)[label]
        cases.append(
            Case(
                f"htmx:{path}:all={label}",
                "htmx",
                rule,
                "GET",
                path,
                htmx=True,
                query=tuple((p, value) for p in QUERY_PARAMS),
            )
        )
    return cases


NOT_FOUND = (404,)
# (rule, method, path, who, data): someone else's or nobody's thing in the URL or the form.
IDS = []


def _short(path: str) -> str:
    """A test id for a path: a long run of one character is written as x*300."""
    return re.sub(r"(.)\1{19,}", lambda m: f"{m.group(1)}*{len(m.group(0))}", path)


def _ids(rule, method, paths, who=("me",), data=(), want=NOT_FOUND, leak=True, token="good"):
    for path in paths:
        for w in who:
            IDS.append(
                Case(
                    f"ids:{method}:{_short(path)}:{w}",
                    "ids",
                    rule,
                    method,
                    path,
                    who=w,
                    data=tuple(data),
                    want=want,
                    leak=leak,
                    token=token,
                )
            )


HUGE = "9" * 20  # more than SQLite's (and PostgreSQL's) 64-bit integers hold
BIG = str(2**63 - 1)  # the largest that fits
LONG_DIGITS = "9" * 5000  # more digits than int() converts (werkzeug: no such route, 404)
_ids(
    "/declare/<flow>",
    "GET",
    [
        "/declare/bitcoin",
        "/declare/FLEXIBLE-PENSION",
        "/declare/%00",
        "/declare/" + "x" * 300,
        "/declare/flexible-pension%E2%80%AE",
    ],
)
_ids("/declare/<flow>", "POST", ["/declare/bitcoin", "/declare/%00"], data=FLEX.items())
_ids(
    "/declare/backpay/<enrollment_no>",
    "GET",
    [
        "/declare/backpay/{their_enrollment}",
        "/declare/backpay/{payee_enrollment}",
        "/declare/backpay/000000000000000000",
        "/declare/backpay/%00",
        "/declare/backpay/" + "9" * 300,
        "/declare/backpay/%EF%BC%95%EF%BC%92",
    ],
)
_ids("/declare/backpay/<enrollment_no>", "POST", ["/declare/backpay/{their_enrollment}"])
for m in ("GET", "POST"):
    _ids(
        "/declare/history/<int:declaration_id>/void",
        m,
        [
            "/declare/history/{their_decl}/void",
            "/declare/history/0/void",
            "/declare/history/999999/void",
            f"/declare/history/{BIG}/void",
            f"/declare/history/{HUGE}/void",
        ],
    )
for m, suffix in (("GET", "/"), ("GET", "/remove"), ("POST", "/remove"), ("POST", "/auto-pay")):
    _ids(
        f"/proxy/<int:payee_id>{suffix}",
        m,
        [f"/proxy/{{their_payee}}{suffix}", f"/proxy/0{suffix}", f"/proxy/{BIG}{suffix}", f"/proxy/{HUGE}{suffix}"],
        data=[("auto_pay", "off")] if suffix == "/auto-pay" else (),
    )
for m in ("GET", "POST"):
    _ids(
        "/proxy/<int:payee_id>/<enrollment_no>/dues",
        m,
        [
            "/proxy/{their_payee}/{their_payee_enrollment}/dues",
            "/proxy/{my_payee}/{their_enrollment}/dues",
            "/proxy/{my_payee}/{my_enrollment}/dues",
            "/proxy/{my_payee}/%00/dues",
            f"/proxy/{HUGE}/{{payee_enrollment}}/dues",
        ],
        data=[("dues", Ref("payee_due"))],
    )
for m in ("GET", "POST"):  # a payee's 补缴: only one's own payee's enrollments
    _ids(
        "/proxy/<int:payee_id>/backpay/<enrollment_no>",
        m,
        [
            "/proxy/{their_payee}/backpay/{their_payee_enrollment}",
            "/proxy/{my_payee}/backpay/{their_enrollment}",
            "/proxy/{my_payee}/backpay/{my_enrollment}",
            "/proxy/{my_payee}/backpay/%00",
            f"/proxy/{HUGE}/backpay/{{payee_enrollment}}",
        ],
    )
for m in ("GET", "POST"):  # 代他人缴费 reaches only the enrollments of whom she typed in
    _ids(
        "/proxy/once/<enrollment_no>/dues",
        m,
        [
            "/proxy/once/{their_enrollment}/dues",
            "/proxy/once/{their_payee_enrollment}/dues",
            "/proxy/once/{my_enrollment}/dues",
            "/proxy/once/%00/dues",
            "/proxy/once/" + "9" * 300 + "/dues",
        ],
        data=[("dues", Ref("payee_due"))],
    )
_ids(
    "/proxy/once/<enrollment_no>/dues",
    "POST",
    ["/proxy/once/{payee_enrollment}/dues"],
    data=[("dues", Ref("their_due"))],
    want=(422,),
)
_ids("/proxy/keep", "POST", ["/proxy/keep"], data=[("order_no", Ref("their_order")), ("person", Ref("them_id"))])
for rule, suffix, m in (
    ("/certificates/d/<doc_no>", "", "GET"),
    ("/certificates/d/<doc_no>.pdf", ".pdf", "GET"),
    ("/certificates/d/<doc_no>/mail", "/mail", "POST"),
):
    _ids(
        rule,
        m,
        [
            f"/certificates/d/{{their_doc}}{suffix}",
            f"/certificates/d/ZM00000000{suffix}",
            f"/certificates/d/%00{suffix}",
            f"/certificates/d/{'x' * 300}{suffix}",
        ],
        who=("me",) if m == "POST" else ("me", "me_lookup"),
        data=[("email", "wangfang@example.com")] if m == "POST" else (),
    )
# A lookup session sees no certificate, and a voucher only of an order paid in that session.
_ids(
    "/certificates/d/<doc_no>",
    "GET",
    ["/certificates/d/{my_cert}", "/certificates/d/{my_doc}"],
    who=("me_lookup",),
    leak=False,
)
_ids(
    "/orders/<order_no>/voucher",
    "GET",
    [
        "/orders/{their_order}/voucher",
        "/orders/SB000/voucher",
        "/orders/%00/voucher",
        "/orders/" + "x" * 300 + "/voucher",
    ],
    who=("me", "me_lookup"),
)
_ids("/orders/<order_no>/voucher", "GET", ["/orders/{my_order}/voucher"], who=("me_lookup",), leak=False)
# 重试 of a mail that is not hers: 找不到这封邮件 (a 404, or back to 开具记录 saying so).
_ids(
    "/certificates/mail/<int:mail_id>/retry",
    "POST",
    [
        "/certificates/mail/{their_mail}/retry",
        "/certificates/mail/0/retry",
        f"/certificates/mail/{BIG}/retry",
        f"/certificates/mail/{HUGE}/retry",
    ],
    want=(404, 303),
)
_ids(
    "/reminders/<int:reminder_id>/cancel",
    "POST",
    [
        "/reminders/{their_reminder}/cancel",
        "/reminders/0/cancel",
        f"/reminders/{BIG}/cancel",
        f"/reminders/{HUGE}/cancel",
        f"/reminders/{LONG_DIGITS}/cancel",
    ],
)
_ids(
    "/reminders/unsubscribe/<token>",
    "GET",
    [
        "/reminders/unsubscribe/%00",
        "/reminders/unsubscribe/" + "a" * 300,
        "/reminders/unsubscribe/%F0%9F%92%B0",
        "/reminders/unsubscribe/'%20OR%20'1'='1",
    ],
    who=("anon", "me"),
)
_ids(
    "/verify/<code>",
    "GET",
    ["/verify/ZZZZZZZZZZZZ", "/verify/%00", "/verify/" + "Z" * 300, "/verify/%E2%80%AE%F0%9F%92%B0"],
    who=("anon",),
    leak=False,
)
# Someone else's ids in a form.
_ids(
    "/proxy/<int:payee_id>/<enrollment_no>/dues",
    "POST",
    ["/proxy/{my_payee}/{payee_enrollment}/dues"],
    data=[("dues", Ref("their_due"))],
    want=(422,),
)
_ids("/proxy/batch", "POST", ["/proxy/batch"], data=[("dues", Ref("their_due"))], want=(422,))
_ids("/reminders/", "POST", ["/reminders/"], data=[("person", Ref("them_id")), ("email", "a@example.com")], want=(422,))
# Their 票证号码 in 王芳's 查询 finds nothing of theirs (the seeds' words, beside no ticket of theirs).
TAX_QUERY = "/certificates/tax/<issue>"
_ids(
    TAX_QUERY,
    "POST",
    ["/certificates/tax/first", "/certificates/tax/reissue"],
    data=[("ticket_no", Ref("their_ticket"))],
    want=(422,),
)
# A 开具 kind that does not exist.
for m in ("GET", "POST"):
    for rule, suffix in ((TAX_QUERY, ""), ("/certificates/tax/<issue>/list", "/list")):
        _ids(
            rule,
            m,
            [
                f"/certificates/tax/bitcoin{suffix}",
                f"/certificates/tax/%00{suffix}",
                f"/certificates/tax/{'x' * 300}{suffix}",
                f"/certificates/tax/FIRST{suffix}",
            ],
        )
    _ids("/certificates/proxy/tax/<issue>", m, ["/certificates/proxy/tax/bitcoin", "/certificates/proxy/tax/%00"])
# An end before the start, in full-width digits: refused like any other malformed period.
_ids(
    TAX_QUERY,
    "POST",
    ["/certificates/tax/reissue"],
    want=(422,),
    leak=False,
    data=[("period_from", "2020-01"), ("period_to", "２０１９-１２")],
)
IDS[-1] = replace(IDS[-1], id="garbled:certificates-tax:period_to=fullwidth-before-start", kind="garbled")
# The same with only the year's last two digits full-width ("20１９-12", as an input method may
# leave it): 2019-12 is before 2020-01, so it is refused, or read as digits and refused.
_ids(
    TAX_QUERY,
    "POST",
    ["/certificates/tax/reissue"],
    want=(422,),
    leak=False,
    data=[("period_from", "2020-01"), ("period_to", "20１９-12")],
)
IDS[-1] = replace(IDS[-1], id="garbled:certificates-tax:period_to=mixed-digits-before-start", kind="garbled")
# Periods and dates as ranges: the end before the start, and 9,998 years apart.
for label, start, end in (
    ("end-before-start", "2099-12", "1990-01"),
    ("9998-years", "0001-01", "9999-12"),
    ("calendar-edges", "1900-02", "2100-13"),
):
    _ids(
        TAX_QUERY,
        "POST",
        ["/certificates/tax/reissue"],
        want=(422,),
        leak=False,
        data=[("period_from", start), ("period_to", end)],
    )
    IDS[-1] = replace(IDS[-1], id=f"garbled:certificates-tax:period-range={label}", kind="garbled")
for label, start, end in (
    ("end-before-start", "2026-12-31", "2026-01-01"),
    ("calendar-edges", "1900-02-29", "2100-02-30"),
):
    _ids(
        TAX_QUERY,
        "POST",
        ["/certificates/tax/reissue"],
        want=(422,),
        leak=False,
        data=[("paid_from", start), ("paid_to", end), ("issued_from", start), ("issued_to", end)],
    )
    IDS[-1] = replace(IDS[-1], id=f"garbled:certificates-tax:date-range={label}", kind="garbled")
IDS = [replace(c, pre="/certificates/tax/reissue") if c.rule == TAX_QUERY and c.method == "POST" else c for c in IDS]
# 退费申请: someone else's (or no one's) payment, or a kind that does not exist.
_ids(
    "/refunds/<kind>/", "GET", ["/refunds/bitcoin/", "/refunds/%00/", "/refunds/" + "x" * 300 + "/", "/refunds/NORMAL/"]
)
for m in ("GET", "POST"):
    _ids(
        "/refunds/<kind>/<order_no>/apply",
        m,
        [
            "/refunds/normal/{their_order}/apply",
            "/refunds/special/{my_order}/apply",
            "/refunds/normal/SB000/apply",
            "/refunds/bitcoin/{my_order}/apply",
            "/refunds/normal/%00/apply",
            "/refunds/normal/" + "x" * 300 + "/apply",
        ],
        data=[("money_type", "多缴费款退费"), ("reason", "重复参保缴费"), ("account", "1"), ("account_name", "王芳")],
    )
# Their 凭证号码 in 王芳's search finds nothing of theirs.
IDS.append(
    Case(
        "ids:GET:/refunds/normal/?ticket_no=their_ticket",
        "ids",
        "/refunds/<kind>/",
        "GET",
        "/refunds/normal/",
        query=(("ticket_no", Ref("their_ticket")),),
        want=(200,),
        leak=True,
    )
)
# The date search over calendar edges, one field at a time and as ranges: the form's Chinese
# message beside the field (422), or what there is (200) for a range inside the calendar.
_DATES = [v for _, v in CALENDAR_TEXT[:4]] + ["1990-01-01", "2100-12-31", "2026-11-23"]
for start in _DATES:
    for end in _DATES:
        if start == end == "2026-11-23":
            continue
        IDS.append(
            Case(
                f"query:/refunds/normal/:date_from={start}&date_to={end}",
                "query",
                "/refunds/<kind>/",
                "GET",
                "/refunds/normal/",
                query=(("date_from", start), ("date_to", end)),
            )
        )


def _anon_cases() -> list[Case]:
    cases = []
    posts = {(f.rule, "POST"): f for f in POST_FORMS}
    for rule, path in GET_PAGES:
        if rule in PUBLIC:
            continue
        cases.append(Case(f"anon:GET:{path}", "anon", rule, "GET", path, who="anon", want=(303,), leak=True))
        cases.append(Case(f"anon:GET:{path}:htmx", "anon", rule, "GET", path, who="anon", want=(204,), htmx=True))
        if rule not in LEVEL_OK:
            cases.append(Case(f"anon:GET:{path}:lookup", "anon", rule, "GET", path, who="me_lookup", want=(303,)))
    for (rule, _), form in posts.items():
        cases.append(
            Case(
                f"anon:POST:{form.path}",
                "anon",
                rule,
                "POST",
                form.path,
                who="anon",
                data=_pairs(form.base),
                want=(303,),
                leak=True,
            )
        )
        if rule not in LEVEL_OK:
            cases.append(
                Case(
                    f"anon:POST:{form.path}:lookup",
                    "anon",
                    rule,
                    "POST",
                    form.path,
                    who="me_lookup",
                    data=_pairs(form.base),
                    want=(303,),
                )
            )
    return cases


CASES = (
    [c for form in POST_FORMS for c in _cases_for_post(form)]
    + [c for rule, path in GET_PAGES for c in _cases_for_get(rule, path)]
    + IDS
    + _anon_cases()
)
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# -- running a case --------------------------------------------------------------------------------


def _resolve(site: Site, client, value):
    if not isinstance(value, Ref):
        return value
    name, _, variant = value.partition(":")
    if name == CAPTCHA:
        with client.session_transaction() as s:
            held = s.get("captcha")
        found = captcha.answer_of(site.app.config["SECRET_KEY"], held) if held else "0000"
    else:
        found = str(site.ids[name])
    return {
        "": found,
        "fullwidth": found.translate(FULLWIDTH),
        "rtl": "\u202e" + found + "\u200f",
        "nul": found + "\x00",
        "newline": found + "\n",
        "emoji": "💰" + found,
    }[variant]


def _token_value(site: Site, case: Case, who: str):
    good = site.tokens[who]
    return {
        "good": [good],
        "none": [],
        "empty": [""],
        "junk": ["abc"],
        "nul": [good[:10] + "\x00"],
        "emoji": ["💰"],
        "stranger": [site.tokens["anon" if who != "anon" else "me"]],
        "repeated": ["abc", good],
    }[case.token]


CHECKED_PAGES = set()  # (rule, method, status, htmx) whose page the full page check has seen


def run(site: Site, case: Case):
    """The request, as the browser (or htmx) would send it. Past ResidentClient's per-response
    page check: each kind of answer (route, method, status, fragment or not) is put through
    that check once per worker (see check), not all 1,600 of them."""
    client = site.clients[case.who]
    client.environ_base["REMOTE_ADDR"] = "10.{}.{}.{}".format(*hashlib.sha256(case.id.encode()).digest()[:3])
    if case.pre:
        FlaskClient.open(client, case.pre)
    path = case.path.format(**site.ids)
    kwargs = {}
    if case.method == "POST":
        data = MultiDict([("csrf_token", t) for t in _token_value(site, case, case.who)])
        for key, value in case.data:
            data.add(key, _resolve(site, client, value))
        kwargs["data"] = data
    if case.query:
        kwargs["query_string"] = MultiDict([(key, _resolve(site, client, value)) for key, value in case.query])
    if case.htmx:
        kwargs["headers"] = {"HX-Request": "true", "HX-Current-URL": "http://localhost/elsewhere"}
    return FlaskClient.open(client, path, method=case.method, **kwargs)


def request_text(site: Site, case: Case) -> str:
    client = site.clients[case.who]
    values = [case.path.format(**site.ids)] + [str(_resolve(site, client, v)) for _, v in case.data + case.query]
    return " ".join(values)


TAGS = re.compile(r"<[^>]+>")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", TAGS.sub(" ", html)).strip()


def _h1(body: str) -> str:
    found = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
    return _text(found.group(1)) if found else ""


def _messages(body: str) -> list[str]:
    """What a refused form says: its error summary, the messages by its fields, its notices."""
    said = []
    summary = re.search(r"data-error-summary.*?<ul>(.*?)</ul>", body, re.S)
    if summary:
        said += [_text(li) for li in re.findall(r"<li>(.*?)</li>", summary.group(1), re.S)]
    said += [
        _text(m).replace("错误：", "").strip()
        for m in re.findall(r'<p class="field-message"[^>]*>(.*?)</p>', body, re.S)
    ]
    return said


def check(site: Site, case: Case, response, before, after):
    status = response.status_code
    about = f"{case.method} {case.path} → {status}"
    assert status < 500, about
    body = response.get_data(as_text=True) if response.mimetype.startswith("text/") else ""
    if case.want:
        assert status in case.want, about + "\n" + _text(body)[:500]
    if response.mimetype == "text/html" and status not in (204, 301, 302, 303):
        _check_html(case, response, body, about)
    elif status in (301, 302, 303):
        _check_redirect(case, response.location, about)
    elif status == 204:
        assert case.htmx and response.headers.get("HX-Redirect", "").startswith("/auth/"), about
    else:
        assert response.mimetype in ("image/png", "audio/wav", "application/pdf"), about + f" {response.mimetype}"
    if case.leak:
        _check_no_leak(site, case, response, body, about)
    if not case.may_write:
        assert after == before, about + ": written: " + changes(before, after)


def _check_html(case: Case, response, body: str, about: str):
    """A page: well formed (once per kind), a Chinese h1, the right error page, messages in
    Chinese, and nothing the request sent reflected as markup."""
    status = response.status_code
    kind = (case.rule, case.method, status, case.htmx)
    if kind not in CHECKED_PAGES:
        check_page(body, fragment=case.htmx and "HX-Request" in response.vary and "<html" not in body)
        CHECKED_PAGES.add(kind)
    h1 = _h1(body)
    assert CJK.search(h1), about + f" h1={h1!r}"
    if status in ERROR_TITLES and case.rule not in PUBLIC and 'method="post"' not in body.split("</header>")[-1]:
        assert h1 in ERROR_TITLES[status], about + f" h1={h1!r}"
    if status == 400 and case.kind == "csrf":
        assert h1 == "页面已过期" and "请返回上一页刷新后重新提交" in body, about
    if status in (422, 429):
        said = _messages(body)
        assert said and all(CJK.search(m) for m in said), about + f" messages={said!r}"
    assert MARKUP not in body, about + ": markup reflected unescaped"


def _check_redirect(case: Case, location: str, about: str):
    """A redirect stays on the site: to sign-in when signed out, never there when signed in."""
    assert location.startswith("/"), about + f" → {location}"
    if case.kind == "anon":
        assert location.startswith("/auth/"), about + f" → {location}"
    else:
        assert not location.startswith("/auth/"), about + f" → {location} (signed out?)"
        if case.kind in ("garbled", "htmx") and case.method == "POST":
            assert location.startswith(case.redirect_to or ("/certificates/issued",)), about + f" → {location}"


def _check_no_leak(site: Site, case: Case, response, body: str, about: str):
    """Nothing of another resident's is shown, unless the request itself said it."""
    shown = body.replace("<wbr>", "")  # a long number is shown in groups: 452010<wbr>226000…
    if response.status_code == 303 and case.kind == "ids":  # 重试: follow to where it says 找不到这封邮件
        shown = FlaskClient.open(site.clients[case.who], response.location).get_data(as_text=True)
        assert "找不到这封邮件" in shown, about
    # What the request itself said (the address, a typed number) may be shown back to it.
    asked = request_text(site, case)
    for secret in THEIR_SECRETS + tuple(
        str(site.ids[k]) for k in ("their_order", "their_doc", "their_code", "their_ticket")
    ):
        if secret not in asked:
            assert secret not in shown, about + f": {secret!r} shown"


def journey_of(rule: str) -> str:
    """The blueprint (and tests/<journey>/ folder) a case's route belongs to: its first path
    segment, but for the voucher and 证明核验, which 证明开具 serves under /orders/ and /verify."""
    first = rule.strip("/").split("/")[0]
    return "certificates" if first in ("orders", "verify") else first


def cases_for(journey: str) -> list[Case]:
    return [c for c in CASES if journey_of(c.rule) == journey]


def case_id(case: Case) -> str:
    return case.id.encode("unicode_escape").decode()


def run_case(site: Site, case: Case):
    """One case: sent, checked, and the site marked dirty when something was written."""
    before = what_is_stored(site.app)
    try:
        response = run(site, case)
        after = what_is_stored(site.app)
    except Exception:
        site.dirty = True
        raise
    if after != before:
        site.dirty = True
    check(site, case, response, before, after)
