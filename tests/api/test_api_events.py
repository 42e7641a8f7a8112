"""The event feed: a payment that settles appears as payment.settled (one per ticket, with its
items), an item's refund as refund.completed; pages come in order, the same cursor gives the same
page, and a reader that restarts from its saved cursor misses nothing and sees nothing twice."""

from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import ApiEvent, Order, Ticket
from sbweb.services import ledger
from tests.refunds.test_refunds_by_item import apply, approve_all, three_months_paid
from tests.support.journeys import choose, order, order_no_of, paid_history, pay, sign_in

MONEY = ("payment.settled", "refund.completed")


def money(events):
    """The money's events only: the world's declarations are in the feed too (declaration.created)."""
    return [e for e in events if e["type"] in MONEY]


def cursor_now(system) -> int:
    """Where the feed ends before the test's own payments (after the world's declarations)."""
    _, cursor, _ = read_all(system, limit=1000)
    return int(cursor)


def read_all(system, after="0", limit=3):
    events, pages = [], 0
    while True:
        page = system.feed(after, limit)
        events += page["events"]
        pages += 1
        after = page["next"]
        if not page["has_more"]:
            return events, after, pages


def test_a_sandbox_payment_appears_in_the_feed_with_its_items(app, client, world, ctx, system):
    sign_in(client, "王芳")
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    assert paid.state == "settled" and len(paid.tickets) == 1
    ticket = paid.tickets[0]
    number, office, item_ids, total = (
        ticket.ticket_no,
        ticket.tax_office.code,
        [i.id for i in ticket.items],
        paid.total_fen,
    )
    enrollment_no = world.enrollment("王芳", "medical").enrollment_no
    feed = system.feed()
    assert [e["type"] for e in money(feed["events"])] == ["payment.settled"]
    event = money(feed["events"])[0]
    assert event["id"] == f"payment.settled:{number}" and int(event["position"]) >= 1
    data = event["data"]
    assert data["ticket_no"] == number and data["order_no"] == paid.order_no
    assert data["tax_office"]["code"] == office
    assert sorted(i["item_id"] for i in data["items"]) == sorted(item_ids)
    assert data["total_fen"] == sum(i["amount_fen"] for i in data["items"]) == total
    assert {i["enrollment_no"] for i in data["items"]} == {enrollment_no}
    assert "520102198503151246" not in str(feed)  # no ID number ever goes out
    assert ledger.check() == []
    # The ticket look-up says the same, with nothing refunded.
    looked = system.get(f"/api/v1/tickets/{number}").get_json()
    assert looked["items"] == [{**i, "refunded_fen": 0} for i in data["items"]] and looked["refunded_fen"] == 0


def test_pages_are_ordered_repeatable_and_resume_after_a_restart(app, world, ctx, system):
    person = world.person("王芳")
    start = cursor_now(system)
    paid_history(person.id, world.enrollment("王芳", "medical"), 7)
    events, cursor, pages = read_all(system, str(start), limit=3)
    assert pages == 3 and [int(e["position"]) for e in events] == list(range(start + 1, start + 8))
    tickets = db.session.scalars(select(Ticket.ticket_no).order_by(Ticket.id)).all()
    assert [e["data"]["ticket_no"] for e in events] == tickets
    # The same cursor again: the very same page.
    assert system.feed(str(start + 3), 3) == system.feed(str(start + 3), 3)
    # Two more payments; a reader started afresh (a new process: a new app) from its saved cursor
    # gets exactly those.
    paid_history(person.id, world.enrollment("王芳", "pension"), 2, start_year=2001)
    from sbweb import create_app

    restarted = create_app(dict(app.config))
    system.http = restarted.test_client()
    later, cursor, _ = read_all(system, cursor)
    assert [int(e["position"]) for e in later] == [start + 8, start + 9]
    assert {e["id"] for e in later}.isdisjoint({e["id"] for e in events})
    assert system.feed(cursor)["events"] == [] and system.feed(cursor)["next"] == cursor
    assert ledger.check() == []


def test_an_item_refund_appears_as_refund_completed(app, client, world, ctx, system):
    paid, ids = three_months_paid(client, world)
    application, item_id = apply(client, paid.order_no, ids[1], money_type="重复缴费退费", reason="重复参保缴费")
    approve_all(app, app.test_client(), application)
    events, _, _ = read_all(system, limit=10)
    assert [e["type"] for e in money(events)] == ["payment.settled", "refund.completed"]
    refund = money(events)[1]["data"]
    assert refund["ticket_no"] == paid.ticket_no and refund["item"]["item_id"] == item_id
    assert refund["refunded_fen"] == 35200 and refund["application_no"] == application.application_no
    looked = system.get(f"/api/v1/tickets/{paid.ticket_no}").get_json()
    assert looked["refunded_fen"] == 35200
    assert ledger.check() == []


def test_an_agency_client_sees_only_its_tax_office(app, world, ctx, make_system):
    paid_history(world.person("王芳").id, world.enrollment("王芳", "medical"), 2)
    office_code = db.session.scalar(select(Ticket).limit(1)).tax_office.code
    mine = make_system("本机构", agency_code=world.enrollment("王芳", "medical").agency.code)
    others = [a for a in _agencies() if a.tax_office.code != office_code]
    elsewhere = make_system("他处机构", agency_code=others[0].code)
    assert len(money(mine.feed()["events"])) == 2 and money(elsewhere.feed()["events"]) == []
    number = db.session.scalar(select(Ticket.ticket_no).limit(1))
    assert elsewhere.get(f"/api/v1/tickets/{number}").status_code == 404
    assert mine.get(f"/api/v1/tickets/{number}").status_code == 200


def _agencies():
    from sbweb.models import Agency

    return db.session.scalars(select(Agency)).all()


def test_the_ledger_check_finds_a_settled_ticket_without_its_event(app, world, ctx, system):
    paid_history(world.person("王芳").id, world.enrollment("王芳", "medical"), 2)
    assert ledger.check() == []
    first = db.session.scalar(select(func.min(ApiEvent.id)).where(ApiEvent.kind == "payment.settled"))
    db.session.execute(ApiEvent.__table__.delete().where(ApiEvent.id == first))
    db.session.commit()
    found = [str(v) for v in ledger.check()]
    number = db.session.scalar(select(Ticket.ticket_no).order_by(Ticket.id).limit(1))
    assert found == [f"feed: {number}: 0 payment.settled events, not 1"]


def test_a_payment_never_settled_has_no_event(app, world, ctx, system):
    paid_history(world.person("王芳").id, world.enrollment("王芳", "medical"), 2, state="failed")
    assert db.session.scalar(select(Order.state).limit(1)) == "failed"
    assert money(system.feed()["events"]) == [] and ledger.check() == []
