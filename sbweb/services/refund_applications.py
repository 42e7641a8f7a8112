"""退费申请 by item (resident side): find a settled payment by 缴费起止日期 or 凭证号码, choose the
items to refund (a due each; part of one for 多缴费款), 退费金类型, 退费原因类型 and one's own
reported account; follow its state in 退费申请记录. Staff review item by item (the back office),
with a confirmation of what goes back and where. An item never gives back more than it took,
and is in at most one live application.

When the money is back (the provider's 原路退回 succeeded, or staff confirmed the transfer to the
bank account) each item records it, the due it paid moves as the reason says
(sbweb/services/refund_reasons.py: owed again, void, or paid at a smaller amount), and the order
is 原路退回 once all of its items are; until then it stays settled with its other items."""

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from sbweb.clock import FIRST_DAY, LAST_DAY, SHANGHAI, shanghai_now, utcnow
from sbweb.db import db, write_transaction
from sbweb.identity.people import normalise_name
from sbweb.models import Due, Order, OrderItem, RefundApplication, RefundItem, Ticket
from sbweb.money import fen_display
from sbweb.services import bank, refund_reasons
from sbweb.services.numbers import issue_number
from sbweb.services.refund_items import money_back

MONEY_TYPES = ("多缴费款退费", "误缴费款退费", "重复缴费退费", "其他退费")
BOTH_EMPTY = "票证号码和税款不能同时为空，请选择其中一种进行查询"
NOTHING = "未查询到任何可退税费信息"
NO_ITEMS = "请选择要退费的费款"


def reasons() -> list[str]:
    """退费原因类型 as the agency keeps them (the form's choices)."""
    return refund_reasons.offered()


class ApplicationError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _kind_of_item(kind: str):
    """正常 items pay normal dues; 特殊 items pay a 补缴."""
    return Due.kind == "backpay" if kind == "special" else Due.kind != "backpay"


def _refundable_item_condition(kind: str):
    return (
        (OrderItem.refunded_fen < OrderItem.amount_fen)
        & _kind_of_item(kind)
        & ~exists().where(RefundItem.live_item_id == OrderItem.id)
    )


def _refundable_query(person_id: int, kind: str):
    has_item = exists().where(
        OrderItem.order_id == Order.id, Due.id == OrderItem.due_id, _refundable_item_condition(kind)
    )
    return select(Order).where(Order.payer_id == person_id, Order.state == "settled", has_item)


def refundable_order(person_id: int, kind: str, order_no: str) -> Order | None:
    return db.session.scalar(_refundable_query(person_id, kind).where(Order.order_no == (order_no or "")[:32]))


def refundable_items(order: Order, kind: str) -> list[OrderItem]:
    """The order's items of this kind that still hold money and are in no live application."""
    return list(
        db.session.scalars(
            select(OrderItem)
            .join(Due, Due.id == OrderItem.due_id)
            .where(OrderItem.order_id == order.id, _refundable_item_condition(kind))
            .order_by(OrderItem.id)
        )
    )


def refundable(
    person_id: int,
    kind: str,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    ticket_no: str | None = None,
) -> list[Order]:
    """The payer's settled payments with an item of this kind that can still be refunded."""
    if not ticket_no and not (date_from and date_to):
        raise ApplicationError("ticket_no", BOTH_EMPTY)
    query = _refundable_query(person_id, kind)
    if ticket_no:
        # 凭证号码: any of the payment's tickets (one per tax office) finds it.
        query = query.where(Order.id.in_(select(Ticket.order_id).where(Ticket.ticket_no == ticket_no)))
    else:
        # (No payment lies outside the app's calendar; clamped to it, the next day and the UTC
        # instant of a Shanghai midnight exist for any dates asked for.)
        start = dt.datetime.combine(max(date_from, FIRST_DAY), dt.time(), SHANGHAI)
        end = dt.datetime.combine(min(date_to, LAST_DAY) + dt.timedelta(days=1), dt.time(), SHANGHAI)
        query = query.where(Order.settled_at >= start, Order.settled_at < end)
    return list(db.session.scalars(query.order_by(Order.settled_at.desc())))


