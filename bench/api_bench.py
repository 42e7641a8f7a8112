#!/usr/bin/env python3
"""How fast can an agency's system push dues in, and read the event feed back in pages of 1,000?

    .venv/bin/python bench/api_bench.py [--push 100000] [--events 10000] [--page 1000] [--seed 50] [--database-url …]

The push half (--push N, 0 to skip): N dues through `POST /api/v1/batches/dues` in batches of
--batch rows (1,000, the most a batch takes), ten months a person: first N/10 new people and
enrollments through `POST /api/v1/batches/enrollments` (timed apart), then the dues, each batch
signed and under an Idempotency-Key of its own, as an agency's system would send them; it prints
the dues' time in all and per batch (median, max).

Builds a throw-away SQLite database (migrated, the demo residents loaded) unless --database-url
names one (it must be empty and migrated, e.g. a PostgreSQL database you created), settles --seed
real payments through the app's own path (dues, orders, the provider's answer: their
payment.settled events written by the payment transaction), then fills the outbox up to --events
with copies of those events' rows (new keys, the same tickets), because settling 10,000 payments
one by one takes minutes and the push half — batch upserts of dues — is another piece of work;
the rows are numbered and their payloads frozen by the real sequencer. A client signs every
request (sbweb.api_signing) and reads the feed from after=0 to the end, in-process through Flask's
test client (the app's own time: signature check, nonce, the page query, JSON), and the bench
prints ms per page: median, p95, max, and the whole read. It measures and prints; exit 0 unless
--strict and the median page is over --goal ms.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fill_outbox(target: int) -> int:
    """Copies of the settled events' rows until there are `target` (payloads frozen by sequencing)."""
    from sqlalchemy import func, insert, select

    from sbweb.db import db
    from sbweb.models import ApiEvent
    from sbweb.services import api_events

    api_events.sequence_all()
    seeds = db.session.execute(
        select(ApiEvent.ticket_id, ApiEvent.tax_office_id).where(ApiEvent.kind == "payment.settled")
    ).all()
    have = db.session.scalar(select(func.count()).select_from(ApiEvent))
    rows = [
        {
            "kind": "payment.settled",
            "key": f"payment.settled:bench-{n}",
            "ticket_id": seeds[n % len(seeds)].ticket_id,
            "tax_office_id": seeds[n % len(seeds)].tax_office_id,
        }
        for n in range(max(0, target - have))
    ]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(ApiEvent), rows[start : start + 5000])
    db.session.commit()
    return api_events.sequence_all()


