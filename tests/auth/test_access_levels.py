"""The identity level table (sbweb.identity.access.RULES) held against the database: every POST route of the
app, enumerated from its URL map, is sent a request that would change something of 王芳's, by

- anonymous: nobody signed in;
- lookup:    王芳 looked up by 证件 + 姓名 (a name and an ID number prove nothing);
- other:     张伟, verified, sending 王芳's request (her ids, her enrollment);
- owner:     王芳, verified;

each with its own valid CSRF token, and the business tables (everything but the sign-in
bookkeeping) are compared before and after. Only the cells a scenario names may change them, and
those it names must — so a scenario that stopped writing (bad data) fails as loudly as a door
left open. The cells a scenario names must also be ones the level table lets in. A POST route
without a scenario fails `test_every_post_route_has_a_scenario`, so a new route is classified
before it lands.
"""

import hashlib
import json
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict

from sbweb import mail
from sbweb.db import db, write_transaction
from sbweb.identity import access, captcha
from sbweb.models import Declaration, OutboxMail, Staff
from sbweb.services import bank, documents, payees, registry, reminders, staff
from tests.conftest import KEEP_TABLES, ON_POSTGRES
from tests.support import form_values, identity_of
from tests.support.bad_input import empty_tables, module_app
from tests.support.journeys import World, choose, paid_history, sign_in

pytestmark = pytest.mark.usefixtures("clock")

CELLS = ("anonymous", "lookup", "other", "owner")
# Who each cell is to the level table.
CELL_LEVEL = {"anonymous": None, "lookup": access.LOOKUP, "other": access.VERIFIED, "owner": access.VERIFIED}
# Sign-in bookkeeping: sessions, throttles, codes, challenges, replay nonces, and the simulated
# provider's own books. Everything else is what a request may or may not change.
BOOKKEEPING = {
    "alembic_version",
    "login_sessions",
    "captcha_challenges",
    "lookup_failures",
    "verification_codes",
    "notify_nonces",
    "sandbox_trades",
    "sandbox_notifies",
    "sandbox_refunds",
    "sandbox_grants",
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the world ----------------------------------------------------------------------------------------


def _build(world: World) -> dict:
    """王芳 with something of every kind a POST can touch; 张伟 verified beside her."""
    me = world.people["王芳"]
    orders = paid_history(me, world.enrollment("王芳", "pension"), 2, start_year=2021)
    voucher = documents.voucher(me, orders[0])
    failed = mail.queue(me, "wangfang@example.com", "测试", "正文", document_id=voucher.id)  # the SMTP port is closed
    zhao = payees.add(me, world.person("赵秀英"))
    reminder = reminders.subscribe(me, me, "wangfang@example.com")
    person = world.person("王芳")
    account = bank.report(
        person, bank_name="中国工商银行", kind="card", account_no="6222020200000000006", account_name="王芳"
    )
    spare = bank.report(
        person, bank_name="中国建设银行", kind="card", account_no="6217000010000000003", account_name="王芳"
    )
    agreement = bank.sign(
        me, enrollment_no=world.enrollment("王芳", "medical").enrollment_no, account_id=account.id, kind="tripartite"
    )
    with write_transaction():
        backpay = registry.add_due(
            world.enrollment("王芳", "pension"),
            kind="backpay",
            period_start="2019-01",
            period_end="2019-03",
            amount_fen=264000,
        )
    declaration = db.session.scalar(select(Declaration.id).filter_by(person_id=me, state="valid").limit(1))
    pension = world.enrollment("王芳", "pension")
    with write_transaction():  # a 补缴 of her payee's, for 王芳 to confirm (自动缴)
        registry.add_due(
            world.enrollment("赵秀英", "pension"),
            kind="backpay",
            period_start="2020-01",
            period_end="2020-06",
            amount_fen=180000,
        )
    # 代他人缴费: 王芳 paid once for 刘洋, who is not on her list (加入被代缴人列表 is offered).
    once_order = paid_history(me, world.enrollment("刘洋", "medical"), 1, start_year=2020)[0]
    staff.create("ops", "值班员", "correct horse battery", "admin")
    ids = {
        "me": me,
        "order": orders[0],
        "ticket": db.session.scalar(
            text("select t.ticket_no from tickets t join orders o on o.id = t.order_id where o.order_no = :n"),
            {"n": orders[0]},
        ),
        "doc": voucher.doc_no,
        "mail": failed.id,
        "payee": zhao.id,
        "reminder": reminder.id,
        "account": account.id,
        "spare_account": spare.id,
        "agreement": agreement.id,
        "backpay": backpay.id,
        "declaration": declaration,
        "pension": pension.enrollment_no,
        "agency": pension.agency.code,
        "medical": world.enrollment("王芳", "medical").enrollment_no,
        "payee_enrollment": world.enrollment("赵秀英", "medical").enrollment_no,
        "payee_due": world.dues("赵秀英", "medical")[0].id,
        "once_enrollment": world.enrollment("赵秀英", "medical").enrollment_no,
        "payee_pension": world.enrollment("赵秀英", "pension").enrollment_no,
        "once_due": world.dues("赵秀英", "medical")[0].id,
        "staff": db.session.scalar(select(Staff.id)),
        "payee_person": zhao.person_id,
        "once_order": once_order,
        "once_person": world.people["刘洋"],
    }
    assert all(v is not None for v in ids.values()), ids
    assert db.session.get(OutboxMail, failed.id).state == "failed"
    return ids


class Snapshot:
    """Every table's rows, to put back between cells (fast on both databases)."""

    def __init__(self):
        self.tables = [t for t in db.metadata.sorted_tables if t.name not in KEEP_TABLES]
        self.rows = {t.name: [dict(r) for r in db.session.execute(t.select()).mappings()] for t in self.tables}

    def restore(self):
        with write_transaction():
            # Declarations and dues point at each other: references are checked once all is back.
            db.session.execute(
                text(
                    "set local session_replication_role = replica" if ON_POSTGRES else "pragma defer_foreign_keys = on"
                )
            )
            for table in reversed(self.tables):
                db.session.execute(table.delete())
            for table in self.tables:
                if self.rows[table.name]:
                    db.session.execute(table.insert(), self.rows[table.name])
            if ON_POSTGRES:
                for table in self.tables:
                    if "id" in table.c:
                        db.session.execute(
                            text(
                                f"select setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                f"coalesce((select max(id) from {table.name}), 0) + 1, false)"
                            )
                        )


