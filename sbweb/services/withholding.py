"""自动缴 and 批扣 through a 银行缴费协议: a daily job pays new dues by withholding from the
account of an active agreement — the signer's own enrollment, and (自动缴) the dues of the
payees the signer switched it on for. Each due gets one withholding attempt at most (its
order's idempotency key is the due's), so nothing is charged twice; a refusal (余额不足)
fails that order, frees the due for paying by hand, and shows in 缴费记录 as 失败.

Money that leaves by itself takes only what its holder agreed to (`refusal`):
- a due priced by a declaration (基数申报, 选档, 城乡居民医疗) is withheld only when the
  declaration that priced it last was made at the verified level by the agreement holder or,
  for a payee's due under 自动缴, by the payer (the holder) or the payee herself: the payee
  chooses her own grade or base, and the payer's yes to paying her dues is the 自动缴 switch he
  set and the limit below. A declaration made from a looked-up session (证件号码 + 姓名, which
  anyone may know) is not withheld, nor one made before this rule (recorded as 'lookup');
- a normal due the agency pushed with its own figure (an import, the demo loader's agency
  declarations) is withheld: the agency is not the risk this guards against;
- a 补缴 the agency pushed is withheld only once the payee or payer confirmed it at the verified
  level (补缴明细确认; a new amount clears that), or when the agreement opts in to 补缴费款也自动扣款;
- a due priced by a 缴费基数 declared as not to be used for 批扣 (the Qingdao seed's question,
  asked with the base) is not withheld;
- nothing above the agreement's 单笔扣款限额 is withheld.
A due left for the resident is recorded once per due, agreement and reason (WithholdingSkip),
shown on /bank/ and on the due, and mailed to the holder once when they have an address.

A holder with an address is mailed before and after (WithholdingNotice): a run that finds a due
it may take mails what will be taken, from which account (masked) and how to stop it, and takes
it only at a run WITHHOLD_NOTICE later (the next day's: time to pay by hand, lower the limit or
revoke); a due whose figure changed since is announced again and waits again. After the run the
holder is mailed what was taken and what was refused (余额不足). These mails are service notices:
MAIL_RATE_LIMIT neither refuses nor counts them (sbweb/mail.py). A holder without an address is
told on the pages only, and nothing waits for a mail that cannot be sent.
"""

import datetime as dt
from collections import defaultdict

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sbweb import mail
from sbweb.clock import shanghai_now, utcnow
from sbweb.db import db, write_transaction
from sbweb.models import BankAgreement, Due, Enrollment, Order, Payee, Person, WithholdingNotice, WithholdingSkip
from sbweb.money import fen_display
from sbweb.payments import ProviderError, TradeState, WithholdRefused, orders
from sbweb.services import standards

COUNTS = (
    "attempted",
    "settled",
    "failed",
    "paused",
    "skipped_over_limit",
    "skipped_unverified",
    "skipped_unconfirmed",
    "skipped_reopened",
    "skipped_not_allowed",
    "announced",
    "waiting",
    "mails",
    "mails_before",
    "mails_after",
)


def _open_dues(person_id: int, enrollment_id: int | None = None) -> list[Due]:
    query = (
        select(Due)
        .join(Enrollment)
        .where(Enrollment.person_id == person_id, Due.state == "open", Due.order_id.is_(None))
    )
    if enrollment_id is not None:
        query = query.where(Due.enrollment_id == enrollment_id)
    return list(db.session.scalars(query.order_by(Due.period_start, Due.id)))


def _key(due: Due) -> str:
    return f"withhold-{due.id}"


def refusal(agreement: BankAgreement, payer_id: int, due: Due) -> str | None:
    """Why this due may not be withheld through this agreement for this payer (a
    WithholdingSkip reason), or None when it may. `payer_id` is the agreement's holder."""
    entitled = {payer_id, due.enrollment.person_id}
    if due.reopened_reason:
        return "reopened"  # its money went back: only a new declaration (or paying by hand) settles it
    if due.kind == "backpay":
        confirmed = due.confirmed_level == "verified" and due.confirmed_by_id in entitled
        if not (confirmed or agreement.withhold_backpay):
            return "unconfirmed"
    elif due.declaration_id is not None:
        declared = due.priced_by
        vouched = declared.declared_level == "agency" or (
            declared.declared_level == "verified" and declared.declared_by_id in entitled
        )
        if not vouched:
            return "unverified"
        if not declared.allow_withholding:
            return "not_allowed"
    if due.amount_fen > agreement.limit_fen:
        return "over_limit"
    return None


