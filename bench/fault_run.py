#!/usr/bin/env python3
"""Fault run: residents pay while the pieces under sbweb fail, then recovery runs, then the tally.

    .venv/bin/python bench/fault_run.py [--users 20] [--traffic 90] [--recovery 150] ...

Everything is private and on 127.0.0.1: a PostgreSQL cluster of its own (initdb into a temporary
directory, its own port), a redis-server of its own (append-only file, as in production), and
the job consumer plus gunicorn with 4 workers as `make serve` runs them. Simulated residents walk
the whole self-pay journey (bench/journey.py), each journey with one of the sandbox cashier's
switches or behaviours (normal, 延迟通知, 重复通知, 不发通知, 余额不足, closing the page right after
paying); about a third of them (UNIONPAY_SHARE) pay by 云闪付 — our UnionPay client's signed
前台交易 form posted to the sandbox's 银联 gateway and its cashier, UnionPay's notifications, queries
and 撤销/退货 — the rest by the Alipay-style cashier; some 云闪付 payers cancel the order on our page
and then pay on the 银联 cashier still open (money for an ended order: 原路退回 by 消费撤销).
Meanwhile, on a timeline:

  - SIGKILL the gunicorn worker that is handling a 确认付款 or a 去支付 (found from the request's
    TCP connection), several times;
  - restart PostgreSQL (fast shutdown: every connection ended; down for --outage seconds), and
    later Redis likewise;
  - post every notification the sandbox has sent again, twice and in shuffled order (a
    provider's duplicate and out-of-order retries), during the traffic and after it.

Then the traffic stops and recovery runs as it would in production — the consumer's
stuck-order job (queries the provider, closes expired orders), notify retries — until nothing
is left open or --recovery seconds pass. Prints the tally from the database: payments the
provider received, orders settled, refunded (原路退回), still open, dues paid twice (must be 0),
received payments neither settled nor refunded (must be 0), and the errors the residents saw
in and outside each fault's window. Exits 1 when a money check fails.
"""

import argparse
import html
import http.client
import json
import os
import random
import re
import shutil
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urljoin, urlsplit

import harness
import ledger
import psycopg
import requests
from harness import Servers, csrf_token
from journey import OutOfTime, Resident, ResidentPool, Stats, StepFailed, report_steps

# How journeys behave (weights): the cashier's switches, and residents who close the page.
BEHAVIOURS = {
    "normal": 40,
    "延迟通知": 10,
    "重复通知": 10,
    "不发通知": 10,
    "不发通知, page closed": 10,
    "延迟通知, page closed": 5,
    "page closed after paying": 5,
    "余额不足": 10,
    # 云闪付 only (an Alipay journey takes it as normal): the resident cancels the order (取消支付 on
    # our page) with the 银联 cashier still open there, then pays on it: the money arrives for an
    # ended order and goes back (原路退回) by 消费撤销, the same 清算日.
    "cancelled, then paid": 5,
}
SWITCHES = {
    "延迟通知": ("late",),
    "重复通知": ("twice",),
    "不发通知": ("silent",),
    "不发通知, page closed": ("silent",),
    "延迟通知, page closed": ("late",),
    "余额不足": ("fail",),
}
# The app's clocks, shortened so that recovery fits in minutes (defaults: 15 min, 1 min, 20 s).
APP_SETTINGS = {
    "ORDER_TIMEOUT": 45,
    "STUCK_ORDER_AFTER": 10,
    "SANDBOX_LATE_NOTIFY": 8,
    "SANDBOX_NOTIFY_RETRIES": "5,10,20,40,60",
}
SETTLE = 5.0  # seconds after a fault ends in which errors still count as its own
# The share of journeys paid by 云闪付: our real UnionPay client (sbweb.payments.unionpay) against
# the sandbox's 银联 gateway, with the same behaviours; the rest by the Alipay-style cashier.
UNIONPAY_SHARE = 0.3


