#!/usr/bin/env python3
"""The phone: 王芳's self-pay journey tap by tap in Chromium on a throttled network (issue 15).

    .venv/bin/python bench/phone_bench.py [--rounds 3] [--server gunicorn|flask] ...

A real server on 127.0.0.1 (gunicorn with 2 sync workers as `make serve` runs it, or `flask serve`
as `make run` does), SQLite in a temporary directory with the demo loaded, a fresh copy of that
database and a fresh server for each round. Chromium (Playwright, /usr/bin/chromium, headless,
390×844, JavaScript on) with CDP network throttling (Network.emulateNetworkConditions: 300 ms
latency, 1.6 Mbit/s down, 750 kbit/s up — a busy 4G cell) and an empty cache walks the journey:
home (first visit, then a repeat visit), 我为自己缴, 拒绝授权, 确定 (her name and ID typed),
the 医疗保险 card, 下一步, 下一步, 支付宝 + 去支付 (the sandbox cashier), 确认付款 (or 立即付款)
→ 缴费结果 with 缴费成功.

Per step it prints the requests that went to the network (a request answered from the browser's
cache is not counted; each hop of a redirect is one), the bytes on the wire (CDP
Network.loadingFinished encodedDataLength, and each redirect hop's response), and the time from the
click reaching the page (a capture listener's Date.now()) to the last of the step's requests
finished, once the step's heading is shown. With --rounds N, every figure is the median of N.

It measures and prints; it exits 0 unless the journey fails (or, with --strict, a goal is missed).
See bench/README.md.
"""

import argparse
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

import requests
from fragment_bench import gunicorn_args
from harness import BIN, HOST, ROOT, BenchError, Servers, flask_cli, free_port, run_cleanly, sbweb_env, wait_ready
from journey import pad

CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
WANG_FANG = {"name": "王芳", "id_number": "520102198503151246"}
QUIET_MS = 600  # a step's requests are over once nothing has been in flight for this long
STEP_TIMEOUT_MS = 30_000

GOALS = {
    "first visit KB": 30.0,
    "first visit requests": 4,
    "repeat requests": 1,
    "median tap ms": 400.0,
    "journey ms": 4000.0,
    "taps": 7,
}