def business_state(watch=frozenset()) -> str:
    """A digest of every business table's rows (and of the bookkeeping tables in `watch`)."""
    digest = hashlib.sha256()
    for table in db.metadata.sorted_tables:
        if table.name in BOOKKEEPING - watch:
            continue
        rows = sorted(
            json.dumps(dict(r), default=str, sort_keys=True) for r in db.session.execute(table.select()).mappings()
        )
        digest.update(f"{table.name}:{len(rows)}:".encode() + "\n".join(rows).encode())
    db.session.rollback()
    return digest.hexdigest()


@dataclass
class Site:
    app: object
    ids: dict
    snapshot: Snapshot


@pytest.fixture(scope="module")
def site(tmp_path_factory, key_dir, migrated_database):

    folder = tmp_path_factory.mktemp("access")
    app = module_app(
        folder,
        key_dir,
        migrated_database,
        RATELIMIT_ENABLED=False,
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=_closed_port(),
        MAIL_TIMEOUT=1,
        MAIL_RETRY_DELAYS=(),
    )
    with app.app_context():
        empty_tables()
        ids = _build(World.load())
        snapshot = Snapshot()
        db.session.remove()
    app.config["MAIL_SERVER"] = None  # from now on mails go to the outbox folder: a 重试 succeeds
    yield Site(app, ids, snapshot)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# -- the scenarios -------------------------------------------------------------------------------------


def _captcha(client, ids):
    """The answer to the challenge this client's session was just shown (none: a wrong one)."""
    found = identity_of(client)
    if not found:
        return "0000"
    with client.application.app_context():
        held = captcha.current(found["session_id"])
        return captcha.answer_of(client.application.config["SECRET_KEY"], held) if held else "0000"


