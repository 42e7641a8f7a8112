"""The whole self-pay journey as a resident walks it on a phone, over HTTP, each request timed:
sign in (manual 证件号码 + 姓名, CSRF) → 我为自己缴 → the dues → pick → 缴费信息确认 → 选择缴款方式
→ 去支付 → the sandbox cashier → 确认付款 → back → 支付中 (polled as the page does) → 缴费结果.

A resident pauses to read and tap between pages (think time); redirects are followed at once, as
a browser does. Used by load_bench.py and fault_run.py; see bench/README.md.
"""

import itertools
import random
import re
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin

import requests
from harness import csrf_token

POLL_EVERY = 2.0  # seconds: the 支付中 page's hx-trigger="load delay:2s"
POLL_FOR = 60.0  # a resident gives up watching 支付中 after this long
REQUEST_TIMEOUT = 15  # seconds per request; longer counts as an error ("timeout")
H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.S)
TAGS = re.compile(r"<[^>]+>")


class StepFailed(Exception):
    """The journey cannot go on: `kind` says how (HTTP 500, connection refused, a wrong page…)."""

    def __init__(self, step: str, kind: str):
        super().__init__(f"{step}: {kind}")
        self.step, self.kind = step, kind


class OutOfTime(Exception):
    """The run's hard deadline passed while this journey was still going."""


@dataclass
class Stats:
    """Timings per step and what went wrong, shared by every simulated resident (thread-safe)."""

    times: dict = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_times: list = field(default_factory=list)  # (time.monotonic(), kind) of each error
    outcomes: Counter = field(default_factory=Counter)
    finished_at: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, step: str, seconds: float):
        with self.lock:
            self.times[step].append(seconds)

    def failed(self, step: str, kind: str):
        with self.lock:
            self.errors[f"{step}: {kind}"] += 1
            self.error_times.append((time.monotonic(), f"{step}: {kind}"))

    def ended(self, outcome: str, at: float):
        with self.lock:
            self.outcomes[outcome] += 1
            if outcome == "缴费成功":
                self.finished_at.append(at)


