"""Certificates follow the money, in Chromium at 390×844 with and without JavaScript: 王芳 pays her
medical due and opens its 电子缴费凭证; the payment is refunded (重复参保缴费, staff approve it);
the document page, 开具记录 and the public 证明核验 then say 已作废 with the date and the reason,
and the PDF she downloads carries the mark. Screenshots: test-artifacts/screens/<test>/."""

import re
import subprocess

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from sbweb.db import db
from sbweb.models import Document, Order, Person
from sbweb.services import bank, refund_applications, staff
from tests.support.browser_steps import checkout, consent, h1

pytestmark = pytest.mark.browser


def refund_by_staff(app, person_id: int) -> str:
    """Her payment comes back: she applied (重复参保缴费, to her bank account) and staff approved it."""
    with app.app_context():
        person = db.session.get(Person, person_id)
        account = bank.report(
            person, bank_name="中国工商银行", kind="card", account_no="6222020200000000006", account_name="王芳"
        )
        order = db.session.scalar(select(Order).filter_by(payer_id=person_id, state="settled"))
        application = refund_applications.apply(
            person,
            order.order_no,
            "normal",
            items={order.items[0].id: None},
            money_type="重复缴费退费",
            reason="重复参保缴费",
            account_id=account.id,
            account_name="王芳",
        )
        staff_id = staff.create("shenhe", "审核员", "correct horse battery", "reviewer").id
        refund_applications.approve(staff_id, application.id, method="bank")
        refund_applications.confirm_bank_transfer(staff_id, application.id)
        number = application.application_no
        db.session.remove()
    return number


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_a_refunded_payments_voucher_says_void_everywhere(live_server, page, shot, axe, tmp_path, js):
    tag = "js" if js else "nojs"
    tab = page(js=js)
    tab.goto(live_server("/"))
    tab.get_by_role("link", name=re.compile("我为自己缴")).click()
    consent(tab, "王芳")
    tab.get_by_role("link", name=re.compile("医疗保险")).click()
    checkout(tab)
    tab.get_by_role("link", name=re.compile("^电子缴费凭证")).click()
    expect(h1(tab)).to_have_text("电子缴费凭证")
    doc_url = tab.url

    number = refund_by_staff(live_server.app, live_server.world.people["王芳"])
    why = f"费款已退费（退费申请 {number}）"

    tab.goto(doc_url)
    notice = tab.locator("main .notice-warn")
    expect(notice).to_contain_text("本证明已作废")
    expect(notice).to_contain_text(why)
    shot(tab, f"document-void-{tag}")
    if js:
        axe.check(tab, "电子缴费凭证（已作废）")
    with tab.expect_download() as info:
        tab.get_by_role("link", name="下载 PDF").click()
    pdf = tmp_path / "void.pdf"
    info.value.save_as(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "已作废" in text and why in text, text

    tab.goto(live_server("/certificates/issued"))
    expect(h1(tab)).to_have_text("开具记录")
    expect(tab.locator("main a.cell-link").first).to_contain_text("已作废")
    shot(tab, f"issued-{tag}")
    if js:
        axe.check(tab, "开具记录（已作废）")

    with live_server.app.app_context():
        code = db.session.scalar(select(Document.verify_code))
        db.session.remove()
    public = page(js=js)
    public.goto(live_server(f"/verify/{code}"))
    expect(public.get_by_role("heading", level=2)).to_contain_text("已作废")
    expect(public.locator("main")).not_to_contain_text("核验通过")
    expect(public.locator("main")).to_contain_text(why)
    shot(public, f"verify-void-{tag}")
    if js:
        axe.check(public, "证明核验（已作废）")
