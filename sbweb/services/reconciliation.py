"""对账: a provider's daily bill matched with our orders, and every difference resolved by staff.

`reconcile(day)` fetches the provider's bill of one Asia/Shanghai day and compares it with what
we recorded that day, by out_trade_no and amount:
- a payment in the bill is matched with our order of that number if the order knows the money
  (settled, or refunded / refunding) and charged the same amount;
- our orders settled that day must each appear in the bill;
- refund rows in the bill are matched with our refunds completed that day, by order and amount.
What does not match becomes a ReconDifference: unknown_here (paid there, unknown here),
absent_there (settled here, absent there) or amount_differs. Amounts are signed as in a
provider's bill: a refund is negative. There is one ReconRun per provider and day; running the
day again replaces its open differences (keeping an open one that is found again, with its
note), keeps the resolved ones and does not raise again what staff already resolved.

`resolve(staff_id, difference_id, action, note)` acts on one open difference — settle (the
provider's trade state applied through the order state machine), refund (原路退回 through the
order refund path), recheck (a trade query; a settled order is never un-settled), ignore (with a
note) — and writes its audit entry in the same transaction as the change. Provider calls are made
with no write transaction open; the money itself is sent after the commit by
`refunds.complete_refunds`, which housekeeping retries.
"""

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from sbweb.clock import FIRST_DAY, SHANGHAI, shanghai_now, shanghai_today, utcnow
from sbweb.db import db, write_transaction
from sbweb.models import Due, Order, OrderItem, ReconDifference, ReconRun, Refund, Staff
from sbweb.money import fen_display
from sbweb.payments import BillRow, ProviderError, TradeState, orders, refunds
from sbweb.services.staff import audit

log = logging.getLogger(__name__)

ACTION_LABELS = {
    "settle": "补记缴费（按支付机构交易状态处理）",
    "refund": "原路退回",
    "refund_excess": "退回多收金额",
    "recheck": "向支付机构复核",
    "ignore": "不作处理（须填写说明）",
}
# A provider as staff know it (its configured name when it has no words: a live account may be named freely).
PROVIDER_LABELS = {"sandbox": "模拟支付机构（沙箱）", "alipay": "支付宝", "wechat": "微信支付", "unionpay": "云闪付"}
RESOLUTION_LABELS = {"settle": "补记缴费", "refund": "原路退回", "recheck": "复核无误", "ignore": "不作处理"}
TRADE_STATUS_WORDS = {
    "success": "交易成功",
    "refunded": "交易已转入退款",
    "closed": "交易已关闭",
    "waiting": "交易待付款",
    "missing": "无此交易",
}


