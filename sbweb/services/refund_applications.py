"""退费申请 (resident side): find a settled payment by 缴费起止日期 or 凭证号码, apply with
退费金类型, 退费原因类型 and one's own reported account; follow its state in 退费申请记录.
Staff review (审核) is the back office's; a refund never exceeds what was paid and one payment
has at most one live application."""
import datetime as dt

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from sbweb.clock import FIRST_DAY, LAST_DAY, SHANGHAI, shanghai_now, utcnow
from sbweb.db import db, write_transaction
from sbweb.models import Due, Order, OrderItem, RefundApplication
from sbweb.payments.orders import issue_number
from sbweb.services import bank
from sbweb.services.people import normalise_name

MONEY_TYPES = ("多缴费款退费", "误缴费款退费", "重复缴费退费", "其他退费")
REASONS = ("重复参保缴费", "已参加职工基本养老（医疗）保险", "参保人死亡", "出国（境）定居",
           "缴费档次或基数选择错误", "其他原因")
BOTH_EMPTY = "票证号码和税款不能同时为空，请选择其中一种进行查询"
NOTHING = "未查询到任何可退税费信息"


class ApplicationError(ValueError):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def _kind_filter(kind: str):
    """正常 payments hold only normal dues; 特殊 (补缴) payments hold a backpay due."""
    backpay = exists().where(OrderItem.order_id == Order.id, Due.id == OrderItem.due_id, Due.kind == "backpay")
    return backpay if kind == "special" else ~backpay


def _refundable_query(person_id: int, kind: str):
    return select(Order).where(Order.payer_id == person_id, Order.state == "settled", _kind_filter(kind),
                               ~exists().where(RefundApplication.live_order_id == Order.id))


def refundable_order(person_id: int, kind: str, order_no: str) -> Order | None:
    return db.session.scalar(_refundable_query(person_id, kind).where(Order.order_no == (order_no or "")[:32]))


def refundable(person_id: int, kind: str, *, date_from: dt.date | None = None, date_to: dt.date | None = None,
               ticket_no: str | None = None) -> list[Order]:
    """The payer's settled payments of this kind that have no live application."""
    if not ticket_no and not (date_from and date_to):
        raise ApplicationError("ticket_no", BOTH_EMPTY)
    query = _refundable_query(person_id, kind)
    if ticket_no:
        query = query.where(Order.ticket_no == ticket_no)
    else:
        # (No payment lies outside the app's calendar; clamped to it, the next day and the UTC
        # instant of a Shanghai midnight exist for any dates asked for.)
        start = dt.datetime.combine(max(date_from, FIRST_DAY), dt.time(), SHANGHAI)
        end = dt.datetime.combine(min(date_to, LAST_DAY) + dt.timedelta(days=1), dt.time(), SHANGHAI)
        query = query.where(Order.settled_at >= start, Order.settled_at < end)
    return list(db.session.scalars(query.order_by(Order.settled_at.desc())))


def apply(person, order_no: str, kind: str, *, money_type: str, reason: str, account_id: int,
          account_name: str) -> RefundApplication:
    if money_type not in MONEY_TYPES:
        raise ApplicationError("money_type", "请选择退费金类型")
    if reason not in REASONS:
        raise ApplicationError("reason", "请选择退费原因类型")
    account = bank.own_account(person.id, account_id)
    if account is None:
        raise ApplicationError("account", "请选择本人已报告的银行账户")
    if normalise_name(account_name) != normalise_name(account.account_name):
        raise ApplicationError("account_name", "账号名称与银行账户的户名不一致")
    order = refundable_order(person.id, kind, order_no)
    if order is None:
        raise ApplicationError(None, NOTHING)
    try:
        with write_transaction():
            application = RefundApplication(
                application_no=f"TF{shanghai_now():%Y%m%d}{issue_number('refund_req'):08d}",
                person_id=person.id, order_id=order.id, live_order_id=order.id, kind=kind,
                money_type=money_type, reason=reason, account_id=account.id, account_name=account.account_name,
                amount_fen=order.total_fen, state="pending")
            db.session.add(application)
    except IntegrityError:
        raise ApplicationError(None, "该笔缴费已有退费申请，请在退费申请记录中查看") from None
    return application


def applications_of(person_id: int) -> list[RefundApplication]:
    return list(db.session.scalars(select(RefundApplication).where(RefundApplication.person_id == person_id)
                                   .order_by(RefundApplication.created_at.desc(), RefundApplication.id.desc())))


# -- review (the back office) -----------------------------------------------------------------

def pending() -> list[RefundApplication]:
    return list(db.session.scalars(select(RefundApplication).where(RefundApplication.state == "pending")
                                   .order_by(RefundApplication.created_at, RefundApplication.id)))


