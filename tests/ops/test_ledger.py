"""The books balance after any path (`flask ledger check`, sbweb/services/ledger.py): a generated
history of more than 500 mixed operations — agency pushes, declarations and their voiding,
payments through the sandbox cashier (some failing; some by 云闪付 through the 银联 gateway, whose
full refunds go back by 消费撤销 the day they were paid and by 退货 after), vouchers and 缴费证明 issued, refund
applications by item for every reason (some for part of an item), staff approving all, some or
none of them (原路退回 or to the bank account), paying again what a refund left owed, housekeeping
and a day's reconciliation — leaves no violation; and each of six corruptions planted in such
books is found."""

import datetime as dt
import random
from collections import Counter

import pytest
from sqlalchemy import select, update

from sbweb.clock import SHANGHAI
from sbweb.db import db, write_transaction
from sbweb.models import (
    Declaration,
    Document,
    DocumentItem,
    Due,
    DueEvent,
    Enrollment,
    Order,
    OrderItem,
    Person,
    Refund,
    TaxOffice,
    Ticket,
)
from sbweb.payments import orders
from sbweb.services import (
    bank,
    declarations,
    documents,
    ledger,
    records,
    refund_applications,
    refund_reasons,
    registry,
    staff,
)
from sbweb.services.declarations import DeclarationError
from tests.support import ResidentClient
from tests.support.journeys import choose, pay, sign_in

PAYERS = ("王芳", "张伟", "李明")
CARDS = {"王芳": "6222020200000000006", "张伟": "6217000010000000003", "李明": "6013820000000000005"}