class ReconError(ValueError):
    """A refusal, in words staff can act on; `field` names the form field it concerns."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass
class Resolution:
    difference: ReconDifference
    message: str


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """One Asia/Shanghai day, as aware datetimes [start, end)."""
    start = dt.datetime.combine(day, dt.time(), SHANGHAI)
    return start, start + dt.timedelta(days=1)


def yuan(fen: int | None) -> str:
    return "" if fen is None else f"¥{fen_display(fen)}"


# -- comparing a bill with our books ------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    kind: str
    out_trade_no: str
    provider_trade_no: str | None
    provider_fen: int | None
    our_fen: int | None

    @property
    def key(self) -> tuple:
        return (self.kind, self.out_trade_no, self.provider_fen, self.our_fen)


def _key(difference: ReconDifference) -> tuple:
    return (difference.kind, difference.out_trade_no, difference.provider_fen, difference.our_fen)


def _chunks(values: list, size: int = 500):
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _orders_by_number(provider_name: str, numbers: set[str]) -> dict[str, Order]:
    found = {}
    for chunk in _chunks(sorted(numbers)):
        for order in db.session.scalars(
            select(Order)
            .options(selectinload(Order.refunds))
            .where(Order.provider == provider_name, Order.order_no.in_(chunk))
        ):
            found[order.order_no] = order
    return found


def _knows_the_money(order: Order) -> bool:
    """Our books account for a payment of this order: settled (perhaps refunded since), or
    money that arrived after it ended and is being or has been sent back."""
    return order.settled_at is not None or order.state == "refunded" or bool(order.refunds)


def compare(day: dt.date, provider_name: str, rows: list[BillRow]) -> tuple[int, list[Found], dict]:
    """(matched, differences, summary) of one day's bill against our books."""
    start, end = day_bounds(day)
    bill_pays: dict[str, list[BillRow]] = defaultdict(list)
    bill_refunds: dict[str, list[BillRow]] = defaultdict(list)
    for row in rows:
        (bill_refunds if row.kind == "refund" else bill_pays)[row.out_trade_no].append(row)
    settled = _settled_on(provider_name, start, end)
    our_refunds = _refunds_completed_on(provider_name, start, end)
    refunds_here: dict[str, list[Refund]] = defaultdict(list)
    for refund in our_refunds:
        refunds_here[refund.order.order_no].append(refund)
    by_number = _orders_by_number(provider_name, set(bill_pays) | set(bill_refunds))

    matched, found = _compare_pays(bill_pays, settled, by_number)
    for number in sorted(set(bill_refunds) | set(refunds_here)):
        refunds_matched, refunds_found = _compare_refunds(
            number, bill_refunds.get(number, []), refunds_here.get(number, []), by_number.get(number), start, end
        )
        matched += refunds_matched
        found += refunds_found

    summary = {
        "bill_pays": sum(len(v) for v in bill_pays.values()),
        "bill_pay_fen": sum(r.amount_fen for v in bill_pays.values() for r in v),
        "bill_refunds": sum(len(v) for v in bill_refunds.values()),
        "bill_refund_fen": sum(r.amount_fen for v in bill_refunds.values() for r in v),
        "our_pays": len(settled),
        "our_pay_fen": sum(o.total_fen for o in settled),
        "our_refunds": len(our_refunds),
        "our_refund_fen": sum(r.amount_fen for r in our_refunds),
    }
    return matched, found, summary


def _settled_on(provider_name: str, start: dt.datetime, end: dt.datetime) -> list[Order]:
    """Our orders with the provider settled within the day."""
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.provider == provider_name, Order.settled_at >= start, Order.settled_at < end)
            .order_by(Order.id)
        )
    )


def _refunds_completed_on(provider_name: str, start: dt.datetime, end: dt.datetime) -> list[Refund]:
    """Our refunds through the provider that succeeded within the day."""
    return list(
        db.session.scalars(
            select(Refund)
            .options(selectinload(Refund.order))
            .join(Order, Order.id == Refund.order_id)
            .where(
                Order.provider == provider_name,
                Refund.state == "succeeded",
                Refund.completed_at >= start,
                Refund.completed_at < end,
            )
            .order_by(Refund.id)
        )
    )


def _compare_pays(
    bill_pays: dict[str, list[BillRow]], settled: list[Order], by_number: dict[str, Order]
) -> tuple[int, list[Found]]:
    """The bill's payments against our orders: each order number's payments together, then the
    orders we settled that day the bill does not have."""
    matched, found = 0, []
    for number, pays in bill_pays.items():
        there = sum(r.amount_fen for r in pays)
        trade_no = pays[0].trade_no
        order = by_number.get(number)
        if order is None or not _knows_the_money(order):
            found.append(Found("unknown_here", number, trade_no, there, order.total_fen if order else None))
        elif there != order.total_fen:
            found.append(Found("amount_differs", number, trade_no, there, order.total_fen))
        else:
            matched += 1
    for order in settled:
        if order.order_no not in bill_pays:
            found.append(Found("absent_there", order.order_no, order.provider_trade_no, None, order.total_fen))
    return matched, found


