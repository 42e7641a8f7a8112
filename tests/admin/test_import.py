"""导入: a file with bad rows is reported row by row and writes nothing; a clean one (CSV or
XLSX) writes people, enrollments and 补缴 dues once, with an audit entry; 张伟 then pays it."""

import io

from openpyxl import Workbook
from sqlalchemy import func, select

from sbweb.db import db
from sbweb.models import AuditEntry, Due, Enrollment, Person
from sbweb.services.imports import COLUMNS
from tests.admin.test_admin import make_staff, staff_login
from tests.support.journeys import choose, pay, sign_in

# Every column the import reads, in its order (the file a 人社 export gives).
HEADER = list(COLUMNS)
ZHANG_BACKPAY = [
    "居民身份证",
    "370202197805127818",
    "张伟",
    "灵活就业人员",
    "养老保险",
    "370202100000034567",
    "37020201",
    "青岛市市南区社会保险事业中心",
    "370202",
    "青岛市",
    "补缴",
    "2023-01",
    "2023-06",
    "4776.00",
    "",
    "",
]
NEW_PERSON = [
    "居民身份证",
    "330102198808082426",
    "陈静",
    "城乡居民",
    "医疗保险",
    "330102200000099999",
    "33010201",
    "杭州市上城区医疗保障局",
    "330102",
    "杭州市",
    "正常缴费",
    "2027-01",
    "2027-12",
    "400",
    "13301020000",
    "国家税务总局杭州市上城区税务局",
]


def csv_bytes(rows):
    return ("\n".join(",".join(r) for r in [HEADER] + rows) + "\n").encode("utf-8-sig")


def upload(client, data, filename="push.csv", mode="dry-run"):
    page = client.page("/admin/import")
    token = page.soup.select_one("input[name=csrf_token]")["value"]
    response = client.post(
        "/admin/import",
        data={"csrf_token": token, "mode": mode, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
    return client._to_page(response, "/admin/import", True)


def refused_rows(client, rows: list, mode: str) -> dict[int, str]:
    """Upload `rows` as CSV: refused (422), its report's rows in error, by row number → what is wrong."""
    page = upload(client, csv_bytes(rows), mode=mode)
    assert page.status == 422
    return {
        int(tr.select("td")[0].get_text()): tr.select("td")[1].get_text() for tr in page.soup.select("main tbody tr")
    }


def counts():
    db.session.rollback()
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Person, Enrollment, Due))


def office(app):
    from tests.support import ResidentClient

    make_staff(app, username="guanli", role="admin")
    app.test_client_class = ResidentClient
    client = app.test_client()
    staff_login(client, username="guanli")
    return client


def test_bad_rows_are_reported_by_number_and_nothing_is_written(app, world, ctx):
    client = office(app)
    before = counts()
    bad = [
        ZHANG_BACKPAY[:1] + ["370202197805127819"] + ZHANG_BACKPAY[2:],  # row 2: check digit
        ZHANG_BACKPAY[:2] + ["张三"] + ZHANG_BACKPAY[3:],  # row 3: name differs
        ZHANG_BACKPAY[:10] + ["补缴", "2023-06", "2023-01", "4776.00"],  # row 4: period reversed
        ZHANG_BACKPAY[:13] + ["-1"],  # row 5: amount
        NEW_PERSON[:5] + ["370202100000034567"] + NEW_PERSON[6:],  # row 6: someone else's no.
        NEW_PERSON,  # row 7: fine
    ]
    for mode in ("dry-run", "apply"):
        rows = refused_rows(client, bad, mode)
        assert set(rows) == {2, 3, 4, 5, 6}
        assert "证件号码格式不正确" in rows[2] and "姓名与已登记的不一致" in rows[3]
        assert "费款所属期" in rows[4] and "金额" in rows[5] and "个人参保编号已属于他人" in rows[6]
    assert counts() == before


def test_periods_and_amounts_off_the_calendar_and_past_the_columns_are_rows_in_error(app, world, ctx):
    """An amount above what the amount columns hold (PostgreSQL's integer) was applied — a 500 there."""
    client = office(app)
    before = counts()
    period = ZHANG_BACKPAY[:11]
    bad = [
        period + ["0001-01", "9999-12", "4776.00"],
        period + ["2023-13", "2023-13", "4776.00"],
        period + ["1900-02", "2100-13", "4776.00"],
        period + ["2023-01", "2023-06", "21474836.48"],
        period + ["2023-01", "2023-06", "99999999999999999999"],
        period + ["2023-01", "2023-06", "1e308"],
    ]
    for mode in ("dry-run", "apply"):
        rows = refused_rows(client, bad, mode)
        assert set(rows) == {2, 3, 4, 5, 6, 7}
        assert all("费款所属期应为 YYYY-MM" in rows[n] for n in (2, 3, 4))
        assert all("不超过21474836元" in rows[n] for n in (5, 6, 7))
    alone = upload(client, csv_bytes([period + ["2023-01", "2023-06", "21474836.48"]]), mode="apply")
    assert alone.status == 422 and "不超过21474836元" in alone.text
    assert counts() == before