def percentile(values, p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0–100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def h1_of(html: str) -> str:
    found = H1.search(html)
    return TAGS.sub("", found.group(1)).strip() if found else ""


_addresses = itertools.count(1)


def next_address() -> str:
    n = next(_addresses)
    return f"198.18.{n // 250 % 250}.{n % 250 + 1}"


# Where 去支付 sends the browser, by channel: the Alipay-style cashier, or our page with the signed
# 前台交易 form that the browser posts to the 银联 gateway.
LEAVES_TO = {"alipay": "/sandbox/gateway.do", "unionpay": "/pay/form/"}


class Resident:
    """One simulated resident on one phone (its own cookies), walking one journey at a time."""

    def __init__(
        self, base: str, stats: Stats, *, think: float, rng: random.Random, deadline: float, htmx: bool = False
    ):
        self.base, self.stats, self.think_mean, self.rng = base, stats, think, rng
        # With JavaScript (htmx): later pages are fragments, each POST answered with the next step
        # in one round trip (sbweb.htmx.one_round_trip); its steps are named "… (htmx)".
        self.htmx = htmx
        # What 去支付 chooses: the sandbox's Alipay-style cashier, or 云闪付 (its 银联 gateway), which
        # bench/fault_run.py walks with pay_by_unionpay.
        self.channel = "alipay"
        self.deadline = deadline  # time.monotonic() after which every journey is cut off
        self.http = requests.Session()
        # Each phone has an address of its own, which a reverse proxy would pass on (the run's
        # app trusts one X-Forwarded-For hop): 198.18.0.0/15, the range set aside for benchmarks.
        self.address = next_address()
        self.http.headers["X-Forwarded-For"] = self.address

    # -- one request, timed ---------------------------------------------------------------

    def request(self, step, method, url, *, expect, data=None, headers=None, check=None):
        if time.monotonic() > self.deadline:
            raise OutOfTime()
        # Names the step for the server's per-request CPU log (bench/gunicorn_cpu.conf.py).
        headers = {**(headers or {}), "X-Bench-Step": quote(step)}
        started = time.perf_counter()
        try:
            r = self.http.request(
                method,
                urljoin(self.base, url),
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=REQUEST_TIMEOUT,
            )
            body = r.text
        except requests.Timeout:
            self.stats.failed(step, "timeout")
            raise StepFailed(step, "timeout") from None
        except requests.ConnectionError as exc:
            kind = (
                "connection reset"
                if "reset" in str(exc).lower() or "aborted" in str(exc).lower()
                else "connection refused"
                if "refused" in str(exc).lower()
                else "connection error"
            )
            self.stats.failed(step, kind)
            raise StepFailed(step, kind) from None
        self.stats.timed(step, time.perf_counter() - started)
        if r.status_code != expect:
            kind = f"HTTP {r.status_code}" + (f" {h1_of(body)}" if r.status_code < 500 and h1_of(body) else "")
            self.stats.failed(step, kind)
            raise StepFailed(step, kind)
        if check is not None and not check(r, body):
            kind = f"unexpected page ({h1_of(body) or r.headers.get('Location') or len(body)})"
            self.stats.failed(step, kind)
            raise StepFailed(step, kind)
        return r, body

    def get(self, step, url, *, h1=None, headers=None):
        return self.request(
            step, "GET", url, expect=200, headers=headers, check=(lambda r, b: h1_of(b) == h1) if h1 else None
        )[1]

    def post(self, step, url, data, *, to=None):
        """A form post answered 303; returns where it sends the browser."""
        r, _ = self.request(
            step,
            "POST",
            url,
            expect=303,
            data=data,
            check=(lambda r, b: to in r.headers.get("Location", "")) if to else None,
        )
        return r.headers["Location"]

    def post_htmx(self, step, url, data, *, h1=None, to=None):
        """A form posted by htmx: the next step itself (200, its `h1`), or, leaving the app
        (去支付), 204 with HX-Redirect to `to`; returns the page, or where it sends the browser."""
        headers = {"HX-Request": "true", "HX-Current-URL": urljoin(self.base, url)}
        if h1 is not None:
            return self.request(
                step,
                "POST",
                url,
                expect=200,
                data=data,
                headers=headers,
                check=lambda r, b: h1_of(b) == h1 and r.headers.get("HX-Push-Url"),
            )[1]
        r, _ = self.request(
            step,
            "POST",
            url,
            expect=204,
            data=data,
            headers=headers,
            check=lambda r, b: to in r.headers.get("HX-Redirect", ""),
        )
        return r.headers["HX-Redirect"]

    def pause(self):
        """Reading the page and tapping: uniform between half and one and a half the mean."""
        if self.think_mean > 0:
            wait = self.rng.uniform(0.5, 1.5) * self.think_mean
            if time.monotonic() + wait > self.deadline:
                raise OutOfTime()
            time.sleep(wait)

    @staticmethod
    def field(step, body, pattern):
        found = re.search(pattern, body)
        if not found:
            raise StepFailed(step, f"nothing matching {pattern!r} on the page")
        return found.group(1)

    # -- the journey ----------------------------------------------------------------------

    def pay_own_dues(self, person: dict, *, switches=(), abandon_after_paying=False) -> str:
        """One whole journey; returns how it ended (缴费成功, 缴费失败, …). Raises StepFailed."""
        self.http.cookies.clear()
        to = self._to_cashier_htmx(person) if self.htmx else self._to_cashier(person)
        page = self.get("收银台 (sandbox)", to, h1="付款详情")
        trade_no = self.field("收银台 (sandbox)", page, r'action="/sandbox/cashier/(\d+)"')
        self.pause()
        form = {"csrf_token": csrf_token(page), "action": "pay", **{s: "on" for s in switches}}
        to = self.post("确认付款 (sandbox)", f"/sandbox/cashier/{trade_no}", form)
        if abandon_after_paying:
            return "付款后离开"  # closed the webview: only notifies and the recovery job remain
        if "/pay/return/" in to:
            to = self._follow("支付返回", to)
        return self.await_result(to)

    def await_result(self, order_url: str) -> str:
        """Back on our order page: 支付中 polled as the page does, until 缴费结果; how it ended."""
        page = self.get("支付中 / 缴费结果", order_url)
        polled_until = time.monotonic() + POLL_FOR
        while h1_of(page) == "支付中":
            if time.monotonic() > polled_until:
                self.stats.failed("支付中 (poll)", f"still 支付中 after {POLL_FOR:.0f} s")
                raise StepFailed("支付中 (poll)", f"still 支付中 after {POLL_FOR:.0f} s")
            if time.monotonic() + POLL_EVERY > self.deadline:
                raise OutOfTime()
            time.sleep(POLL_EVERY)
            page = self.get("支付中 (poll)", order_url, headers={"HX-Request": "true"})
        if h1_of(page) != "缴费结果":
            raise StepFailed("支付中 / 缴费结果", f"unexpected page ({h1_of(page)})")
        state = re.search(r'class="result-state"[^>]*>([^<]+)<', page)
        return state.group(1) if state else "缴费结果"

    def _to_cashier(self, person: dict) -> str:
        """Sign-in to 去支付 without JavaScript: each POST answered 303, then the GET."""
        page = self.get("登录 (page)", "/auth/manual?next=/selfpay/", h1="授权信息确认")
        self.pause()
        to = self.post(
            "登录 (post)",
            "/auth/manual",
            sign_in_form(page, person),
            to="/selfpay/",
        )
        page = self.get("我为自己缴", to, h1="我为自己缴")
        dues_url = listed_dues_url("我为自己缴", page, person)
        self.pause()
        page = self.get("选择缴费信息", dues_url, h1="选择缴费信息")
        dues = open_dues("选择缴费信息", page)
        self.pause()
        to = self.post(
            "选择费款 (post)", dues_url, {"csrf_token": csrf_token(page), "dues": dues}, to="/selfpay/confirm"
        )
        page = self.get("缴费信息确认", to, h1="缴费信息确认")
        shown = self.field("缴费信息确认", page, r'name="shown"[^>]*value="([^"]+)"')
        self.pause()
        to = self.post(
            "缴费信息确认 (post)",
            "/selfpay/confirm",
            {"csrf_token": csrf_token(page), "shown": shown},
            to="/selfpay/method",
        )
        page = self.get("选择缴款方式", to, h1="选择缴款方式")
        selection = self.field("选择缴款方式", page, r'name="selection"[^>]*value="([^"]+)"')
        self.pause()
        return self.post(
            "去支付 (post)",
            "/selfpay/method",
            {"csrf_token": csrf_token(page), "channel": self.channel, "selection": selection},
            to=LEAVES_TO[self.channel],
        )

    def _to_cashier_htmx(self, person: dict) -> str:
        """Sign-in to 去支付 with JavaScript: the first page whole, then fragments; each POST
        answered with the next step (one round trip), 去支付 with HX-Redirect to the cashier."""
        page = self.get("登录 (page)", "/auth/manual?next=/selfpay/", h1="授权信息确认")
        self.pause()
        page = self.post_htmx(
            "登录 (post, htmx)",
            "/auth/manual",
            sign_in_form(page, person),
            h1="我为自己缴",
        )
        dues_url = listed_dues_url("登录 (post, htmx)", page, person)
        self.pause()
        page = self.get("选择缴费信息 (htmx)", dues_url, h1="选择缴费信息", headers={"HX-Request": "true"})
        dues = open_dues("选择缴费信息 (htmx)", page)
        self.pause()
        page = self.post_htmx(
            "选择费款 (post, htmx)", dues_url, {"csrf_token": csrf_token(page), "dues": dues}, h1="缴费信息确认"
        )
        shown = self.field("选择费款 (post, htmx)", page, r'name="shown"[^>]*value="([^"]+)"')
        self.pause()
        page = self.post_htmx(
            "缴费信息确认 (post, htmx)",
            "/selfpay/confirm",
            {"csrf_token": csrf_token(page), "shown": shown},
            h1="选择缴款方式",
        )
        selection = self.field("缴费信息确认 (post, htmx)", page, r'name="selection"[^>]*value="([^"]+)"')
        self.pause()
        return self.post_htmx(
            "去支付 (post, htmx)",
            "/selfpay/method",
            {"csrf_token": csrf_token(page), "channel": self.channel, "selection": selection},
            to=LEAVES_TO[self.channel],
        )

    def _follow(self, step, url) -> str:
        """GET answered 303 (the provider's return): where it sends the browser."""
        r, _ = self.request(
            step, "GET", url, expect=303, check=lambda r, b: "/orders/" in r.headers.get("Location", "")
        )
        return r.headers["Location"]


def sign_in_form(page: str, person: dict) -> dict:
    """登录 as `person` (an ID card), going on to 我为自己缴."""
    return {
        "csrf_token": csrf_token(page),
        "id_type": "201",
        "id_number": person["id_number"],
        "name": person["name"],
        "next": "/selfpay/",
    }


def listed_dues_url(step: str, page: str, person: dict) -> str:
    """The resident's 选择缴费信息 link on 我为自己缴 (StepFailed when it is not there)."""
    dues_url = f"/selfpay/{person['enrollment_no']}/dues"
    if f'href="{dues_url}"' not in page:
        raise StepFailed(step, "the resident's enrollment is not listed")
    return dues_url


def open_dues(step: str, page: str) -> list[str]:
    """The due ids 选择缴费信息 offers (StepFailed when there are none)."""
    dues = re.findall(r'name="dues" value="(\d+)"', page)
    if not dues:
        raise StepFailed(step, "no open dues on the page")
    return dues


class ResidentPool:
    """Residents not yet used, handed out one per journey (each has its own open dues)."""

    def __init__(self, people: list[dict]):
        self._people, self._lock = list(people), threading.Lock()
        self.handed_out = 0

    def next(self) -> dict | None:
        with self._lock:
            if not self._people:
                return None
            self.handed_out += 1
            return self._people.pop()

    def left(self) -> int:
        with self._lock:
            return len(self._people)


def pad(text: str, width: int) -> str:
    """Left-align in a terminal column: a Chinese character takes two."""
    shown = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(0, width - shown)


def report_steps(stats: Stats, out=print) -> tuple[float, int]:
    """The per-step table; returns (worst p99 in ms, requests)."""
    order = [
        "登录 (page)",
        "登录 (post)",
        "我为自己缴",
        "选择缴费信息",
        "选择费款 (post)",
        "缴费信息确认",
        "缴费信息确认 (post)",
        "选择缴款方式",
        "去支付 (post)",
        "登录 (post, htmx)",
        "选择缴费信息 (htmx)",
        "选择费款 (post, htmx)",
        "缴费信息确认 (post, htmx)",
        "去支付 (post, htmx)",
        "收银台 (sandbox)",
        "确认付款 (sandbox)",
        "支付返回",
        "支付中 / 缴费结果",
        "支付中 (poll)",
    ]
    names = order + sorted(set(stats.times) - set(order))
    out(f"{pad('step', 22)}{'requests':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    worst, total = 0.0, 0
    for name in names:
        values = stats.times.get(name)
        if not values:
            continue
        p99 = percentile(values, 99) * 1000
        worst, total = max(worst, p99), total + len(values)
        out(
            f"{pad(name, 22)}{len(values):>9}{percentile(values, 50) * 1000:>9.1f}"
            f"{percentile(values, 90) * 1000:>9.1f}{p99:>9.1f}{max(values) * 1000:>9.1f}"
        )
    everything = [v for values in stats.times.values() for v in values]
    if everything:
        out(
            f"{pad('all requests', 22)}{len(everything):>9}{percentile(everything, 50) * 1000:>9.1f}"
            f"{percentile(everything, 90) * 1000:>9.1f}{percentile(everything, 99) * 1000:>9.1f}"
            f"{max(everything) * 1000:>9.1f}"
        )
    return worst, total