def _people(count: int, agency_code: str):
    """Enrollment rows for `count` new people with valid 居民身份证 numbers (GB 11643 check digit)."""
    from stdnum.cn import ric

    rows = []
    for n in range(count):
        born = f"19{60 + n % 40:02d}{1 + n % 12:02d}{1 + n % 28:02d}"
        body = f"520102{born}{1 + n % 999:03d}"
        rows.append(
            {
                "enrollment_no": f"B{n:011d}",
                "id_type": "201",
                "id_number": body + ric.calc_check_digit(body + "0"),  # (it reads the first 17)
                "name": "测试" + "甲乙丙丁戊己庚辛壬癸"[n % 10] + "子丑寅卯辰巳午未申酉戌亥"[n // 10 % 12],
                "category": "flexible",
                "insurance": "medical",
                "agency_code": agency_code,
            }
        )
    return rows


def push(client, system, kind: str, rows: list[dict], batch: int) -> list[float]:
    """`rows` pushed in batches of `batch`: ms per batch."""
    import json

    from sbweb import api_signing

    path, times = f"/api/v1/batches/{kind}", []
    for start in range(0, len(rows), batch):
        body = json.dumps({"rows": rows[start : start + batch]}).encode()
        headers = api_signing.signed_headers(system[0], system[1], "POST", path, "", body)
        headers.update({"Content-Type": "application/json", "Idempotency-Key": f"bench-{kind}-{start}"})
        t0 = time.perf_counter()
        answer = client.post(path, data=body, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return times


def push_dues(app, client, dues: int, batch: int) -> None:
    from sqlalchemy import select

    from sbweb.db import db
    from sbweb.models import Agency
    from sbweb.services import api_clients

    with app.app_context():
        agency_code = db.session.scalar(select(Agency.code).order_by(Agency.id))
        made = api_clients.create("bench-push", ["enrollments:write", "dues:write"])
        system = (made.client.client_id, made.secret)
    people = _people(max(1, dues // 10), agency_code)
    times = push(client, system, "enrollments", people, batch)
    print(f"pushed {len(people)} people and enrollments in {len(times)} batches: {sum(times) / 1000:.1f} s")
    rows = [
        {
            "enrollment_no": person["enrollment_no"],
            "kind": "normal",
            "period_start": f"2016-{month:02d}",
            "amount_fen": 35200 + month,
        }
        for person in people
        for month in range(1, 11)
    ][:dues]
    times = push(client, system, "dues", rows, batch)
    print(
        f"pushed {len(rows)} dues in {len(times)} batches of {batch}: {sum(times) / 1000:.1f} s in all "
        f"(goal ≤ 60 s); ms per batch: median {statistics.median(times):.0f}, max {max(times):.0f}"
    )


def read_feed(client, system, page: int) -> tuple[list[float], int]:
    from sbweb import api_signing

    times, after, total = [], "0", 0
    while True:
        path, query = "/api/v1/events", f"after={after}&limit={page}"
        t0 = time.perf_counter()
        answer = client.get(
            f"{path}?{query}", headers=api_signing.signed_headers(system[0], system[1], "GET", path, query)
        )
        times.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
        body = answer.get_json()
        total += len(body["events"])
        after = body["next"]
        if not body["has_more"]:
            return times, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--push", type=int, default=0, help="dues to push first (0: skip the push half)")
    parser.add_argument("--batch", type=int, default=1000, help="rows per pushed batch")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=50, help="payments settled through the app's own path")
    parser.add_argument("--database-url", help="an empty, migrated database (default: a throw-away SQLite)")
    parser.add_argument("--goal", type=float, default=100.0, help="ms per page")
    parser.add_argument("--strict", action="store_true")
    args = parser.parse_args()

    from flask.testing import FlaskClient
    from flask_migrate import upgrade

    from sbweb import create_app
    from sbweb.services import api_clients
    from tests.support.journeys import World, paid_history

    workdir = Path(tempfile.mkdtemp(prefix="sbweb-api-bench-"))
    try:
        app = create_app(
            {
                "INSTANCE_PATH": str(workdir),
                "SECRET_KEY": "5f0c2f0d1c3b4b8e9a7d6c5b4a39281706f5e4d3c2b1a090",
                "SQLALCHEMY_DATABASE_URI": args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
                "RATE_LIMIT_API": "100000/minute",
            }
        )
        with app.app_context():
            if not args.database_url:
                upgrade(directory=str(ROOT / "sbweb" / "migrations"))
            world = World.load()
            started = time.perf_counter()
            paid_history(world.people["王芳"], world.enrollment("王芳", "medical"), args.seed, start_year=1950)
            numbered = fill_outbox(args.events)
            made = api_clients.create("bench", ["events:read"])
            system = (made.client.client_id, made.secret)
            print(f"{args.seed} payments settled, outbox filled to {args.events} ({numbered} numbered) ", end="")
            print(f"in {time.perf_counter() - started:.1f} s")
        client = FlaskClient(app)
        if args.push:
            push_dues(app, client, args.push, args.batch)
        times, total = read_feed(client, system, args.page)
        assert total == args.events, (total, args.events)
        ordered = sorted(times)
        median, p95 = statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]
        print(f"read {total} events in {len(times)} pages of {args.page}: {sum(times):.0f} ms in all")
        print(f"ms per page: median {median:.1f}, p95 {p95:.1f}, max {ordered[-1]:.1f}  (goal < {args.goal:.0f})")
        return 1 if args.strict and median > args.goal else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