def _chosen_items(order: Order, kind: str, chosen: dict[int, int | None], money_type: str) -> list[tuple]:
    """(item, amount) for each chosen item: all of what it holds, or (多缴费款) the part typed."""
    if not chosen:
        raise ApplicationError("items", NO_ITEMS)
    offered = {item.id: item for item in refundable_items(order, kind)}
    picked = []
    for item_id, amount in chosen.items():
        item = offered.get(item_id)
        if item is None:
            raise ApplicationError("items", "所选费款不可退费，请重新选择")
        if amount is None or money_type != refund_reasons.OVERPAID:
            amount = item.kept_fen  # only 多缴费款 gives back part of an item
        if not 0 < amount <= item.kept_fen:
            raise ApplicationError("items", f"退费金额应大于0且不超过该笔已缴的 {fen_display(item.kept_fen)} 元")
        picked.append((item, amount))
    return picked


def apply(
    person,
    order_no: str,
    kind: str,
    *,
    items: dict[int, int | None],
    money_type: str,
    reason: str,
    account_id: int,
    account_name: str,
) -> RefundApplication:
    """Apply for the chosen items of one of the person's payments (`items`: item id → amount in
    fen for a 多缴费款 part, or None for all it holds)."""
    if money_type not in MONEY_TYPES:
        raise ApplicationError("money_type", "请选择退费金类型")
    if reason not in reasons():
        raise ApplicationError("reason", "请选择退费原因类型")
    account = bank.own_account(person.id, account_id)
    if account is None:
        raise ApplicationError("account", "请选择本人已报告的银行账户")
    if normalise_name(account_name) != normalise_name(account.account_name):
        raise ApplicationError("account_name", "账号名称与银行账户的户名不一致")
    order = refundable_order(person.id, kind, order_no)
    if order is None:
        raise ApplicationError(None, NOTHING)
    picked = _chosen_items(order, kind, items, money_type)
    try:
        with write_transaction():
            application = _add_application(
                picked,
                person_id=person.id,
                order_id=order.id,
                kind=kind,
                money_type=money_type,
                reason=reason,
                account_id=account.id,
                account_name=account.account_name,
            )
    except IntegrityError:
        raise ApplicationError(None, "所选费款已有退费申请，请在退费申请记录中查看") from None
    return application


def overpaid_by_standard(item: OrderItem, amount_fen: int, year: int) -> RefundApplication:
    """多退 after a year's standard was published (sbweb/services/provisional.py): the system applies,
    for the payer of the item, to have `amount_fen` of it back (多缴费款退费, so its due stays paid at
    what was kept), 原路退回 — there is no account of the payer's choosing. Staff review it like
    any other. Runs inside the caller's write transaction."""
    order = item.order
    application = _add_application(
        [(item, amount_fen)],
        person_id=order.payer_id,
        order_id=order.id,
        kind="special" if item.due.kind == "backpay" else "normal",
        money_type=refund_reasons.OVERPAID,
        reason=f"按{year}年度缴费标准多缴退费"[:30],
        account_id=None,
        account_name=order.payer.name[:64],
    )
    db.session.flush()
    return application


def _add_application(picked: list[tuple[OrderItem, int]], **columns) -> RefundApplication:
    """A pending application (numbered TF, the day, a serial) for the amounts of the items
    `picked`, each item a pending line of it; `columns` say whose and why."""
    application = RefundApplication(
        application_no=f"TF{shanghai_now():%Y%m%d}{issue_number('refund_req'):08d}",
        amount_fen=sum(amount for _item, amount in picked),
        state="pending",
        **columns,
    )
    db.session.add(application)
    db.session.flush()
    for item, amount in picked:
        db.session.add(
            RefundItem(
                application_id=application.id,
                item_id=item.id,
                live_item_id=item.id,
                amount_fen=amount,
                decision="pending",
            )
        )
    return application