class History:
    """The world and the moves made in it, for the generator and the corruption tests."""

    def __init__(self, app, world, clock, seed: int):
        self.app, self.world, self.clock = app, world, clock
        self.rng = random.Random(seed)
        self.documents_rng = random.Random(seed + 1)
        self.channel_rng = random.Random(seed + 2)  # its own, so the rest of the history stays the seed's
        self.paid_by = Counter()
        self.done = Counter()
        self.issued = Counter()
        self.clients = {}
        app.test_client_class = ResidentClient
        with app.app_context():
            self.staff_id = staff.create("ledger", "对账员", "correct horse battery", "admin").id
            for name in PAYERS:
                person = db.session.get(Person, world.people[name])
                bank.report(person, bank_name="中国工商银行", kind="card", account_no=CARDS[name], account_name=name)
        for name in PAYERS:
            client = app.test_client()
            sign_in(client, name, verified=True)
            self.clients[name] = client
        self.month = 0

    # -- helpers -------------------------------------------------------------------------------------

    def enrollments(self, name) -> list[Enrollment]:
        return list(db.session.scalars(select(Enrollment).filter_by(person_id=self.world.people[name])))

    def payable(self, enrollment) -> list[Due]:
        return list(
            db.session.scalars(
                select(Due)
                .where(Due.enrollment_id == enrollment.id, Due.state == "open", Due.order_id.is_(None))
                .order_by(Due.id)
            )
        )

    # -- the operations ------------------------------------------------------------------------------

    def push(self):
        """The agency approves a past month of someone's enrollment (a normal due or a 补缴)."""
        enrollment = self.rng.choice(self.enrollments(self.rng.choice(PAYERS)))
        self.month += 1
        period = f"{2000 + self.month // 12}-{self.month % 12 + 1:02d}"
        kind = self.rng.choice(("normal", "normal", "backpay"))
        with write_transaction():
            registry.add_due(
                enrollment,
                kind=kind,
                period_start=period,
                period_end=period,
                amount_fen=self.rng.choice((10000, 35200, 88000, 120050)),
            )
        self.done["push"] += 1

    def declare(self):
        name = self.rng.choice(("王芳", "张伟", "李明"))
        person = self.world.people[name]
        today = self.clock.now.astimezone(SHANGHAI).date()
        try:
            if name == "李明":
                enrollment = self.world.enrollment(name, "pension")
                declarations.choose_grade(
                    person,
                    enrollment,
                    year=2027,
                    grade_fen=self.rng.choice((30000, 100000, 200000)),
                    today=today,
                    level="verified",
                )
            else:
                enrollment = self.world.enrollment(name, "pension")
                month = self.rng.randint(1, 12)
                declarations.declare_base(
                    person,
                    enrollment,
                    year=2026,
                    month_from=month,
                    month_to=month,
                    base_fen=self.rng.choice((450400, 600000, 800000)),
                    today=today,
                    level="verified",
                )
            self.done["declare"] += 1
        except DeclarationError:
            self.done["declare refused"] += 1

    def void(self):
        name = self.rng.choice(PAYERS)
        valid = list(
            db.session.scalars(select(Declaration).filter_by(person_id=self.world.people[name], state="valid"))
        )
        if not valid:
            return
        try:
            declarations.void(self.world.people[name], self.rng.choice(valid).id)
            self.done["void"] += 1
        except DeclarationError:
            self.done["void refused"] += 1

    def pay(self):
        """Through the real pages and the sandbox cashier; now and then the payment fails."""
        name = self.rng.choice(PAYERS)
        choices = [(e, d) for e in self.enrollments(name) for d in self.payable(e)]
        if not choices:
            return
        enrollment, _ = self.rng.choice(choices)
        dues = self.payable(enrollment)
        picked = self.rng.sample(dues, min(len(dues), self.rng.randint(1, 3)))
        number, ids = enrollment.enrollment_no, [d.id for d in picked]
        db.session.rollback()
        client = self.clients[name]
        confirm = choose(client, enrollment_no=number, due_ids=ids)
        assert confirm.h1 == "缴费信息确认", (name, number, ids, confirm.url, confirm.text[:200])
        fail = self.rng.random() < 0.1
        # 云闪付 for about a third of those that go through (the 银联 cashier's 余额不足 is its own test).
        channel = "unionpay" if self.channel_rng.random() < 0.35 and not fail else "alipay"
        self.paid_by[channel] += 1
        result = pay(client, confirm, channel, fail=fail)
        assert result.h1 in ("缴费结果", "支付中"), result.text[:200]
        self.done["pay failed" if fail else "pay"] += 1

    def certify(self):
        """A payer has a voucher made for a settled payment, or a 缴费证明 for a year they paid.
        Drawn from a generator of its own and counted apart, so the rest of the history is the
        one the seed always made."""
        rng = self.documents_rng
        person_id = self.world.people[rng.choice(PAYERS)]
        if rng.random() < 0.5:
            settled = list(
                db.session.scalars(
                    select(Order.order_no).filter_by(payer_id=person_id, state="settled").order_by(Order.id)
                )
            )
            if settled:
                documents.voucher(person_id, rng.choice(settled))
                self.issued["voucher"] += 1
        else:
            years = sorted({int(item.period_start[:4]) for item in records.paid_items_of(person_id)})
            if years:
                documents.payment_certificate(person_id, person_id, rng.choice(years))
                self.issued["payment certificate"] += 1

    def apply_refund(self):
        name = self.rng.choice(PAYERS)
        person = db.session.get(Person, self.world.people[name])
        account = bank.accounts_of(person.id)[0]
        kind = self.rng.choice(("normal", "special"))
        found = list(db.session.scalars(refund_applications._refundable_query(person.id, kind)))
        if not found:
            return
        order = self.rng.choice(found)
        items = refund_applications.refundable_items(order, kind)
        chosen = self.rng.sample(items, self.rng.randint(1, len(items)))
        overpaid = self.rng.random() < 0.25
        money_type = refund_reasons.OVERPAID if overpaid else self.rng.choice(refund_applications.MONEY_TYPES[1:])
        amounts = {i.id: (self.rng.randint(1, i.kept_fen) if overpaid else None) for i in chosen}
        refund_applications.apply(
            person,
            order.order_no,
            kind,
            items=amounts,
            money_type=money_type,
            reason=self.rng.choice(refund_applications.reasons()),
            account_id=account.id,
            account_name=name,
        )
        self.done["refund applied (part)" if overpaid else "refund applied"] += 1

    def review(self):
        pending = refund_applications.pending()
        if not pending:
            return
        application = self.rng.choice(pending)
        roll = self.rng.random()
        try:
            if roll < 0.15:
                refund_applications.reject(self.staff_id, application.id, "材料不全")
                self.done["refund rejected"] += 1
                return
            items = [i.id for i in application.items]
            some = set(self.rng.sample(items, self.rng.randint(1, len(items)))) if roll < 0.35 else set(items)
            method = "bank" if self.rng.random() < 0.25 else "original"
            refund_applications.approve(
                self.staff_id, application.id, some, method, "部分不予退费" if len(some) < len(items) else ""
            )
            if method == "bank":
                refund_applications.confirm_bank_transfer(self.staff_id, application.id)
            self.done[f"refund approved ({method}{', some' if len(some) < len(items) else ''})"] += 1
        except refund_applications.ApplicationError:
            self.done["review refused"] += 1

    def housekeeping(self):
        orders.housekeeping()
        refund_applications.settle_all()
        self.done["housekeeping"] += 1

    def next_day(self):
        """The day ends: tomorrow, yesterday's bill is reconciled (it finds nothing to mend)."""
        from sbweb.services import reconciliation

        day = self.clock.now.astimezone(SHANGHAI).date()
        self.clock.at(self.clock.now + dt.timedelta(days=1))
        run = reconciliation.reconcile(day)
        assert not run.differences, [(d.kind, d.order_no) for d in run.differences]
        self.done["reconcile"] += 1
        db.session.remove()
        for name, client in self.clients.items():  # a new day, a new sign-in
            sign_in(client, name, verified=True)

    MOVES = ((push, 12), (declare, 8), (void, 4), (pay, 34), (apply_refund, 16), (review, 16), (housekeeping, 5))

    def run(self, count: int):
        """At least `count` operations that did something (a draw with nothing to act on is
        drawn again); a new day every 120."""
        moves, weights = zip(*self.MOVES, strict=False)
        with self.app.app_context():
            for _ in range(count * 3):
                made = sum(self.done.values())
                if made >= count:
                    break
                if made and made % 120 == 0 and self.done["reconcile"] < made // 120:
                    self.next_day()
                self.rng.choices(moves, weights)[0](self)
                db.session.rollback()
                if self.documents_rng.random() < 0.1:
                    self.certify()
                    db.session.rollback()
        return self


