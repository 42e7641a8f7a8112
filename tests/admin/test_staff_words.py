"""Staff pages show no code words (issue 14): a staff member walks every back-office page, with the
demo residents' money in every state the pages show — paid by 支付宝 and 微信支付, refund
applications pending, confirmed, awaiting a bank transfer, refunded and turned down, a refund the
provider would not take, a reconciliation day with open and resolved differences, an import, a
changed standard and refund reason, a locked account — and reads words, never the codes the app
stores (flexible, pension, paid, alipay, refund_reason.set, JSON) nor a region code without its name."""

import re

from bs4 import BeautifulSoup
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import AuditEntry, ReconDifference, RefundApplication, Region, Staff, Standard
from sbweb.payments import orders
from sbweb.services import audit_words, reconciliation, registry
from sbweb.services import staff as staff_service
from tests.admin.test_admin import PASSWORD, make_staff, staff_login
from tests.admin.test_import import NEW_PERSON, csv_bytes, upload
from tests.admin.test_reconciliation import DAY, browser, paid_silently, provider_loses
from tests.bank.test_bank import report
from tests.refunds.test_refunds_by_item import apply
from tests.support.journeys import choose, order, order_no_of, pay, sign_in

# What the app stores and a staff member would not recognise. Words in ASCII are matched whole.
CODE_WORDS = (
    "flexible",
    "resident",
    "pension",
    "medical",
    "normal",
    "backpay",
    "special",
    "created",
    "paying",
    "settled",
    "failed",
    "closed",
    "refunded",
    "pending",
    "processing",
    "succeeded",
    "approved",
    "rejected",
    "approve",
    "reject",
    "open",
    "resolved",
    "paid",
    "void",
    "valid",
    "alipay",
    "wechat",
    "unionpay",
    "sandbox",
    "original",
    "bank",
    "reviewer",
    "admin",
    "unknown_here",
    "absent_there",
    "amount_differs",
    "settle",
    "refund",
    "recheck",
    "ignore",
    "owed_again",
    "not_owed",
    "kept",
    "rev",
    "success",
    "missing",
    "waiting",
    "reopen",
    "keep",
    "until",
    "None",
    "True",
    "False",
    "null",
    "true",
    "false",
)
CODE_RE = re.compile(r"(?<![A-Za-z_])(" + "|".join(CODE_WORDS) + r")(?![A-Za-z_])")
ACTION_RE = re.compile(r"\b[a-z_]+\.(?!csv\b|xlsx\b)[a-z_]+\b")  # refund_reason.set, money.refund, …
FIELD_RE = re.compile(r"(?<![A-Za-z_.])[a-z]+_[a-z_]+(?![A-Za-z_.])")  # provider_status, amount_fen, …
JSON_RE = re.compile(r"[{\[]\s*\"")


def visible_text(html: str) -> str:
    """What a staff member reads: the text of the page, not its tags, attribute values, hidden
    inputs, scripts or the title (the browser's tab)."""
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(["script", "style", "template", "head"]):
        tag.decompose()
    for tag in soup.select("[hidden], .visually-hidden, input[type=hidden]"):
        tag.decompose()
    return soup.get_text(" ", strip=True)


def code_words_in(text: str, regions: dict[str, str]) -> list[str]:
    found = [m.group(0) for m in CODE_RE.finditer(text)]
    found += [m.group(0) for m in ACTION_RE.finditer(text)]
    found += [m.group(0) for m in FIELD_RE.finditer(text)]
    found += [text[max(m.start() - 20, 0) : m.end() + 20] for m in JSON_RE.finditer(text)]
    found += [
        f"{code} without {name}"
        for code, name in regions.items()
        if re.search(rf"(?<!\d){code}(?!\d)", text) and name not in text
    ]
    return found


def review_and_confirm(office, application_id, method="原路退回"):
    detail = office.page(f"/admin/refunds/{application_id}")
    choice = detail.soup.find("label", string=method)
    plan = office.submit(
        detail,
        {"method": detail.soup.find(id=choice["for"])["value"]},
        button="下一步：核对退费",
        selector="main form.form-card",
    )
    assert plan.h1.startswith("核对退费"), plan.text[:300]
    done = office.submit(plan, button="确认退费", selector="main form.form-card")
    assert done.h1 == "退费审核", done.text[:300]