@dataclass
class Scenario:
    path: str  # with {ids}
    writers: set[str]  # the cells that change the business tables
    page: str | None = None  # the GET page holding the form (its fields are the base data)
    form: str = "main form[method=post]"
    data: dict = field(default_factory=dict)  # typed over the form; a callable gets (client, ids)
    setup: Callable | None = None  # run by each cell's client first (e.g. choosing dues)
    why: str = ""
    watch: frozenset = frozenset()  # bookkeeping tables this route is about, compared too


def _typed_in_once(client, ids):
    """赵秀英 typed in on 代他人缴费, as far as this client gets."""
    page = client.page("/proxy/once")
    if page.soup is not None and page.soup.select("main form[method=post]"):
        client.submit(page, {"id_type": "201", "id_number": "370212196011203469", "name": "赵秀英"})


def _choose_pension(client, ids):
    """王芳's pension dues chosen, as far as this client gets (others are stopped on the way)."""
    try:
        return choose(client, enrollment_no=ids["pension"])
    except AssertionError:  # no dues form for this client: it was turned away
        return None


def _confirmed(client, ids):
    confirm = _choose_pension(client, ids)
    if confirm is not None and confirm.h1 == "缴费信息确认":
        client.submit(confirm)


def _paying(client, ids):
    """An order of this session in 支付中 (去支付 without paying)."""
    method = client.page("/selfpay/method")
    if method.h1 == "选择缴款方式":
        client.submit(method, {"channel": "alipay"}, follow=False)


def _wang_fang_elsewhere(client, ids):
    """王芳 is signed in on another phone too."""
    sign_in(client.application.test_client(), ME)


def _tax_queried(client, ids):
    """首开完税证明 查询 with nothing filled in (every ticket), as far as the level lets it."""
    page = client.page("/certificates/tax/first")
    form = page.soup.select_one("main form") if page.soup else None
    if form is not None:
        client.post("/certificates/tax/first", data=MultiDict(form_values(form)))


def _pay_setup(client, ids):
    if identity_of(client).get("person_id") == ids["me"]:
        _confirmed(client, ids)
        _paying(client, ids)


def _order_of(client) -> str:
    found = identity_of(client)
    if not found:
        return "SB000"
    with client.application.app_context():
        number = db.session.scalar(
            text("select order_no from orders where payer_id = :p and state = 'paying' order by id desc limit 1"),
            {"p": found["person_id"]},
        )
    return number or "SB000"


