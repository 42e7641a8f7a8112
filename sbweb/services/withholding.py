"""自动缴 and 批扣 through a 银行缴费协议: a daily job pays new dues by withholding from the
account of an active agreement — the signer's own enrollment, and (自动缴) the dues of the
payees the signer switched it on for. Each due gets one withholding attempt at most (its
order's idempotency key is the due's), so nothing is charged twice; a refusal (余额不足)
fails that order, frees the due for paying by hand, and shows in 缴费记录 as 失败."""
from flask import current_app
from sqlalchemy import select

from sbweb.clock import shanghai_now
from sbweb.db import db, write_transaction
from sbweb.models import BankAgreement, Due, Enrollment, Order, Payee
from sbweb.payments import ProviderError, TradeState, WithholdRefused, orders
from sbweb.services import standards


def _open_dues(person_id: int, enrollment_id: int | None = None) -> list[Due]:
    query = select(Due).join(Enrollment).where(Enrollment.person_id == person_id, Due.state == "open",
                                                 Due.order_id.is_(None))
    if enrollment_id is not None:
        query = query.where(Due.enrollment_id == enrollment_id)
    return list(db.session.scalars(query.order_by(Due.period_start, Due.id)))


def withhold(agreement: BankAgreement, payer_id: int, due: Due) -> Order | None:
    """One attempt for one due; None when nothing was attempted now (tried before, or the due
    was paid or changed meanwhile)."""
    try:
        made = orders.create_order(payer_id=payer_id, person_ids={due.enrollment.person_id}, due_ids=[due.id],
                                   shown=orders.fingerprint([due]), channel="bank",
                                   idempotency_key=f"withhold-{due.id}")
    except (orders.DueUnavailable, orders.StaleSelection):
        return None  # paid by hand or changed meanwhile: not this run's
    order = made.order
    if not made.created:
        return None  # tried before: one attempt per due
    with write_transaction():
        orders.transition(order, "paying", f"银行缴费协议 {agreement.agreement_no} 扣款")
    provider = orders.provider_for(order)
    try:
        state = provider.withhold(order.order_no, order.total_fen, order.subject, agreement.agreement_no)
    except WithholdRefused as exc:
        orders.apply_trade_state(TradeState(order.order_no, "closed"), provider=order.provider,
                                 source=f"协议扣款未成功（{exc}）")
    except ProviderError:
        return order  # unknown outcome: 支付中 until the housekeeping query says
    else:
        orders.apply_trade_state(state, provider=order.provider, source="银行缴费协议扣款")
    return db.session.get(Order, order.id, populate_existing=True)


def run(now=None) -> dict[str, int]:
    """批扣 for every active agreement (its own enrollment), then 自动缴 for switched-on payees
    through the payer's first active agreement. Skips regions in a reconciliation window."""
    now = now or shanghai_now()
    counts = {"attempted": 0, "settled": 0, "failed": 0, "paused": 0}
    if not current_app.config["WITHHOLD_PROVIDER"]:
        return counts  # withholding is not offered here
    agreements = list(db.session.scalars(select(BankAgreement).where(BankAgreement.state == "active")
                                         .order_by(BankAgreement.id)))
    work = [(a, a.person_id, d) for a in agreements for d in _open_dues(a.person_id, a.enrollment_id)]
    first_of = {}
    for a in agreements:
        first_of.setdefault(a.person_id, a)
    for payee in db.session.scalars(select(Payee).where(Payee.auto_pay.is_(True))):
        agreement = first_of.get(payee.payer_id)
        if agreement is not None:
            work += [(agreement, payee.payer_id, d) for d in _open_dues(payee.person_id)]
    for agreement, payer_id, due in work:
        if standards.pause_now({due.enrollment.agency.region_code}, now):
            counts["paused"] += 1
            continue
        order = withhold(agreement, payer_id, due)
        if order is None:
            continue
        counts["attempted"] += 1
        counts["settled"] += order.state == "settled"
        counts["failed"] += order.state == "failed"
    return counts
