"""What each identity level may do: one table, read by one hook before every request.

A name and an ID number are widely leaked, so a looked-up session (拒绝授权 → 证件 + 姓名) may see
what is owed and pay it, see the orders it made and download their 电子缴费凭证 — nothing more.
Everything that creates, changes or voids a declaration, a 补缴 confirmation, a payee, a bank
account or agreement, a refund application, a certificate, a reminder or a mail address, and
everything that shows personal records, needs a verified session (授权 by the host app, or a
code sent to the contact on file). Each route names the level its GET and its POST need; a
route missing from the table is refused (and fails tests/auth/test_access_levels.py).

Which records a level may reach (only one's own, or one's payees') is each view's business;
this table only says who may knock.
"""

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Flask, abort, current_app, request, url_for

from sbweb.identity import sessions

PUBLIC, LOOKUP, VERIFIED, STAFF, ADMIN = "public", "lookup", "verified", "staff", "admin"
# The machine API: no session at all; every request signed by an API client, checked by the API's
# own hook (sbweb.views.api.auth) with the scope each view needs.
API = "api"
RESIDENT_LEVELS = {LOOKUP: 1, VERIFIED: 2}


@dataclass(frozen=True)
class Rule:
    read: str | None  # GET (and HEAD)
    write: str | None  # POST
    what: str  # the action, in the resident's words (for the sentence on 授权)


def _r(read, write, what):
    return Rule(read, write, what)


