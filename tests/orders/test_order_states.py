"""缴费订单 as a state graph, edge by edge (the GOV.UK Pay way): every allowed edge moves the
order and leaves an OrderEvent; every other pair is refused and changes nothing; a move made
from a stale read is refused. Orders are made by the payment service from demo dues."""

import datetime as dt
import itertools

import pytest
from sqlalchemy import func, select

from sbweb.db import db, write_transaction
from sbweb.models import Due, Order, OrderEvent
from sbweb.models.base import utcnow
from sbweb.models.order import ORDER_STATE_LABELS, ORDER_TRANSITIONS
from sbweb.payments import orders
from sbweb.payments.order_states import ConcurrentChange, TransitionNotAllowed, transition

STATES = sorted(ORDER_STATE_LABELS)
# How an order reaches each state from `created`, along allowed edges only.
PATH_TO = {
    "created": [],
    "paying": ["paying"],
    "settled": ["paying", "settled"],
    "failed": ["paying", "failed"],
    "closed": ["closed"],
    "refunded": ["paying", "settled", "refunded"],
}
ALLOWED = sorted(ORDER_TRANSITIONS)
REFUSED = [(a, b) for a, b in itertools.product(STATES, STATES) if (a, b) not in ORDER_TRANSITIONS]


def test_the_graph_has_the_edges_the_design_names():
    assert set(PATH_TO) == set(STATES)
    assert {
        ("created", "paying"),
        ("created", "closed"),
        ("paying", "settled"),
        ("paying", "failed"),
        ("paying", "closed"),
        ("settled", "refunded"),
        ("failed", "refunded"),
        ("closed", "refunded"),
    } == ORDER_TRANSITIONS
    assert ("settled", "paying") in REFUSED and ("refunded", "settled") in REFUSED


def wang_fangs_order(world, state="created") -> int:
    """王芳 confirms her medical due and the service makes the order; it is then moved to
    `state` along allowed edges. Returns the order's id."""
    dues = world.dues("王芳", "medical")
    made = orders.create_order(
        payer_id=world.people["王芳"],
        person_ids={world.people["王芳"]},
        due_ids=[d.id for d in dues],
        shown=orders.fingerprint(dues),
        channel="alipay",
        idempotency_key="confirm-page-1",
    )
    assert made.created
    for step in PATH_TO[state]:
        with write_transaction():
            transition(db.session.get(Order, made.order.id), step, f"test: to {step}")
    db.session.expire_all()
    order = db.session.get(Order, made.order.id)
    assert order.state == state
    return order.id


def events_of(order_id) -> list[tuple[str, str, str]]:
    db.session.expire_all()
    return [
        (e.from_state, e.to_state, e.cause)
        for e in db.session.scalars(select(OrderEvent).filter_by(order_id=order_id).order_by(OrderEvent.id))
    ]


def test_a_new_order_starts_created_with_its_first_event(world, ctx):
    order_id = wang_fangs_order(world)
    order = db.session.get(Order, order_id)
    assert (order.state, order.version, order.total_fen) == ("created", 1, 35200)
    assert events_of(order_id) == [("", "created", "缴费人确认 1 笔费款")]
    assert [d.order_id for d in world.dues("王芳", "medical")] == [order_id]


@pytest.mark.parametrize("from_state, to_state", ALLOWED, ids=[f"{a}-{b}" for a, b in ALLOWED])
def test_every_allowed_edge_moves_the_order_and_records_when_and_why(world, ctx, from_state, to_state):
    order_id = wang_fangs_order(world, from_state)
    version = db.session.get(Order, order_id).version
    before = events_of(order_id)
    started = utcnow()

    with write_transaction():
        transition(db.session.get(Order, order_id), to_state, "沙箱异步通知: 测试")

    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert (order.state, order.version) == (to_state, version + 1)
    events = list(db.session.scalars(select(OrderEvent).filter_by(order_id=order_id).order_by(OrderEvent.id)))
    assert len(events) == len(before) + 1
    last = events[-1]
    assert (last.from_state, last.to_state, last.cause) == (from_state, to_state, "沙箱异步通知: 测试")
    assert started - dt.timedelta(seconds=1) <= last.at <= utcnow() + dt.timedelta(seconds=1)
    assert last.at.tzinfo is not None


def test_a_transition_can_set_the_orders_fields_in_the_same_step(world, ctx):
    order_id = wang_fangs_order(world, "paying")
    paid_at = dt.datetime(2026, 1, 15, 2, 0, tzinfo=dt.UTC)
    with write_transaction():
        transition(
            db.session.get(Order, order_id),
            "settled",
            "交易查询: 支付成功",
            settled_at=paid_at,
            provider_trade_no="2026011522001234567890",
        )
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert (order.state, order.settled_at, order.provider_trade_no) == ("settled", paid_at, "2026011522001234567890")


@pytest.mark.parametrize("from_state", STATES)
def test_every_other_move_from_a_state_is_refused_and_changes_nothing(world, ctx, from_state):
    order_id = wang_fangs_order(world, from_state)
    version, before = db.session.get(Order, order_id).version, events_of(order_id)
    refused = [b for a, b in REFUSED if a == from_state]
    assert from_state in refused  # staying put is not an edge either

    for to_state in refused:
        with pytest.raises(TransitionNotAllowed), write_transaction():
            transition(db.session.get(Order, order_id), to_state, "不应发生")

        db.session.expire_all()
        order = db.session.get(Order, order_id)
        assert (order.state, order.version) == (from_state, version), to_state
        assert events_of(order_id) == before, to_state


def test_a_transition_from_a_stale_read_raises_concurrent_change_and_changes_nothing(world, ctx):
    """Two requests read the same created order; the first moves it to paying, the second
    (still holding version 1) tries to close it."""
    order_id = wang_fangs_order(world)
    with write_transaction():
        stale = db.session.get(Order, order_id)
        db.session.expunge(stale)  # what the slower request still holds
    with write_transaction():
        transition(db.session.get(Order, order_id), "paying", "转至支付宝支付页面")

    with pytest.raises(ConcurrentChange), write_transaction():
        transition(stale, "closed", "缴费人取消支付")

    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert (order.state, order.version) == ("paying", 2)
    assert [e[:2] for e in events_of(order_id)] == [("", "created"), ("created", "paying")]
    assert db.session.scalar(select(func.count()).select_from(Due).where(Due.order_id == order_id)) == 1


def test_the_same_edge_taken_twice_from_the_same_read_happens_once(world, ctx):
    """A notify and a query both saw `paying` and both try to settle: one wins, one is told."""
    order_id = wang_fangs_order(world, "paying")
    with write_transaction():
        second = db.session.get(Order, order_id)
        db.session.expunge(second)  # the query's read, made before the notify wrote

    with write_transaction():
        transition(db.session.get(Order, order_id), "settled", "异步通知: 支付成功")
    with pytest.raises(ConcurrentChange), write_transaction():
        transition(second, "settled", "交易查询: 支付成功")

    assert [e[1] for e in events_of(order_id)] == ["created", "paying", "settled"]