def _snapshot(application: RefundApplication) -> dict:
    return {"state": application.state, "amount_fen": application.amount_fen, "order": application.order.order_no}


def approve(staff_id: int, application_id: int, method: str = "original") -> RefundApplication:
    """审核通过: the payment goes back to its source (原路退回) through the provider, idempotent on
    the application number — or, method "bank", to the applicant's bank account by a transfer
    staff confirm once made (confirm_bank_transfer). The resident sees 审核通过，退费中, then 已退费."""
    from sbweb.payments import orders
    from sbweb.services.staff import audit

    if method not in ("original", "bank"):
        raise ApplicationError(None, "请选择退费方式")
    if method == "bank":
        with write_transaction():
            application = _pending_for_review(application_id)
            before = _snapshot(application)
            application.state, application.method, application.reviewed_at = "approved", "bank", utcnow()
            audit(staff_id, "refund.approve", f"refund_application:{application.id}", before,
                  {**_snapshot(application), "method": "bank"})
        return application
    with write_transaction():
        application = _pending_for_review(application_id)
        order = application.order
        before = _snapshot(application)
        application.state, application.method, application.reviewed_at = "approved", "original", utcnow()
        orders.request_refund(order, f"{application.application_no}", application.amount_fen,
                              f"退费申请 {application.application_no}: {application.reason}")
        audit(staff_id, "refund.approve", f"refund_application:{application.id}", before, _snapshot(application))
        audit(staff_id, "money.refund", f"order:{order.order_no}", {"state": "settled"},
              {"refund_fen": application.amount_fen, "out_request_no": application.application_no})
    orders.complete_refunds(order.id)
    return settle_state(application_id)


def _pending_for_review(application_id: int) -> RefundApplication:
    application = db.session.get(RefundApplication, application_id, with_for_update=True)
    if application is None:
        raise ApplicationError(None, "未找到该退费申请")
    if application.state != "pending":
        raise ApplicationError(None, f"该申请已处理（{application.state_label}）")
    order = application.order
    if order.state != "settled" or application.amount_fen > order.total_fen:
        raise ApplicationError(None, "该笔缴费当前不可退费")
    return application


def confirm_bank_transfer(staff_id: int, application_id: int) -> RefundApplication:
    """The treasury transfer to the applicant's bank account was made: 已退费, once."""
    from sbweb.payments import orders
    from sbweb.services.staff import audit

    with write_transaction():
        application = db.session.get(RefundApplication, application_id, with_for_update=True)
        if application is None:
            raise ApplicationError(None, "未找到该退费申请")
        if application.state != "approved" or application.method != "bank":
            raise ApplicationError(None, f"该申请不在待退至银行账户的状态（{application.state_label}）")
        order = db.session.get(Order, application.order_id, with_for_update=True, populate_existing=True)
        before = _snapshot(application)
        now = utcnow()
        orders.transition(order, "refunded", f"退费申请 {application.application_no}: 已退至银行账户 "
                                             f"{application.account.bank_name} {application.account.masked_no}",
                          refunded_at=now)
        application.state, application.refunded_at = "refunded", now
        audit(staff_id, "money.refund", f"order:{order.order_no}", {"state": "settled"},
              {"refund_fen": application.amount_fen, "to": "bank", "application": application.application_no})
        audit(staff_id, "refund.bank_transfer", f"refund_application:{application.id}", before, _snapshot(application))
    return application


def awaiting_transfer() -> list[RefundApplication]:
    return list(db.session.scalars(select(RefundApplication).where(
        RefundApplication.state == "approved", RefundApplication.method == "bank")
        .order_by(RefundApplication.reviewed_at)))


def settle_state(application_id: int) -> RefundApplication:
    """An approved application whose refund went through becomes 已退费 (also run by
    housekeeping after a provider outage)."""
    with write_transaction():
        application = db.session.get(RefundApplication, application_id, with_for_update=True, populate_existing=True)
        order = db.session.get(Order, application.order_id, populate_existing=True)
        if application.state == "approved" and order.state == "refunded":
            application.state, application.refunded_at = "refunded", order.refunded_at
    return application


def reject(staff_id: int, application_id: int, note: str) -> RefundApplication:
    """审核不通过 with the reason the resident reads; the payment can be applied for again."""
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
        application.review_note, application.live_order_id = note[:200], None
        audit(staff_id, "refund.reject", f"refund_application:{application.id}", before,
              {**_snapshot(application), "note": application.review_note})
    return application


def settle_all() -> int:
    """Housekeeping: approved applications whose refund has since gone through."""
    ids = list(db.session.scalars(select(RefundApplication.id).join(Order, Order.id == RefundApplication.order_id)
                                  .where(RefundApplication.state == "approved", Order.state == "refunded")))
    for application_id in ids:
        settle_state(application_id)
    return len(ids)