class KillPlan:
    """Steps whose next request gets its gunicorn worker SIGKILLed while it is being handled."""

    def __init__(self):
        self.armed: list[str] = []
        self.done: list[tuple[float, str, str]] = []  # (time, step, what happened)
        self.lock = threading.Lock()

    def arm(self, step: str):
        with self.lock:
            self.armed.append(step)

    def take(self, step: str) -> bool:
        with self.lock:
            if step in self.armed:
                self.armed.remove(step)
                return True
            return False


class FaultResident(Resident):
    """A resident whose request may be the one during which its worker is killed."""

    def __init__(self, *args, plan: KillPlan, master_pid: int, port: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan, self.master_pid, self.port = plan, master_pid, port

    def request(self, step, method, url, *, expect, data=None, headers=None, check=None):
        if not self.plan.take(step):
            return super().request(step, method, url, expect=expect, data=data, headers=headers, check=check)
        parts = urlsplit(urljoin(self.base, url))
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        conn.connect()
        client_port = conn.sock.getsockname()[1]
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        conn.request(
            method,
            parts.path + (f"?{parts.query}" if parts.query else ""),
            body=urlencode(data or {}, doseq=True),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        victim, until = None, time.monotonic() + 1.0
        while victim is None and time.monotonic() < until:
            victim = harness.process_serving(self.port, client_port, harness.worker_pids(self.master_pid))
        if victim is not None:
            os.kill(victim, signal.SIGKILL)
        try:
            answer = conn.getresponse()
            body = answer.read().decode("utf-8", "replace")
        except (http.client.HTTPException, OSError):
            answer = None
        finally:
            conn.close()
        what = (
            "worker killed, no answer"
            if answer is None
            else f"worker killed after it answered {answer.status}"
            if victim
            else "no worker found to kill"
        )
        with self.plan.lock:
            self.plan.done.append((time.monotonic(), step, what))
        if answer is None:
            self.stats.failed(step, "worker killed (no answer)")
            raise StepFailed(step, "worker killed (no answer)")
        r = SimpleNamespace(status_code=answer.status, headers=dict(answer.getheaders()))
        if r.status_code != expect or (check is not None and not check(r, body)):
            self.stats.failed(step, f"HTTP {r.status_code}")
            raise StepFailed(step, f"HTTP {r.status_code}")
        return r, body

    def pay_by_unionpay(self, person: dict, *, switches=(), abandon_after_paying=False) -> str:
        """The journey through 云闪付: 去支付 → our page with the signed 前台交易 form → posted to the
        sandbox's 银联 gateway (its cashier) → 确认付款 → its return page posts the browser back to
        frontUrl → 支付中 → 缴费结果. After 余额不足 the trade stays open (UnionPay lets the payer
        try again until payTimeout); this payer gives up (取消支付) and the order expires."""
        self.http.cookies.clear()
        self.channel = "unionpay"
        try:
            to = self._to_cashier_htmx(person) if self.htmx else self._to_cashier(person)
        finally:
            self.channel = "alipay"  # this resident's next journey may be an Alipay one
        page = self.get("云闪付 (signed form)", to, h1="云闪付")
        action, fields = hidden_form("云闪付 (signed form)", page, "data-provider-form")
        _, page = self.request(
            "银联收银台 (sandbox)", "POST", action, expect=200, data=fields, check=lambda r, b: "银联在线支付" in b
        )
        cashier = self.field("银联收银台 (sandbox)", page, r'action="(/sandbox/unionpay/cashier/\d+)"')
        self.pause()
        if "cancel first" in switches:
            number = to.rstrip("/").rsplit("/", 1)[-1]
            ours = self.get("订单 (取消支付)", f"/orders/{number}")
            self.post("取消支付 (post)", f"/orders/{number}/cancel", {"csrf_token": csrf_token(ours)}, to="/orders/")
        form = {"csrf_token": csrf_token(page), "action": "pay", **{s: "on" for s in switches if s != "cancel first"}}
        _, page = self.request("确认付款 (sandbox)", "POST", cashier, expect=200, data=form)
        if "cancel first" in switches:
            return "取消后付款（原路退回）"
        if "fail" in switches:
            self.request("取消支付 (sandbox)", "POST", cashier, expect=200, data={**form, "action": "cancel"})
            return "余额不足后离开"
        if abandon_after_paying:
            return "付款后离开"
        action, fields = hidden_form("确认付款 (sandbox)", page, "data-up-return")
        return self.await_result(self.post("支付返回", action, fields, to="/orders/"))


def hidden_form(step: str, page: str, marker: str) -> tuple[str, dict]:
    """The action and hidden fields of the form marked `marker` (our signed 前台交易 form, the 银联
    cashier's return form), as a browser posts them."""
    found = re.search(rf'<form method="post" action="([^"]+)" {marker}[^>]*>(.*?)</form>', page, re.S)
    if not found:
        raise StepFailed(step, f"no {marker} form on the page")
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', found.group(2))
    }
    return html.unescape(found.group(1)), fields


def replay_notifies(base: str, database_url: str, rng: random.Random) -> dict:
    """Post every notification the sandbox ever sent again, each twice, in shuffled order: what
    a provider's retries look like when they cross. Every answer must be `success`."""
    with psycopg.connect(harness.psycopg_url(database_url), connect_timeout=10) as conn:
        sent = [
            (json.loads(r[0]), "unionpay" if r[1] == "unionpay" else "sandbox")
            for r in conn.execute(
                "select n.params, t.app_id from sandbox_notifies n join sandbox_trades t on t.id = n.trade_id "
                "where t.notify_url <> ''"
            )
        ]
    batch = sent * 2
    rng.shuffle(batch)
    answers = {}
    for params, provider in batch:
        try:
            text = requests.post(f"{base}/notify/{provider}", data=params, timeout=15).text.strip()
        except requests.RequestException as exc:
            text = exc.__class__.__name__
        answers[text] = answers.get(text, 0) + 1
    return answers


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("-u", "--users", type=int, default=20, help="simulated residents at once")
    p.add_argument("--traffic", type=float, default=90, help="seconds of traffic with faults")
    p.add_argument("--recovery", type=float, default=150, help="at most this many seconds for recovery afterwards")
    p.add_argument("--think", type=float, default=1.0, help="mean seconds on a page between taps")
    p.add_argument("-w", "--workers", type=int, default=4, help="gunicorn sync workers")
    p.add_argument(
        "--outage", type=float, default=3.0, help="seconds PostgreSQL and Redis stay down when they are restarted"
    )
    p.add_argument("--seed", type=int, default=8, help="seeds the behaviours and the replay order")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    if args.users < 1 or not 30 <= args.traffic <= 900 or not 0 <= args.recovery <= 900:
        p.error("--users ≥ 1, 30 ≤ --traffic ≤ 900, 0 ≤ --recovery ≤ 900")
    return args


def timeline(traffic: float) -> list[tuple[float, str]]:
    """When each fault happens, as fractions of the traffic period."""
    return [
        (f * traffic, what)
        for f, what in (
            (0.09, "kill 确认付款 (sandbox)"),
            (0.16, "kill 去支付 (post)"),
            (0.23, "kill 确认付款 (sandbox)"),
            (0.34, "restart PostgreSQL"),
            (0.56, "restart Redis"),
            (0.69, "kill 确认付款 (sandbox)"),
            (0.72, "kill 去支付 (post)"),
            (0.80, "replay notifies"),
        )
    ]


def run(args, tmp: Path, servers: Servers, pg: harness.PrivatePostgres, redis: harness.PrivateRedis) -> int:
    print(f"machine before: {harness.load_average()}")
    url, redis_url = pg.start(), redis.start()
    print(f"private PostgreSQL on 127.0.0.1:{pg.port} ({pg.base}), private redis-server on 127.0.0.1:{redis.port}")
    env = harness.scaled_env(tmp, url, redis_url, **APP_SETTINGS)
    harness.flask_cli(env, "db", "upgrade")
    people = harness.make_residents(env, max(300, int(args.users * args.traffic / 4)), tmp)
    random.Random(args.seed).shuffle(people)
    pool = ResidentPool(people)
    port = harness.free_port()
    base = harness.start_scaled(servers, env, tmp, port, args.workers)
    master = servers.pgid("web")
    print(
        f"{len(people)} residents; gunicorn {args.workers} workers + job consumer at {base}; app clocks "
        f"shortened: {', '.join(f'{k}={v}' for k, v in APP_SETTINGS.items())} (seconds)"
    )
    print(
        f"{args.users} residents paying for {args.traffic:g} s, think time {args.think * 0.5:g}–"
        f"{args.think * 1.5:g} s between pages; behaviours: "
        + ", ".join(f"{k} {v}%" for k, v in BEHAVIOURS.items())
        + "\n",
        flush=True,
    )

    stats, plan = Stats(), KillPlan()
    t0 = time.monotonic()
    stop_at, deadline = t0 + args.traffic, t0 + args.traffic + 60
    rng = random.Random(args.seed)
    make_resident = partial(
        FaultResident, base, stats, think=args.think, deadline=deadline, plan=plan, master_pid=master, port=port
    )
    threads = [
        threading.Thread(target=_user, args=(args, n, make_resident, pool, stats, stop_at), daemon=True)
        for n in range(args.users)
    ]
    for t in threads:
        t.start()
    faults = [_fault(args, at, what, t0, plan, pg, redis, base, url, rng) for at, what in timeline(args.traffic)]
    for t in threads:
        t.join(timeout=max(0.1, deadline + 5 - time.monotonic()))
    for at, step, what in plan.done:
        print(f"  t={at - t0:5.1f} s  SIGKILL during {step}: {what}")
    unkilled = list(plan.armed)

    print(
        f"\ntraffic over at t={time.monotonic() - t0:.0f} s; recovery (stuck-order job every minute, "
        f"notify retries) for at most {args.recovery:g} s",
        flush=True,
    )
    print(f"  replaying every notification twice, shuffled: answers {replay_notifies(base, url, rng)}")
    tally = _recover(url, args.recovery, t0)

    report_steps(stats)
    print("\nhow journeys ended: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())))
    _report_errors_by_fault(stats, faults, plan, t0)
    if unkilled:
        print(f"  (no request came for: {unkilled})")
    return _report_tally(tally, env)


def _user(args, n: int, make_resident, pool: ResidentPool, stats: Stats, stop_at: float):
    """One simulated resident: journeys with a behaviour each, until the traffic period is over."""
    behaviours = list(BEHAVIOURS)
    weights = list(BEHAVIOURS.values())
    r = random.Random(args.seed * 1000 + n)
    resident = make_resident(rng=r)
    time.sleep(r.uniform(0, 2))
    while time.monotonic() < stop_at:
        person = pool.next()
        if person is None:
            return
        behaviour = r.choices(behaviours, weights)[0]
        by_unionpay = r.random() < UNIONPAY_SHARE
        journey = resident.pay_by_unionpay if by_unionpay else resident.pay_own_dues
        switches = SWITCHES.get(behaviour, ())
        if behaviour == "cancelled, then paid":
            switches = ("cancel first",) if by_unionpay else ()
        try:
            outcome = journey(person, switches=switches, abandon_after_paying="closed" in behaviour)
        except StepFailed:
            outcome = "error"
        except OutOfTime:
            return
        stats.ended(outcome, time.monotonic())
        resident.pause()


def _fault(args, at: float, what: str, t0: float, plan, pg, redis, base: str, url: str, rng) -> tuple:
    """At `at` seconds into the traffic, the fault `what`: printed, and returned as (start, end, what)."""
    time.sleep(max(0.0, t0 + at - time.monotonic()))
    start = time.monotonic()
    if what.startswith("kill "):
        plan.arm(what[5:])
        note = "armed: the next such request has its worker killed"
    elif what == "restart PostgreSQL":
        pg.restart(down=args.outage)
        note = f"down and up again in {time.monotonic() - start:.1f} s"
    elif what == "restart Redis":
        redis.restart(down=args.outage)
        note = f"down and up again in {time.monotonic() - start:.1f} s"
    else:
        note = f"answers {replay_notifies(base, url, rng)}"
    fault = (start, time.monotonic(), what)
    print(f"  t={start - t0:5.1f} s  {what}: {note}", flush=True)
    return fault


def _recover(url: str, recovery: float, t0: float) -> ledger.Tally:
    """Wait (at most `recovery` seconds) for nothing to be left open; the tally when it is."""
    until = time.monotonic() + recovery
    while True:
        tally = ledger.read(url)
        settled = not tally.open_orders and not tally.received_unresolved and not tally.refunds_pending
        if settled or time.monotonic() > until:
            break
        print(
            f"  t={time.monotonic() - t0:5.0f} s  open orders {tally.open_orders}, payments not yet "
            f"settled {len(tally.received_unresolved)}, refunds to send {tally.refunds_pending}",
            flush=True,
        )
        time.sleep(10)
    print(f"recovery {'complete' if settled else 'NOT complete'} at t={time.monotonic() - t0:.0f} s\n")
    return tally


def _report_errors_by_fault(stats: Stats, faults: list, plan, t0: float):
    """The errors the residents saw, counted in the window of the fault they fell in, or outside every one."""
    windows = [
        (s - 0.5, e + SETTLE, f"{w} at t={s - t0:.0f} s")
        for s, e, w in faults
        if not w.startswith("kill") and w != "replay notifies"
    ]
    windows += [(at - 0.5, at + 2.0, f"SIGKILL during {step} at t={at - t0:.0f} s") for at, step, _ in plan.done]
    windows.sort()
    inside, outside = {w: [] for _s, _e, w in windows}, []
    for at, kind in stats.error_times:
        window = next((w for s, e, w in windows if s <= at <= e), None)
        if window:
            inside[window].append(kind)
        else:
            outside.append((at - t0, kind))
    print("errors the residents saw, by fault:")
    for window, kinds in inside.items():
        print(f"  {window}: {len(kinds)}" + (f" ({', '.join(sorted(set(kinds)))})" if kinds else ""))
    print(
        f"  outside every fault's window: {len(outside)}"
        + "".join(f"\n    t={at:.1f} s {kind}" for at, kind in outside[:20])
    )


def _report_tally(tally: ledger.Tally, env: dict) -> int:
    """The tally from the database and the money checks: 1 when one fails."""
    print("\ntally, from the database:")
    print(f"  payments received by the provider: {tally.provider_paid}")
    print(
        f"  orders settled: {tally.orders.get('settled', 0)}; refunded (原路退回): {tally.orders.get('refunded', 0)}; "
        f"failed: {tally.orders.get('failed', 0)}; closed: {tally.orders.get('closed', 0)}; "
        f"still open: {tally.open_orders}"
    )
    print(f"  dues paid twice: {tally.dues_paid_twice} (must be 0)")
    print(f"  received payments neither settled nor refunded: {len(tally.received_unresolved)} (must be 0)")
    ledger.describe(tally, out=lambda line: print("  " + line))
    print(f"machine after: {harness.load_average()}")
    problems = tally.problems()
    booked = ledger.app_check(env)
    print(f"  flask ledger check: {len(booked)} violation(s)" + "".join(f"\n    {line}" for line in booked[:20]))
    problems += [f"ledger check: {line}" for line in booked]
    if problems:
        print("MONEY CHECKS FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(
        "money checks: every due paid at most once; every payment received is settled or refunded; "
        "flask ledger check finds nothing"
    )
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None or not (harness.PG_BIN / "initdb").exists():
        print("needs redis-server and PostgreSQL's initdb/pg_ctl (SBWEB_PG_BIN)", file=sys.stderr)
        return 2

    def go(tmp, servers, cleanup):
        pg = harness.PrivatePostgres(tmp, harness.free_port())
        redis = harness.PrivateRedis(tmp, harness.free_port())
        cleanup.callback(pg.stop)
        cleanup.callback(redis.stop)
        return run(args, tmp, servers, pg, redis)

    return harness.run_cleanly("fault run", args.keep, go)


if __name__ == "__main__":
    sys.exit(main())
