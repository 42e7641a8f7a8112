"""银行缴费协议 on a phone, with and without JavaScript: 张伟 signs one with a 单笔扣款限额 of his
own (a bad one is refused beside the field), the nightly 批扣 leaves his 补缴 for him and the
agreement says why, and he opts in on 修改扣款设置. axe-core on the pages in the JavaScript run."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from sbweb.services import withholding
from tests.support.browser_steps import h1, report_bank_account

pytestmark = pytest.mark.browser

CARD = "6222020200112233446"  # 19 digits, Luhn-valid


def run_batch(live_server):
    # The 扣款预告 mail goes in the same run (the notice period has flow tests of its own).
    live_server.app.config["WITHHOLD_NOTICE"] = dt.timedelta(0)
    with live_server.app.app_context():
        return withholding.run()


@pytest.mark.parametrize("js", [True, False], ids=["js", "nojs"])
def test_zhang_wei_sets_his_limit_and_is_told_what_batch_withholding_left(live_server, page, shot, axe, js):
    tab = page(js=js)
    report_bank_account(tab, live_server, "张伟", CARD)

    tab.get_by_role("link", name="签订缴费协议").click()
    expect(h1(tab)).to_have_text("签订银行缴费协议")
    tab.get_by_label("参保信息").select_option("370202100000034567")
    limit = tab.get_by_label("单笔扣款限额（元）")
    expect(limit).to_have_value("2000.00")
    expect(tab.get_by_label("补缴费款也自动扣款")).not_to_be_checked()
    limit.fill("0")
    tab.get_by_role("button", name="签约").click()
    expect(tab.locator(".error-summary")).to_contain_text("单笔扣款限额应大于0元")
    expect(tab.locator("#limit-error")).to_contain_text("单笔扣款限额应大于0元")
    shot(tab, "agreement-bad-limit")
    if js:
        axe.check(tab, "签订银行缴费协议（限额有误）")
    tab.get_by_label("单笔扣款限额（元）").fill("1500")
    tab.get_by_role("button", name="签约").click()
    expect(h1(tab)).to_have_text("银行账户与缴费协议")
    expect(tab.locator("main")).to_contain_text("单笔扣款限额 ¥1,500.00 · 补缴费款经补缴明细确认后扣款")

    counts = run_batch(live_server)
    assert counts["settled"] == 1 and counts["skipped_unconfirmed"] == 1, counts
    tab.reload()
    expect(tab.locator("main")).to_contain_text("补缴费款 ¥4,776.00 未经补缴明细确认，未自动扣款")
    shot(tab, "bank-told")
    if js:
        axe.check(tab, "银行账户与缴费协议（未自动扣款）")

    tab.get_by_role("link", name=re.compile("修改扣款设置")).click()
    expect(h1(tab)).to_have_text("修改扣款设置")
    expect(tab.get_by_label("单笔扣款限额（元）")).to_have_value("1500.00")
    tab.get_by_label("单笔扣款限额（元）").fill("5000")
    tab.get_by_label("补缴费款也自动扣款").check()
    shot(tab, "settings")
    if js:
        axe.check(tab, "修改扣款设置")
    tab.get_by_role("button", name="保存").click()
    expect(h1(tab)).to_have_text("银行账户与缴费协议")
    expect(tab.locator("main")).to_contain_text("已保存扣款设置：单笔扣款限额 ¥5,000.00")
    expect(tab.locator("main")).not_to_contain_text("未自动扣款")
    assert run_batch(live_server)["settled"] == 1
    if js:
        assert not axe.blocking(), axe.blocking()