@pytest.fixture
def history(app, world, clock):
    return lambda seed, count: History(app, world, clock, seed).run(count)


def test_a_generated_history_of_500_operations_leaves_no_violation(app, history):
    made = history(1213, 520)
    print(dict(made.done), dict(made.issued))
    assert sum(made.done.values()) >= 500, made.done
    for move in (
        "push",
        "declare",
        "pay",
        "pay failed",
        "refund applied",
        "refund applied (part)",
        "refund approved (original)",
        "refund approved (bank)",
        "refund rejected",
        "reconcile",
    ):
        assert made.done[move] > 0, (move, made.done)
    assert made.issued["voucher"] > 0 and made.issued["payment certificate"] > 0, made.issued
    assert made.paid_by["unionpay"] > 0, made.paid_by
    with app.app_context():
        assert db.session.scalar(
            select(DueEvent.id).where(DueEvent.from_state == "paid", DueEvent.to_state == "open")
        ), "no due was owed again"
        assert db.session.scalar(
            select(DueEvent.id).where(DueEvent.from_state == "paid", DueEvent.to_state == "void")
        ), "no due was voided by a refund"
        assert db.session.scalar(
            select(OrderItem.id).where(OrderItem.refunded_fen > 0, OrderItem.refunded_fen < OrderItem.amount_fen)
        )
        assert db.session.scalar(select(Document.id).filter_by(state="void")), "no certificate followed the money"
        sent_as = Counter(db.session.scalars(select(Refund.sent_as).where(Refund.state == "succeeded")))
        assert sent_as["cancel"] > 0 and sent_as["return"] > 0, sent_as  # 云闪付's 撤销 and 退货 both
        found = ledger.check()
    assert found == [], "\n".join(map(str, found[:20]))
    result = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code == 0 and "0 violation" in result.output


# -- planted corruptions -----------------------------------------------------------------------------


def _paid_item():
    return db.session.scalar(
        select(OrderItem)
        .join(Order)
        .where(Order.state == "settled", OrderItem.refunded_fen == 0)
        .order_by(OrderItem.id)
        .limit(1)
    )