CLICK_HOOK = """
addEventListener("click", function (event) {
  if (event.isTrusted && window.__benchClick) window.__benchClick(Date.now());
}, true);
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--rounds", type=int, default=3, help="journeys, each on a fresh server and database")
    p.add_argument(
        "--server",
        choices=("gunicorn", "flask"),
        default="gunicorn",
        help="gunicorn (make serve's server) or flask serve (make run's)",
    )
    p.add_argument("-w", "--workers", type=int, default=2, help="gunicorn sync workers")
    p.add_argument("--latency", type=float, default=300, help="CDP latency, ms")
    p.add_argument("--down", type=float, default=1.6, help="download, Mbit/s")
    p.add_argument("--up", type=float, default=0.75, help="upload, Mbit/s")
    p.add_argument("--chromium", default=CHROMIUM)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    p.add_argument("-v", "--verbose", action="store_true", help="list every request of every step")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.latency < 0 or args.down <= 0 or args.up <= 0:
        p.error("--rounds ≥ 1, --latency ≥ 0, --down and --up > 0")
    return args


# ---------------------------------------------------------------------------- the wire


class Wire:
    """What CDP's Network domain reports for one tab: every request that went to the network,
    its bytes and when it finished (wall-clock ms)."""

    def __init__(self, cdp):
        self.requests: dict[str, dict] = {}
        self.order: list[str] = []
        self.offset = None  # wall-clock seconds minus CDP's monotonic timestamp
        for event, handler in (
            ("Network.requestWillBeSent", self._sent),
            ("Network.loadingFinished", self._finished),
            ("Network.loadingFailed", self._failed),
            ("Network.requestServedFromCache", self._from_cache),
            ("Network.responseReceived", self._response),
        ):
            cdp.on(event, handler)

    def _wall_ms(self, timestamp: float) -> float:
        return (timestamp + (self.offset or 0.0)) * 1000

    def _sent(self, e):
        self.offset = e["wallTime"] - e["timestamp"]
        rid = e["requestId"]
        known = self.requests.get(rid)
        if known and "redirectResponse" in e:
            # One more hop of a redirect: the hop before it is finished, with its own bytes.
            known["hops"].append(
                {
                    "url": known["url"],
                    "status": e["redirectResponse"]["status"],
                    "bytes": e["redirectResponse"].get("encodedDataLength", 0),
                }
            )
            known["url"], known["method"] = e["request"]["url"], e["request"]["method"]
            return
        self.requests[rid] = {
            "url": e["request"]["url"],
            "method": e["request"]["method"],
            "sent": e["wallTime"] * 1000,
            "hops": [],
            "bytes": 0,
            "done": None,
            "status": None,
            "cached": False,
        }
        self.order.append(rid)

    def _response(self, e):
        if rid := self.requests.get(e["requestId"]):
            rid["status"] = e["response"]["status"]
            if e["response"].get("fromDiskCache") or e["response"].get("fromServiceWorker"):
                rid["cached"] = True

    def _from_cache(self, e):
        if rid := self.requests.get(e["requestId"]):
            rid["cached"] = True

    def _finished(self, e):
        if rid := self.requests.get(e["requestId"]):
            rid["bytes"], rid["done"] = e["encodedDataLength"], self._wall_ms(e["timestamp"])

    def _failed(self, e):
        if rid := self.requests.get(e["requestId"]):
            rid["done"], rid["failed"] = self._wall_ms(e["timestamp"]), e.get("errorText", "failed")

    def mark(self) -> int:
        return len(self.order)

    def since(self, mark: int) -> list[dict]:
        return [self.requests[rid] for rid in self.order[mark:]]

    def in_flight(self) -> int:
        return sum(1 for r in self.requests.values() if r["done"] is None and not r["cached"])


def settle(tab, wire: Wire, timeout_ms=STEP_TIMEOUT_MS):
    """Wait until no request has been in flight for QUIET_MS (events are taken while waiting)."""
    quiet_since, waited = None, 0
    while waited < timeout_ms:
        tab.wait_for_timeout(50)
        waited += 50
        if wire.in_flight():
            quiet_since = None
        elif quiet_since is None:
            quiet_since = waited
        elif waited - quiet_since >= QUIET_MS:
            return
    raise BenchError(f"requests still in flight after {timeout_ms / 1000:.0f} s")


# ---------------------------------------------------------------------------- the journey


class Journey:
    def __init__(self, context, base: str, verbose: bool):
        from playwright.sync_api import expect

        self.expect, self.base, self.verbose = expect, base, verbose
        self.clicks: list[float] = []
        context.expose_binding("__benchClick", lambda _source, at: self.clicks.append(at))
        context.add_init_script(CLICK_HOOK)
        self.tab = context.new_page()
        self.cdp = context.new_cdp_session(self.tab)
        self.wire = Wire(self.cdp)
        self.cdp.send("Network.enable")
        self.steps: list[dict] = []
        self.taps = 0

    def throttle(self, latency_ms, down_mbit, up_mbit):
        self.cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": latency_ms,
                "downloadThroughput": down_mbit * 1_000_000 / 8,
                "uploadThroughput": up_mbit * 1_000_000 / 8,
            },
        )

    def h1(self):
        return self.tab.get_by_role("heading", level=1)

    def step(self, name: str, act, heading, *, tap=True, then=None):
        """Do `act`, wait for the heading and for the network to fall quiet, and record it."""
        mark, clicks = self.wire.mark(), len(self.clicks)
        before = time.time() * 1000
        act()
        self.expect(self.h1()).to_have_text(heading, timeout=STEP_TIMEOUT_MS)
        if then:
            then()
        settle(self.tab, self.wire)
        reqs = [r for r in self.wire.since(mark) if not r["cached"]]
        if not reqs:
            raise BenchError(f"{name}: no request went to the network")
        start = self.clicks[clicks] if len(self.clicks) > clicks else (reqs[0]["sent"] if not tap else before)
        end = max(r["done"] for r in reqs)
        self.taps += tap
        record = {
            "step": name,
            "requests": sum(1 + len(r["hops"]) for r in reqs),
            "bytes": sum(r["bytes"] + sum(h["bytes"] for h in r["hops"]) for r in reqs),
            "ms": end - start,
            "detail": reqs,
        }
        self.steps.append(record)
        if self.verbose:
            for r in reqs:
                for h in r["hops"]:
                    print(f"    {name}: {h['status']} {h['bytes']:>7,} {h['url'].replace(self.base, '')}")
                print(f"    {name}: {r['status']} {r['bytes']:>7,} {r['url'].replace(self.base, '')}")
        return record

    def click(self, locator):
        return lambda: locator.click()

    def walk(self):
        tab, base = self.tab, self.base
        self.step("home, first visit", lambda: tab.goto(base + "/"), "社保费自助缴纳", tap=False)
        self.step("home, repeat visit", lambda: tab.goto(base + "/"), "社保费自助缴纳", tap=False)
        self.step("我为自己缴", self.click(tab.get_by_role("link", name=re.compile("我为自己缴"))), "授权")
        self.step("拒绝授权", self.click(tab.get_by_role("link", name="拒绝授权")), "授权信息确认")
        tab.get_by_label("证件号码", exact=True).fill(WANG_FANG["id_number"])
        tab.get_by_label("姓名", exact=True).fill(WANG_FANG["name"])
        self.step("确定", self.click(tab.get_by_role("button", name="确定")), "我为自己缴")
        self.step("card (医疗保险)", self.click(tab.get_by_role("link", name=re.compile("医疗保险"))), "选择缴费信息")
        self.expect(tab.get_by_role("checkbox", name=re.compile("医疗保险"))).to_be_checked()
        self.step("下一步 (dues)", self.click(tab.get_by_role("button", name="下一步")), "缴费信息确认")
        self.step("下一步 (confirm)", self.click(tab.get_by_role("button", name="下一步")), "选择缴款方式")
        alipay = tab.get_by_label("支付宝")
        if not alipay.is_checked():
            alipay.check()
            self.taps += 1  # a tap that loads nothing
        self.step("去支付 → cashier", self.click(tab.get_by_role("button", name="去支付")), "付款详情")
        pay = tab.get_by_role("button", name=re.compile("^(确认付款|立即付款)$"))
        self.step(
            "确认付款 → 缴费结果",
            self.click(pay),
            "缴费结果",
            then=lambda: self.expect(tab.locator(".result-state")).to_have_text("缴费成功", timeout=STEP_TIMEOUT_MS),
        )


def walk_once(browser, base: str, args) -> Journey:
    context = browser.new_context(
        viewport=PHONE,
        screen=PHONE,
        is_mobile=True,
        has_touch=True,
        device_scale_factor=3,
        java_script_enabled=True,
        locale="zh-CN",
    )
    try:
        journey = Journey(context, base, args.verbose)
        journey.throttle(args.latency, args.down, args.up)
        journey.walk()
        return journey
    finally:
        context.close()


# ---------------------------------------------------------------------------- the server


def start_server(args, servers: Servers, env: dict, tmp: Path, n: int) -> str:
    port = free_port()
    log = tmp / f"{args.server}-{n}.log"
    if args.server == "gunicorn":
        command = gunicorn_args(args.workers, port, "app:app")
    else:  # with its job consumer in the process, as `make run` has it: jobs are not run inline
        command = [str(BIN / "flask"), "serve", "--host", HOST, "--port", str(port)]
        env = {k: v for k, v in env.items() if k != "SBWEB_HUEY_IMMEDIATE"}
    proc = servers.start(f"sbweb-{n}", command, ROOT, env, log)
    base = f"http://{HOST}:{port}"
    wait_ready("sbweb", proc, f"{base}/", log)
    for _ in range(2 * args.workers):  # every worker past its first request (imports, templates)
        requests.get(f"{base}/", timeout=10)
    return base


# ---------------------------------------------------------------------------- the report


def median(values):
    return statistics.median(values) if values else 0


def report(journeys: list[Journey], args) -> bool:
    names = [s["step"] for s in journeys[0].steps]
    rows = []
    for i, name in enumerate(names):
        cells = [j.steps[i] for j in journeys]
        rows.append(
            (
                name,
                median([c["requests"] for c in cells]),
                median([c["bytes"] for c in cells]),
                median([c["ms"] for c in cells]),
                [round(c["ms"]) for c in cells],
            )
        )
    n = len(journeys)
    print(
        f"\n{pad('step', 22)} {'requests':>8} {'bytes on the wire':>18} {'ms':>8}"
        + ("   ms of each round" if n > 1 else "")
    )
    for name, reqs, size, ms, each in rows:
        print(f"{pad(name, 22)} {reqs:>8g} {size:>18,.0f} {ms:>8,.0f}" + (f"   {each}" if n > 1 else ""))

    journey_ms = [sum(s["ms"] for s in j.steps[2:]) for j in journeys]
    sbweb_taps = [median([s["ms"] for s in j.steps[2:8]]) for j in journeys]  # cashier excluded
    first, repeat = rows[0], rows[1]
    later_pages = [s for j in journeys for s in j.steps[2:] if s["step"] == "我为自己缴"]
    taps = journeys[0].taps
    print(
        f"\nfirst visit:          {first[1]:g} requests, {first[2] / 1000:,.1f} KB, {first[3]:,.0f} ms"
        f"   (goal ≤ {GOALS['first visit requests']} requests, ≤ {GOALS['first visit KB']:g} KB)"
    )
    print(
        f"repeat visit:         {repeat[1]:g} requests, {repeat[2] / 1000:,.1f} KB, {repeat[3]:,.0f} ms"
        f"   (goal 1 request)"
    )
    print(f"我为自己缴 (full page): {median([s['requests'] for s in later_pages]):g} requests   (goal 1)")
    print(
        f"journey after home:   {median(journey_ms):,.0f} ms   (goal ≤ {GOALS['journey ms']:,.0f} ms)"
        + (f"   rounds {[round(x) for x in journey_ms]}" if n > 1 else "")
    )
    print(
        f"median tap, sbweb's steps (我为自己缴 … 下一步, cashier excluded): {median(sbweb_taps):,.0f} ms"
        f"   (goal ≤ {GOALS['median tap ms']:g} ms)"
    )
    print(f"taps from home to 缴费成功: {taps} (typing her name and number not counted)   (goal ≤ {GOALS['taps']})")
    met = (
        first[1] <= GOALS["first visit requests"]
        and first[2] / 1000 <= GOALS["first visit KB"]
        and repeat[1] <= GOALS["repeat requests"]
        and median(journey_ms) <= GOALS["journey ms"]
        and median(sbweb_taps) <= GOALS["median tap ms"]
        and taps <= GOALS["taps"]
    )
    print(f"goals: {'all met' if met else 'not all met'}")
    return met


def run(args, tmp: Path, servers: Servers) -> int:
    from playwright.sync_api import sync_playwright

    if not Path(args.chromium).exists():
        raise BenchError(f"no Chromium at {args.chromium} (Debian package `chromium`)")
    # fragment_bench's settings, with an instance folder of the run's own (flask serve's jobs
    # consumer keeps its queue there).
    env = {**sbweb_env(tmp), "SBWEB_INSTANCE_PATH": str(tmp / "instance")}
    pristine = tmp / "bench.sqlite3"
    print(f"setting up a fresh database in {tmp} …", flush=True)
    flask_cli(env, "db", "upgrade")
    print("  " + flask_cli(env, "demo", "load"), flush=True)
    print(
        f"server: {args.server}"
        + (f" ({args.workers} sync workers)" if args.server == "gunicorn" else "")
        + f"; network: {args.latency:g} ms latency, {args.down:g} Mbit/s down, {args.up:g} Mbit/s up;"
        f" {args.rounds} round(s), each a fresh server, database copy and browser context",
        flush=True,
    )
    journeys = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        try:
            for n in range(args.rounds):
                db = tmp / f"round-{n}.sqlite3"
                shutil.copyfile(pristine, db)
                round_env = {**env, "DATABASE_URL": f"sqlite:///{db}"}
                base = start_server(args, servers, round_env, tmp, n)
                try:
                    journeys.append(walk_once(browser, base, args))
                finally:
                    servers.stop_all()
                j = journeys[-1]
                print(
                    f"  round {n + 1}: journey after home {sum(s['ms'] for s in j.steps[2:]):,.0f} ms, "
                    f"first visit {j.steps[0]['requests']} requests {j.steps[0]['bytes']:,} bytes",
                    flush=True,
                )
        finally:
            browser.close()
    met = report(journeys, args)
    return 1 if args.strict and not met else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cleanly("phone bench", args.keep, lambda tmp, servers, _cleanup: run(args, tmp, servers))


if __name__ == "__main__":
    sys.exit(main())
