"""无待缴 leads somewhere: 我为自己缴 finds nothing owed for 刘洋's 城乡居民医疗保险, but the 2027
collection window is open, so the page says so and offers 缴费申报 in the same flow (the Guizhou
seed chooses 年份/档次 inside the pay flow); after declaring he is back on the dues list with the
new due, and pays it. The clock stands at 2026-11-23 12:00 Shanghai (2027's window is open)."""

import pytest
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Declaration, Due
from tests.support.journeys import pay, sign_in, submit_declaration

pytestmark = pytest.mark.usefixtures("clock")

LIU_MEDICAL = "520115200000056789"


def test_liu_yang_with_nothing_owed_declares_2027_from_the_dues_page_and_pays_it(client, world, ctx):
    sign_in(client, "刘洋", verified=True)
    listed = client.page("/selfpay/")
    assert "无待缴 可申报2027年度" in listed.text
    dues = client.page(f"/selfpay/{LIU_MEDICAL}/dues")
    assert dues.h1 == "选择缴费信息"
    assert "暂无应缴费信息，可先申报缴费" in dues.text
    assert "2027年度城乡居民医疗保险征收期已开始" in dues.text
    declare_link = dues.links()["缴费申报"]
    assert declare_link == f"/declare/resident-medical?then={LIU_MEDICAL}"

    form = client.page(declare_link)
    assert form.h1 == "城乡居民医疗保险费申报"
    assert "上一步：选择缴费信息" in form.links()
    assert form.soup.select_one("#year option[selected]")["value"] == "2027"
    back = submit_declaration(client, form)
    assert back.h1 == "选择缴费信息" and back.url.endswith(f"/selfpay/{LIU_MEDICAL}/dues")
    assert "已申报：医疗保险 2027年01月至2027年12月，请选择要缴纳的费款" in back.text
    declared = db.session.scalar(select(Declaration).filter_by(person_id=world.people["刘洋"]))
    due = db.session.get(Due, declared.due_id)
    assert due.state == "open" and (due.period_start, due.period_end) == ("2027-01", "2027-12")
    assert back.soup.select_one(f"input[name=dues][value='{due.id}']").has_attr("checked")
    assert "可先申报缴费" not in back.text

    confirm = client.submit(back)
    assert confirm.h1 == "缴费信息确认"
    result = pay(client, confirm)
    assert result.h1 == "缴费结果" and "缴费成功" in result.text
    assert db.session.get(Due, due.id).state == "paid"
    after = client.page(f"/selfpay/{LIU_MEDICAL}/dues")  # 2027 paid: nothing to declare for it now
    assert "暂无应缴费信息" in after.text and "可先申报缴费" not in after.text
    assert "可申报" not in client.page("/selfpay/").text


def test_a_looked_up_session_is_offered_the_declaration_and_asked_to_verify_first(client, world, ctx):
    sign_in(client, "刘洋")
    dues = client.page(f"/selfpay/{LIU_MEDICAL}/dues")
    assert "2027年度城乡居民医疗保险征收期已开始" in dues.text and "申报需先验证身份" in dues.text
    response = client.get(dues.links()["缴费申报"])
    assert response.status_code == 303 and response.location.startswith("/auth/")
    assert "need=verified" in response.location


def test_the_declaration_back_link_and_then_ignore_someone_elses_enrollment(client, world, ctx):
    sign_in(client, "刘洋", verified=True)
    form = client.page("/declare/resident-medical?then=370212200000045679")  # 赵秀英's
    assert "上一步：缴费申报" in form.links() and "上一步：选择缴费信息" not in form.links()
    done = submit_declaration(client, form)
    assert done.h1 == "缴费信息确认"  # the usual way on, not to her dues


def test_dues_open_means_no_offer(client, world, ctx):
    sign_in(client, "李明", verified=True)
    page = client.page("/selfpay/330106200000023457/dues")
    assert "可先申报缴费" not in page.text and "400.00" in page.text


def test_the_declaration_step_renders_as_a_fragment_for_htmx(htmx_client, world, ctx):
    htmx_client.htmx = False
    sign_in(htmx_client, "刘洋", verified=True)
    htmx_client.htmx = True
    page = htmx_client.page(f"/declare/resident-medical?then={LIU_MEDICAL}")
    assert page.h1 == "城乡居民医疗保险费申报" and page.soup.find("html") is None
    assert page.soup.select_one("ol.steps") is not None
