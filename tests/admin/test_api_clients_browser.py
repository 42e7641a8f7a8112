"""The API clients page in Chromium at 390×844, with JavaScript (htmx swaps the answer in) and
without (plain POST, the page comes back whole): an admin creates a client, copies its secret from
the page, the secret signs a real HTTP request to the live server, then the admin revokes it."""

import datetime as dt
import re

import pytest
import requests
from playwright.sync_api import expect

from sbweb import api_signing
from sbweb.services import settlement_files
from tests.admin.test_admin import PASSWORD, make_staff
from tests.support.browser_steps import h1

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_an_admin_creates_and_revokes_a_client_on_a_phone(app, live_server, page, shot, axe, js):
    make_staff(app, username="guanli", role="admin")
    tab = page(js=js)
    tab.goto(live_server("/admin/login"))
    tab.get_by_label("用户名").fill("guanli")
    tab.get_by_label("密码").fill(PASSWORD)
    tab.get_by_role("button", name="登录").click()
    expect(h1(tab)).to_have_text("后台")
    tab.goto(live_server("/admin/api-clients"))
    expect(h1(tab)).to_have_text("机器接口客户端")
    tab.get_by_role("button", name="创建客户端").click()  # nothing filled in: told beside the fields
    expect(tab.locator(".error-summary")).to_contain_text("请填写客户端名称")
    shot(tab, "api-clients-errors")
    tab.get_by_label("客户端名称").fill("贵阳社保局系统")
    tab.get_by_label(re.compile("^events:read")).check()
    tab.get_by_label("代表的社保经办机构").select_option(value="52010202")
    tab.get_by_role("button", name="创建客户端").click()
    expect(h1(tab)).to_have_text("客户端已创建")
    shot(tab, "api-client-created")
    if js:
        axe.check(tab, "客户端已创建")
    key_id, secret = tab.locator("#key-id").inner_text(), tab.locator("#secret").inner_text()
    path = "/api/v1/events"
    headers = api_signing.signed_headers(key_id, secret, "GET", path, "after=0")
    assert requests.get(live_server(path) + "?after=0", headers=headers, timeout=10).status_code == 200
    tab.get_by_role("link", name="返回客户端列表").click()
    expect(h1(tab)).to_have_text("机器接口客户端")
    tab.on("dialog", lambda dialog: dialog.accept())  # htmx's hx-confirm
    tab.get_by_role("button", name=re.compile(f"停用 {key_id}")).click()
    expect(tab.locator("main")).to_contain_text(f"已停用客户端 {key_id}")
    shot(tab, "api-clients-revoked")
    if js:
        axe.check(tab, "机器接口客户端")
    headers = api_signing.signed_headers(key_id, secret, "GET", path, "after=0")
    assert requests.get(live_server(path) + "?after=0", headers=headers, timeout=10).status_code == 401
    # The day's settlement files, on the same phone.
    with app.app_context():
        settlement_files.make_day(dt.date(2026, 11, 20))
    tab.get_by_role("link", name="结算文件").click()
    expect(h1(tab)).to_have_text("每日结算文件")
    tab.get_by_label("结算日（北京时间）").fill("2026-11-20")
    tab.get_by_role("button", name="查看").click()
    expect(tab.locator("main h2").last).to_have_text("2026-11-20")
    expect(tab.get_by_role("link", name=re.compile("^CSV"))).to_have_count(5)  # every tax office of the demo
    shot(tab, "settlement-files")
