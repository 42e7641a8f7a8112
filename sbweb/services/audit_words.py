"""The audit log in words: each action code, target and recorded field as staff read them. The
entries keep what `staff.audit()` stored (codes and JSON); only the reading changes. An action or
field without words shows its raw code, so a new one is never hidden (and a test finds it)."""

from dataclasses import dataclass

from sqlalchemy import select

from sbweb.db import db
from sbweb.models.due import DOCUMENT_KIND_LABELS
from sbweb.models.enrollment import CATEGORY_LABELS, INSURANCE_LABELS
from sbweb.models.order import ORDER_STATE_LABELS, REFUND_STATE_LABELS
from sbweb.models.reconciliation import DIFFERENCE_LABELS, DIFFERENCE_STATE_LABELS
from sbweb.models.refund_application import APPLICATION_STATE_LABELS, REFUND_ITEM_DECISION_LABELS
from sbweb.models.staff import ROLE_LABELS
from sbweb.money import fen_display
from sbweb.services.reconciliation import PROVIDER_LABELS, RESOLUTION_LABELS, TRADE_STATUS_WORDS
from sbweb.services.standards import region_names

ACTIONS = {
    "staff.create": "新建工作人员账号",
    "staff.login": "登录后台",
    "staff.locked": "密码错误次数过多，账号锁定",
    "staff.password": "修改密码",
    "staff.sessions_ended": "结束工作人员的全部登录",
    "refund.approve": "审核通过退费申请",
    "refund.reject": "审核不通过退费申请",
    "refund.bank_transfer": "确认已退至银行账户",
    "refund_reason.add": "添加退费原因类型",
    "refund_reason.set": "修改退费原因处理方式",
    "money.refund": "退款",
    "money.settle": "补记缴费成功",
    "recon.run": "对账",
    "recon.settle": "对账差异处理：补记缴费",
    "recon.refund": "对账差异处理：原路退回",
    "recon.recheck": "对账差异处理：复核",
    "recon.ignore": "对账差异处理：不作处理",
    "import.apply": "导入参保登记和应缴费款",
    "standard.save": "保存缴费标准",
    "tax_office.set": "修改主管税务机关联系方式",
    "api_client.create": "新建机器接口客户端",
    "api_client.revoke": "停用机器接口客户端",
    "api_enrollment.create": "机器接口推送：新增参保登记",
    "api_due.create": "机器接口推送：新增应缴费款",
    "api_due.reprice": "机器接口推送：更正应缴金额",
    "api_agency.save": "机器接口推送：保存经办机构",
    "api_standard.save": "机器接口推送：保存缴费标准",
}

TARGETS = {
    "staff": "工作人员",
    "refund_application": "退费申请",
    "refund_reason": "退费原因类型",
    "order": "订单",
    "recon_run": "对账",
    "recon_difference": "对账差异",
    "standard": "缴费标准",
    "file": "文件",
    "tax_office": "主管税务机关",
    "api_client": "机器接口客户端",
}

EFFECTS = {"reopen": "重新应缴", "void": "不再应缴", "keep": "仍为已缴"}
METHODS = {"original": "原路退回", "bank": "退至申请人银行账户"}

