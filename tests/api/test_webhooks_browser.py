"""事件推送 in Chromium: deliveries an agency's endpoint refused are listed for staff; an admin
presses 重新发送 — with JavaScript (htmx swaps the page in place) and without (a plain POST and
303) — and each reaches the receiver. Screenshots at 1280 px and at a phone's 390 px."""

import re

import pytest
from playwright.sync_api import expect

from tests.admin.test_admin import PASSWORD, make_staff
from tests.admin.test_backoffice_browser import staff_sign_in
from tests.api.test_webhooks import Receiver, deliveries, failed_delivery
from tests.support.browser_steps import h1

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver():
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_an_admin_sends_failed_deliveries_again_with_and_without_javascript(
    app, client, world, ctx, system, receiver, clock, page, shot, axe, request
):
    failed_delivery(app, client, world, system, receiver, clock)
    live_server = request.getfixturevalue("live_server")  # after the flows: it makes URLs absolute
    first, second = (row.event.key for row in deliveries()[:2])
    make_staff(app, "guanli", role="admin")
    receiver.always_fail = False
    office = staff_sign_in(page, live_server, shot, axe, "guanli", check=False)
    office.get_by_role("link", name="事件推送").click()
    expect(h1(office)).to_have_text("事件推送")
    shot(office, "webhooks-desk")
    axe.check(office, "事件推送")
    office.get_by_role("button", name=re.compile(re.escape(first) + "$")).click()
    expect(office.locator("main .notice")).to_contain_text(f"已重新发送事件 {first}（已送达）")
    expect(h1(office)).to_have_text("事件推送")
    shot(office, "webhooks-resent-js")
    assert [g.event_id for g in receiver.with_status(200)] == [first]

    plain = page(js=False)
    plain.goto(live_server("/admin/login"))
    plain.get_by_label("用户名").fill("guanli")
    plain.get_by_label("密码").fill(PASSWORD)
    plain.get_by_role("button", name="登录").click()
    plain.goto(live_server("/admin/webhooks"))
    expect(h1(plain)).to_have_text("事件推送")
    shot(plain, "webhooks-phone-nojs")
    plain.get_by_role("button", name=re.compile(re.escape(second) + "$")).click()
    expect(plain.locator("main")).to_contain_text(f"已重新发送事件 {second}（已送达）")
    assert plain.url.endswith("/admin/webhooks")
    shot(plain, "webhooks-resent-nojs")
    assert [g.event_id for g in receiver.with_status(200)] == [first, second]