RULES: dict[str, Rule] = {
    # Anyone: the front door, signing in and out, the provider's callbacks (signed, checked by
    # the payment core), the public 证明核验, a mailed unsubscribe link (its token is the key).
    "static": _r(PUBLIC, None, "静态文件"),
    "home.index": _r(PUBLIC, None, "首页"),
    "home.text_size": _r(None, PUBLIC, "大字"),
    "auth.authorize": _r(PUBLIC, None, "授权"),
    "auth.consent": _r(None, PUBLIC, "同意授权"),
    "auth.host_start": _r(PUBLIC, None, "同意授权"),
    "auth.host_callback": _r(PUBLIC, None, "同意授权"),
    "auth.manual": _r(PUBLIC, PUBLIC, "拒绝授权"),
    "auth.sign_out": _r(None, PUBLIC, "退出"),
    "codecheck.start": _r(PUBLIC, None, "验证码验证"),
    "codecheck.identity": _r(PUBLIC, PUBLIC, "验证码验证"),
    "codecheck.blind": _r(PUBLIC, PUBLIC, "验证码验证"),
    "notify.receive": _r(None, PUBLIC, "支付结果通知"),
    "orders.provider_return": _r(PUBLIC, PUBLIC, "支付返回"),
    "certificates.verify": _r(PUBLIC, None, "证明核验"),
    "reminders.unsubscribe": _r(PUBLIC, None, "退订缴费提醒"),
    # The operator's doors: no personal datum, no session; /metrics checks METRICS_ALLOW itself.
    "ops.healthz": _r(PUBLIC, None, "健康检查"),
    "ops.readyz": _r(PUBLIC, None, "就绪检查"),
    "ops.scrape": _r(PUBLIC, None, "运行指标（限指定地址）"),
    "sandbox.public_key": _r(PUBLIC, None, "沙箱"),
    # The machine API's description is public (it holds no data); its operations are signed.
    "api-docs.openapi_json": _r(PUBLIC, None, "机器接口文档"),
    "api_docs_page.index": _r(PUBLIC, None, "机器接口文档"),
    "api.feed": _r(API, None, "机器接口：事件流"),
    "api.ticket": _r(API, None, "机器接口：票证查询"),
    "api.settlement_list": _r(API, None, "机器接口：结算文件列表"),
    "api.settlement_csv": _r(API, None, "机器接口：结算文件下载"),
    "api.settlement_xlsx": _r(API, None, "机器接口：结算文件下载"),
    "api.batch_enrollments": _r(None, API, "机器接口：推送参保登记"),
    "api.batch_dues": _r(None, API, "机器接口：推送应缴费款"),
    "api.batch_agencies": _r(None, API, "机器接口：推送经办机构"),
    "api.batch_standards": _r(None, API, "机器接口：推送缴费标准"),
    "api.order": _r(API, None, "机器接口：订单查询"),
    "sandbox.bill": _r(PUBLIC, None, "沙箱"),
    "sandbox.cashier": _r(None, PUBLIC, "沙箱"),
    "sandbox.gateway": _r(PUBLIC, PUBLIC, "沙箱"),
    "sandbox.authorize": _r(PUBLIC, None, "沙箱"),
    "sandbox.unionpay_front": _r(None, PUBLIC, "沙箱"),
    "sandbox.unionpay_cashier": _r(None, PUBLIC, "沙箱"),
    "sandbox.unionpay_query": _r(None, PUBLIC, "沙箱"),
    "sandbox.unionpay_back": _r(None, PUBLIC, "沙箱"),
    "sandbox.unionpay_certificate": _r(PUBLIC, None, "沙箱"),
    # The sandbox's 云闪付 open platform: its authorization page, its JSON API, the app's appletAuth.
    "sandbox.unionpay_authorize": _r(PUBLIC, None, "沙箱"),
    "sandbox.unionpay_open_api": _r(None, PUBLIC, "沙箱"),
    "sandbox.unionpay_applet_auth": _r(None, PUBLIC, "沙箱"),
    "sandbox.unionpay_file": _r(None, PUBLIC, "沙箱"),  # the 对账文件: server to server, signed
    # A looked-up session: see what is owed and pay it; its own orders and their vouchers; the
    # way up to verified.
    "codecheck.code": _r(LOOKUP, None, "验证码验证"),
    "codecheck.send": _r(None, LOOKUP, "获取验证码"),
    "codecheck.check": _r(None, LOOKUP, "验证码验证"),
    "selfpay.enrollments": _r(LOOKUP, None, "我为自己缴"),
    "selfpay.dues": _r(LOOKUP, LOOKUP, "选择缴费信息"),
    "selfpay.confirm": _r(LOOKUP, LOOKUP, "缴费信息确认"),
    "selfpay.method": _r(LOOKUP, LOOKUP, "去支付"),
    "orders.show": _r(LOOKUP, None, "缴费结果"),
    "orders.bridge": _r(LOOKUP, None, "微信支付"),
    "orders.post_form": _r(LOOKUP, None, "前往支付"),
    "orders.check": _r(None, LOOKUP, "刷新支付结果"),
    "orders.resume": _r(None, LOOKUP, "继续支付"),
    "orders.cancel": _r(None, LOOKUP, "取消支付"),
    "records.index": _r(LOOKUP, None, "缴费记录"),
    "certificates.index": _r(LOOKUP, None, "证明开具"),
    "certificates.voucher": _r(LOOKUP, None, "电子缴费凭证"),
    "certificates.show": _r(LOOKUP, None, "电子缴费凭证"),
    "certificates.download": _r(LOOKUP, None, "电子缴费凭证下载"),
    # Verified: personal records, and every write beyond paying.
    "auth.sign_ins": _r(VERIFIED, None, "登录记录"),
    "auth.end_other_sign_ins": _r(None, VERIFIED, "结束其他登录"),
    "certificates.send": _r(None, VERIFIED, "发送至邮箱"),
    "certificates.retry": _r(None, VERIFIED, "重新发送邮件"),
    "certificates.captcha_image": _r(VERIFIED, None, "验证码图片"),
    "certificates.captcha_audio": _r(VERIFIED, None, "验证码语音"),
    "certificates.payment": _r(VERIFIED, VERIFIED, "缴费证明开具"),
    "certificates.tax": _r(VERIFIED, None, "完税证明开具"),
    "certificates.tax_query": _r(VERIFIED, VERIFIED, "完税证明查询"),
    "certificates.proxy_tax_query": _r(VERIFIED, VERIFIED, "代缴完税证明查询"),
    "certificates.tax_list": _r(VERIFIED, VERIFIED, "完税证明开具"),
    "certificates.proxy": _r(VERIFIED, VERIFIED, "代缴缴费证明开具"),
    "certificates.issued": _r(VERIFIED, None, "开具记录"),
    "declare.index": _r(VERIFIED, None, "缴费申报"),
    "declare.declare": _r(VERIFIED, VERIFIED, "缴费申报"),
    "declare.backpay": _r(VERIFIED, VERIFIED, "补缴明细确认"),
    "declare.history": _r(VERIFIED, None, "申报查询"),
    "declare.void": _r(VERIFIED, VERIFIED, "申报作废"),
    "proxy.index": _r(VERIFIED, None, "我帮他人缴"),
    "proxy.add": _r(VERIFIED, VERIFIED, "添加被代缴人"),
    "proxy.remove": _r(VERIFIED, VERIFIED, "删除被代缴人"),
    "proxy.auto_pay": _r(None, VERIFIED, "自动缴设置"),
    "proxy.enrollments": _r(VERIFIED, None, "我帮他人缴"),
    "proxy.dues": _r(VERIFIED, VERIFIED, "我帮他人缴"),
    "proxy.batch": _r(VERIFIED, VERIFIED, "合并缴费"),
    "proxy.backpay": _r(VERIFIED, VERIFIED, "补缴明细确认"),
    "proxy.once": _r(VERIFIED, VERIFIED, "代他人缴费"),
    "proxy.once_enrollments": _r(VERIFIED, None, "代他人缴费"),
    "proxy.once_dues": _r(VERIFIED, VERIFIED, "代他人缴费"),
    "proxy.keep": _r(None, VERIFIED, "加入被代缴人列表"),
    "bank.index": _r(VERIFIED, None, "银行缴费协议"),
    "bank.account": _r(VERIFIED, VERIFIED, "存款账户账号报告"),
    "bank.delete_account": _r(VERIFIED, VERIFIED, "删除银行账户"),
    "bank.sign": _r(VERIFIED, VERIFIED, "签订银行缴费协议"),
    "bank.settings": _r(VERIFIED, VERIFIED, "修改扣款设置"),
    "bank.revoke": _r(VERIFIED, VERIFIED, "撤销银行缴费协议"),
    "refunds.index": _r(VERIFIED, None, "退费申请"),
    "refunds.search": _r(VERIFIED, None, "退费申请"),
    "refunds.apply": _r(VERIFIED, VERIFIED, "退费申请"),
    "refunds.records": _r(VERIFIED, None, "退费申请记录"),
    "reminders.index": _r(VERIFIED, VERIFIED, "缴费提醒"),
    "reminders.cancel": _r(None, VERIFIED, "取消缴费提醒"),
    "queries.index": _r(VERIFIED, None, "涉费查询"),
    "queries.paid": _r(VERIFIED, None, "已缴费查询"),
    "queries.proxy_paid": _r(VERIFIED, None, "代缴已缴费查询"),
    # The back office: its own sign-in; some pages for 管理员 only.
    "admin.login": _r(PUBLIC, PUBLIC, "后台登录"),
    "admin.logout": _r(None, PUBLIC, "后台退出"),
    "admin.index": _r(STAFF, None, "后台"),
    "admin.account": _r(STAFF, STAFF, "账号与登录设备"),
    "admin.end_session": _r(None, STAFF, "结束登录"),
    "admin.staff_list": _r(ADMIN, None, "工作人员"),
    "admin.end_staff_sessions": _r(None, ADMIN, "结束工作人员的全部登录"),
    "admin.refunds": _r(STAFF, None, "退费审核"),
    "admin.refund": _r(STAFF, STAFF, "退费审核"),
    "admin.audit": _r(ADMIN, None, "审计日志"),
    "admin.status": _r(ADMIN, None, "运行状态"),
    "admin.refund_reasons_page": _r(STAFF, None, "退费原因类型"),
    "admin.add_refund_reason": _r(None, ADMIN, "添加退费原因类型"),
    "admin.set_refund_reason": _r(None, ADMIN, "修改退费原因类型"),
    "admin.tax_offices_page": _r(STAFF, None, "主管税务机关"),
    "admin.set_tax_office": _r(None, ADMIN, "修改主管税务机关联系电话"),
    "admin.import_file": _r(ADMIN, ADMIN, "导入"),
    "admin.reconciliation": _r(STAFF, STAFF, "对账"),
    "admin.reconciliation_run": _r(STAFF, None, "对账"),
    "admin.reconciliation_resolve": _r(None, ADMIN, "对账差异处理"),
    "admin.webhook_deliveries": _r(STAFF, None, "事件推送"),
    "admin.resend_webhook": _r(None, ADMIN, "重新发送事件推送"),
    "admin.standards": _r(STAFF, None, "缴费标准"),
    "admin.standard": _r(ADMIN, ADMIN, "缴费标准"),
    "admin.api_clients_page": _r(ADMIN, ADMIN, "机器接口客户端"),
    "admin.revoke_api_client": _r(None, ADMIN, "停用机器接口客户端"),
    "admin.settlement_files_page": _r(STAFF, None, "每日结算文件"),
    "admin.settlement_file": _r(STAFF, None, "下载每日结算文件"),
}