def withhold(agreement: BankAgreement, payer_id: int, due: Due) -> Order | None:
    """One attempt for one due; None when nothing was attempted now (tried before, or the due
    was paid or changed meanwhile: a new amount or declaration makes `shown` stale)."""
    try:
        made = orders.create_order(
            payer_id=payer_id,
            person_ids={due.enrollment.person_id},
            due_ids=[due.id],
            shown=orders.fingerprint([due]),
            channel="bank",
            idempotency_key=_key(due),
        )
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
        orders.apply_trade_state(
            TradeState(order.order_no, "closed"), provider=order.provider, source=f"协议扣款未成功（{exc}）"
        )
    except ProviderError:
        return order  # unknown outcome: 支付中 until the housekeeping query says
    else:
        orders.apply_trade_state(state, provider=order.provider, source="银行缴费协议扣款")
    return db.session.get(Order, order.id, populate_existing=True)


def _tried(payer_id: int, due: Due) -> bool:
    return (
        db.session.scalar(select(Order.id).where(Order.payer_id == payer_id, Order.idempotency_key == _key(due)))
        is not None
    )


def skip(agreement: BankAgreement, due: Due, reason: str) -> WithholdingSkip | None:
    """Record that this due is left for the resident; the new row, or None when it was said
    before (its figures are brought up to date, nobody is told again)."""
    figures = (due.amount_fen, agreement.limit_fen)
    said = db.session.scalar(
        select(WithholdingSkip).where(
            WithholdingSkip.due_id == due.id,
            WithholdingSkip.agreement_id == agreement.id,
            WithholdingSkip.reason == reason,
        )
    )
    if said is not None:
        if (said.amount_fen, said.limit_fen) != figures:  # else a daily run writes nothing
            with write_transaction():
                said = db.session.get(WithholdingSkip, said.id)
                said.amount_fen, said.limit_fen = figures
        return None
    try:
        with write_transaction():
            row = WithholdingSkip(
                due_id=due.id,
                agreement_id=agreement.id,
                reason=reason,
                amount_fen=due.amount_fen,
                limit_fen=agreement.limit_fen,
            )
            db.session.add(row)
    except IntegrityError:  # another run said it meanwhile
        db.session.rollback()
        return None
    return row


def _line(row: WithholdingSkip) -> str:
    due = row.due
    whose = "" if due.enrollment.person_id == row.agreement.person_id else f"被代缴人 {due.enrollment.person.name} "
    return f"  · {whose}{due.enrollment.insurance_label} {due.period_label} {due.kind_label}：{message(row)}"


def tell(base_url: str | None = None) -> int:
    """Mail each holder, once, the dues left for them whose notice has not been mailed; one mail
    per holder. A holder without an address is told on the pages only; a notice is not held back
    by the holder's own mail rate limit (sbweb/mail.py). Returns the mails queued."""
    base_url = _base_url(base_url)
    unsent = db.session.scalars(
        select(WithholdingSkip)
        .join(Due)
        .join(BankAgreement)
        .join(Person, Person.id == BankAgreement.person_id)
        .where(WithholdingSkip.mail_id.is_(None), Due.state == "open", Person.email.is_not(None))
        .order_by(WithholdingSkip.id)
    )
    by_holder = defaultdict(list)
    for row in unsent:
        by_holder[row.agreement.person_id].append(row)
    mailed = 0
    for holder_id, rows in by_holder.items():
        holder = db.session.get(Person, holder_id)
        body = "\n".join(
            [
                "您好：",
                "",
                "以下费款未从您的银行缴费协议账户自动扣款，请自行缴纳：",
                *map(_line, rows),
                "",
                f"缴费请访问：{base_url}/selfpay/",
                f"查看或修改扣款设置：{base_url}/bank/",
                "",
                "此邮件由社保费缴纳服务自动发送，请勿回复。",
            ]
        )
        try:
            sent = mail.queue(holder_id, holder.email, "银行缴费协议未自动扣款提醒", body, service_notice=True)
        except mail.MailError:
            continue
        with write_transaction():
            for row in rows:
                db.session.get(WithholdingSkip, row.id).mail_id = sent.id
        mailed += 1
    return mailed


