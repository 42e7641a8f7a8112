"""运行状态 in Chromium: an admin opens it from the back office's navigation at a desk and on a
phone (390 px, and 大字); axe-core finds nothing serious on it."""

import re

import pytest
from playwright.sync_api import expect

from tests.admin.test_admin import PASSWORD, make_staff
from tests.admin.test_backoffice_browser import DESK
from tests.support.browser_steps import h1

pytestmark = pytest.mark.browser


def test_an_admin_reads_the_status_in_words(live_server, page, shot, axe):
    make_staff(live_server.app, username="guanli", role="admin")
    result = live_server.app.test_cli_runner().invoke(args=["ledger", "check"])
    assert result.exit_code == 0, result.output
    for name, size in (("desk", DESK), ("phone", {})):
        tab = page(js=True, **size)
        tab.goto(live_server("/admin/login"))
        tab.get_by_label("用户名").fill("guanli")
        tab.get_by_label("密码").fill(PASSWORD)
        tab.get_by_role("button", name="登录").click()
        expect(h1(tab)).to_have_text("后台")
        tab.get_by_role("navigation", name="后台").get_by_role("link", name="运行状态").click()
        expect(h1(tab)).to_have_text("运行状态")
        expect(tab.locator("main")).to_contain_text("服务正常，可以缴费")
        expect(tab.locator("main tbody tr").filter(has_text="账目核对")).to_contain_text("账目一致")
        shot(tab, f"status-{name}")
        if name == "desk":
            axe.check(tab, "运行状态")
    tab.get_by_role("button", name="大字").click()
    expect(tab.locator("html")).to_have_class(re.compile(r"\blarge-text\b"))
    shot(tab, "status-phone-large")
    blocking = axe.blocking()
    assert not blocking, f"axe found serious or critical problems: {blocking}"
