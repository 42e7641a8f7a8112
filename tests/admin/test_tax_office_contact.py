"""Whom to call: every resident page ends with 若您在缴费过程中遇到任何问题，请联系当地税务部门 and
the tax office of the resident's own agency with its phone (the pilot's default office, or the
national 12366, when unknown); an admin edits an office's name and phone at /admin/tax-offices
(audited, bad input told beside its field), a reviewer only reads them."""

import pytest
from sqlalchemy import select

from sbweb.db import db, write_transaction
from sbweb.models import AuditEntry, TaxOffice
from tests.admin.test_admin import make_staff, staff_login
from tests.selfpay.test_steps import hx
from tests.support.journeys import sign_in

ASK = "若您在缴费过程中遇到任何问题，请联系当地税务部门"


def footer(page):
    found = page.soup.select("footer")
    assert len(found) == 1, page.url
    return found[0]


def office(code):
    db.session.rollback()
    return db.session.scalar(select(TaxOffice).filter_by(code=code))


@pytest.mark.parametrize(
    "name, office_name, phone",
    [
        ("王芳", "国家税务总局贵阳市南明区税务局", "0851-55501020"),
        ("张伟", "国家税务总局青岛市市南区税务局", "0532-55502020"),
        ("李明", "国家税务总局杭州市西湖区税务局", "0571-55501060"),
    ],
)
def test_each_resident_is_told_their_own_regions_tax_office(client, world, name, office_name, phone):
    sign_in(client, name)  # a looked-up session is told too
    for url in ("/selfpay/", "/records/", "/"):
        text = footer(client.page(url)).get_text(" ", strip=True)
        assert ASK in text and office_name in text and phone in text and "工作日 9:00-17:00" in text, url
    assert footer(client.page("/selfpay/")).select_one("a")["href"] == f"tel:{phone}"


def test_nobody_signed_in_is_told_12366_or_the_pilots_office(app, client, world):
    text = footer(client.page("/")).get_text(" ", strip=True)
    assert ASK in text and "国家税务总局纳税服务热线" in text and "12366" in text
    app.config["DEFAULT_TAX_OFFICE"] = "13702120000"
    text = footer(client.page("/")).get_text(" ", strip=True)
    assert "国家税务总局青岛市崂山区税务局" in text and "0532-55502120" in text and "12366" not in text


def test_an_office_without_a_phone_falls_back(app, client, world, ctx):
    with write_transaction():
        office("13702020000").phone = None
    sign_in(client, "张伟")
    text = footer(client.page("/selfpay/")).get_text(" ", strip=True)
    assert "市南区" not in text and "12366" in text


def test_a_fragment_carries_the_footer_out_of_band_and_staff_pages_none(app, client, world):
    sign_in(client, "王芳")
    body = hx(client, "/records/").get_data(as_text=True)
    assert body.count("<footer") == 1 and 'id="site-footer"' in body and 'hx-swap-oob="true"' in body
    assert "0851-55501020" in body
    make_staff(app)
    staff = app.test_client()
    assert not staff_login(staff).soup.select("footer")


def test_an_admin_edits_the_phone_and_residents_see_it(app, client, world, ctx):
    make_staff(app, username="guanli", role="admin")
    admin = app.test_client()
    staff_login(admin, username="guanli")
    page = admin.page("/admin/tax-offices")
    assert page.h1 == "主管税务机关" and "国家税务总局青岛市市南区税务局" in page.text
    row = office("13702020000")
    selector = f"form[action$='/tax-offices/{row.id}']"
    saved = admin.submit(
        page, {f"t{row.id}-phone": "0532 - 66601234", f"t{row.id}-hours": "工作日 8:30-17:30"}, selector=selector
    )
    assert saved.status == 200 and "已保存「国家税务总局青岛市市南区税务局」的联系电话" in saved.text
    assert (office("13702020000").phone, office("13702020000").hours) == ("0532-66601234", "工作日 8:30-17:30")
    [entry] = db.session.scalars(select(AuditEntry).filter_by(action="tax_office.set"))
    assert entry.before["phone"] == "0532-55502020" and entry.after["phone"] == "0532-66601234"
    sign_in(client, "张伟")
    assert "0532-66601234" in footer(client.page("/selfpay/")).get_text()


@pytest.mark.parametrize(
    "data, field, said",
    [
        ({"phone": "call me"}, "phone", "联系电话格式不正确，如 0851-55501020 或 12366"),
        ({"phone": "0532-5550"}, "phone", "联系电话格式不正确，如 0851-55501020 或 12366"),
        ({"phone": "1" * 30}, "phone", "联系电话格式不正确，如 0851-55501020 或 12366"),
        ({"name": "  "}, "name", "请输入税务机关名称"),
        ({"name": "局" * 61}, "name", "税务机关名称不超过60个字"),
        ({"hours": "时" * 41}, "hours", "服务时间不超过40个字"),
    ],
)
def test_bad_input_is_told_beside_its_field_and_changes_nothing(app, client, world, ctx, data, field, said):
    make_staff(app, username="guanli", role="admin")
    admin = app.test_client()
    staff_login(admin, username="guanli")
    page = admin.page("/admin/tax-offices")
    row = office("13702020000")
    refused = admin.submit(
        page, {f"t{row.id}-{k}": v for k, v in data.items()}, selector=f"form[action$='/tax-offices/{row.id}']"
    )
    assert refused.status == 422 and refused.field_error(f"t{row.id}-{field}") == said
    after = office("13702020000")
    assert (after.name, after.phone) == ("国家税务总局青岛市市南区税务局", "0532-55502020")
    assert db.session.scalar(select(AuditEntry).filter_by(action="tax_office.set")) is None


def test_a_reviewer_reads_the_offices_but_cannot_change_them(app, client, world, ctx):
    make_staff(app)
    reviewer = app.test_client()
    staff_login(reviewer)
    page = reviewer.page("/admin/tax-offices")
    assert page.h1 == "主管税务机关" and not page.soup.select("main form[action*='/tax-offices/']")
    assert "0532-55502020" in page.soup.select_one("main table").get_text()
    row = office("13702020000")
    token = page.soup.select_one("input[name=csrf_token]")["value"]
    refused = reviewer.post(
        f"/admin/tax-offices/{row.id}",
        data={"csrf_token": token, f"t{row.id}-name": "改名", f"t{row.id}-phone": "12366"},
    )
    assert refused.status_code == 403 and office("13702020000").phone == "0532-55502020"
    assert reviewer.post("/admin/tax-offices/999999", data={"csrf_token": token}).status_code == 403


def test_an_unknown_office_is_not_found(app, client, world):
    make_staff(app, username="guanli", role="admin")
    admin = app.test_client()
    staff_login(admin, username="guanli")
    token = admin.page("/admin/tax-offices").soup.select_one("input[name=csrf_token]")["value"]
    assert admin.post("/admin/tax-offices/999999", data={"csrf_token": token}).status_code == 404


def test_a_page_asks_for_the_tax_office_once(app, client, world):
    """The footer reads five fields of it; one query answers them all."""
    from sqlalchemy import event

    sign_in(client, "王芳")
    asked = []

    def seen(_conn, _cursor, statement, *_args):
        if "FROM tax_offices" in statement:
            asked.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        text = footer(client.page("/selfpay/")).get_text(" ", strip=True)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "0851-55501020" in text and "工作日 9:00-17:00" in text
    assert len(asked) == 1, asked