def money_in_every_state(app, client, world):
    """The demo residents' payments and refunds, and the staff actions on them, through the
    app's own pages and services; returns the back-office pages to read."""
    admin = browser(app)
    make_staff(app, username="guanli", role="admin")
    staff_login(admin, username="guanli")
    make_staff(app, username="shenhe")
    for _ in range(staff_service.MAX_FAILURES):
        staff_login(browser(app), username="shenhe", password="wrong password")  # locked

    # 王芳 pays her medical months by 支付宝 and applies for three refunds; 李明 pays by 微信支付.
    sign_in(client, "王芳", verified=True)
    report(client)
    enrollment = world.enrollment("王芳", "medical")
    with write_transaction():
        ids = [
            registry.add_due(enrollment, kind="normal", period_start=m, period_end=m, amount_fen=35200).id
            for m in ("2026-06", "2026-07", "2026-08", "2026-09")
        ]
    paid = order(order_no_of(pay(client, choose(client, enrollment_no=enrollment.enrollment_no, due_ids=ids))))
    assert paid.state == "settled"
    refunded, _ = apply(client, paid.order_no, ids[0], money_type="误缴费款退费", reason="缴费档次或基数选择错误")
    turned_down, _ = apply(client, paid.order_no, ids[1], money_type="重复缴费退费", reason="重复参保缴费")
    by_bank, _ = apply(client, paid.order_no, ids[2], money_type="其他退费", reason="参保人死亡")
    waiting, _ = apply(client, paid.order_no, ids[3], money_type="多缴费款退费", reason="其他原因", amount="52.00")
    other = browser(app)
    sign_in(other, "李明")
    wechat = order(order_no_of(pay(other, choose(other, "pension"), channel="wechat")))
    assert wechat.state == "settled"

    review_and_confirm(admin, refunded.id)
    detail = admin.page(f"/admin/refunds/{turned_down.id}")
    admin.submit(detail, {"note": "重复参保情况不属实"}, button="全部不通过", selector="main form.form-card")
    review_and_confirm(admin, by_bank.id, method="退至申请人银行账户")
    transfer = admin.page(f"/admin/refunds/{by_bank.id}")
    admin.submit(transfer, button="确认已退至银行账户", selector="main form.form-card")
    awaiting, _ = apply(client, paid.order_no, ids[1], money_type="重复缴费退费", reason="重复参保缴费")
    review_and_confirm(admin, awaiting.id, method="退至申请人银行账户")  # left 待退至银行账户

    # A reconciliation day: 王芳's pension paid with no notify (unknown here), 李明's lost there.
    silent = paid_silently(client, "王芳", "pension").order_no
    provider_loses(wechat.order_no)
    run_id = reconciliation.reconcile(DAY).id
    db.session.rollback()
    admin_id = db.session.scalar(select(Staff.id).filter_by(username="guanli"))
    unknown = db.session.scalar(select(ReconDifference).filter_by(out_trade_no=silent))
    reconciliation.resolve(admin_id, unknown.id, "settle", "")
    lost = db.session.scalar(select(ReconDifference.id).filter_by(out_trade_no=wechat.order_no))
    reconciliation.resolve(admin_id, lost, "recheck", "")
    reconciliation.resolve(admin_id, lost, "ignore", "已向支付机构提交差错查询")

    # 多缴 of 52.00 the provider will not take: left for staff as 原路退回未完成.
    def refused(*args, **kwargs):
        raise orders.ProviderError("ACQ.SELLER_BALANCE_NOT_ENOUGH 卖家余额不足")

    provider = type(orders.provider_for(order(paid.order_no)))
    original, provider.refund = provider.refund, refused
    try:
        review_and_confirm(admin, waiting.id)
    finally:
        provider.refund = original

    # An import, a standard, a refund reason, a password.
    assert upload(admin, csv_bytes([NEW_PERSON]), mode="apply").status == 200
    standard_id = db.session.scalar(select(Standard.id).filter_by(region_code="520000", year=2026, category="flexible"))
    admin.submit(admin.page(f"/admin/standards/{standard_id}"), {"medical_rate": "9"}, selector="main form.form-card")
    reasons = admin.page("/admin/refund-reasons")
    other_effect = reasons.soup.select_one("form[action*='/refund-reasons/'] input[type=radio]:not([checked])")
    admin.submit(reasons, {other_effect["name"]: other_effect["value"]}, selector="form[action*='/refund-reasons/']")
    added = admin.page("/admin/refund-reasons")
    admin.submit(
        added, {"new-reason": "户籍迁出本地区", "new-effect": "void"}, selector="form[action$='/refund-reasons']"
    )
    people = admin.page("/admin/staff")
    admin.submit(people, selector="form[action$='/end-sessions']")
    staff_login(admin, username="guanli")
    account = admin.page("/admin/account")
    admin.submit(
        account,
        {"current": PASSWORD, "new": "a new password 1", "again": "a new password 1"},
        selector="main form.form-card",
    )
    db.session.rollback()
    pending = db.session.scalar(select(RefundApplication.id).filter_by(state="pending"))
    return admin, [
        "/admin/",
        "/admin/refunds",
        f"/admin/refunds/{refunded.id}",
        f"/admin/refunds/{turned_down.id}",
        f"/admin/refunds/{by_bank.id}",
        f"/admin/refunds/{waiting.id}",
        f"/admin/refunds/{awaiting.id}",
        *([f"/admin/refunds/{pending}"] if pending else []),
        "/admin/refund-reasons",
        "/admin/reconciliation",
        f"/admin/reconciliation/{run_id}",
        "/admin/standards",
        f"/admin/standards/{standard_id}",
        "/admin/standards/new",
        "/admin/import",
        "/admin/audit",
        "/admin/staff",
        "/admin/account",
    ]