ME = "王芳"
FLEX = {
    "agency": "{agency}",
    "year": "2026",
    "base": "4500",
    "month_from": "12",
    "month_to": "12",
    "pay_type": "normal",
    "action": "confirm",
}  # 确定 on 再次确认经办机构信息: it writes
SCENARIOS: dict[str, Scenario] = {
    # Anyone: signing in and out, the large-text switch, staff sign-in — none changes a business table.
    "/prefs/text-size": Scenario("/prefs/text-size", set(), data={"size": "large", "next": "/"}),
    "/auth/consent": Scenario(
        "/auth/consent",
        set(),
        page="/auth/",
        data={"person": "{me}", "host": "browser"},
        why="a sign-in writes only its session",
    ),
    "/auth/manual": Scenario(
        "/auth/manual",
        set(),
        page="/auth/manual",
        data={"id_type": "201", "id_number": "520102198503151246", "name": ME},
    ),
    "/auth/sign-out": Scenario("/auth/sign-out", set(), data={}),
    "/auth/verify/identity": Scenario(
        "/auth/verify/identity",
        set(),
        page="/auth/verify/identity",
        data={"id_type": "201", "id_number": "520102198503151246", "name": ME},
    ),
    "/auth/verify/locked": Scenario("/auth/verify/locked", set(), data={"code": "123456"}),
    "/notify/<provider>": Scenario(
        "/notify/sandbox",
        set(),
        data={"out_trade_no": "{order}", "trade_status": "TRADE_SUCCESS", "total_amount": "100.00"},
        why="an unsigned notification changes nothing, whoever sends it",
    ),
    "/pay/return/<provider>": Scenario(
        "/pay/return/sandbox",
        set(),
        data={"out_trade_no": "{order}"},
        why="the browser's return (UnionPay posts it) only says which order to show",
    ),
    "/sandbox/cashier/<trade_no>": Scenario(
        "/sandbox/cashier/000000", set(), data={}, why="the simulated provider's cashier: no such trade"
    ),
    "/sandbox/gateway.do": Scenario(
        "/sandbox/gateway.do", set(), data={"method": "alipay.trade.close"}, why="an unsigned API call is refused"
    ),
    "/sandbox/unionpay/cashier/<trade_no>": Scenario(
        "/sandbox/unionpay/cashier/000000", set(), data={}, why="the simulated 银联 cashier: no such trade"
    ),
    **{
        f"/sandbox/unionpay/gateway/api/{name}.do": Scenario(
            f"/sandbox/unionpay/gateway/api/{name}.do",
            set(),
            data={"orderId": "{order}", "txnAmt": "1"},
            why="an unsigned UnionPay request is refused",
        )
        for name in ("frontTransReq", "queryTrans", "backTransReq")
    },
    "/sandbox/unionpay/open/access/1.0/<call>": Scenario(
        "/sandbox/unionpay/open/access/1.0/token",
        set(),
        data={"code": "x", "grantType": "authorization_code"},
        why="the sandbox's 云闪付 open platform: a call without a signed backendToken is refused",
    ),
    "/sandbox/unionpay/open/appletAuth": Scenario(
        "/sandbox/unionpay/open/appletAuth",
        set(),
        data={"openId": "x"},
        why="the 云闪付 app's appletAuth stand-in: without a signed upsdk.config it gives no code",
    ),
    "/sandbox/unionpay/filedownload/": Scenario(
        "/sandbox/unionpay/filedownload/",
        set(),
        data={"txnType": "76", "settleDate": "1123"},
        why="an unsigned request for the 对账文件 is refused",
    ),
    "/admin/login": Scenario(
        "/admin/login",
        set(CELLS),
        page="/admin/login",
        data={"username": "ops", "password": "wrong password"},
        why="a wrong password is counted on the staff account (its lock-out), whoever types it",
    ),
    "/admin/logout": Scenario("/admin/logout", set(), data={}),
    "/auth/sign-ins/end-others": Scenario(
        "/auth/sign-ins/end-others",
        {"owner"},
        setup=_wang_fang_elsewhere,
        watch=frozenset({"login_sessions"}),
        why="结束其他登录 ends 王芳's sign-in on another phone",
    ),
    # A looked-up session: the code that verifies it, and paying.
    "/auth/verify/send": Scenario(
        "/auth/verify/send",
        {"lookup", "other", "owner"},
        data={},
        why="a code mailed to the session's own person (张伟's to 张伟)",
    ),
    "/auth/verify/code": Scenario(
        "/auth/verify/code", set(), data={"code": "123456"}, why="no code was asked for: nothing to check"
    ),
    "/selfpay/<enrollment_no>/dues": Scenario(
        "/selfpay/{pension}/dues",
        set(),
        page="/selfpay/{pension}/dues",
        why="the choice lives in the session until 去支付",
    ),
    "/selfpay/confirm": Scenario(
        "/selfpay/confirm",
        set(),
        page="/selfpay/confirm",
        setup=_choose_pension,
        why="the confirmation lives in the session until 去支付",
    ),
    "/selfpay/method": Scenario(
        "/selfpay/method", {"lookup", "owner"}, page="/selfpay/method", data={"channel": "alipay"}, setup=_confirmed
    ),
    "/orders/<order_no>/cancel": Scenario("/orders/{session_order}/cancel", {"lookup", "owner"}, setup=_pay_setup),
    "/orders/<order_no>/resume": Scenario(
        "/orders/{session_order}/resume",
        set(),
        setup=_pay_setup,
        why="继续支付 goes back to the provider's page of the same order",
    ),
    "/orders/<order_no>/check": Scenario(
        "/orders/{session_order}/check",
        {"lookup", "owner"},
        setup=_pay_setup,
        why="asks the provider and notes when it asked",
    ),
    # Verified, and only the owner.
    "/certificates/d/<doc_no>/mail": Scenario(
        "/certificates/d/{doc}/mail", {"owner"}, data={"email": "wangfang@example.com"}
    ),
    "/certificates/mail/<int:mail_id>/retry": Scenario("/certificates/mail/{mail}/retry", {"owner"}),
    "/certificates/payment": Scenario(
        "/certificates/payment", {"owner"}, page="/certificates/payment", data={"year": "2021", "captcha": _captcha}
    ),
    "/certificates/tax/<issue>": Scenario(
        "/certificates/tax/first",
        set(),
        page="/certificates/tax/first",
        why="查询 keeps what was asked in the session; 开具 is the list's",
    ),
    "/certificates/proxy/tax/<issue>": Scenario(
        "/certificates/proxy/tax/first",
        set(),
        page="/certificates/proxy/tax/first",
        data={"id_type": "201", "id_number": "370212196011203469", "name": "赵秀英"},
        why="查询 keeps what was asked in the session; 开具 is the list's",
    ),
    "/certificates/tax/<issue>/list": Scenario(
        "/certificates/tax/first/list",
        {"owner"},
        page="/certificates/tax/first/list",
        setup=_tax_queried,
        data={"ticket": "{ticket}", "captcha": _captcha},
        why="张伟's own 查询 finds nothing of his: no list, no 开具",
    ),
    "/certificates/proxy": Scenario(
        "/certificates/proxy",
        set(),
        page="/certificates/proxy",
        data={"id_type": "201", "id_number": "370212196011203469", "name": "赵秀英", "captcha": _captcha},
        why="王芳 paid nothing for 赵秀英 yet: refused with a message, nothing issued",
    ),
    "/declare/<flow>": Scenario("/declare/flexible-pension", {"owner"}, page="/declare/flexible-pension", data=FLEX),
    "/declare/backpay/<enrollment_no>": Scenario(
        "/declare/backpay/{pension}",
        {"owner"},
        page="/declare/backpay/{pension}",
        why="补缴明细确认 is recorded on the dues (it lets 批扣 take them)",
    ),
    "/declare/history/<int:declaration_id>/void": Scenario("/declare/history/{declaration}/void", {"owner"}),
    "/proxy/add": Scenario(
        "/proxy/add",
        {"other", "owner"},
        page="/proxy/add",
        data={"id_type": "201", "id_number": "520115199501010032", "name": "刘洋"},
        why="a verified payer adds 刘洋 to their own list (张伟 to his, 王芳 to hers)",
    ),
    "/proxy/<int:payee_id>/remove": Scenario("/proxy/{payee}/remove", {"owner"}),
    "/proxy/<int:payee_id>/auto-pay": Scenario("/proxy/{payee}/auto-pay", {"owner"}, data={"auto_pay": "on"}),
    "/proxy/<int:payee_id>/<enrollment_no>/dues": Scenario(
        "/proxy/{payee}/{payee_enrollment}/dues",
        set(),
        page="/proxy/{payee}/{payee_enrollment}/dues",
        why="the choice lives in the session until 去支付",
    ),
    "/proxy/<int:payee_id>/backpay/<enrollment_no>": Scenario(
        "/proxy/{payee}/backpay/{payee_pension}", {"owner"}, page="/proxy/{payee}/backpay/{payee_pension}"
    ),
    "/proxy/once": Scenario(
        "/proxy/once",
        set(),
        page="/proxy/once",
        data={"id_type": "201", "id_number": "520115199501010032", "name": "刘洋"},
        why="whom to pay for lives in the session until 去支付",
    ),
    "/proxy/once/<enrollment_no>/dues": Scenario(
        "/proxy/once/{once_enrollment}/dues",
        set(),
        page="/proxy/once/{once_enrollment}/dues",
        setup=_typed_in_once,
        data={"dues": "{once_due}"},
        why="the choice lives in the session until 去支付",
    ),
    "/proxy/keep": Scenario("/proxy/keep", {"owner"}, data={"order_no": "{once_order}", "person": "{once_person}"}),
    "/proxy/batch": Scenario(
        "/proxy/batch",
        set(),
        page="/proxy/batch",
        data={"dues": "{payee_due}"},
        why="the choice lives in the session until 去支付",
    ),
    "/bank/accounts/new": Scenario(
        "/bank/accounts/new",
        {"owner"},
        page="/bank/accounts/new",
        data={"bank_name": "中国银行", "kind": "card", "account_no": "6013820000000000005", "account_name": ME},
    ),
    "/bank/accounts/<int:account_id>/edit": Scenario(
        "/bank/accounts/{spare_account}/edit",
        {"owner"},
        page="/bank/accounts/{spare_account}/edit",
        data={"bank_name": "中国农业银行"},
    ),
    "/bank/accounts/<int:account_id>/delete": Scenario("/bank/accounts/{spare_account}/delete", {"owner"}),
    "/bank/agreements/new": Scenario(
        "/bank/agreements/new",
        {"owner"},
        page="/bank/agreements/new",
        data={"enrollment": "{pension}", "account": "{account}", "kind": "tripartite"},
    ),
    "/bank/agreements/<int:agreement_id>/settings": Scenario(
        "/bank/agreements/{agreement}/settings",
        {"owner"},
        page="/bank/agreements/{agreement}/settings",
        data={"limit": "500"},
    ),
    "/bank/agreements/<int:agreement_id>/revoke": Scenario("/bank/agreements/{agreement}/revoke", {"owner"}),
    "/refunds/<kind>/<order_no>/apply": Scenario(
        "/refunds/normal/{order}/apply",
        {"owner"},
        page="/refunds/normal/{order}/apply",
        data={"money_type": "{money_type}", "reason": "{reason}", "account": "{account}", "account_name": ME},
    ),
    "/reminders/": Scenario(
        "/reminders/", {"owner"}, page="/reminders/", data={"email": "wangfang@example.com", "person": "{payee_person}"}
    ),
    "/reminders/<int:reminder_id>/cancel": Scenario("/reminders/{reminder}/cancel", {"owner"}),
}
# The back office: no resident cell gets in, whatever it sends.
STAFF_ROUTES = {
    "/admin/account",
    "/admin/account/sessions/<int:session_id>/end",
    "/admin/staff/<int:staff_id>/end-sessions",
    "/admin/refunds/<int:application_id>",
    "/admin/import",
    "/admin/reconciliation",
    "/admin/reconciliation/<int:run_id>/differences/<int:difference_id>",
    "/admin/standards/new",
    "/admin/standards/<int:standard_id>",
    "/admin/refund-reasons",
    "/admin/refund-reasons/<int:reason_id>",
    "/admin/tax-offices/<int:office_id>",
    "/admin/webhooks/<int:delivery_id>/resend",
    "/admin/api-clients",
    "/admin/api-clients/<client_id>/revoke",
}
for rule in STAFF_ROUTES:
    SCENARIOS[rule] = Scenario(
        rule.replace("<int:session_id>", "1")
        .replace("<int:staff_id>", "{staff}")
        .replace("<int:application_id>", "1")
        .replace("<int:run_id>", "1")
        .replace("<int:difference_id>", "1")
        .replace("<int:standard_id>", "1")
        .replace("<int:reason_id>", "1")
        .replace("<int:office_id>", "1")
        .replace("<int:delivery_id>", "1")
        .replace("<client_id>", "ak_0"),
        set(),
        data={
            "decision": "approve",
            "current": "correct horse battery",
            "new": "a much longer password",
            "again": "a much longer password",
        },
        why="staff pages need a staff session",
    )

