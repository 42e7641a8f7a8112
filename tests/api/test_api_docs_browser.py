"""The API's page (/api/v1/) in Chromium on a phone, with JavaScript on and off: the document
rendered by us, nothing loaded from outside, nothing wider than the screen."""

import pytest

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_the_api_page_reads_on_a_phone(live_server, page, shot, js):
    tab = page(js=js)
    outside = []
    tab.on("request", lambda r: r.url.startswith(live_server.url) or outside.append(r.url))
    tab.goto(f"{live_server.url}/api/v1/")
    assert tab.locator("h1").inner_text() == "机器接口说明"
    assert tab.get_by_text("GET /api/v1/events").is_visible()
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    shot(tab, "api-page")
    assert outside == []
