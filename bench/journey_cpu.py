#!/usr/bin/env python3
"""CPU per step of the self-pay journey, in one process (no HTTP, no gunicorn): the steady figure.

    .venv/bin/python bench/journey_cpu.py                     # SQLite, 40 journeys, min per step
    .venv/bin/python bench/journey_cpu.py --pg                # a throw-away PostgreSQL database
    .venv/bin/python bench/journey_cpu.py --profile 去支付     # + cProfile of the steps so named

The journey of bench/journey.py walked through the Flask app's WSGI callable by its test client,
by a resident without JavaScript (every POST answered 303, then the GET) and by one with it
(HX-Request: every later page a fragment, every POST one round trip, sbweb.htmx.one_round_trip),
each journey a new resident with open dues, each from an address of its own. Each step's figure is
the process CPU time (time.process_time) of that request, the MINIMUM over the journeys (and the
median beside it): a busy machine slows a step down, it never speeds one up, so the minimum holds
still where wall-clock figures move. The job consumer's part (delivering the sandbox's notify,
which our /notify/sandbox handles) runs here too, as `flask jobs run` would, and is a step.

The sandbox is in the app (a real cashier is not): its pages are steps of their own, and the
sandbox's own work inside our steps — the trade query that 支付返回 asks it in-process, the notify
it signs and posts — is split off by a WSGI layer that times every request, nested ones apart:
"sbweb" is what a pilot with a real provider would pay for. See bench/README.md.
"""

import argparse
import contextlib
import cProfile
import os
import pstats
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from harness import BenchError, ThrowawayDatabase, csrf_token  # noqa: E402
from journey import h1_of  # noqa: E402

SANDBOX = "/sandbox/"


class Meter:
    """WSGI layer: CPU of each request, a request made inside another (the sandbox's gateway asked
    in-process, the notify posted by the sandbox) counted apart from the one that made it."""

    def __init__(self, wsgi_app):
        self.wsgi_app, self.stack, self.own = wsgi_app, [], defaultdict(float)

    def __call__(self, environ, start_response):
        self.stack.append(0.0)
        started = time.process_time()
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            used = time.process_time() - started
            nested = self.stack.pop()
            side = "sandbox" if environ.get("PATH_INFO", "").startswith(SANDBOX) else "sbweb"
            self.own[side] += used - nested
            if self.stack:
                self.stack[-1] += used

    def take(self) -> dict:
        own, self.own = dict(self.own), defaultdict(float)
        return own


class Statements:
    """SQL statements sent (every engine of the app), counted per step."""

    def __init__(self, app):
        from sqlalchemy import event

        from sbweb.db import db

        self.count, self.shown = 0, None
        with app.app_context():
            for engine in db.engines.values():
                event.listen(engine, "before_cursor_execute", self.seen)

    def seen(self, _conn, _cursor, statement, *_args):
        self.count += 1
        if self.shown is not None:
            self.shown.append(" ".join(statement.split())[:160])

    def take(self) -> int:
        count, self.count = self.count, 0
        return count