# The machine API's batches: a resident's session (or anyone's) without the signature writes nothing.
for kind in ("enrollments", "dues", "agencies", "standards"):
    SCENARIOS[f"/api/v1/batches/{kind}"] = Scenario(
        f"/api/v1/batches/{kind}", set(), data={"rows": "[]"}, why="the machine API needs a signed request"
    )


def _post_rules(app) -> dict[str, str]:
    return {r.rule: r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods}


def test_every_post_route_has_a_scenario(site):
    rules = _post_rules(site.app)
    missing = sorted(set(rules) - set(SCENARIOS))
    assert not missing, (
        f"POST routes without an access scenario (add them here and to sbweb.identity.access.RULES): {missing}"
    )
    assert not sorted(set(SCENARIOS) - set(rules)), "scenarios for routes that no longer exist"


def test_every_route_is_in_the_level_table(site):
    assert access.unclassified(site.app) == []


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_the_writers_a_scenario_names_are_ones_the_level_table_lets_in(site, rule):
    endpoint = _post_rules(site.app).get(rule)
    if endpoint is None:
        pytest.skip("route not served here")
    needed = access.RULES[endpoint].write
    for cell in SCENARIOS[rule].writers:
        have = CELL_LEVEL[cell]
        assert needed == access.PUBLIC or (
            have is not None
            and needed in access.RESIDENT_LEVELS
            and access.RESIDENT_LEVELS[have] >= access.RESIDENT_LEVELS[needed]
        ), (rule, cell, needed)


