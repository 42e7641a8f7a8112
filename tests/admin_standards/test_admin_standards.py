"""缴费标准 in the back office: an admin edits or adds a year with the CLI's validation; each
change is audited and re-prices the open dues it priced; a reviewer only reads."""

import pytest
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import AuditEntry, Standard
from tests.admin.test_admin import make_staff, staff_login


def office(app, username="guanli", role="admin"):
    from tests.support import ResidentClient

    make_staff(app, username=username, role=role)
    app.test_client_class = ResidentClient
    client = app.test_client()
    staff_login(client, username=username)
    return client


def test_an_admin_changes_a_rate_and_it_is_audited_and_reprices(app, world, ctx):
    client = office(app)
    standard_id = db.session.scalar(select(Standard.id).filter_by(region_code="520000", year=2026, category="flexible"))
    page = client.page(f"/admin/standards/{standard_id}")
    assert page.soup.select_one("#pension_rate")["value"] == "20"
    bad = client.submit(page, {"base_min": "30000"}, selector="main form.form-card")
    assert bad.status == 422 and "缴费基数下限应小于上限" in " ".join(bad.summary())
    done = client.submit(page, {"medical_rate": "9"}, selector="main form.form-card")
    assert "缴费标准已保存" in done.text
    db.session.rollback()
    assert [d.amount_fen for d in world.dues("王芳", "medical")] == [39600]  # 4400 × 9 %
    entry = db.session.scalar(select(AuditEntry).filter_by(action="standard.save"))
    assert entry.before["medical_rate"] == "8" and entry.after["medical_rate"] == "9"


def test_a_new_year_is_a_new_row(app, world, ctx):
    client = office(app)
    page = client.page("/admin/standards/new")
    client.submit(
        page,
        selector="main form.form-card",
        data={
            "region": "370200",
            "year": "2028",
            "category": "resident",
            "grades": "100,200,500",
            "medical": "420",
            "late_fee": "0",
            "opens": "2027-09-01",
            "closes": "2028-06-30",
        },
    )
    db.session.rollback()
    row = db.session.scalar(select(Standard).filter_by(region_code="370200", year=2028))
    assert row.grades_fen == [10000, 20000, 50000] and row.medical_fen == 42000


def test_a_reviewer_reads_but_cannot_edit(app, world, ctx):
    client = office(app, username="shenhe", role="reviewer")
    listing = client.page("/admin/standards")
    rows = [tr.get_text(" ", strip=True) for tr in listing.soup.select("main tbody tr")]
    row = next(r for r in rows if r.startswith("青岛市 370200 2026年 灵活就业人员 缴费基数"))
    assert "养老保险费率" in row and "修改" not in row
    assert client.get("/admin/standards/new").status_code == 403


@pytest.mark.parametrize(
    "data, said",
    [
        (
            {"opens": "0001-01-01", "closes": "9999-12-31"},
            [
                "征收期开始日期应在1990-01-01至2100-12-31之间：0001-01-01",
                "征收期结束日期应在1990-01-01至2100-12-31之间：9999-12-31",
            ],
        ),
        ({"closes": "1900-02-29"}, ["征收期结束日期不是有效日期（YYYY-MM-DD）：1900-02-29"]),
        ({"opens": "2024-02-30"}, ["征收期开始日期不是有效日期（YYYY-MM-DD）：2024-02-30"]),
        # Past what the amount columns hold (21,474,836.47 yuan): PostgreSQL's integer overflowed, a 500.
        ({"base_max": "99999999999"}, ["缴费基数上限过大：99999999999"]),
        ({"base_max": "21474836.48"}, ["缴费基数上限过大：21474836.48"]),
    ],
)
def test_dates_off_the_calendar_and_amounts_past_the_columns_are_refused(app, world, ctx, data, said):
    client = office(app)
    standard = db.session.scalar(select(Standard).filter_by(region_code="520000", year=2026, category="flexible"))
    revision = standard.revision
    page = client.submit(client.page(f"/admin/standards/{standard.id}"), data, selector="main form.form-card")
    assert page.status == 422 and page.summary() == said
    db.session.rollback()
    assert db.session.get(Standard, standard.id).revision == revision
    assert db.session.scalar(select(AuditEntry).filter_by(action="standard.save")) is None


def test_a_year_off_the_calendar_is_refused(app, world, ctx):
    client = office(app)
    for year in ("0", "1999", "2101", "9999"):
        page = client.submit(
            client.page("/admin/standards/new"),
            selector="main form.form-card",
            data={
                "region": "370200",
                "year": year,
                "category": "resident",
                "grades": "100,200",
                "medical": "380",
                "opens": "2027-01-01",
                "closes": "2027-12-31",
            },
        )
        assert page.status == 422 and f"年度无效：{year}" in page.summary(), year
