"""暂按上年度标准 in Chromium on a phone (390×844): on 15 January 2027 Guizhou's 2027 灵活就业
standard is not published, so 王芳 declares February–March on 2026's, with and without
JavaScript; the declare page and 缴费信息确认 say so. Screenshots in test-artifacts/screens/<test>/."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from tests.declare.test_declare_browser import FLEXIBLE, declare_as, with_and_without_js
from tests.support.browser_steps import checkout, confirm_agency, consent, h1
from tests.support.journeys import World

pytestmark = pytest.mark.browser


@pytest.fixture
def world(app, clock):
    """The demo residents loaded on 15 January 2027, 12:00 Shanghai (the clock stays there)."""
    clock.at(dt.datetime(2027, 1, 15, 4, 0, tzinfo=dt.UTC))
    with app.app_context():
        return World.load()


@with_and_without_js
def test_wang_fang_declares_2027_on_2026s_standard(js, live_server, page, shot, axe):
    tab = page(js=js)
    declare_as(tab, live_server, "王芳", FLEXIBLE, "养老保险")
    expect(h1(tab)).to_have_text("灵活就业人员养老保险费申报")
    expect(tab.get_by_label("缴费年份")).to_have_value("2027")
    notice = tab.locator("#provisional")
    expect(notice).to_contain_text("2027年度缴费标准尚未公布，暂按上年度标准（2026年度标准）申报缴费")
    expect(tab.locator("main")).to_contain_text("4,394.70元-21,973.50元")
    tab.get_by_label("费款所属期（起）").select_option(label="02月")
    tab.get_by_label("费款所属期（止）").select_option(label="03月")
    tab.get_by_label("缴费基数（元/月）").fill("5000")
    if js:
        expect(tab.locator("#quote")).to_contain_text("合计 2,000.00 元")
        expect(tab.locator("#quote")).to_contain_text("暂按上年度标准（2026年度）")
        axe.check(tab, "declare")
    shot(tab, "declare-provisional")
    tab.get_by_role("button", name="下一步").click()
    confirm_agency(tab, "贵阳市南明区社会保险事业局", "国家税务总局贵阳市南明区税务局")
    expect(h1(tab)).to_have_text("缴费信息确认")
    expect(tab.locator("main")).to_contain_text("暂按上年度标准（2026年度标准），新标准公布后多退少补")
    expect(tab.locator("main")).to_contain_text("2,000.00")
    shot(tab, "confirm-provisional")
    print(axe.summary())
    assert not axe.blocking(), axe.blocking()


def save_guizhou_2027(app, **figures):
    """Guizhou publishes its 2027 灵活就业 standard (saved as the back office does), with `figures`
    instead of 2026's."""
    from sbweb.db import write_transaction
    from sbweb.services import standards

    with app.app_context(), write_transaction():
        standards.save_standard(
            standards.parse_standard(
                {
                    "region": "520000",
                    "year": 2027,
                    "category": "flexible",
                    "base_min": "4394.70",
                    "base_max": "21973.50",
                    "pension_rate": "20",
                    "medical_rate": "8",
                    "opens": "2027-01-01",
                    "closes": "2027-12-31",
                    **figures,
                }
            )
        )


def test_wang_fang_pays_january_provisionally_then_pays_the_difference(live_server, page, shot, axe):
    """The month the demo pushed for January 2027 says 暂按上年度标准 where she picks and pays it;
    once Guizhou publishes 2027 (a higher minimum base), 按2027年度标准补缴差额 is owed and paid."""
    from sbweb.services import ledger

    tab = page(js=True)
    number = "520102100000012345"
    tab.goto(live_server(f"/auth/?next=/selfpay/{number}/dues"))
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("选择缴费信息")
    january = tab.locator(".due", has_text="2027年01月")
    expect(january).to_contain_text("暂按上年度标准（2026年度标准），新标准公布后多退少补")
    december = tab.locator(".due", has_text="2026年12月")
    december.locator("input").uncheck()
    shot(tab, "dues-provisional")
    axe.check(tab, "dues")
    checkout(tab)
    expect(tab.locator("main")).to_contain_text("暂按上年度标准（2026年度标准）")
    shot(tab, "result-provisional")

    save_guizhou_2027(live_server.app, base_min="4600.00")
    tab.goto(live_server(f"/selfpay/{number}/dues"))
    difference = tab.locator(".due", has_text="按2027年度标准补缴差额")
    expect(difference).to_contain_text("40.00")
    shot(tab, "dues-difference")
    axe.check(tab, "dues with a difference")
    tab.locator(".due", has_text="2026年12月").locator("input").uncheck()
    checkout(tab)
    expect(tab.locator("main")).to_contain_text("按2027年度标准补缴差额")
    tab.goto(live_server("/records/"))
    expect(tab.locator("main")).to_contain_text("按2027年度标准补缴差额")
    shot(tab, "records")
    with live_server.app.app_context():
        assert ledger.check() == []
    print(axe.summary())
    assert not axe.blocking(), axe.blocking()


def test_wang_fang_reads_the_refund_the_system_applied_for(live_server, page, shot, axe):
    """Her January 医疗保险 paid on 2026's 8 %; Guizhou publishes 2027 at 7.5 %: 退费申请记录 shows
    the 多缴费款退费 the system applied for, 原路退回, awaiting review."""

    tab = page(js=True)
    tab.goto(live_server("/auth/?next=/selfpay/520102200000012346/dues"))
    consent(tab, "王芳")
    expect(h1(tab)).to_have_text("选择缴费信息")
    checkout(tab)
    save_guizhou_2027(live_server.app, medical_rate="7.5")
    tab.goto(live_server("/refunds/records"))
    expect(h1(tab)).to_have_text("退费申请记录")
    main = tab.locator("main")
    expect(main).to_contain_text("多缴费款退费 · 按2027年度缴费标准多缴退费")
    expect(main).to_contain_text("¥22.00")
    expect(main).to_contain_text("系统已为您申请退费，无需另行申请")
    shot(tab, "refund-records")
    axe.check(tab, "refund records")
    print(axe.summary())
    assert not axe.blocking(), axe.blocking()
