"""The feed reports what happens to records as well as money: a due owed again or voided, a
declaration made or voided, a document voided — each written with the change, after the real
flows (申报查询 作废, a refund approved in the back office), and held by `flask ledger check`."""

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import ApiEvent, DueEvent
from sbweb.services import ledger
from tests.api.record_flows import declare_and_void, refund_reopening_a_month
from tests.api.test_api_events import cursor_now, read_all


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


def test_a_declaration_voided_in_the_history_page_voids_its_due_in_the_feed(client, world, ctx, system):
    start = cursor_now(system)
    declaration = declare_and_void(client, world)
    events, _, _ = read_all(system, str(start), limit=50)
    assert [e["type"] for e in events] == ["declaration.created", "declaration.voided", "due.voided"] or [
        e["type"] for e in events
    ] == ["declaration.created", "due.voided", "declaration.voided"]
    created, voided = of_type(events, "declaration.created")[0], of_type(events, "declaration.voided")[0]
    assert created["id"] == f"declaration.created:{declaration.id}"
    assert created["data"]["declaration_id"] == declaration.id and created["data"]["base_fen"] == 500000
    assert (
        created["data"]["period_start"] == declaration.period_start and created["data"]["declared_level"] == "verified"
    )
    assert voided["data"]["void_reason"] == "本人作废" and voided["data"]["voided_at"]
    due = of_type(events, "due.voided")[0]["data"]
    assert due["due_id"] == declaration.due_id and (due["from_state"], due["to_state"]) == ("open", "void")
    assert due["enrollment_no"] == world.enrollment("王芳", "pension").enrollment_no
    assert due["cause"].startswith("申报作废")
    assert "520102198503151246" not in str(events) and "王芳" not in str(events)
    assert ledger.check() == []


def test_a_refund_reopening_a_month_reports_the_due_and_the_voided_voucher(app, client, world, ctx, system):
    start = cursor_now(system)
    paid, due_id, item_id, voucher = refund_reopening_a_month(app, client, world)
    events, _, _ = read_all(system, str(start), limit=50)
    kinds = [e["type"] for e in events]
    assert kinds.count("payment.settled") == 1 and kinds.count("refund.completed") == 1
    [reopened] = of_type(events, "due.reopened")
    assert reopened["data"]["due_id"] == due_id and reopened["data"]["to_state"] == "open"
    assert reopened["data"]["amount_fen"] == 35200
    [voided] = of_type(events, "document.voided")
    data = voided["data"]
    assert voided["id"] == f"document.voided:{voucher.doc_no}:{data['tax_office']['code']}"
    assert data["doc_no"] == voucher.doc_no and data["document_kind"] == "voucher"
    assert {i["item_id"] for i in data["items"]} >= {item_id} and len(data["items"]) == 3
    assert all(i["ticket_no"] == paid.ticket_no for i in data["items"])
    assert ledger.check() == []
    # The order look-up agrees: one ticket, one month's money back.
    looked = system.get(f"/api/v1/orders/{paid.order_no}")
    assert looked.status_code == 200, looked.get_data(as_text=True)
    body = looked.get_json()
    assert body["refunded_fen"] == 35200 and [t["ticket_no"] for t in body["tickets"]] == [paid.ticket_no]


def test_the_ledger_check_finds_a_voided_due_without_its_event(client, world, ctx, system):
    declare_and_void(client, world)
    assert ledger.check() == []
    move = db.session.scalar(select(DueEvent.id).where(DueEvent.to_state == "void").order_by(DueEvent.id.desc()))
    db.session.execute(ApiEvent.__table__.delete().where(ApiEvent.due_event_id == move))
    db.session.commit()
    assert [str(v) for v in ledger.check()] == [f"feed: due.voided {move}: 0 events, not 1"]


def test_an_agency_of_another_tax_office_sees_none_of_it(client, world, ctx, make_system):
    from tests.api.test_api_events import _agencies

    mine = world.enrollment("王芳", "pension").agency
    mine_code, mine_office = mine.code, mine.tax_office_id
    elsewhere = make_system("他处机构", agency_code=next(a.code for a in _agencies() if a.tax_office_id != mine_office))
    start = cursor_now(elsewhere)
    declare_and_void(client, world)
    assert read_all(elsewhere, str(start), limit=50)[0] == []
    here = make_system("本机构", agency_code=mine_code)
    assert {"declaration.created", "declaration.voided", "due.voided"} <= {
        e["type"] for e in read_all(here, "0", limit=1000)[0]
    }


def test_an_unknown_api_url_answers_problem_json(client, system):
    answer = system.get("/api/v1/no-such-thing")
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert answer.get_json()["detail"] and answer.headers["Cache-Control"] == "no-store"
    unsigned = client.get("/api/v1/no/such/thing")
    assert unsigned.status_code == 404 and unsigned.mimetype == "application/problem+json"
    wrong_method = client.delete("/api/v1/events")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "application/problem+json"
    assert "GET" in wrong_method.headers["Allow"]
    assert client.get("/no-such-page").mimetype == "text/html"  # the residents' pages as before
    missing = system.get("/api/v1/orders/NOSUCHORDER")
    assert missing.status_code == 404 and missing.get_json()["type"].endswith("/order-not-found")