def _work(agreements: list[BankAgreement]) -> list[tuple[BankAgreement, int, Due]]:
    """(agreement, payer, due): each agreement's own enrollment, then 自动缴 for switched-on
    payees through the payer's first active agreement."""
    work = [(a, a.person_id, d) for a in agreements for d in _open_dues(a.person_id, a.enrollment_id)]
    first_of = {}
    for a in agreements:
        first_of.setdefault(a.person_id, a)
    for payee in db.session.scalars(select(Payee).where(Payee.auto_pay.is_(True))):
        agreement = first_of.get(payee.payer_id)
        if agreement is not None:
            work += [(agreement, payee.payer_id, d) for d in _open_dues(payee.person_id)]
    return work


def _still_agreed(agreement: BankAgreement, payer_id: int, due: Due) -> bool:
    """Read again just before each order (the run's list was made at its start): an agreement
    revoked, a limit lowered or 自动缴 switched off meanwhile counts from that moment."""
    db.session.refresh(agreement)
    if agreement.state != "active":
        return False
    if due.enrollment.person_id == payer_id:
        return True
    return (
        db.session.scalar(
            select(Payee.auto_pay).where(Payee.payer_id == payer_id, Payee.person_id == due.enrollment.person_id)
        )
        is True
    )


def _base_url(base_url: str | None = None) -> str:
    return (base_url or current_app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")


def _notice(due: Due, agreement: BankAgreement, stage: str) -> WithholdingNotice | None:
    return db.session.scalar(
        select(WithholdingNotice).where(
            WithholdingNotice.due_id == due.id,
            WithholdingNotice.agreement_id == agreement.id,
            WithholdingNotice.stage == stage,
        )
    )


def _address(agreement: BankAgreement) -> str | None:
    return db.session.scalar(select(Person.email).where(Person.id == agreement.person_id))


def _current(row: WithholdingNotice | None, due: Due) -> bool:
    """The notice was mailed and still tells the due's figure."""
    return (
        row is not None
        and row.mail_id is not None
        and (row.amount_fen, row.due_revision) == (due.amount_fen, due.revision)
    )


def announced(agreement: BankAgreement, due: Due, now=None) -> bool:
    """Whether the holder has been told long enough ago (WITHHOLD_NOTICE) that this due, at its
    figure today, will be taken; always, when they have no address to be told at."""
    if not _address(agreement):
        return True
    row = _notice(due, agreement, "before")
    return _current(row, due) and row.created_at <= (now or utcnow()) - current_app.config["WITHHOLD_NOTICE"]


def _item(agreement: BankAgreement, due: Due) -> str:
    whose = "" if due.enrollment.person_id == agreement.person_id else f"被代缴人 {due.enrollment.person.name} "
    provisional = f" · {due.provisional_label}" if due.provisional_label else ""
    return (
        f"{whose}{due.enrollment.insurance_label} {due.period_label} {due.kind_label} "
        f"¥{fen_display(due.amount_fen)}{provisional}"
    )


def _account_words(agreement: BankAgreement) -> str:
    return f"{agreement.account.bank_name} 账号 {agreement.account.masked_no}（协议号 {agreement.agreement_no}）"


def _record_notice(agreement: BankAgreement, due: Due, stage: str, mail_id: int, now) -> None:
    with write_transaction():
        row = _notice(due, agreement, stage)
        if row is None:
            row = WithholdingNotice(due_id=due.id, agreement_id=agreement.id, stage=stage)
            db.session.add(row)
        row.amount_fen, row.due_revision, row.created_at, row.mail_id = due.amount_fen, due.revision, now, mail_id


def _by_holder(rows):
    grouped = defaultdict(list)
    for row in rows:
        grouped[row[0].person_id].append(row)
    return grouped


def announce(ready, now=None, base_url: str | None = None) -> tuple[int, int]:
    """扣款预告: mail each holder with an address, once per due and figure, what a coming run will
    take and from which account, and how to stop it. Returns (dues announced, mails queued)."""
    now, base_url = now or utcnow(), _base_url(base_url)
    untold = [(a, p, d) for a, p, d in ready if _address(a) and not _current(_notice(d, a, "before"), d)]
    earliest = (now + current_app.config["WITHHOLD_NOTICE"]).astimezone(shanghai_now().tzinfo)
    dues = mails = 0
    for holder_id, rows in _by_holder(untold).items():
        holder = db.session.get(Person, holder_id)
        lines = ["您好：", "", f"以下费款将于 {earliest:%Y年%m月%d日} 起的每日批扣中，从您的银行缴费协议账户扣款："]
        for agreement in dict.fromkeys(a for a, _, _ in rows):
            lines += ["", f"扣款账户：{_account_words(agreement)}"]
            lines += [f"  · {_item(agreement, d)}" for a, _, d in rows if a is agreement]
        lines += [
            "",
            "如不同意扣款，请在扣款前任选其一：",
            f"  · 自行缴纳这些费款（已缴纳的不再扣款）：{base_url}/selfpay/",
            f"  · 调低单笔扣款限额，或撤销银行缴费协议：{base_url}/bank/",
        ]
        if any(d.enrollment.person_id != holder_id for _, _, d in rows):
            lines.append(f"  · 为被代缴人关闭自动缴：{base_url}/proxy/")
        lines += ["", "此邮件由社保费缴纳服务自动发送，请勿回复。"]
        try:
            sent = mail.queue(
                holder_id, holder.email, "银行缴费协议扣款预告", "\n".join(lines), service_notice=True, now=now
            )
        except mail.MailError:
            continue  # an address the mail service refuses: told again at the next run
        for agreement, _, due in rows:
            _record_notice(agreement, due, "before", sent.id, now)
        dues += len(rows)
        mails += 1
    return dues, mails


def _outcome(order: Order) -> str:
    if order.state == "settled":
        return f"已扣款，票证号码 {'、'.join(order.ticket_nos)}" if order.ticket_nos else "已扣款"
    if order.state == "failed":
        # The close's cause is "<source>: <the order's words>"; the source says why (余额不足).
        cause = order.events[-1].cause.split(": ")[0] if order.events else "扣款未成功"
        return f"未扣款：{cause}，请自行缴纳"
    return "扣款结果确认中，请稍后在缴费记录中查看"


def report(results, now=None, base_url: str | None = None) -> int:
    """扣款结果: mail each holder with an address what this run took and what it could not
    (the bank refused: 余额不足…). Returns the mails queued."""
    now, base_url = now or utcnow(), _base_url(base_url)
    mails = 0
    for holder_id, rows in _by_holder([r for r in results if _address(r[0])]).items():
        holder = db.session.get(Person, holder_id)
        lines = ["您好：", "", "本次银行缴费协议扣款结果如下："]
        for agreement in dict.fromkeys(a for a, _, _ in rows):
            lines += ["", f"扣款账户：{_account_words(agreement)}"]
            lines += [f"  · {_item(agreement, d)}：{_outcome(o)}" for a, d, o in rows if a is agreement]
        lines += [
            "",
            f"缴费记录：{base_url}/records/",
            f"查看或修改扣款设置：{base_url}/bank/",
            "",
            "此邮件由社保费缴纳服务自动发送，请勿回复。",
        ]
        try:
            sent = mail.queue(
                holder_id, holder.email, "银行缴费协议扣款结果", "\n".join(lines), service_notice=True, now=now
            )
        except mail.MailError:
            continue
        for agreement, due, _ in rows:
            _record_notice(agreement, due, "after", sent.id, now)
        mails += 1
    return mails


def run(now=None) -> dict[str, int]:
    """批扣 and 自动缴 of what may be withheld (see the module's docstring); skips regions in a
    reconciliation window; mails holders before and after, and of what was left for them."""
    now = now or shanghai_now()
    counts = dict.fromkeys(COUNTS, 0)
    if not current_app.config["WITHHOLD_PROVIDER"]:
        return counts  # withholding is not offered here
    agreements = list(
        db.session.scalars(select(BankAgreement).where(BankAgreement.state == "active").order_by(BankAgreement.id))
    )
    ready = _ready(agreements, now, counts)
    at = now.astimezone(dt.UTC)
    counts["announced"], counts["mails_before"] = announce(ready, at)
    results = _take(ready, at, counts)
    counts["mails_after"] = report(results, at)
    counts["mails"] = tell()
    return counts


def _ready(agreements: list[BankAgreement], now, counts: dict[str, int]) -> list[tuple]:
    """(agreement, payer id, due) of what this run may withhold: not tried before, still agreed,
    not in a paused region, and nothing refuses it (each refusal left for the resident)."""
    ready = []
    for agreement, payer_id, due in _work(agreements):
        if _tried(payer_id, due):
            continue  # one attempt per due: its outcome stands
        if not _still_agreed(agreement, payer_id, due):
            continue
        if standards.pause_now({due.enrollment.agency.region_code}, now):
            counts["paused"] += 1
            continue
        if not _refused(agreement, payer_id, due, counts):
            ready.append((agreement, payer_id, due))
    return ready


def _take(ready: list[tuple], at, counts: dict[str, int]) -> list[tuple]:
    """Withhold what was announced long enough ago; (agreement, due, order) of each attempt."""
    results = []
    for agreement, payer_id, due in ready:
        if not announced(agreement, due, at):
            counts["waiting"] += 1  # told; taken at a run WITHHOLD_NOTICE later
            continue
        if not _still_agreed(agreement, payer_id, due):
            continue
        if _refused(agreement, payer_id, due, counts):  # a limit lowered since the list was made
            continue
        order = withhold(agreement, payer_id, due)
        if order is None:
            continue
        counts["attempted"] += 1
        counts["settled"] += order.state == "settled"
        counts["failed"] += order.state == "failed"
        results.append((agreement, due, order))
    return results


def _refused(agreement: BankAgreement, payer_id: int, due: Due, counts: dict[str, int]) -> bool:
    """Whether something refuses withholding the due; if so it is counted and left for the resident."""
    reason = refusal(agreement, payer_id, due)
    if reason is None:
        return False
    counts[f"skipped_{reason}"] += 1
    skip(agreement, due, reason)
    return True


def _standing(rows) -> list[WithholdingSkip]:
    """The notices that still hold: the due is open and this reason still keeps it from being
    withheld (a confirmed 补缴 or a raised limit is no longer told as a refusal)."""
    return [
        row
        for row in rows
        if row.due.state == "open" and refusal(row.agreement, row.agreement.person_id, row.due) == row.reason
    ]


def message(row: WithholdingSkip) -> str:
    """The notice with today's figures (the due's amount, the agreement's limit)."""
    return row.message_for(row.due.amount_fen, row.agreement.limit_fen)


def skips_of_agreements(agreement_ids: list[int]) -> dict[int, list[tuple[WithholdingSkip, str]]]:
    """agreement id → [(notice, its words)] of what it left for the resident to pay (for /bank/)."""
    if not agreement_ids:
        return {}
    found = defaultdict(list)
    rows = db.session.scalars(
        select(WithholdingSkip)
        .join(Due)
        .where(WithholdingSkip.agreement_id.in_(agreement_ids), Due.state == "open")
        .order_by(Due.period_start, WithholdingSkip.id)
    )
    for row in _standing(rows):
        found[row.agreement_id].append((row, message(row)))
    return dict(found)


def skips_of_dues(due_ids: list[int], holder_id: int | None) -> dict[int, list[str]]:
    """due id → why the agreements of `holder_id` left it for the resident (for the dues pages:
    an agreement and its limit are its holder's to see, nobody else's)."""
    if not due_ids or holder_id is None:
        return {}
    found = defaultdict(list)
    rows = db.session.scalars(
        select(WithholdingSkip)
        .join(BankAgreement)
        .where(WithholdingSkip.due_id.in_(due_ids), BankAgreement.person_id == holder_id)
        .order_by(WithholdingSkip.id)
    )
    for row in _standing(rows):
        found[row.due_id].append(message(row))
    return dict(found)


def announced_of_agreements(agreement_ids: list[int]) -> dict[int, list[tuple[Due, object]]]:
    """agreement id → [(due, earliest Shanghai time it may be taken)] of what a 扣款预告 told its
    holder will be taken and is still open and untaken (for /bank/: the same news as the mail)."""
    if not agreement_ids:
        return {}
    found = defaultdict(list)
    rows = db.session.scalars(
        select(WithholdingNotice)
        .join(Due)
        .where(
            WithholdingNotice.agreement_id.in_(agreement_ids),
            WithholdingNotice.stage == "before",
            Due.state == "open",
            Due.order_id.is_(None),
        )
        .order_by(Due.period_start, WithholdingNotice.id)
    )
    notice = current_app.config["WITHHOLD_NOTICE"]
    for row in rows:
        # Still to be taken: the notice tells today's figure and nothing now refuses the due.
        if (
            row.agreement.state == "active"
            and _current(row, row.due)
            and refusal(row.agreement, row.agreement.person_id, row.due) is None
        ):
            found[row.agreement_id].append((row.due, (row.created_at + notice).astimezone(shanghai_now().tzinfo)))
    return dict(found)