def applications_of(person_id: int) -> list[RefundApplication]:
    return list(
        db.session.scalars(
            select(RefundApplication)
            .where(RefundApplication.person_id == person_id)
            .order_by(RefundApplication.created_at.desc(), RefundApplication.id.desc())
        )
    )


# -- review (the back office) -----------------------------------------------------------------


def pending() -> list[RefundApplication]:
    return list(
        db.session.scalars(
            select(RefundApplication)
            .where(RefundApplication.state == "pending")
            .order_by(RefundApplication.created_at, RefundApplication.id)
        )
    )


def _snapshot(application: RefundApplication) -> dict:
    return {
        "state": application.state,
        "amount_fen": application.amount_fen,
        "order": application.order.order_no,
        "items": {str(i.item_id): [i.decision, i.amount_fen] for i in application.items},
    }


@dataclass(frozen=True)
class Plan:
    """What an approval would send back, for staff to confirm before anything moves."""

    application: RefundApplication
    approved: list[RefundItem]
    turned_down: list[RefundItem]
    method: str
    amount_fen: int
    effect: str
    destination: str


METHOD_LABELS = {"original": "原路退回", "bank": "退至银行账户"}


def plan(application_id: int, approved_ids: set[int], method: str) -> Plan:
    """The approval staff are about to confirm: which items go back, how much, where, and what
    becomes of their dues. Writes nothing."""
    if method not in METHOD_LABELS:
        raise ApplicationError("method", "请选择退费方式")
    application = _pending_for_review(application_id)
    if method == "bank" and application.account is None:
        raise ApplicationError("method", "该申请由系统生成，未报告银行账户，请选择原路退回")
    approved = [i for i in application.items if i.id in approved_ids]
    if not approved:
        raise ApplicationError("items", "请至少选择一笔同意退费的费款；全部不同意请选择审核不通过")
    if any(i.amount_fen > i.item.kept_fen for i in approved):
        raise ApplicationError(None, "该笔缴费当前不可退费")
    order = application.order
    account = application.account
    destination = (
        f"原路退回至缴费人（{order.channel_label}，订单 {order.order_no}）"
        if method == "original"
        else f"{account.bank_name} {account.masked_no}（户名 {application.account_name}），由工作人员转账后确认"
    )
    return Plan(
        application,
        approved,
        [i for i in application.items if i.id not in approved_ids],
        method,
        sum(i.amount_fen for i in approved),
        refund_reasons.effect_of(application.reason, application.money_type),
        destination,
    )


def approve(
    staff_id: int, application_id: int, approved_ids: set[int] | None = None, method: str = "original", note: str = ""
) -> RefundApplication:
    """审核通过 of the chosen items (default: all): 原路退回 through the provider (one refund, the
    items' sum, idempotent on the application number) — or, method "bank", to the applicant's
    bank account by a transfer staff confirm once made (confirm_bank_transfer). Items not chosen
    are turned down (with `note`) and may be applied for again. The resident sees 审核通过，退费中,
    then 已退费."""
    from sbweb.payments import refunds
    from sbweb.services.staff import audit

    with write_transaction():
        application = _pending_for_review(application_id)
        if approved_ids is None:
            approved_ids = {i.id for i in application.items}
        chosen = plan(application_id, approved_ids, method)
        before = _snapshot(application)
        for item in application.items:
            if item.id in approved_ids:
                item.decision, item.effect = "approved", chosen.effect
            else:
                item.decision, item.live_item_id = "rejected", None
        application.state, application.method, application.reviewed_at = "approved", method, utcnow()
        application.amount_fen = chosen.amount_fen
        if chosen.turned_down:
            application.review_note = (note or "部分费款不予退费").strip()[:200]
        if method == "original":
            refund = refunds.request_refund(
                application.order,
                application.application_no,
                chosen.amount_fen,
                f"退费申请 {application.application_no}: {application.reason}",
            )
            for item in chosen.approved:
                item.refund_id = refund.id
        audit(
            staff_id,
            "refund.approve",
            f"refund_application:{application.id}",
            before,
            {**_snapshot(application), "method": method},
        )
        if method == "original":
            audit(
                staff_id,
                "money.refund",
                f"order:{application.order.order_no}",
                {"state": "settled"},
                {"refund_fen": chosen.amount_fen, "out_request_no": application.application_no},
            )
        order_id = application.order_id
    if method == "original":
        refunds.complete_refunds(order_id)
    return settle_state(application_id)