def _rules() -> dict[str, Rule]:
    return current_app.extensions["sbweb.access"]


def classify(app: Flask, endpoint: str, read: str | None = None, write: str | None = None, what: str = "") -> None:
    """Add a route of this app's own to its table (a test's extra route, say)."""
    app.extensions["sbweb.access"][endpoint] = Rule(read, write, what)


def needed(endpoint: str, method: str) -> str | None:
    rule = _rules().get(endpoint)
    if rule is None:
        return None
    return rule.write if method == "POST" else rule.read


def unclassified(app: Flask) -> list[str]:
    """Routes of the app that the table does not name (each must be classified)."""
    return sorted({r.endpoint for r in app.url_map.iter_rules()} - set(app.extensions["sbweb.access"]))


def what(endpoint: str | None) -> str | None:
    rule = _rules().get(endpoint or "")
    return rule.what if rule else None


IDENTITY_FIELDS = {"id_type", "id_number", "name"}


def _without_identity(path: str) -> str:
    """The page to come back to, without the 证件号码 and 姓名 a query form carried: the address
    goes into a `next=` that logs and later pages show."""
    parts = urlsplit(path)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in IDENTITY_FIELDS]
    return parts.path + (f"?{urlencode(kept)}" if kept else "")


def _came_from() -> str:
    """Where the resident was: the page itself for a GET, the form's page for a POST (the same
    URL when it also answers GET, else the page that posted it)."""
    if request.method != "POST":
        return _without_identity(request.full_path.rstrip("?"))
    adapter = current_app.url_map.bind("")
    try:
        adapter.match(request.path, method="GET")
        return _without_identity(request.full_path.rstrip("?"))
    except Exception:  # noqa: BLE001 - no GET here: back to the page the form was on
        referrer = request.referrer or ""
        path = referrer.split(request.host, 1)[-1] if request.host in referrer else ""
        return sessions.safe_next(path, url_for("home.index"))


