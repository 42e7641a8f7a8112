"""The agencies' inbound batches (POST /api/v1/batches/…): upserted by the agency's keys, all or
nothing with every rejected row named, replayed under the same Idempotency-Key without writing,
refused for a period paid or a due being paid, a re-priced due caught by the resident's
缴费信息确认, a pushed due paid through the sandbox, every write in the audit log."""

import json as jsonlib

import pytest
from sqlalchemy import func, select

from sbweb import api_signing
from sbweb.db import db
from sbweb.models import Agency, ApiBatch, AuditEntry, Due, Enrollment, Order, Standard, TaxOffice
from sbweb.services import audit_words, ledger
from tests.support.journeys import choose, go_to_provider, order, order_no_of, paid_history, pay, sign_in

WRITER = ("enrollments:write", "dues:write", "standards:write")
NEW_ID_17 = "52010219900101123"  # a person not among the demo residents


def check_digit(first17: str) -> str:
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


NEW_ID = NEW_ID_17 + check_digit(NEW_ID_17)


def push(system, kind: str, rows, key: str = "batch-0001", raw: bytes | None = None):
    """What an agency's system sends: the batch signed, under an Idempotency-Key."""
    url = f"/api/v1/batches/{kind}"
    body = raw if raw is not None else jsonlib.dumps({"rows": rows}, ensure_ascii=False).encode()
    headers = api_signing.signed_headers(system.client_id, system.secret, "POST", url, "", body)
    if key:
        headers["Idempotency-Key"] = key
    return system.http.post(url, data=body, headers={**headers, "Content-Type": "application/json"})


def count(model, *where) -> int:
    db.session.commit()  # a fresh snapshot: the API wrote in another session's transaction
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def due_row(enrollment_no, period, amount_fen, kind="normal", **more):
    return {"enrollment_no": enrollment_no, "kind": kind, "period_start": period, "amount_fen": amount_fen, **more}


@pytest.fixture
def writer(make_system):
    return make_system("省社保局系统", scopes=WRITER)


def test_a_batch_is_written_once_and_its_replay_changes_nothing(app, world, ctx, writer):
    medical = world.enrollment("王芳", "medical").enrollment_no
    rows = [due_row(medical, "2019-01", 35200), due_row(medical, "2018-01", 120000, "backpay", period_end="2018-12")]
    first = push(writer, "dues", rows)
    assert first.status_code == 200, first.get_data(as_text=True)
    answer = first.get_json()
    assert (answer["created"], answer["updated"], answer["unchanged"]) == (2, 0, 0)
    ids = [r["due_id"] for r in answer["results"]]
    dues = [db.session.get(Due, i) for i in ids]
    assert [(d.kind, d.period_start, d.period_end, d.amount_fen, d.state) for d in dues] == [
        ("normal", "2019-01", "2019-01", 35200, "open"),
        ("backpay", "2018-01", "2018-12", 120000, "open"),
    ]
    audits, all_dues = count(AuditEntry), count(Due)
    # The same batch again (a new signature and nonce, the same key): the same answer, nothing written.
    again = push(writer, "dues", rows)
    assert again.status_code == 200 and again.get_json() == answer
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (count(AuditEntry), count(Due), count(ApiBatch)) == (audits, all_dues, 1)
    # Re-serialised differently (key order, spaces) it is still the same batch.
    reordered = jsonlib.dumps({"rows": [dict(reversed(list(r.items()))) for r in rows]}, indent=2).encode()
    assert push(writer, "dues", None, raw=reordered).get_json() == answer
    # The same key for another batch: refused, nothing written.
    other = push(writer, "dues", [due_row(medical, "2019-02", 35200)])
    assert other.status_code == 409 and other.mimetype == "application/problem+json"
    assert other.get_json()["type"].endswith("/idempotency-key-reused")
    # A new key, the same rows: upserted as nothing changed.
    fresh = push(writer, "dues", rows, key="batch-0002").get_json()
    assert (fresh["created"], fresh["updated"], fresh["unchanged"]) == (0, 0, 2)
    assert (count(AuditEntry), count(Due)) == (audits, all_dues)