def _compare_refunds(
    number: str,
    bill_rows: list[BillRow],
    ours_here: list[Refund],
    order: Order | None,
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[int, list[Found]]:
    """One order's refunds in the bill against ours, amount by amount."""
    there = [r.amount_fen for r in bill_rows]
    ours = [r.amount_fen for r in ours_here]
    trade_no = bill_rows[0].trade_no if bill_rows else None
    matched = _pair_off(there, ours)
    # A refund recorded here but completed on another day (or still being sent) is known.
    elsewhere = [
        r.amount_fen
        for r in (order.refunds if order else [])
        if not (r.state == "succeeded" and start <= r.completed_at < end)
    ]
    matched += _pair_off(there, elsewhere)
    # strict=False on purpose: the amounts left on both sides pair up as far as the shorter list goes;
    # what is left over on either side is found just below.
    found = [Found("amount_differs", number, trade_no, -a, -b) for a, b in zip(there, ours, strict=False)]
    found += [Found("unknown_here", number, trade_no, -a, None) for a in there[len(ours) :]]
    found += [Found("absent_there", number, trade_no, None, -b) for b in ours[len(there) :]]
    return matched, found


def _pair_off(there: list[int], ours: list[int]) -> int:
    """Take each amount of `there` that `ours` has too off both lists; how many were taken."""
    taken = 0
    for amount in list(there):
        if amount in ours:
            there.remove(amount)
            ours.remove(amount)
            taken += 1
    return taken


def reconcile(day: dt.date, provider_name: str = "sandbox", *, staff_id: int | None = None) -> ReconRun:
    """Fetch the provider's bill of `day` (Asia/Shanghai), compare it with our books and record
    the run and its differences. Idempotent: the same bill and books give the same run.

    Raises ReconError for a provider that is not configured or a day not yet begun, and
    ProviderError when the bill cannot be fetched (nothing is written then)."""
    provider = orders.providers().get(provider_name)
    if provider is None:
        raise ReconError(f"未配置支付机构 {provider_name}")
    if day > shanghai_today():
        raise ReconError("不能对账尚未到来的日期", field="day")
    if day < FIRST_DAY:  # (no bill of 0001-01-01 exists; asking for one is not the provider failing)
        raise ReconError(f"请输入{FIRST_DAY.year}年之后的日期", field="day")
    db.session.commit()  # no transaction open while the provider (perhaps in-process) answers
    rows = provider.bill(day)
    try:
        return _record(day, provider_name, rows, staff_id)
    except IntegrityError:
        # Another run of the same day inserted the run first: that one is committed now.
        db.session.rollback()
        return _record(day, provider_name, rows, staff_id)


def _record(day: dt.date, provider_name: str, rows: list[BillRow], staff_id: int | None) -> ReconRun:
    with write_transaction():
        run = db.session.scalar(select(ReconRun).filter_by(provider=provider_name, day=day).with_for_update())
        if run is None:
            run = ReconRun(provider=provider_name, day=day, summary={})
            db.session.add(run)
            db.session.flush()
        matched, found, summary = compare(day, provider_name, rows)
        existing = list(
            db.session.scalars(select(ReconDifference).filter_by(run_id=run.id).order_by(ReconDifference.id))
        )
        resolved = {_key(d) for d in existing if d.state == "resolved"}
        still_open = {}
        for difference in existing:
            if difference.state == "open":
                still_open.setdefault(_key(difference), []).append(difference)
        kept = added = 0
        for item in found:
            if item.key in resolved:
                continue
            if still_open.get(item.key):
                difference = still_open[item.key].pop(0)
                difference.provider_trade_no = item.provider_trade_no or difference.provider_trade_no
                kept += 1
            else:
                db.session.add(
                    ReconDifference(
                        run_id=run.id,
                        kind=item.kind,
                        out_trade_no=item.out_trade_no,
                        provider_trade_no=item.provider_trade_no,
                        provider_fen=item.provider_fen,
                        our_fen=item.our_fen,
                        state="open",
                    )
                )
                added += 1
        dropped = 0
        for leftovers in still_open.values():
            for difference in leftovers:  # no longer in the bill or our books: gone
                db.session.delete(difference)
                dropped += 1
        db.session.flush()
        by_kind = defaultdict(int)
        for item in found:
            by_kind[item.kind] += 1
        open_count = db.session.scalar(
            select(func.count()).select_from(ReconDifference).filter_by(run_id=run.id, state="open")
        )
        before = {"matched": run.matched, "differences": run.differences} if run.summary else None
        run.fetched_at, run.matched, run.differences = utcnow(), matched, len(found)
        run.summary = {
            **summary,
            **{k: by_kind.get(k, 0) for k in ("unknown_here", "absent_there", "amount_differs")},
            "open": open_count,
        }
        audit(
            staff_id,
            "recon.run",
            f"recon_run:{run.id}",
            before,
            {
                "provider": provider_name,
                "day": day.isoformat(),
                "matched": matched,
                "differences": len(found),
                "open": open_count,
                "new": added,
                "kept": kept,
                "dropped": dropped,
            },
        )
    return run


def describe(run: ReconRun) -> str:
    """One line for the command line and the log."""
    s = run.summary or {}
    return (
        f"reconciled {run.provider} {run.day.isoformat()}: bill {s.get('bill_pays', 0)} payments, "
        f"{s.get('bill_refunds', 0)} refunds; ours {s.get('our_pays', 0)} payments, "
        f"{s.get('our_refunds', 0)} refunds; matched {run.matched}; differences {run.differences} "
        f"(unknown_here {s.get('unknown_here', 0)}, absent_there {s.get('absent_there', 0)}, "
        f"amount_differs {s.get('amount_differs', 0)}); open {open_count(run)}"
    )


def billed_providers() -> list[str]:
    """The providers whose daily bill we read (all that say `reads_bills`; UnionPay's too)."""
    return sorted(name for name, provider in orders.providers().items() if getattr(provider, "reads_bills", True))


def run_daily(day: dt.date | None = None) -> list[ReconRun]:
    """The daily job: yesterday (Asia/Shanghai) for every configured provider. One provider
    that cannot be reached does not stop the others (the next run, or staff, try again)."""
    day = day or shanghai_today() - dt.timedelta(days=1)
    runs = []
    for name in billed_providers():
        try:
            runs.append(reconcile(day, name))
        except Exception:
            db.session.rollback()
            log.exception("reconciliation of %s %s failed", name, day)
    return runs


# -- reading ----------------------------------------------------------------------------------------


def open_count(run: ReconRun) -> int:
    return db.session.scalar(select(func.count()).select_from(ReconDifference).filter_by(run_id=run.id, state="open"))


def recent_runs(limit: int = 60) -> list[tuple[ReconRun, int]]:
    """The latest runs with their open differences, newest day first."""
    runs = list(db.session.scalars(select(ReconRun).order_by(ReconRun.day.desc(), ReconRun.provider).limit(limit)))
    counts = (
        dict(
            db.session.execute(
                select(ReconDifference.run_id, func.count())
                .where(ReconDifference.state == "open", ReconDifference.run_id.in_([r.id for r in runs]))
                .group_by(ReconDifference.run_id)
            ).all()
        )
        if runs
        else {}
    )
    return [(run, counts.get(run.id, 0)) for run in runs]


def staff_names(differences: list[ReconDifference]) -> dict[int, str]:
    ids = {d.resolved_by for d in differences if d.resolved_by}
    if not ids:
        return {}
    return dict(db.session.execute(select(Staff.id, Staff.name).where(Staff.id.in_(ids))).all())


def order_of(difference: ReconDifference) -> Order | None:
    return db.session.scalar(
        select(Order).filter_by(order_no=difference.out_trade_no, provider=difference.run.provider)
    )


def is_refund(difference: ReconDifference) -> bool:
    """A difference about a refund row (amounts negative, as in the bill)."""
    return (difference.provider_fen or 0) < 0 or (difference.our_fen or 0) < 0


def actions_for(difference: ReconDifference, order: Order | None = None) -> list[tuple[str, str]]:
    """The actions staff may take on this difference, as (value, label)."""
    order = order if order is not None else order_of(difference)
    if is_refund(difference):
        # A trade query does not show refunds, and no money can be moved to fix a refund row:
        # staff check with the provider and write down what they found.
        names = ["ignore"]
    elif difference.kind == "unknown_here":
        names = ["settle", "refund"] if order is not None else ["ignore"]
    elif difference.kind == "absent_there":
        names = ["recheck", "ignore"]
    else:
        excess = (difference.provider_fen or 0) > (difference.our_fen or 0)
        names = ["refund", "ignore"] if excess and order is not None else ["ignore"]
    labels = dict(ACTION_LABELS)
    if difference.kind == "amount_differs":
        labels["refund"] = ACTION_LABELS["refund_excess"]
    return [(name, labels[name]) for name in names]


# -- resolving ----------------------------------------------------------------------------------------


def resolve(staff_id: int, difference_id: int, action: str, note: str | None = None) -> Resolution:
    """Resolve one open difference with `action` (see actions_for). The change, the difference
    marked resolved (who, when) and the audit entry commit together; a refund is sent after.
    Raises ReconError (nothing written) when refused."""
    note = (note or "").strip()
    if len(note) > 200:
        raise ReconError("说明不超过200字", field="note")
    difference = db.session.get(ReconDifference, difference_id)
    if difference is None:
        raise ReconError("未找到该差异")
    _refuse_if_resolved(difference)
    order = order_of(difference)
    if action not in dict(actions_for(difference, order)):
        raise ReconError("该差异不能这样处理，请重新选择处理方式", field="action")
    if action == "ignore":
        if not note:
            raise ReconError("选择不作处理时，请填写说明", field="note")
        return _ignore(staff_id, difference_id, note)
    if action == "recheck":
        return _recheck(staff_id, difference_id, order, note)
    if action == "settle":
        return _settle(staff_id, difference_id, order, note)
    if difference.kind == "unknown_here":
        return _refund_unclaimed(staff_id, difference_id, order, note)
    return _refund_excess(staff_id, difference_id, order, note)


def _refuse_if_resolved(difference: ReconDifference) -> None:
    if difference.state != "open":
        label = RESOLUTION_LABELS.get(difference.resolution or "", difference.resolution or "")
        raise ReconError(f"该差异已处理（{label}），不能重复处理")


def _lock_open(difference_id: int) -> ReconDifference:
    """The difference, row-locked and read afresh: refused if someone resolved it meanwhile."""
    difference = db.session.get(ReconDifference, difference_id, with_for_update=True, populate_existing=True)
    _refuse_if_resolved(difference)
    return difference


def _lock_order(order: Order) -> Order:
    return db.session.get(Order, order.id, with_for_update=True, populate_existing=True)


def _snapshot(difference: ReconDifference) -> dict:
    return {
        "kind": difference.kind,
        "out_trade_no": difference.out_trade_no,
        "state": difference.state,
        "provider_fen": difference.provider_fen,
        "our_fen": difference.our_fen,
        "resolution": difference.resolution,
        "note": difference.note,
    }


def _tickets_of(order: Order) -> list[dict]:
    """Each 票证号码 of a settled order with its 主管税务机关 and what it took (one per tax office)."""
    return [
        {"ticket_no": t.ticket_no, "tax_office": t.tax_office.name, "amount_fen": sum(i.amount_fen for i in t.items)}
        for t in order.tickets
    ]


def _tickets_said(order: Order) -> str:
    return "、".join(
        f"{t['ticket_no']}（{t['tax_office']} ¥{fen_display(t['amount_fen'])}）" for t in _tickets_of(order)
    )


def _order_snapshot(order: Order) -> dict:
    paid = db.session.scalar(
        select(func.count())
        .select_from(Due)
        .join(OrderItem, OrderItem.due_id == Due.id)
        .where(OrderItem.order_id == order.id, Due.state == "paid", Due.order_id == order.id)
    )
    return {
        "order": order.order_no,
        "state": order.state,
        "total_fen": order.total_fen,
        "dues_paid": paid,
        "refunds": [[r.out_request_no, r.amount_fen, r.state] for r in order.refunds],
    }


def _mark(difference: ReconDifference, staff_id: int, resolution: str, note: str) -> None:
    difference.state, difference.resolution = "resolved", resolution
    difference.note = note[:200] or None
    difference.resolved_by, difference.resolved_at = staff_id, utcnow()


def _resolve(
    difference: ReconDifference, staff_id: int, resolution: str, note: str, order_before: dict, order_after: dict
) -> None:
    """Mark the difference resolved, with one audit entry of it and its order before and after."""
    difference_before = _snapshot(difference)
    _mark(difference, staff_id, resolution, note)
    audit(
        staff_id,
        f"recon.{resolution}",
        f"recon_difference:{difference.id}",
        {"difference": difference_before, "order": order_before},
        {"difference": _snapshot(difference), "order": order_after},
    )


def _audit_money_back(staff_id: int, order: Order, state: str, refund_fen: int, out_request_no: str) -> None:
    """The audit entry of money a resolution sends back to its source (the order was in `state`)."""
    audit(
        staff_id,
        "money.refund",
        f"order:{order.order_no}",
        {"state": state},
        {"refund_fen": refund_fen, "out_request_no": out_request_no},
    )


def _with_note(text: str, note: str) -> str:
    return f"{text}；{note}" if note else text


def _query(provider_name: str, out_trade_no: str) -> TradeState:
    """The provider's trade query, asked with no transaction open."""
    provider = orders.providers().get(provider_name)
    if provider is None:
        raise ReconError(f"未配置支付机构 {provider_name}")
    db.session.commit()
    try:
        return provider.query(out_trade_no)
    except ProviderError as exc:
        log.warning("reconciliation query %s failed: %s", out_trade_no, exc)
        raise ReconError("暂时无法连接支付机构，请稍后重试") from None


def _ignore(staff_id: int, difference_id: int, note: str) -> Resolution:
    with write_transaction():
        difference = _lock_open(difference_id)
        before = _snapshot(difference)
        _mark(difference, staff_id, "ignore", note)
        audit(
            staff_id,
            "recon.ignore",
            f"recon_difference:{difference.id}",
            {"difference": before},
            {"difference": _snapshot(difference)},
        )
    return Resolution(difference, "已记录：不作处理")


def _recheck(staff_id: int, difference_id: int, order: Order, note: str) -> Resolution:
    """Ask the provider about the trade. Present and paid at our amount: the bill of that day
    simply missed it (often billed on another day) — resolved. Otherwise the finding is written on
    the difference for staff, which stays open; our order is left as it is."""
    difference = db.session.get(ReconDifference, difference_id)
    state = _query(difference.run.provider, difference.out_trade_no)
    there = state.status == "success" and state.amount_fen == difference.our_fen
    when = shanghai_now().strftime("%Y-%m-%d %H:%M")
    if there:
        paid = state.paid_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if state.paid_at else "未知"
        finding = (
            f"复核：支付机构有此交易（{state.trade_no}，{yuan(state.amount_fen)}，付款时间 {paid}），未列入当日账单"
        )
    elif state.status == "success":
        finding = (
            f"复核（{when}）：支付机构交易金额 {yuan(state.amount_fen)}，与本方 {yuan(difference.our_fen)} "
            f"不一致；订单未作改动，请向支付机构核实后处理"
        )
    else:
        finding = (
            f"复核（{when}）：支付机构{TRADE_STATUS_WORDS.get(state.status, state.status)}；"
            f"订单未作改动，请向支付机构核实后处理"
        )
    with write_transaction():
        difference = _lock_open(difference_id)
        before = _snapshot(difference)
        if there:
            _mark(difference, staff_id, "recheck", _with_note(finding, note))
        else:
            difference.note = _with_note(finding, note)[:200]
        audit(
            staff_id,
            "recon.recheck",
            f"recon_difference:{difference.id}",
            {"difference": before},
            {
                "difference": _snapshot(difference),
                "provider_status": state.status,
                "provider_fen": state.amount_fen,
                "order": order.order_no if order else None,
            },
        )
    return Resolution(difference, "复核无误，差异已处理" if there else finding)


def _settle(staff_id: int, difference_id: int, order: Order, note: str) -> Resolution:
    """Money the provider took for an order of ours that never heard of it: the provider's trade
    state goes through the state machine, which settles the order if its dues are still payable
    and sends the money back (原路退回) otherwise."""
    state = _query(order.provider, order.order_no)
    if state.status != "success":
        raise ReconError(f"支付机构显示{TRADE_STATUS_WORDS.get(state.status, state.status)}，不能补记缴费")
    if state.amount_fen is not None and state.amount_fen != order.total_fen:
        raise ReconError(
            f"支付机构交易金额 {yuan(state.amount_fen)} 与订单金额 {yuan(order.total_fen)} 不一致，"
            "不能补记缴费；请选择原路退回"
        )
    with write_transaction():
        difference = _lock_open(difference_id)
        order = _lock_order(order)
        before = _order_snapshot(order)
        was = order.state
        try:
            outcome = orders.apply_trade_state_within(
                state, provider=order.provider, source="对账补记", from_query=True
            )
        except (orders.UnknownOrder, orders.AmountMismatch):
            raise ReconError("支付机构的交易与本方订单不符，不能补记缴费") from None
        order = _lock_order(order)
        after = _order_snapshot(order)
        if outcome.refund_needed:
            text = "费款已不可缴，原路退回"
        elif order.state == "settled" and was != "settled":
            text = f"已补记缴费，订单缴费成功（票证号码 {_tickets_said(order)}）"
        else:
            text = f"订单已是{order.state_label}，无需补记"
        _resolve(difference, staff_id, "settle", _with_note(text, note), before, after)
        if outcome.refund_needed:
            _audit_money_back(staff_id, order, was, order.total_fen, f"{order.order_no}R1")
        elif order.state == "settled" and was != "settled":
            audit(
                staff_id,
                "money.settle",
                f"order:{order.order_no}",
                {"state": was},
                {"state": "settled", "amount_fen": order.total_fen, "tickets": _tickets_of(order)},
            )
        order_id = order.id
    if outcome.refund_needed:
        refunds.complete_refunds(order_id)
    return Resolution(difference, text)


def _refund_unclaimed(staff_id: int, difference_id: int, order: Order, note: str) -> Resolution:
    """Money the provider took for an order of ours that is not settled goes back to its source:
    the order is closed (its dues released) and refunded through the order refund path."""
    if order.state == "settled":
        raise ReconError("该订单已缴费成功，不能在对账中退回；如需退费，请走退费申请")
    state = _query(order.provider, order.order_no)
    if state.status != "success":
        raise ReconError(f"支付机构显示{TRADE_STATUS_WORDS.get(state.status, state.status)}，没有可退回的款项")
    with write_transaction():
        difference = _lock_open(difference_id)
        order = _lock_order(order)
        if order.state == "settled":
            raise ReconError("该订单已缴费成功，不能在对账中退回；如需退费，请走退费申请")
        before, was = _order_snapshot(order), order.state
        refund = refunds.return_payment(
            order,
            "对账：支付机构已收款、订单未缴费，原路退回",
            "缴费未完成，已收款项原路退回",
            amount_fen=state.amount_fen or order.total_fen,
        )
        after = _order_snapshot(order)
        _resolve(difference, staff_id, "refund", _with_note(f"原路退回 {yuan(refund.amount_fen)}", note), before, after)
        _audit_money_back(staff_id, order, was, refund.amount_fen, refund.out_request_no)
        order_id = order.id
    refunds.complete_refunds(order_id)
    return Resolution(difference, f"已发起原路退回 {yuan(refund.amount_fen)}")


def _refund_excess(staff_id: int, difference_id: int, order: Order, note: str) -> Resolution:
    """The provider took more than the order's total: the excess goes back to its source; the
    order stays settled and its dues paid."""
    difference = db.session.get(ReconDifference, difference_id)
    excess = (difference.provider_fen or 0) - (difference.our_fen or 0)
    if order.state != "settled":
        raise ReconError(f"该订单当前为{order.state_label}，不能退回多收金额")
    state = _query(order.provider, order.order_no)
    if state.status != "success" or state.amount_fen != difference.provider_fen:
        raise ReconError("支付机构的交易已与账单不同，请重新对账后再处理")
    with write_transaction():
        difference = _lock_open(difference_id)
        order = _lock_order(order)
        if order.state != "settled":
            raise ReconError(f"该订单当前为{order.state_label}，不能退回多收金额")
        before = _order_snapshot(order)
        refund = refunds.request_excess_refund(
            order, difference.id, excess, f"对账：支付机构多收 {yuan(excess)}，原路退回"
        )
        after = _order_snapshot(order)
        _resolve(difference, staff_id, "refund", _with_note(f"退回多收金额 {yuan(excess)}", note), before, after)
        _audit_money_back(staff_id, order, order.state, excess, refund.out_request_no)
        order_id = order.id
    refunds.complete_refunds(order_id)
    return Resolution(difference, f"已发起退回多收金额 {yuan(excess)}")