def check() -> object | None:
    """Before each request: the level the route needs, against the level the session has."""
    endpoint = request.endpoint
    if endpoint is None:  # no such route (404 / 405 follow)
        return None
    level = needed(endpoint, request.method)
    if level in (PUBLIC, API):
        return None
    if level is None:  # a route (or a method of it) nobody classified: refused, never open
        current_app.logger.error("%s %s is not in sbweb.identity.access.RULES: refused", request.method, endpoint)
        abort(403)
    if level in (STAFF, ADMIN):
        from sbweb import staff_auth

        return staff_auth.gate(admin_only=level == ADMIN)
    have = sessions.level()
    if have is not None and RESIDENT_LEVELS[have] >= RESIDENT_LEVELS[level]:
        return None
    from sbweb.htmx import leave_app

    target = url_for(
        "auth.authorize",
        next=_came_from(),
        need=level if level != LOOKUP else None,
        action=endpoint if have is not None else None,
    )
    return leave_app(target)


def init_app(app: Flask) -> None:
    app.extensions["sbweb.access"] = dict(RULES)
    # After the session is loaded (sbweb.identity.sessions registers its hook first).
    app.before_request(check)


LEVEL_WORDS = {
    PUBLIC: "任何人（无需登录）",
    LOOKUP: "证件信息查询（拒绝授权后输入证件号码和姓名）",
    VERIFIED: "已验证身份（同意授权，或登记邮箱的验证码）",
    STAFF: "工作人员（审核员、管理员）",
    ADMIN: "管理员",
}


def describe() -> str:
    """The table as Markdown, for the README (tests/auth/test_access_levels.py keeps them equal):
    for each level, what it opens (GET) and what it does (POST) beyond the levels below it."""
    lines = ["| level | sees (GET) | does (POST) |", "|---|---|---|"]
    for level in (PUBLIC, LOOKUP, VERIFIED, STAFF, ADMIN):
        lines.append(f"| {LEVEL_WORDS[level]} | {_labels(level, 'read')} | {_labels(level, 'write')} |")
    return "\n".join(lines)


def _labels(level: str, kind: str) -> str:
    """The actions whose `kind` ("read" or "write") needs `level`, each once, in table order."""
    found = []
    for endpoint, rule in RULES.items():
        if getattr(rule, kind) == level and not endpoint.startswith(("sandbox.", "static")) and rule.what not in found:
            found.append(rule.what)
    return "、".join(found) or "—"
