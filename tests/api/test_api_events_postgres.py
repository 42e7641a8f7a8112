"""On PostgreSQL ids are handed out when a transaction inserts, not when it commits: a settlement
that commits after a later one must still reach a reader that has already passed the later one's
event (the outbox's position is given in commit order, sbweb.services.api_events)."""

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import ApiEvent, Ticket
from sbweb.payments import TradeState, orders
from sbweb.services import ledger, registry
from tests.api.test_api_events import cursor_now
from tests.conftest import ON_POSTGRES

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (DATABASE_URL): SQLite writes one at a time"),
]


def paying_orders(world, count: int) -> list[tuple[str, int]]:
    """`count` orders of one month each, started and waiting for the provider's answer."""
    enrollment = world.enrollment("王芳", "medical")
    made = []
    for n in range(count):
        month = f"{2003 + n // 12}-{n % 12 + 1:02d}"
        with write_transaction():
            due = registry.add_due(enrollment, kind="normal", period_start=month, period_end=month, amount_fen=10000)
        order = orders.create_order(
            payer_id=enrollment.person_id,
            person_ids={enrollment.person_id},
            due_ids=[due.id],
            shown=orders.fingerprint([due]),
            channel="alipay",
            idempotency_key=f"late-{due.id}",
        ).order
        with write_transaction():
            orders.transition(order, "paying", "测试")
        made.append((order.order_no, order.total_fen, order.provider))
    return made


def success(order_no, amount, provider):
    return dict(
        state=TradeState(order_no, "success", amount_fen=amount, paid_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC)),
        provider=provider,
        source="测试",
    )


def test_a_settlement_committed_late_is_not_skipped(app, world, ctx, system):
    (late, early) = paying_orders(world, 2)
    start = cursor_now(system)  # the world's declarations (declaration.created) come first
    inserted, release, failures = threading.Event(), threading.Event(), []

    def settle_slowly():
        try:
            with app.app_context(), write_transaction():
                orders.apply_trade_state_within(**success(*late))
                db.session.flush()
                inserted.set()
                assert release.wait(30)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
            inserted.set()

    slow = threading.Thread(target=settle_slowly)
    slow.start()
    assert inserted.wait(30) and not failures
    orders.apply_trade_state(**success(*early))
    first = system.feed(str(start))
    assert [e["data"]["order_no"] for e in first["events"]] == [early[0]]
    release.set()
    slow.join(30)
    assert not failures
    db.session.rollback()
    ids = dict(db.session.execute(select(ApiEvent.key, ApiEvent.id)).all())
    numbers = dict(db.session.execute(select(Ticket.order_id, Ticket.ticket_no)).all())
    late_id, early_id = (ids[f"payment.settled:{n}"] for n in sorted(numbers.values()))
    assert late_id < early_id  # the case a cursor of ids would skip
    second = system.feed(first["next"])
    assert [e["data"]["order_no"] for e in second["events"]] == [late[0]]
    assert second["events"][0]["position"] == str(start + 2)
    assert ledger.check() == []


def test_concurrent_settlements_read_while_they_happen_are_each_seen_once(app, world, ctx, system):
    waiting = paying_orders(world, 12)
    seen, cursor, done = [], str(cursor_now(system)), threading.Event()

    def settle(share):
        with app.app_context():
            for order in share:
                orders.apply_trade_state(**success(*order))

    threads = [threading.Thread(target=settle, args=(waiting[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    while not done.is_set():
        if not any(t.is_alive() for t in threads):
            done.set()  # one more read after the last commit
        page = system.feed(cursor, 5)
        seen += page["events"]
        cursor = page["next"]
    while (page := system.feed(cursor, 5))["events"]:
        seen += page["events"]
        cursor = page["next"]
    positions = [int(e["position"]) for e in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert sorted(e["data"]["order_no"] for e in seen) == sorted(o[0] for o in waiting)
    assert ledger.check() == []