def _fill(value, client, ids):
    if callable(value):
        return value(client, ids)
    return value.format(**ids) if isinstance(value, str) else value


def _client_for(site, cell):
    client = site.app.test_client()
    if cell == "lookup":
        sign_in(client, ME)
    elif cell == "other":
        sign_in(client, "张伟", verified=True)
    elif cell == "owner":
        sign_in(client, ME, verified=True)
    return client


def _token(client) -> str:
    return form_values(client.page("/").soup.select_one("header form"))["csrf_token"][0]


def _data(site, scenario, client, ids, owner_values) -> list[tuple[str, str]]:
    values = {}
    if scenario.page:
        page = client.page(scenario.page.format(**ids))
        forms = page.soup.select(scenario.form) if page.soup else []
        values = form_values(forms[0]) if forms else dict(owner_values)
    for key, value in scenario.data.items():
        values[key] = [_fill(value, client, ids)]
    values["csrf_token"] = [_token(client)]
    return [(k, v) for k, vs in values.items() for v in vs]


@pytest.mark.parametrize("rule", sorted(SCENARIOS))
def test_only_the_cells_the_level_table_allows_write(site, rule):
    scenario = SCENARIOS[rule]
    if rule not in _post_rules(site.app):
        pytest.skip("route not served here")
    app, ids = site.app, dict(site.ids)
    from sbweb.services import refund_applications, refund_reasons

    ids["money_type"], ids["reason"] = refund_applications.MONEY_TYPES[0], refund_reasons.DEFAULTS[0][0]
    owner_values = {}
    if scenario.page:  # the form as its owner sees it: the base for cells that cannot open it
        with app.app_context():
            site.snapshot.restore()
        owner = _client_for(site, "owner")
        if scenario.setup:
            scenario.setup(owner, ids)
        page = owner.page(scenario.page.format(**ids))
        forms = page.soup.select(scenario.form) if page.soup else []
        assert forms, f"{rule}: no form on {scenario.page} for its owner ({page.h1 if page.soup else page.status})"
        owner_values = form_values(forms[0])
    wrote = {}
    for cell in CELLS:
        with app.app_context():
            site.snapshot.restore()
        client = _client_for(site, cell)
        if scenario.setup:
            scenario.setup(client, ids)
        cell_ids = {**ids, "session_order": _order_of(client)}
        data = _data(site, scenario, client, cell_ids, owner_values)
        with app.app_context():
            before = business_state(scenario.watch)
        response = client.post(scenario.path.format(**cell_ids), data=MultiDict(data))
        assert response.status_code < 500, (rule, cell, response.status_code)
        with app.app_context():
            wrote[cell] = business_state(scenario.watch) != before
    assert {c for c, w in wrote.items() if w} == scenario.writers, (rule, wrote, scenario.why)


def test_the_readme_shows_the_table_the_code_holds():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    shown = readme.split("<!-- access-table -->\n", 1)[1].split("\n<!-- /access-table -->", 1)[0]
    assert shown == access.describe(), (
        "README's table differs from sbweb.identity.access.RULES: paste access.describe()"
    )