def _refunded_item():
    """An item whose money all went back and whose due is not paid (by another payment since): marking
    the due paid is then a corruption on any database (without the order, PostgreSQL may pick one
    whose due was paid again)."""
    return db.session.scalar(
        select(OrderItem)
        .join(Due, Due.id == OrderItem.due_id)
        .where(OrderItem.refunded_fen == OrderItem.amount_fen, Due.state != "paid")
        .order_by(OrderItem.id)
        .limit(1)
    )


def due_paid_after_its_money_went_back():
    item = _refunded_item()
    db.session.execute(update(Due).where(Due.id == item.due_id).values(state="paid"))
    return "due-balance"


def item_gives_back_more_than_it_took():
    item = _paid_item()
    db.session.execute(update(OrderItem).where(OrderItem.id == item.id).values(refunded_fen=item.amount_fen + 1))
    return "item-refund"


def order_refunded_while_an_item_kept_its_money():
    item = _paid_item()
    db.session.execute(update(Order).where(Order.id == item.order_id).values(state="refunded"))
    return "order-state"


def due_changed_behind_its_history():
    item = _paid_item()
    db.session.execute(update(Due).where(Due.id == item.due_id).values(amount_fen=Due.amount_fen + 100))
    return "due-history"


def settled_item_without_its_ticket():
    item = _paid_item()
    db.session.execute(update(OrderItem).where(OrderItem.id == item.id).values(ticket_id=None))
    return "ticket"


def settled_item_with_a_ticket_of_another_tax_office():
    """The item's ticket says another 主管税务机关 than its due's agency's (杭州's ticket for 青岛)."""
    item = _paid_item()
    own = item.due.enrollment.agency.tax_office_id
    other = db.session.scalar(select(TaxOffice.id).where(TaxOffice.id != own).limit(1))
    db.session.execute(update(Ticket).where(Ticket.id == item.ticket_id).values(tax_office_id=other))
    return "ticket"


def certificate_valid_after_its_money_went_back():
    """A document that lists a refunded item (at what it held before) made valid again."""
    doc_id = db.session.scalar(
        select(Document.id)
        .join(DocumentItem, DocumentItem.document_id == Document.id)
        .join(OrderItem, OrderItem.id == DocumentItem.item_id)
        .where(Document.state == "void", DocumentItem.amount_fen > OrderItem.amount_fen - OrderItem.refunded_fen)
        .limit(1)
    )
    assert doc_id is not None, "no void certificate in the history"
    db.session.execute(
        update(Document).where(Document.id == doc_id).values(state="valid", voided_at=None, void_reason=None)
    )
    return "certificate"


def part_of_a_trade_sent_as_cancel():
    """A refund of part of an order recorded as UnionPay's 撤销, which only takes a whole trade."""
    refund = db.session.scalar(
        select(Refund).join(Order).where(Refund.amount_fen < Order.total_fen).order_by(Refund.id).limit(1)
    )
    assert refund is not None, "no partial refund in the history"
    db.session.execute(update(Refund).where(Refund.id == refund.id).values(sent_as="cancel"))
    return "cancel"


CORRUPTIONS = (
    due_paid_after_its_money_went_back,
    item_gives_back_more_than_it_took,
    order_refunded_while_an_item_kept_its_money,
    due_changed_behind_its_history,
    settled_item_without_its_ticket,
    settled_item_with_a_ticket_of_another_tax_office,
    certificate_valid_after_its_money_went_back,
    part_of_a_trade_sent_as_cancel,
)


def test_the_check_finds_each_planted_corruption(app, history):
    history(77, 180)
    with app.app_context():
        assert ledger.check() == []
        for corrupt in CORRUPTIONS:  # each alone, in a transaction the check reads and then undoes
            rule = corrupt()
            found = ledger.check()
            assert any(v.rule == rule for v in found), (corrupt.__name__, found)
            assert ledger.check() == [], corrupt.__name__  # undone
        rule = due_paid_after_its_money_went_back()
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code == 1 and f"{rule}: due " in result.output and "violation(s)" in result.output