def test_one_bad_row_and_nothing_is_written_every_rejection_named(app, world, ctx, writer):
    medical = world.enrollment("王芳", "medical").enrollment_no
    before = (count(Due), count(AuditEntry), count(ApiBatch))
    rows = [
        due_row(medical, "2019-01", 35200),  # good
        due_row(medical, "2019-13", 35200),  # no such month
        due_row("999999999999", "2019-02", 35200),  # no such enrollment
        due_row(medical, "2019-03", 0),  # nothing owed
        {**due_row(medical, "2019-04", 100), "kind": "特别"},
    ]
    answer = push(writer, "dues", rows)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert problem["type"].endswith("/rows-rejected") and "整批未写入" in problem["detail"]
    assert [(r["index"], r["field"]) for r in problem["rows"]] == [
        (1, "period_start"),
        (2, "enrollment_no"),
        (3, "amount_fen"),
        (4, "kind"),
    ]
    reasons = {r["index"]: r["reason"] for r in problem["rows"]}
    assert reasons[1] == "费款所属期应为 YYYY-MM，且止不早于起"  # the staff import's own words
    assert reasons[2] == "没有该个人参保编号，请先推送参保登记"
    assert reasons[4] == "缴费类型应为正常缴费或补缴"
    assert (count(Due), count(AuditEntry), count(ApiBatch)) == before
    # A row of the wrong shape is named the same way, in the same answer.
    shaped = push(writer, "dues", [due_row(medical, "2019-01", "352.00"), {**due_row(medical, "2019-02", 1), "x": 1}])
    assert shaped.status_code == 422
    assert shaped.get_json()["rows"] == [
        {"index": 0, "field": "amount_fen", "reason": "应为整数"},
        {"index": 1, "field": "x", "reason": "不认识的字段"},
    ]
    # What no database text can hold (NUL: PostgreSQL refuses it; a lone surrogate: no UTF-8) is a
    # rejected row too, not a 500 (schemathesis found it on PostgreSQL).
    strange = [due_row(medical + "\u0000", "2019-01", 1), due_row(medical, "2019-02", 1, period_end="2019-0\ud84a")]
    raw = jsonlib.dumps({"rows": strange}).encode()  # ASCII: both go as JSON escapes, as a client sends them
    unusable = push(writer, "dues", None, raw=raw)
    assert unusable.status_code == 422, unusable.get_data(as_text=True)
    assert unusable.get_json()["rows"] == [
        {"index": 0, "field": "enrollment_no", "reason": "含有不可用的字符（NUL 或不成对的代理码位）"},
        {"index": 1, "field": "period_end", "reason": "含有不可用的字符（NUL 或不成对的代理码位）"},
    ]
    # The key of a rejected batch is not used up: the corrected batch goes through under it.
    assert push(writer, "dues", [due_row(medical, "2019-01", 35200)]).status_code == 200
    assert count(Due) == before[0] + 1


def test_a_period_paid_or_a_due_being_paid_is_refused_with_the_reason(app, client, world, ctx, writer):
    pension = world.enrollment("王芳", "pension").enrollment_no
    medical = world.enrollment("王芳", "medical").enrollment_no
    paid_history(world.person("王芳").id, world.enrollment("王芳", "pension"), 1, start_year=2015)  # 2015-01 paid
    sign_in(client, "王芳")
    go_to_provider(client, choose(client, "medical"))  # her open medical due is held by the order (支付中)
    db.session.commit()
    held = world.dues("王芳", "medical")[0]
    assert held.order_id is not None
    rows = [
        due_row(pension, "2015-01", 99999),
        due_row(medical, held.period_start, held.amount_fen + 100),
        due_row(pension, "2014-06", 88000, "backpay", period_end="2015-03"),  # overlaps the paid month
    ]
    problem = push(writer, "dues", rows).get_json()
    assert problem["status"] == 422
    reasons = {r["index"]: r["reason"] for r in problem["rows"]}
    assert reasons[0] == "费款所属期 2015年01月 已缴费，不再接收该期应缴记录"
    assert "应缴记录正在支付中，暂不能更改" in reasons[1]
    assert "已缴费" in reasons[2]
    db.session.commit()
    assert db.session.get(Due, held.id).amount_fen == held.amount_fen