def test_a_clean_xlsx_is_imported_once_and_zhang_wei_pays_the_backpay(app, client, world, ctx):
    staff = office(app)
    book = Workbook()
    sheet = book.active
    for row in [HEADER, ZHANG_BACKPAY, NEW_PERSON]:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    dry = upload(staff, buffer.getvalue(), "push.xlsx")
    assert "全部 2 行可导入（应缴费款 2 笔）" in dry.text
    before = counts()
    done = upload(staff, buffer.getvalue(), "push.xlsx", mode="apply")
    assert "已导入 2 行" in done.text
    people, enrollments, dues = counts()
    assert (people, enrollments, dues) == (before[0], before[1] + 1, before[2] + 2)
    upload(staff, buffer.getvalue(), "push.xlsx", mode="apply")  # the same file again: nothing doubles
    assert counts() == (people, enrollments, dues)
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).filter_by(action="import.apply")) == 2
    sign_in(client, "张伟")
    backpay = [d for d in _dues(world) if d.period_start == "2023-01"]
    result = pay(client, choose(client, "pension", due_ids=[backpay[0].id]))
    assert "缴费成功" in result.text


def _dues(world):
    db.session.rollback()
    return world.dues("张伟", "pension")


def test_only_an_admin_imports_and_the_file_kind_is_checked(app, world, ctx):
    from tests.support import ResidentClient

    make_staff(app)  # a reviewer
    app.test_client_class = ResidentClient
    reviewer = app.test_client()
    staff_login(reviewer)
    assert reviewer.get("/admin/import").status_code == 403
    client = office(app)
    wrong = upload(client, b"hello", "push.txt")
    assert wrong.field_error("file") == "仅支持 .csv 或 .xlsx 文件"
    no_header = upload(client, b"a,b\n1,2\n", "push.csv")
    assert no_header.field_error("file").startswith("缺少列：")


def test_old_mac_line_ends_read_and_an_unreadable_csv_is_said_not_a_500(app, world, ctx):
    client = office(app)
    before = counts()
    mac = ("\r".join(",".join(r) for r in [HEADER, ZHANG_BACKPAY]) + "\r").encode("utf-8-sig")
    assert upload(client, mac).status == 200  # a dry run of one good row (found by the fuzz run: a 500)
    garbled = csv_bytes([ZHANG_BACKPAY]) + b'"' + b"x" * 140_000  # one field past the csv module's limit
    page = upload(client, garbled)
    assert page.status == 422 and "无法读取该 CSV 文件" in page.text
    assert counts() == before


def test_a_file_larger_than_a_form_is_imported_and_still_needs_its_csrf_token(app, world, ctx):
    client = office(app)
    rows = [NEW_PERSON[:5] + [f"3301022000{n:08d}"] + NEW_PERSON[6:] for n in range(1200)]  # ≈ 200 KB
    data = csv_bytes(rows)
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    page = upload(client, data)
    assert page.status == 200 and "试运行未写入任何数据" in page.text  # read whole: not a 413
    refused = client.post(
        "/admin/import",
        data={"mode": "dry-run", "file": (io.BytesIO(data), "push.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 400


def test_a_new_agency_needs_its_tax_office_and_gets_the_one_named(app, world, ctx):
    """An agency in a region whose 主管税务机关 is not known yet: a row without one is refused; with
    it, the agency is under that office, and a second agency of the region needs none."""
    from sbweb.models import Agency

    client = office(app)
    before = counts()
    without = NEW_PERSON[:14] + ["", ""]
    page = upload(client, csv_bytes([without]), mode="apply")
    assert page.status == 422 and "地区 330102 尚无主管税务机关，请填写主管税务机关代码和名称" in page.text
    half = NEW_PERSON[:14] + ["1330102", "国家税务总局杭州市上城区税务局"]
    assert "主管税务机关代码应为11位数字" in upload(client, csv_bytes([half]), mode="apply").text
    assert counts() == before
    second = (
        NEW_PERSON[:5]
        + ["330102200000088888"]
        + ["33010202", "杭州市上城区社会保险管理服务中心"]
        + NEW_PERSON[8:14]
        + ["", ""]
    )
    body = "33010219900101123"
    digit = "10X98765432"[
        sum(int(c) * w for c, w in zip(body, (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), strict=False)) % 11
    ]
    second[1], second[2] = body + digit, "周敏"
    done = upload(client, csv_bytes([NEW_PERSON, second]), mode="apply")
    assert done.status == 200, done.text[:300]
    db.session.rollback()
    offices = {
        a.code: a.tax_office.name for a in db.session.scalars(select(Agency).where(Agency.region_code == "330102"))
    }
    assert offices == {"33010201": "国家税务总局杭州市上城区税务局", "33010202": "国家税务总局杭州市上城区税务局"}
