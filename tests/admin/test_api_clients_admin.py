"""The machine API's clients in the back office: an admin creates one (the secret shown once, and
it signs requests that pass), sees it listed, revokes it (its requests refused from then on) —
each audited under the admin's name; bad input is told beside its field with nothing created; a
reviewer cannot get in; and staff read and download the daily settlement files."""

import datetime as dt

from sqlalchemy import select

from sbweb.db import db
from sbweb.models import ApiClient, AuditEntry, Staff, TaxOffice
from sbweb.services import settlement_files
from tests.admin.test_admin import make_staff, staff_login
from tests.api.conftest import AgencySystem
from tests.api.conftest import make_system as make_system  # noqa: F401  (the fixture, for this module)
from tests.api.test_settlement_files import settle_at
from tests.selfpay.test_steps import hx

NEW = "form[action='/admin/api-clients']"


def admin(app, client):
    make_staff(app, username="guanli", role="admin")
    staff_login(client, username="guanli")
    return db.session.scalar(select(Staff.id).filter_by(username="guanli"))


def test_an_admin_creates_a_client_whose_secret_is_shown_once_and_signs(app, client, world, ctx):
    staff_id = admin(app, client)
    form = client.page("/admin/api-clients")
    assert form.h1 == "机器接口客户端" and "暂无客户端" in form.text
    agency = world.enrollment("王芳", "medical").agency
    created = client.submit(
        form, {"name": "贵阳社保局系统", "scopes": ["events:read"], "agency": agency.code}, selector=NEW
    )
    assert created.h1 == "客户端已创建" and created.response.headers["Cache-Control"] == "no-store"
    key_id, secret = created.soup.select_one("#key-id").text, created.soup.select_one("#secret").text
    assert key_id.startswith("ak_") and secret.startswith("sk_")
    db.session.rollback()
    row = db.session.scalar(select(ApiClient).filter_by(client_id=key_id))
    assert (
        row.agency_id == agency.id and row.scopes == "events:read" and secret.encode() not in bytes(row.secret_sealed)
    )
    entry = db.session.scalar(select(AuditEntry).filter_by(action="api_client.create"))
    assert entry.staff_id == staff_id and entry.target == f"api_client:{key_id}"
    # The secret signs: the agency's system reads the feed with it.
    system = AgencySystem(app.test_client(), key_id, secret)
    assert system.get("/api/v1/events?after=0").status_code == 200
    listed = client.page("/admin/api-clients")
    assert key_id in listed.text and secret not in listed.text and "有效" in listed.text


def test_revoking_stops_its_requests_and_is_audited(app, client, world, ctx, make_system):
    staff_id = admin(app, client)
    system = make_system("青岛税务系统")
    page = client.page("/admin/api-clients")
    done = client.submit(page, selector=f"form[action$='/{system.client_id}/revoke']")
    assert done.h1 == "机器接口客户端" and f"已停用客户端 {system.client_id}" in done.text and "已停用（" in done.text
    refused = system.get("/api/v1/events")
    assert refused.status_code == 401 and refused.get_json()["type"].endswith("/client-revoked")
    db.session.rollback()
    entry = db.session.scalar(select(AuditEntry).filter_by(action="api_client.revoke"))
    assert entry.staff_id == staff_id and entry.target == f"api_client:{system.client_id}"


def test_bad_input_is_told_beside_its_field_and_creates_nothing(app, client, world, ctx):
    admin(app, client)
    form = client.page("/admin/api-clients")
    failed = client.submit(form, {"name": "", "scopes": []}, selector=NEW)
    assert failed.status == 422 and "错误" in failed.soup.title.text
    assert failed.field_error("name") == "请填写客户端名称"
    assert failed.field_error("scopes") == "请至少选择一项权限范围"
    tampered = client.submit(form, {"name": "x", "scopes": ["events:read"], "agency": "99999999"}, selector=NEW)
    assert tampered.status == 422 and tampered.field_error("agency") == "所选内容无效，请重新选择"
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(ApiClient)) == 0


def test_with_htmx_the_list_and_the_answer_are_fragments(app, client, world, ctx):
    admin(app, client)
    fragment = hx(client, "/admin/api-clients")
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    token = client.page("/admin/api-clients").soup.select_one("input[name=csrf_token]")["value"]
    answer = hx(
        client,
        "/admin/api-clients",
        method="POST",
        data={"csrf_token": token, "name": "税务局征收系统", "scopes": ["events:read", "dues:write"]},
    )
    body = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in body and "客户端已创建" in body and "sk_" in body


def test_a_reviewer_cannot_reach_the_clients(app, client, world, ctx):
    make_staff(app)
    staff_login(client)
    assert client.get("/admin/api-clients").status_code == 403
    assert "接口客户端" not in client.page("/admin/").text


def test_staff_see_a_days_settlement_files_and_download_them(app, client, world, ctx):
    make_staff(app)
    staff_login(client)
    settle_at(world, "王芳", "medical", dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC), 35200, "2026-09")
    settlement_files.make_day(dt.date(2026, 11, 20))
    db.session.commit()
    page = client.page("/admin/settlement-files?day=2026-11-20")
    assert page.h1 == "每日结算文件" and "352.00" in page.text
    office = world.enrollment("王芳", "medical").agency.tax_office
    link = page.soup.select_one(f"a[href$='/2026-11-20/{office.code}.csv']")["href"]
    download = client.get(link)
    kept = settlement_files.find(dt.date(2026, 11, 20), office.code)
    assert download.status_code == 200 and download.data == bytes(kept.csv)
    assert client.get(link.replace(".csv", ".xlsx")).data == bytes(kept.xlsx)
    assert client.get("/admin/settlement-files/2026-11-21/" + office.code + ".csv").status_code == 404
    bad = client.page("/admin/settlement-files?day=2026-02-30")
    assert bad.status == 422 and bad.field_error("day")
    assert "尚未生成" in client.page("/admin/settlement-files?day=2026-11-19").text
    assert db.session.scalar(select(db.func.count()).select_from(TaxOffice)) == len(page.soup.select("tbody tr"))
