#!/usr/bin/env python3
"""Load run: the whole self-pay journey as scripted residents against a scaled sbweb.

    .venv/bin/python bench/load_bench.py [--users 50] [--duration 60] [--think 2] ...

Sets up a throw-away PostgreSQL database (sbweb_load, on the shared server at --pg-server; made
and dropped here), a private redis-server on a free port, residents with open dues (made through
the app's services), then the job consumer and gunicorn with 4 sync workers exactly as `make
serve` runs them (deploy/gunicorn.conf.py), all on 127.0.0.1. --users simulated residents each
walk whole journeys (bench/journey.py: sign in, 我为自己缴, dues, 缴费信息确认, 选择缴款方式,
去支付, the sandbox cashier, 确认付款, back, 支付中 until 缴费结果), pausing --think seconds on
average between pages, for --duration seconds. Prints journeys per second, p50/p90/p99 per
step, errors by kind, the machine's load, and what the database says about the money: no due
paid twice, paid dues = settled order items, every payment the provider took is settled.

It measures and prints; it exits 0 unless the money checks fail (or, with --strict, a goal is
missed). Bounded: at most --duration + 90 s of traffic; everything it started is stopped and
the database dropped whatever happens. See bench/README.md.
"""

import argparse
import math
import os
import random
import resource
import shutil
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

import harness
import ledger
from harness import BenchError, Servers
from journey import OutOfTime, Resident, ResidentPool, Stats, StepFailed, pad, percentile, report_steps