def _pending_for_review(application_id: int) -> RefundApplication:
    application = db.session.get(RefundApplication, application_id, with_for_update=True)
    if application is None:
        raise ApplicationError(None, "未找到该退费申请")
    if application.state != "pending":
        raise ApplicationError(None, f"该申请已处理（{application.state_label}）")
    if application.order.state != "settled":
        raise ApplicationError(None, "该笔缴费当前不可退费")
    return application


def confirm_bank_transfer(staff_id: int, application_id: int) -> RefundApplication:
    """The treasury transfer to the applicant's bank account was made: 已退费, once."""
    from sbweb.services.staff import audit

    with write_transaction():
        application = db.session.get(RefundApplication, application_id, with_for_update=True)
        if application is None:
            raise ApplicationError(None, "未找到该退费申请")
        if application.state != "approved" or application.method != "bank":
            raise ApplicationError(None, f"该申请不在待退至银行账户的状态（{application.state_label}）")
        before = _snapshot(application)
        now = utcnow()
        money_back(
            [i for i in application.items if i.decision == "approved"],
            now,
            f"退费申请 {application.application_no}: 已退至银行账户 "
            f"{application.account.bank_name} {application.account.masked_no}",
        )
        application.state, application.refunded_at = "refunded", now
        audit(
            staff_id,
            "money.refund",
            f"order:{application.order.order_no}",
            {"state": "settled"},
            {"refund_fen": application.amount_fen, "to": "bank", "application": application.application_no},
        )
        audit(staff_id, "refund.bank_transfer", f"refund_application:{application.id}", before, _snapshot(application))
    return application


def awaiting_transfer() -> list[RefundApplication]:
    return list(
        db.session.scalars(
            select(RefundApplication)
            .where(RefundApplication.state == "approved", RefundApplication.method == "bank")
            .order_by(RefundApplication.reviewed_at)
        )
    )


def settle_state(application_id: int) -> RefundApplication:
    """An approved application whose items' money is all back becomes 已退费 (also run by
    housekeeping after a provider outage)."""
    with write_transaction():
        application = db.session.get(RefundApplication, application_id, with_for_update=True, populate_existing=True)
        done = [i for i in application.items if i.decision == "approved"]
        if application.state == "approved" and done and all(i.done_at is not None for i in done):
            application.state, application.refunded_at = "refunded", max(i.done_at for i in done)
    return application


def reject(staff_id: int, application_id: int, note: str) -> RefundApplication:
    """审核不通过 with the reason the resident reads; the items can be applied for again."""
    from sbweb.services.staff import audit

    note = (note or "").strip()
    if not note:
        raise ApplicationError("note", "请填写不通过的原因")
    with write_transaction():
        application = db.session.get(RefundApplication, application_id, with_for_update=True)
        if application is None:
            raise ApplicationError(None, "未找到该退费申请")
        if application.state != "pending":
            raise ApplicationError(None, f"该申请已处理（{application.state_label}）")
        before = _snapshot(application)
        application.state, application.reviewed_at = "rejected", utcnow()
        application.review_note = note[:200]
        for item in application.items:
            item.decision, item.live_item_id = "rejected", None
        audit(
            staff_id,
            "refund.reject",
            f"refund_application:{application.id}",
            before,
            {**_snapshot(application), "note": application.review_note},
        )
    return application


def settle_all() -> int:
    """Housekeeping: approved applications whose items' money has since come back."""
    ids = list(db.session.scalars(select(RefundApplication.id).where(RefundApplication.state == "approved")))
    settled = 0
    for application_id in ids:
        settled += settle_state(application_id).state == "refunded"
    return settled