def test_every_back_office_page_reads_in_words(app, client, world, ctx, clock):
    admin, urls = money_in_every_state(app, client, world)
    db.session.rollback()
    states = {e.action for e in db.session.scalars(select(AuditEntry))}
    assert {
        "refund.approve",
        "refund.reject",
        "refund.bank_transfer",
        "money.refund",
        "money.settle",
        "recon.run",
        "recon.settle",
        "recon.recheck",
        "recon.ignore",
        "import.apply",
        "standard.save",
        "refund_reason.set",
        "refund_reason.add",
        "staff.create",
        "staff.login",
        "staff.locked",
        "staff.password",
        "staff.sessions_ended",
    } <= states
    regions = {r.code: r.name for r in db.session.scalars(select(Region))}
    found = {}
    for url in urls:
        page = admin.page(url)
        assert page.status == 200, url
        words = code_words_in(visible_text(page.response.get_data(as_text=True)), regions)
        if words:
            found[url] = sorted(set(words))
    assert found == {}
    audit = admin.page("/admin/audit")
    row = audit.soup.find("td", string="修改退费原因处理方式").find_parent("tr")
    assert "退费原因类型 重复参保缴费 退费后费款：不再应缴 → 重新应缴" in row.get_text(" ", strip=True)
    assert "保存缴费标准" in audit.text and "医疗保险费率（%）：8 → 9" in audit.text
    assert "地区：贵州省（520000）" in audit.text


def test_the_review_of_a_plan_reads_in_words(app, client, world, ctx):
    """The confirmation step (核对退费) of 王芳's refund, before anything goes back."""
    make_staff(app, username="guanli", role="admin")
    admin = browser(app)
    staff_login(admin, username="guanli")
    sign_in(client, "王芳", verified=True)
    report(client)
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    due_id = paid.items[0].due_id
    applied, _ = apply(client, paid.order_no, due_id, money_type="误缴费款退费", reason="缴费档次或基数选择错误")
    detail = admin.page(f"/admin/refunds/{applied.id}")
    choice = detail.soup.find("label", string="退至申请人银行账户")
    plan = admin.submit(
        detail,
        {"method": detail.soup.find(id=choice["for"])["value"]},
        button="下一步：核对退费",
        selector="main form.form-card",
    )
    assert plan.h1.startswith("核对退费")
    regions = {r.code: r.name for r in db.session.scalars(select(Region))}
    assert code_words_in(visible_text(plan.response.get_data(as_text=True)), regions) == []


def test_the_code_word_check_finds_what_it_looks_for():
    regions = {"520000": "贵州省"}
    said = code_words_in(
        visible_text(
            '<p>520000 2026 flexible <span title="paid">已缴费</span> refund_reason.set {"effect": "x"} '
            "provider_status</p>"
            '<input type="hidden" value="pension"><p class="visually-hidden">medical</p>'
        ),
        regions,
    )
    assert said == [
        "flexible",
        "refund_reason.set",
        "provider_status",
        '费 refund_reason.set {"effect": "x"} provid',
        "520000 without 贵州省",
    ]
    assert code_words_in(visible_text("<p>贵州省 <small>520000</small> 灵活就业人员</p>"), regions) == []


def test_every_action_the_app_audits_has_words():
    """Every action code written by an `audit(…, "x.y", …)` call in the app has its words in the one
    table the audit log reads (a new action without words is caught here, not by a staff member)."""
    from pathlib import Path

    import sbweb

    written = set()
    for path in Path(sbweb.__file__).parent.rglob("*.py"):
        written |= set(re.findall(r"\baudit\([^,]+,\s*\"([a-z_]+\.[a-z_]+)\"", path.read_text(encoding="utf-8")))
    assert len(written) >= 15
    assert sorted(written - audit_words.ACTIONS.keys()) == []
    assert audit_words.action_words("tax_office.set") == "修改主管税务机关联系方式"
    assert audit_words.action_words("something.new") == "something.new"  # a safe fallback: the raw code
