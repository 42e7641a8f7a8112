"""Browser fixtures: the test app served over real HTTP on 127.0.0.1 (the sandbox posts its
async notify to it like a provider would), Debian's Chromium as a phone, screenshots of every
step in test-artifacts/screens/<test>/, and axe-core on the pages a resident meets."""

import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
PHONE = {"width": 390, "height": 844}


@dataclass
class LiveServer:
    url: str
    app: object
    world: object

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def live_server(app, world):
    """The test `app` (its own migrated database, the demo residents loaded) on a free port.
    Payment URLs point at it and the sandbox talks to it over HTTP, as a real provider does."""
    from sbweb.identity.hosts import init_host_signin
    from sbweb.payments.registry import init_providers

    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config.update(PUBLIC_BASE_URL=base, SANDBOX_TRANSPORT="http", SANDBOX_GATEWAY_URL=f"{base}/sandbox/gateway.do")
    init_providers(app)  # the provider client is built from config: build it for this address
    init_host_signin(app)  # and so is the sandbox's sign-in (同意授权 goes through its gateway)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield LiveServer(base, app, world)
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        reason = f"browser tests need Chromium at {CHROMIUM} (Debian package `chromium`)"
        if os.environ.get("SBWEB_REQUIRE_BROWSER"):
            pytest.fail(f"SBWEB_REQUIRE_BROWSER is set but {reason}", pytrace=False)
        print(f"\nskipping browser tests: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A factory of phone tabs: `page(js=False, width=320)` gives a fresh context (no cookies)
    with a 390×844 touch screen at 2× and zh-CN (`user_agent=` to be inside a host app); all
    are closed after the test."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)  # a loaded 2-core machine is slower than the 5 s default
    contexts, errors = [], []

    def open_page(
        js: bool = True, width: int = PHONE["width"], height: int = PHONE["height"], user_agent: str | None = None
    ):
        context = browser.new_context(
            viewport={"width": width, "height": height},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            java_script_enabled=js,
            **({"user_agent": user_agent} if user_agent else {}),
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        tab = context.new_page()
        tab.on("pageerror", lambda error: errors.append(str(error)))
        # htmx reports its own failures (a missing target, a bad swap) as console errors; a 404
        # or 422 answer is logged by Chromium as "Failed to load resource" and is expected here.
        tab.on(
            "console",
            lambda m: m.type == "error" and not m.text.startswith("Failed to load resource") and errors.append(m.text),
        )
        return tab

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the browser: {errors}"


@pytest.fixture
def shot(request):
    """`shot(page, "dues")` saves test-artifacts/screens/<test>/<nn>-dues.png: the whole page as
    a phone as tall as the page would show it. (Playwright's full_page capture paints sticky
    bars where they sat in the scrolled viewport, in the middle of the picture.)"""
    folder = SCREENS / re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    count = [0]

    def take(tab, step: str) -> Path:
        count[0] += 1
        path = folder / f"{count[0]:02d}-{step}.png"
        tab.wait_for_load_state("load")  # an h1 can be in the DOM before the stylesheet applies
        viewport = tab.viewport_size
        height = tab.evaluate("document.documentElement.scrollHeight")
        if height > viewport["height"]:
            tab.set_viewport_size({"width": viewport["width"], "height": height})
        try:
            tab.screenshot(path=str(path), animations="disabled", caret="hide")
        finally:
            if height > viewport["height"]:
                tab.set_viewport_size(viewport)
        return path

    return take


@dataclass
class AxeLog:
    """Every page axe-core looked at and what it found; serious or critical ones fail the test."""

    pages: dict = field(default_factory=dict)

    def check(self, tab, label: str) -> list[dict]:
        from axe_playwright_python.sync_playwright import Axe

        tab.wait_for_load_state("load")
        if not tab.evaluate("typeof window.axe === 'object'"):  # once per document, not per swap
            tab.evaluate(Axe().axe_script)
        found = tab.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
        self.pages[label] = found
        for v in found:
            targets = [", ".join(map(str, n["target"])) for n in v["nodes"]][:4]
            print(f"axe [{label}] {v['impact']}: {v['id']} — {v['help']} ({len(v['nodes'])}×: {targets})")
        return found

    def summary(self) -> str:
        counts = {label: len(found) for label, found in self.pages.items()}
        return f"axe-core looked at {len(counts)} pages, violations per page: {counts}"

    def blocking(self) -> dict[str, list[str]]:
        return {
            label: [
                f"{v['impact']} {v['id']}: {v['help']} {[n['target'] for n in v['nodes']][:3]}"
                for v in found
                if v["impact"] in ("serious", "critical")
            ]
            for label, found in self.pages.items()
            if any(v["impact"] in ("serious", "critical") for v in found)
        }


@pytest.fixture
def axe():
    return AxeLog()