def test_a_repriced_due_is_caught_by_the_residents_confirm(app, client, world, ctx, writer):
    sign_in(client, "王芳")
    confirm = choose(client, "medical")
    assert "352.00" in confirm.text
    due = world.dues("王芳", "medical")[0]
    answer = push(writer, "dues", [due_row(due.enrollment.enrollment_no, due.period_start, 40000)])
    assert answer.status_code == 200 and answer.get_json()["updated"] == 1
    stale = client.submit(confirm)  # 下一步 on the page as it was shown
    assert stale.status == 409 and stale.h1 == "缴费信息确认"
    assert "缴费信息已发生变化" in stale.text and "本次未扣款" in stale.text
    assert "400.00" in stale.text and "352.00" not in stale.text
    assert count(Order) == 0
    entry = db.session.scalar(select(AuditEntry).filter_by(action="api_due.reprice"))
    assert entry.target == f"api_client:{writer.client_id}" and entry.staff_id is None
    assert entry.before == {"due": due.id, "amount_fen": 35200} and entry.after["amount_fen"] == 40000
    (line,) = audit_words.lines([entry])  # the back office's audit log reads it in words
    assert (line.action, line.target) == ("机器接口推送：更正应缴金额", f"机器接口客户端 {writer.client_id}")
    assert ("金额", "¥352.00", "¥400.00") in {(c.field, c.before, c.after) for c in line.changes}


def test_a_resident_pays_what_the_api_pushed_a_minute_earlier(app, client, world, ctx, writer):
    enrolled = push(
        writer,
        "enrollments",
        [
            {
                "enrollment_no": "520102200000099001",
                "id_type": "201",
                "id_number": NEW_ID,
                "name": "赵新",
                "category": "flexible",
                "insurance": "medical",
                "agency_code": "52010202",
            }
        ],
        key="enrol-0001",
    )
    assert enrolled.status_code == 200 and enrolled.get_json()["created"] == 1
    pushed = push(writer, "dues", [due_row("520102200000099001", "2026-11", 35200)], key="dues-0001")
    assert pushed.status_code == 200, pushed.get_data(as_text=True)
    sign_in(client, "赵新")
    paid = order(order_no_of(pay(client, choose(client, "medical"))))
    assert paid.state == "settled" and paid.total_fen == 35200
    assert [i.due_id for i in paid.items] == [pushed.get_json()["results"][0]["due_id"]]
    assert ledger.check() == []
    # Pushed again after it was paid: refused, the payment untouched.
    again = push(writer, "dues", [due_row("520102200000099001", "2026-11", 35200)], key="dues-0002")
    assert again.status_code == 422 and "已缴费" in again.get_json()["rows"][0]["reason"]
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["api_enrollment.create", "api_due.create"]


def test_scopes_and_an_agencys_own_data(app, world, ctx, make_system):
    reader = make_system("只读", scopes=("events:read",))
    medical = world.enrollment("王芳", "medical").enrollment_no
    refused = push(reader, "dues", [due_row(medical, "2019-01", 100)])
    assert refused.status_code == 403 and refused.get_json()["type"].endswith("/scope-missing")
    dues_only = make_system("费款", scopes=("dues:write",))
    for kind in ("enrollments", "agencies", "standards"):
        assert push(dues_only, kind, [{}]).status_code == 403
    # An agency's client pushes for its own agency only.
    other = make_system("观山湖", scopes=WRITER, agency_code="52011501")
    problem = push(other, "dues", [due_row(medical, "2019-01", 100)]).get_json()
    assert problem["rows"] == [
        {"index": 0, "field": "enrollment_no", "reason": "本客户端只能推送经办机构 52011501 的数据"}
    ]
    own = make_system("南明医保", scopes=WRITER, agency_code="52010202")
    assert push(own, "dues", [due_row(medical, "2019-01", 100)]).status_code == 200
    # No Idempotency-Key: refused before anything is read.
    missing = push(own, "dues", [due_row(medical, "2019-02", 100)], key="")
    assert missing.status_code == 400 and missing.get_json()["type"].endswith("/idempotency-key-missing")