class Walk:
    """One resident's journey through the test client, each step timed (CPU) and checked."""

    def __init__(self, app, meter, statements, person, address, htmx, profiler=None, profiled=()):
        self.app, self.meter, self.statements, self.htmx = app, meter, statements, htmx
        self.person = person
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = address
        self.times = {}  # step → (total, sbweb, sandbox) CPU seconds
        self.profiler, self.profiled = profiler, profiled
        self.show_sql = set()

    def step(self, name, call, *, expect, h1=None, location=None, outside="client"):
        """`outside`: whose is the CPU spent outside any request (the test client's, or the
        sandbox's when it delivers a notify)."""
        self.meter.take()
        self.statements.take()
        if name in self.show_sql:
            self.statements.shown = []
        profiling = self.profiler is not None and any(p in name for p in self.profiled)
        if profiling:
            self.profiler.enable()
        started = time.process_time()
        response = call()
        body = response.get_data(as_text=True)
        used = time.process_time() - started
        if profiling:
            self.profiler.disable()
        own = self.meter.take()
        if self.statements.shown is not None:
            print(f"\nSQL of {name}:\n  " + "\n  ".join(self.statements.shown))
            self.statements.shown = None
            self.show_sql.discard(name)
        if response.status_code != expect:
            raise BenchError(f"{name}: HTTP {response.status_code} {h1_of(body)}, expected {expect}")
        if h1 is not None and h1_of(body) != h1:
            raise BenchError(f"{name}: the page is {h1_of(body)!r}, expected {h1!r}")
        if location is not None and location not in response.headers.get("Location", "") + response.headers.get(
            "HX-Redirect", ""
        ):
            raise BenchError(f"{name}: sent to {response.headers.get('Location')!r}")
        ours = own.get("sbweb", 0.0)
        sandbox = used - ours if outside == "sandbox" else own.get("sandbox", 0.0)
        self.times[name] = (used, ours, sandbox, self.statements.take())
        return response, body

    def get(self, name, url, h1=None, fragment=False):
        headers = {"HX-Request": "true"} if fragment else {}
        return self.step(name, lambda: self.client.get(url, headers=headers), expect=200, h1=h1)[1]

    def post(self, name, url, data, *, to, h1=None):
        """A form posted: 303 to `to`, or with JavaScript the next step itself (`h1`), or, leaving
        the app, 204 with HX-Redirect."""
        if self.htmx:
            headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost" + url}
            expect = 200 if h1 else 204
            return self.step(
                name,
                lambda: self.client.post(url, data=data, headers=headers),
                expect=expect,
                h1=h1,
                location=None if h1 else to,
            )
        response, _ = self.step(name, lambda: self.client.post(url, data=data), expect=303, location=to)
        return response.headers["Location"]

    def walk(self):
        person, js = self.person, self.htmx
        page = self.get("登录 (page)", "/auth/manual?next=/selfpay/", h1="授权信息确认")
        form = {
            "csrf_token": csrf_token(page),
            "id_type": "201",
            "id_number": person["id_number"],
            "name": person["name"],
            "next": "/selfpay/",
        }
        dues_url = f"/selfpay/{person['enrollment_no']}/dues"
        if js:
            _, page = self.post("登录 (post)", "/auth/manual", form, to="/selfpay/", h1="我为自己缴")
        else:
            page = self.get(
                "我为自己缴", self.post("登录 (post)", "/auth/manual", form, to="/selfpay/"), h1="我为自己缴"
            )
        page = self.get("选择缴费信息", dues_url, h1="选择缴费信息", fragment=js)
        dues = re.findall(r'name="dues" value="(\d+)"', page)
        form = {"csrf_token": csrf_token(page), "dues": dues}
        if js:
            _, page = self.post("选择费款 (post)", dues_url, form, to="/selfpay/confirm", h1="缴费信息确认")
        else:
            page = self.get(
                "缴费信息确认", self.post("选择费款 (post)", dues_url, form, to="/selfpay/confirm"), h1="缴费信息确认"
            )
        shown = re.search(r'name="shown"[^>]*value="([^"]+)"', page).group(1)
        form = {"csrf_token": csrf_token(page), "shown": shown}
        if js:
            _, page = self.post(
                "缴费信息确认 (post)", "/selfpay/confirm", form, to="/selfpay/method", h1="选择缴款方式"
            )
        else:
            page = self.get(
                "选择缴款方式",
                self.post("缴费信息确认 (post)", "/selfpay/confirm", form, to="/selfpay/method"),
                h1="选择缴款方式",
            )
        selection = re.search(r'name="selection"[^>]*value="([^"]+)"', page).group(1)
        form = {"csrf_token": csrf_token(page), "channel": "alipay", "selection": selection}
        if js:
            response, _ = self.post("去支付 (post)", "/selfpay/method", form, to="/sandbox/gateway.do")
            to = response.headers["HX-Redirect"]
        else:
            to = self.post("去支付 (post)", "/selfpay/method", form, to="/sandbox/gateway.do")
        page = self.get("收银台 (sandbox)", to, h1="付款详情")
        trade_no = re.search(r'action="/sandbox/cashier/(\d+)"', page).group(1)
        response, _ = self.step(
            "确认付款 (sandbox)",
            lambda: self.client.post(
                f"/sandbox/cashier/{trade_no}", data={"csrf_token": csrf_token(page), "action": "pay"}
            ),
            expect=303,
            location="/pay/return/",
        )
        response, _ = self.step(
            "支付返回", lambda: self.client.get(response.headers["Location"]), expect=303, location="/orders/"
        )
        order_url = response.headers["Location"]
        self.step("notify (job consumer)", self.deliver_notifies, expect=200, outside="sandbox")
        self.get("缴费结果", order_url, h1="缴费结果")

    def deliver_notifies(self):
        """What `flask jobs run` does after 确认付款: the sandbox posts its notify to /notify."""
        from sbweb import jobs

        with self.app.app_context():
            ran = jobs.run_due_tasks()
        if ran < 1:
            raise BenchError("no notify was queued")

        class Done:
            status_code, headers = 200, {}

            @staticmethod
            def get_data(as_text=False):
                return ""

        return Done