# Each recorded field: its name in words, and how its value reads (a table of words, or a kind).
FIELDS = {
    "state": ("状态", None),
    "amount_fen": ("金额", "fen"),
    "total_fen": ("金额", "fen"),
    "order": ("订单号", None),
    "items": ("逐笔审核", "items"),
    "method": ("退费方式", METHODS),
    "note": ("说明", None),
    "refund_fen": ("退款金额", "fen"),
    "out_request_no": ("退款请求号", None),
    "to": ("退至", METHODS),
    "application": ("退费申请", None),
    "tickets": ("票证号码", "tickets"),
    "refunds": ("退款", "refunds"),
    "dues_paid": ("已缴费款（笔）", None),
    "kind": ("差异类型", DIFFERENCE_LABELS),
    "out_trade_no": ("订单号", None),
    "provider_fen": ("对方金额", "fen"),
    "our_fen": ("本方金额", "fen"),
    "resolution": ("处理方式", RESOLUTION_LABELS),
    "provider_status": ("支付机构查询结果", TRADE_STATUS_WORDS),
    "provider": ("支付机构", PROVIDER_LABELS),
    "day": ("对账日期", None),
    "matched": ("匹配（笔）", None),
    "differences": ("差异（笔）", None),
    "open": ("待处理（笔）", None),
    "new": ("新发现（笔）", None),
    "kept": ("保留（笔）", None),
    "dropped": ("已消除（笔）", None),
    "effect": ("退费后费款", EFFECTS),
    "active": ("可供选择", "bool"),
    "reason": ("退费原因类型", None),
    "username": ("用户名", None),
    "role": ("角色", ROLE_LABELS),
    "until": ("锁定至", "time"),
    "ended": ("结束的登录（个）", None),
    "rows": ("行数", None),
    "dues": ("应缴费款（笔）", None),
    "region": ("地区", "region"),
    "year": ("年度", None),
    "category": ("人员类别", CATEGORY_LABELS),
    "base_min": ("缴费基数下限（元）", None),
    "base_max": ("缴费基数上限（元）", None),
    "pension_rate": ("养老保险费率（%）", None),
    "medical_rate": ("医疗保险费率（%）", None),
    "grades": ("缴费档次（元）", None),
    "medical": ("城乡居民医疗保险（元）", None),
    "late_fee": ("滞纳金（%/日）", None),
    "opens": ("征收期开始", None),
    "closes": ("征收期结束", None),
    "repriced": ("重新计价（笔）", None),
    "unchanged": ("金额无变化（笔）", None),
    "waiting": ("支付或退费中（笔）", None),
    "name": ("名称", None),
    "phone": ("电话", None),
    "hours": ("办公时间", None),
    "scopes": ("权限范围", None),
    "revoked": ("已停用", "bool"),
    "batch": ("批次（Idempotency-Key）", None),
    "due": ("应缴记录", None),
    "due_kind": ("缴费类型", DOCUMENT_KIND_LABELS),
    "period": ("费款所属期", None),
    "enrollment_no": ("个人参保编号", None),
    "insurance": ("险种", INSURANCE_LABELS),
    "agency": ("经办机构代码", None),
    "city": ("所在地市", None),
    "tax_office": ("主管税务机关代码", None),
    "region_code": ("地区", "region"),
    "base_min_fen": ("缴费基数下限", "fen"),
    "base_max_fen": ("缴费基数上限", "fen"),
    "pension_rate_bp": ("养老保险费率（基点）", None),
    "medical_rate_bp": ("医疗保险费率（基点）", None),
    "grades_fen": ("缴费档次（分）", None),
    "medical_fen": ("城乡居民医疗保险", "fen"),
    "late_fee_bp_per_day": ("滞纳金（万分之/日）", None),
}
# A state reads by what it is the state of.
STATES = {
    "refund_application": APPLICATION_STATE_LABELS,
    "order": ORDER_STATE_LABELS,
    "recon_difference": DIFFERENCE_STATE_LABELS,
}
# Inside a nested record a name may mean something else than at the top.
NESTED = {
    ("provisional", "differences"): "补缴差额（笔）",
    ("provisional", "refunds"): "多缴退费申请（笔）",
    ("order", "state"): "订单状态",
    ("difference", "state"): "差异状态",
}


@dataclass(frozen=True)
class Change:
    field: str
    before: str | None  # None: not recorded before (a value set) — else before → after
    after: str | None
    changed: bool


@dataclass(frozen=True)
class Line:
    at: object
    who: str
    action: str
    target: str
    changes: list[Change]


def action_words(code: str) -> str:
    return ACTIONS.get(code, code)


def target_words(target: str, names: dict[str, str] | None = None) -> str:
    """ "refund_reason:3" → "退费原因类型 参保人死亡" (by `names`, else its number)."""
    kind, _, key = target.partition(":")
    if kind not in TARGETS:
        return target
    return f"{TARGETS[kind]} {(names or {}).get(target, key)}".strip()