def test_enrollments_follow_the_staff_imports_rules(app, world, ctx, writer):
    wang = world.person("王芳")
    rows = [
        {
            "enrollment_no": "X1",  # too short
            "id_type": "201",
            "id_number": "520102198503151245",  # bad check digit
            "name": "",
            "category": "灵活就业人员",  # the import's words are accepted too
            "insurance": "养老",
            "agency_code": "99999999",
        },
        {
            "enrollment_no": world.enrollment("王芳", "medical").enrollment_no,
            "id_type": "201",
            "id_number": NEW_ID,
            "name": "赵新",
            "category": "flexible",
            "insurance": "medical",
            "agency_code": "52010202",
        },
        {
            "enrollment_no": "520102300000000001",
            "id_type": "201",
            "id_number": wang.id_number,
            "name": "王小芳",
            "category": "flexible",
            "insurance": "pension",
            "agency_code": "52010201",
        },
    ]
    problem = push(writer, "enrollments", rows).get_json()
    assert {(r["index"], r["field"], r["reason"]) for r in problem["rows"]} == {
        (0, "id_number", "证件号码格式不正确"),
        (0, "name", "姓名为空"),
        (0, "enrollment_no", "个人参保编号应为6至32位数字或字母"),
        (0, "agency_code", "经办机构 99999999 尚未登记，请先推送经办机构"),
        (1, "enrollment_no", "个人参保编号已属于他人"),
        (2, "name", "姓名与已登记的不一致"),
    }
    assert count(Enrollment, Enrollment.enrollment_no == "520102300000000001") == 0


def test_agencies_and_their_tax_offices_then_standards(app, world, ctx, writer):
    agency = {
        "agency_code": "52010399",
        "agency_name": "贵阳市云岩区社会保险事业局",
        "region_code": "520103",
        "city": "贵阳市",
        "tax_office_code": "15201030000",
        "tax_office_name": "国家税务总局贵阳市云岩区税务局",
    }
    first = push(writer, "agencies", [agency], key="agency-0001").get_json()
    assert first["created"] == 1
    made = db.session.scalar(select(Agency).filter_by(code="52010399"))
    assert made.tax_office.code == "15201030000" and made.tax_office.region_code == "520103"
    moved = push(
        writer,
        "agencies",
        [{**agency, "tax_office_code": "15201020000", "tax_office_name": "国家税务总局贵阳市南明区税务局"}],
        key="agency-0002",
    ).get_json()
    assert moved["updated"] == 1
    db.session.commit()
    assert db.session.scalar(select(Agency).filter_by(code="52010399")).tax_office.code == "15201020000"
    assert count(TaxOffice, TaxOffice.code == "15201030000") == 1
    bad = push(writer, "agencies", [{**agency, "tax_office_code": "152"}], key="agency-0003").get_json()
    assert bad["rows"] == [
        {"index": 0, "field": "tax_office_code", "reason": "主管税务机关代码应为11位数字，名称不能为空"}
    ]
    # Standards: the flexible workers' of a new year, in fen and basis points; a bad one named by field.
    standard = {
        "region_code": "520103",
        "year": 2027,
        "category": "flexible",
        "opens": "2027-01-01",
        "closes": "2027-12-31",
        "base_min_fen": 439470,
        "base_max_fen": 2197350,
        "pension_rate_bp": 2000,
        "medical_rate_bp": 800,
    }
    saved = push(writer, "standards", [standard], key="std-0001").get_json()
    assert saved["created"] == 1
    row = db.session.scalar(select(Standard).filter_by(region_code="520103", year=2027))
    assert (row.base_min_fen, row.pension_rate_bp, row.medical_rate_bp) == (439470, 2000, 800)
    wrong = push(writer, "standards", [{**standard, "base_min_fen": 3000000}], key="std-0002").get_json()
    assert wrong["rows"] == [{"index": 0, "field": "base_max_fen", "reason": "缴费基数下限应小于上限"}]
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-3:] == ["api_agency.save", "api_agency.save", "api_standard.save"]
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action.like("api_%"))).all()
    assert {e.target for e in entries} == {f"api_client:{writer.client_id}"}
    spoken = {c.field for line in audit_words.lines(entries) for c in line.changes}
    assert not {f for f in spoken if f.isascii()}, spoken  # every field in words, none as its code


def test_a_batch_of_a_thousand_rows_fits_and_one_more_is_refused(app, world, ctx, writer):
    enrollment = world.enrollment("王芳", "medical")
    enrollment_no = enrollment.enrollment_no
    rows = [due_row(enrollment_no, f"{1900 + n // 12}-{n % 12 + 1:02d}", 35200) for n in range(1000)]
    answer = push(writer, "dues", rows)  # ~90 KB: more than a form may send
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.get_json()["created"] == 1000
    assert count(Due, Due.enrollment_id == enrollment.id, Due.period_start < "1990-01") == 1000
    rows.append(due_row(enrollment_no, "1990-01", 35200))
    too_many = push(writer, "dues", rows, key="batch-1001")
    assert too_many.status_code == 422 and "1000" in too_many.get_json()["detail"]