def make_app(args, tmp: Path):
    os.environ.update(
        {
            "DATABASE_URL": args.database_url,
            "SBWEB_INSTANCE_PATH": str(tmp / "instance"),
            "SBWEB_SECRET_KEY": secrets.token_hex(32),
        }
    )
    for name in [
        k for k in os.environ if k.startswith("SBWEB_") and k not in ("SBWEB_INSTANCE_PATH", "SBWEB_SECRET_KEY")
    ]:
        del os.environ[name]
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    else:
        os.environ.pop("REDIS_URL", None)
    import logging

    import population
    from flask_migrate import upgrade

    from sbweb import create_app
    from sbweb.clock import shanghai_now

    app = create_app()
    logging.getLogger().setLevel(logging.WARNING)  # the JSON access log of each request: not measured here
    with app.app_context():
        with contextlib.redirect_stderr(None), contextlib.redirect_stdout(None):
            upgrade(directory=str(ROOT / "sbweb/migrations"))
        people = population.make(args.journeys * 2 + args.warmup * 2, shanghai_now().date())
    meter = Meter(app.wsgi_app)
    app.wsgi_app = meter
    return app, meter, Statements(app), people


def report(label, runs, out=print):
    names = list(runs[0])
    out(
        f"\n{label}: CPU ms per step, minimum (median) over {len(runs)} journeys; all = sbweb + "
        f"sandbox + the test client's own work; SQL: statements sent (median), ours and the sandbox's"
    )
    out(f"{'step':<24}{'all':>16}{'sbweb':>16}{'sandbox':>16}{'SQL':>5}")
    totals = {"all": 0.0, "sbweb": 0.0, "sandbox": 0.0}
    for name in names:
        cells = []
        for i, key in enumerate(("all", "sbweb", "sandbox")):
            values = [run[name][i] * 1000 for run in runs]
            low = min(values)
            totals[key] += low
            cells.append(f"{low:7.2f} ({statistics.median(values):6.2f})")
        sql = statistics.median(run[name][3] for run in runs)
        out(
            f"{name:<24}"
            + "".join(f"{c:>16}" for c in cells).replace("  0.00 (  0.00)", "       –       ")
            + f"{sql:>5.0f}"
        )
    out(f"{'sum of the minima':<24}{totals['all']:>9.2f}{'':7}{totals['sbweb']:>9.2f}{'':7}{totals['sandbox']:>9.2f}")
    return totals


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--journeys", type=int, default=40, help="measured journeys of each kind")
    p.add_argument("--warmup", type=int, default=5, help="journeys of each kind first, not measured")
    p.add_argument("--pg", action="store_true", help="on a throw-away PostgreSQL database (sbweb_journeycpu)")
    p.add_argument(
        "--pg-server", default=os.environ.get("SBWEB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
    )
    p.add_argument(
        "--pg-database",
        default="sbweb_journeycpu",
        help="the throw-away database (sbweb_…, dropped and made anew): runs side by side must not share one",
    )
    p.add_argument("--redis-url", default="", help="rate limits and jobs in this Redis (default: in memory / SQLite)")
    p.add_argument("--only", choices=("plain", "htmx"), help="walk only one kind of journey")
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        help="cProfile the steps whose name contains this (repeatable); prints the top functions",
    )
    p.add_argument(
        "--show-sql",
        action="append",
        default=[],
        metavar="STEP",
        help="print the SQL statements of this step (its exact name) in the first measured journey",
    )
    p.add_argument("--top", type=int, default=35, help="functions shown by --profile")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sbweb-journeycpu-") as tmp, contextlib.ExitStack() as cleanup:
        if args.pg:
            database = ThrowawayDatabase(args.pg_server, args.pg_database)
            args.database_url = database.create()
            cleanup.callback(database.drop)
        else:
            args.database_url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        started = time.monotonic()
        app, meter, statements, people = make_app(args, Path(tmp))
        print(
            f"{len(people)} residents made on {'PostgreSQL' if args.pg else 'SQLite'} "
            f"({time.monotonic() - started:.0f} s); Redis: {args.redis_url or 'none (memory, SQLite jobs)'}"
        )
        profiler = cProfile.Profile() if args.profile else None
        kinds = [k for k in ("plain", "htmx") if args.only in (None, k)]
        addresses = (f"198.18.{n // 250}.{n % 250 + 1}" for n in range(100000))
        results = {}
        for kind in kinds:
            runs = []
            for n in range(args.warmup + args.journeys):
                walk = Walk(
                    app,
                    meter,
                    statements,
                    people.pop(),
                    next(addresses),
                    kind == "htmx",
                    profiler if n >= args.warmup else None,
                    args.profile,
                )
                if n == args.warmup:
                    walk.show_sql = set(args.show_sql)
                walk.walk()
                if n >= args.warmup:
                    runs.append(walk.times)
            label = (
                "without JavaScript (POST → 303 → GET)"
                if kind == "plain"
                else "with JavaScript (HX-Request; each POST one round trip)"
            )
            results[kind] = report(label, runs)
        if profiler is not None:
            print(
                f"\ncProfile of the steps matching {args.profile}, over every measured journey "
                f"(cumulative, top {args.top}):"
            )
            stats = pstats.Stats(profiler).strip_dirs().sort_stats("cumulative")
            stats.print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