def _names(entries) -> dict[str, str]:
    """What staff call the objects the entries name (an application by its number, a reason by itself)."""
    from sbweb.models import ReconDifference, ReconRun, RefundApplication, RefundReason, Staff, Standard

    wanted: dict[str, set[int]] = {}
    for e in entries:
        kind, _, key = e.target.partition(":")
        if key.isdigit():
            wanted.setdefault(kind, set()).add(int(key))
    regions, names = region_names(), {}
    spoken = {
        "staff": (Staff, lambda r: f"{r.name}（{r.username}）"),
        "refund_application": (RefundApplication, lambda r: r.application_no),
        "refund_reason": (RefundReason, lambda r: r.reason),
        "standard": (
            Standard,
            lambda r: (
                f"{regions.get(r.region_code, r.region_code)} {r.year}年 {CATEGORY_LABELS.get(r.category, r.category)}"
            ),
        ),
        "recon_run": (ReconRun, lambda r: f"{r.day.isoformat()} {PROVIDER_LABELS.get(r.provider, r.provider)}"),
        "recon_difference": (ReconDifference, lambda r: r.out_trade_no),
    }
    for kind, ids in wanted.items():
        if kind in spoken:
            model, say = spoken[kind]
            for row in db.session.scalars(select(model).where(model.id.in_(ids))):
                names[f"{kind}:{row.id}"] = say(row)
    return names


def _items_words(value: dict) -> str:
    return "；".join(
        f"第{n}笔 {REFUND_ITEM_DECISION_LABELS.get(d, d)} ¥{fen_display(a)}"
        for n, (d, a) in enumerate(value.values(), 1)
    )


def _tickets_words(value: list) -> str:
    return "；".join(
        f"{t.get('ticket_no')}（{t.get('tax_office')} ¥{fen_display(t.get('amount_fen') or 0)}）" for t in value
    )


def _refunds_words(value: list) -> str:
    return (
        "；".join(f"{no} ¥{fen_display(fen)} {REFUND_STATE_LABELS.get(state, state)}" for no, fen, state in value)
        or "—"
    )


# The kinds whose value is a collection, each with how to say it; a value of such a kind that is not a
# dict or list (an old entry's) is said as it is.
_COLLECTION_WORDS = {"items": _items_words, "tickets": _tickets_words, "refunds": _refunds_words}


def _value(field: str, value, scope: str, regions: dict[str, str]) -> str:
    kind = FIELDS.get(field, (field, None))[1]
    if value is None or value == "":
        return "—"
    if field == "state" and scope in STATES:
        return STATES[scope].get(value, value)
    if isinstance(kind, dict):
        return kind.get(value, str(value))
    if kind == "fen":
        return f"¥{fen_display(value)}"
    if kind == "bool" or isinstance(value, bool):
        return "是" if value else "否"
    if kind == "region":
        return f"{regions[value]}（{value}）" if value in regions else str(value)
    if kind == "time":
        return str(value)[:16].replace("T", " ") + "（UTC）"
    if kind in _COLLECTION_WORDS and isinstance(value, (dict, list)):
        return _COLLECTION_WORDS[kind](value)
    return str(value)


def _changes(
    before: dict | None, after: dict | None, scope: str, regions: dict[str, str], parent: str | None = None
) -> list[Change]:
    before, after = before or {}, after or {}
    rows = []
    for field in list(before) + [f for f in after if f not in before]:
        was, now = before.get(field), after.get(field)
        if isinstance(was, dict) and field != "items" or isinstance(now, dict) and field != "items":
            inner = {"order": "order", "difference": "recon_difference"}.get(field, scope)
            rows += _changes(
                was if isinstance(was, dict) else None, now if isinstance(now, dict) else None, inner, regions, field
            )
            continue
        name = NESTED.get((parent, field)) or FIELDS.get(field, (field, None))[0]
        rows.append(
            Change(
                name,
                _value(field, was, scope, regions) if field in before else None,
                _value(field, now, scope, regions) if field in after else None,
                field in before and field in after and was != now,
            )
        )
    return rows


def cause_words(cause: str | None) -> str:
    """A money movement's cause, its provider named in words ("sandbox异步通知" was stored by name)."""
    for code, label in PROVIDER_LABELS.items():
        if (cause or "").startswith(code):
            return label + cause[len(code) :]
    return cause or ""


def lines(entries) -> list[Line]:
    """The audit entries as staff read them: who, what, on what, and each field before → after."""
    regions, names = region_names(), _names(entries)
    return [
        Line(
            e.at,
            e.staff.name if e.staff else "系统",
            action_words(e.action),
            target_words(e.target, names),
            _changes(e.before, e.after, e.target.partition(":")[0], regions),
        )
        for e in entries
    ]