GOAL_P99_MS = 100.0  # issue 15: every step, the one-round-trip POSTs too
GRACE = 60.0  # seconds a journey under way at the end may take to finish


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("-u", "--users", type=int, default=50, help="simulated residents at once")
    p.add_argument("-d", "--duration", type=float, default=60, help="seconds of measured traffic")
    p.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="mean seconds a resident pauses on a page before the next tap (uniform "
        "between half and 1.5 times this; 0: back to back, no real user does that)",
    )
    p.add_argument("--warmup", type=float, default=10, help="seconds of unmeasured traffic first")
    p.add_argument("-w", "--workers", type=int, default=4, help="gunicorn sync workers")
    p.add_argument(
        "--htmx-share",
        type=float,
        default=0.5,
        help="share of the residents whose phone runs JavaScript (htmx: fragments, each POST "
        "one round trip); the others post forms and follow 303s",
    )
    p.add_argument(
        "--residents", type=int, default=0, help="residents to make (0: enough for the run, estimated from the flags)"
    )
    p.add_argument(
        "--pg-server",
        default=os.environ.get("SBWEB_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
        help="the PostgreSQL server on which the throw-away database is made",
    )
    p.add_argument("--database", default="sbweb_load", help="its name (must start with sbweb_)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = p.parse_args(argv)
    if args.users < 1 or args.duration <= 0 or args.think < 0 or args.duration > 1800 or not 0 <= args.htmx_share <= 1:
        p.error("--users ≥ 1, 0 < --duration ≤ 1800, --think ≥ 0, 0 ≤ --htmx-share ≤ 1")
    return args


def residents_needed(args) -> int:
    """Each journey uses a resident of its own: enough for the fastest plausible run, plus margin."""
    if args.residents:
        return args.residents
    journey_s = 8 * args.think * 0.5 + 1.5  # 8 pauses at their shortest, plus the requests
    per_user = math.ceil((args.duration + args.warmup + GRACE) / journey_s) + 2
    return min(20000, args.users * per_user)


def traffic(base, pool, stats, users, seconds, think, seed, htmx_share=0.0) -> dict:
    """`users` threads, each a resident walking journeys until `seconds` have passed (a journey
    under way then may finish within GRACE). Returns counts of how the users ended."""
    stop_at = time.monotonic() + seconds
    deadline = stop_at + GRACE
    ended = {"ran out of residents": 0}
    lock = threading.Lock()

    def user(n):
        rng = random.Random(seed * 1000 + n)
        resident = Resident(base, stats, think=think, rng=rng, deadline=deadline, htmx=n < round(users * htmx_share))
        time.sleep(rng.uniform(0, max(think, 0.5) * 2))  # residents arrive over a few seconds
        while time.monotonic() < stop_at:
            person = pool.next()
            if person is None:
                with lock:
                    ended["ran out of residents"] += 1
                return
            try:
                outcome = resident.pay_own_dues(person)
            except StepFailed:
                outcome = "error"
            except OutOfTime:
                stats.ended("cut off at the end", time.monotonic())
                return
            stats.ended(outcome, time.monotonic())
            resident.pause()

    threads = [threading.Thread(target=user, args=(n,), daemon=True) for n in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, deadline + 5 - time.monotonic()))
    return ended


def read_cpu_log(directory: Path, since: float, until: float) -> dict[str, list[float]]:
    """CPU ms of each request the workers served between `since` and `until` (wall clock), by the
    step named in its X-Bench-Step header (bench/gunicorn_cpu.conf.py writes the files)."""
    by_step = defaultdict(list)
    for path in directory.glob("worker-*.tsv"):
        for line in path.read_text().splitlines():
            at, step, _request, ms = line.split("\t")
            if since <= float(at) <= until:
                by_step[unquote(step) or "(no step)"].append(float(ms))
    return by_step


def report_cpu(by_step: dict[str, list[float]], journeys: int, web_cpu_ms: float | None, out=print) -> None:
    """Worker CPU per step: per request (mean, p50, p90) and per completed journey."""
    out("\ngunicorn worker CPU per step (each request timed in its worker: bench/gunicorn_cpu.conf.py)")
    out(f"{pad('step', 28)}{'requests':>9}{'mean ms':>9}{'p50 ms':>9}{'p90 ms':>9}{'ms/journey':>11}")
    ours = sandbox = 0.0
    for step, values in sorted(by_step.items(), key=lambda kv: -sum(kv[1])):
        per_journey = sum(values) / journeys if journeys else float("nan")
        if "(sandbox)" in step:
            sandbox += per_journey
        else:
            ours += per_journey
        out(
            f"{pad(step, 28)}{len(values):>9}{sum(values) / len(values):>9.2f}{percentile(values, 50):>9.2f}"
            f"{percentile(values, 90):>9.2f}{per_journey:>11.1f}"
        )
    out(
        f"per completed journey: sbweb's steps {ours:.1f} ms, the sandbox cashier's pages {sandbox:.1f} ms"
        + (
            f", outside any request {web_cpu_ms - ours - sandbox:.1f} ms (of gunicorn's {web_cpu_ms:.1f} ms: "
            f"the master, worker heartbeats, boot)"
            if web_cpu_ms is not None
            else ""
        )
    )


def self_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def report_cpu_use(cpu0, cpu1, elapsed: float, pg_cores: float, database_name: str, done: int, cpu_dir, wall0, wall1):
    """CPU during the run, in cores and per completed journey, and the workers' CPU per step."""
    used = {k: (cpu1[k] - cpu0[k]) / elapsed if cpu0[k] is not None and cpu1[k] is not None else None for k in cpu0}
    if None not in used.values():
        others = max(0.0, used["machine"] - used["web"] - used["jobs"] - used["bench"] - pg_cores)
        print(
            f"CPU during the run, in cores of {os.cpu_count()}: gunicorn {used['web']:.2f}, job consumer "
            f"{used['jobs']:.2f}, PostgreSQL backends of {database_name} {pg_cores:.2f}, this script "
            f"{used['bench']:.2f}, everything else {others:.2f} (other people's work)"
        )
        if done:
            print(
                f"CPU per completed journey: gunicorn {used['web'] * elapsed * 1000 / done:.0f} ms, job consumer "
                f"{used['jobs'] * elapsed * 1000 / done:.0f} ms, PostgreSQL {pg_cores * elapsed * 1000 / done:.0f} ms "
                f"(these move less with machine load than latency does)"
            )
        report_cpu(read_cpu_log(cpu_dir, wall0, wall1), done, used["web"] * elapsed * 1000 / done if done else None)
        if others > 0.3:
            print(f"NOTE: other people's work used {others:.2f} cores meanwhile: the latencies are disturbed")


def check_money(url: str, env: dict, base: str) -> list[str]:
    """Once queued notifies have settled their orders: the money from the database, the ledger check,
    and /metrics' payment counters against the order events. The problems found."""
    deadline = time.monotonic() + 30  # notifies still queued settle their orders
    while True:
        tally = ledger.read(url)
        if not tally.received_unresolved or time.monotonic() > deadline:
            break
        time.sleep(1)
    print("\nmoney, from the database:")
    ledger.describe(tally)
    problems = tally.problems()
    booked = ledger.app_check(env)
    print(f"flask ledger check: {len(booked)} violation(s)" + "".join(f"\n    {line}" for line in booked[:20]))
    problems += [f"ledger check: {line}" for line in booked]
    counted, held = ledger.payment_counters(base, url)
    print(
        "order state changes, /metrics (sbweb_payments_total) vs order_events: "
        + (
            ", ".join(
                f"{state} {counted.get(state, 0)}/{held.get(state, 0)}" for state in sorted(set(counted) | set(held))
            )
            or "none"
        )
    )
    if counted != held:
        problems.append(f"/metrics counted {counted} order state changes, the database holds {held}")
    return problems


def run(args, tmp: Path, servers: Servers, redis: harness.PrivateRedis, database: harness.ThrowawayDatabase) -> int:
    print(f"machine before: {harness.load_average()}")
    url = database.create()
    redis_url = redis.start()
    env = harness.scaled_env(tmp, url, redis_url)
    print(
        f"database {database.name} on {args.pg_server.split('@')[-1]} (throw-away), "
        f"private redis-server on {redis_url.split('//')[1].rsplit('/', 1)[0]}",
        flush=True,
    )
    harness.flask_cli(env, "db", "upgrade")
    count = residents_needed(args)
    started = time.monotonic()
    people = harness.make_residents(env, count, tmp)
    print(
        f"{len(people)} residents with open dues made through the app's services ({time.monotonic() - started:.0f} s)",
        flush=True,
    )
    random.Random(7).shuffle(people)
    pool = ResidentPool(people)

    cpu_dir = tmp / "cpu"
    cpu_dir.mkdir()
    base = harness.start_scaled(
        servers,
        {**env, "SBWEB_BENCH_CPU_DIR": str(cpu_dir)},
        tmp,
        harness.free_port(),
        args.workers,
        config=Path(__file__).resolve().parent / "gunicorn_cpu.conf.py",
    )
    web_pgid, jobs_pgid = servers.pgid("web"), servers.pgid("jobs")
    print(
        f"gunicorn: {args.workers} sync workers (deploy/gunicorn.conf.py + per-request CPU, "
        f"bench/gunicorn_cpu.conf.py) at {base}; job consumer "
        f"`flask jobs run` as its own process",
        flush=True,
    )

    if args.warmup > 0:
        warm = Stats()
        traffic(
            base,
            pool,
            warm,
            min(args.users, 2 * args.workers),
            args.warmup,
            args.think / 2,
            seed=1,
            htmx_share=args.htmx_share,
        )
        if warm.errors:
            raise BenchError(f"errors while warming up, not measuring: {dict(warm.errors)}")

    print(
        f"\n{args.users} residents for {args.duration:g} s, each pausing {args.think * 0.5:g}–"
        f"{args.think * 1.5:g} s (mean {args.think:g} s, --think) on a page before the next tap; "
        f"redirects followed at once; 支付中 polled every 2 s as the page does; "
        f"{round(args.users * args.htmx_share)} of them with JavaScript (htmx)\n",
        flush=True,
    )
    stats = Stats()
    cpu0 = {
        "web": harness.group_cpu_seconds(web_pgid),
        "jobs": harness.group_cpu_seconds(jobs_pgid),
        "bench": self_cpu(),
        "machine": harness.machine_busy_seconds(),
    }
    pg0 = harness.backend_cpu(url)
    t0, wall0 = time.monotonic(), time.time()
    ended = traffic(base, pool, stats, args.users, args.duration, args.think, seed=2, htmx_share=args.htmx_share)
    elapsed, wall1 = time.monotonic() - t0, time.time()
    cpu1 = {
        "web": harness.group_cpu_seconds(web_pgid),
        "jobs": harness.group_cpu_seconds(jobs_pgid),
        "bench": self_cpu(),
        "machine": harness.machine_busy_seconds(),
    }
    pg_cores = harness.backend_cpu_used(pg0, harness.backend_cpu(url)) / elapsed
    load_after = harness.load_average()

    worst_p99, requests_made = report_steps(stats)
    in_window = sum(1 for at in stats.finished_at if at - t0 <= args.duration)
    rate = in_window / args.duration
    print(
        f"\njourneys completed (缴费成功) within the {args.duration:g} s: {in_window} = {rate:.2f} per second"
        f"  ({len(stats.finished_at) - in_window} more finished in the grace period)"
    )
    print("how journeys ended: " + ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())))
    if ended["ran out of residents"]:
        print(f"NOTE: {ended['ran out of residents']} users stopped early: no residents left (--residents)")
    errors = sum(stats.errors.values())
    if errors:
        print(f"errors ({errors}):")
        for kind, n in stats.errors.most_common():
            print(f"  {n:>5} × {kind}")
    else:
        print("errors: none")
    report_cpu_use(cpu0, cpu1, elapsed, pg_cores, database.name, len(stats.finished_at), cpu_dir, wall0, wall1)
    print(f"machine after: {load_after}")

    problems = check_money(url, env, base)

    met_errors, met_p99 = errors == 0, worst_p99 <= GOAL_P99_MS
    print(f"\ngoal: 0 errors … {'met' if met_errors else 'MISSED'} ({errors} in {requests_made} requests)")
    print(
        f"goal: p99 ≤ {GOAL_P99_MS:.0f} ms on every step … {'met' if met_p99 else 'MISSED'} "
        f"(worst step p99 {worst_p99:.1f} ms)"
    )
    if problems:
        print("MONEY CHECKS FAILED:\n  " + "\n  ".join(problems))
        return 1
    print(
        "money checks: no due charged twice; paid dues = settled order items; every payment "
        "received is settled or refunded; flask ledger check finds nothing; /metrics' payment "
        "counters equal the database's order events"
    )
    return 1 if args.strict and not (met_errors and met_p99) else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        print("redis-server is not installed (Debian: apt-get install redis-server)", file=sys.stderr)
        return 2
    try:
        database = harness.ThrowawayDatabase(args.pg_server, args.database)
    except BenchError as exc:
        print(exc, file=sys.stderr)
        return 2

    def go(tmp, servers, cleanup):
        redis = harness.PrivateRedis(tmp, harness.free_port())
        cleanup.callback(database.drop)
        cleanup.callback(redis.stop)
        return run(args, tmp, servers, redis, database)

    return harness.run_cleanly("load run", args.keep, go)


if __name__ == "__main__":
    sys.exit(main())
