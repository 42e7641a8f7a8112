#!/usr/bin/env python3
"""How fast is 缴费记录 for a payer with 1,000 records?

    .venv/bin/python bench/records_bench.py [--records 1000] [--runs 200]

Builds a throw-away SQLite database (migrated, the demo residents loaded), gives 王芳 1,000
settled payments (plus 1,000 she paid for 赵秀英, so the 代缴 tab is as full), signs her in
through the real 授权 form, then requests pages in-process with Flask's test client (no
network, so this is the app's own time: routing, session, one COUNT and one SELECT, render)
and prints the median, p95 and max per page: the first page, the last page, a year filter,
the 代缴 tab, and the HTMX fragment. Goal: a page in < 50 ms. It measures and prints; it
exits 0 whatever the figures are unless --strict is given.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()

    from flask.testing import FlaskClient
    from flask_migrate import upgrade
    from sqlalchemy import select

    from sbweb import create_app
    from sbweb.db import db
    from sbweb.models import Enrollment, Payee
    from tests.support import ResidentClient
    from tests.support.journeys import World, paid_history, sign_in

    workdir = Path(tempfile.mkdtemp(prefix="sbweb-records-bench-"))
    try:
        app = create_app(
            {
                "INSTANCE_PATH": str(workdir),
                "SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
                "WTF_CSRF_ENABLED": True,
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'bench.sqlite3'}",
            }
        )
        app.test_client_class = ResidentClient
        with app.app_context():
            upgrade(directory=str(ROOT / "sbweb" / "migrations"))
            world = World.load()
            wang, zhao = world.people["王芳"], world.people["赵秀英"]
            started = time.perf_counter()
            paid_history(wang, world.enrollment("王芳", "pension"), args.records, start_year=1950)
            paid_history(
                wang,
                db.session.scalar(select(Enrollment).filter_by(person_id=zhao, insurance="pension")),
                args.records,
                start_year=1950,
            )
            db.session.add(Payee(payer_id=wang, person_id=zhao))
            db.session.commit()
            print(f"built {2 * args.records} records in {time.perf_counter() - started:.1f} s")
        resident = app.test_client()
        sign_in(resident, "王芳", verified=True)
        # Timed with the plain test client: the resident client's page checks are not the app's time.
        client = FlaskClient(app)
        cookie = resident.get_cookie(app.config["SESSION_COOKIE_NAME"])
        client.set_cookie(cookie.key, cookie.value)
        last = -(-args.records // 20)
        pages = {
            "first page": ("/records/", {}),
            f"page {last} (last)": (f"/records/?page={last}", {}),
            "year 1980 filter": ("/records/?year=1980", {}),
            "代缴 tab": ("/records/?tab=proxy", {}),
            "HTMX fragment p.2": ("/records/?page=2", {"HX-Request": "true"}),
        }
        missed = False
        print(f"{'page':<22}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}  goal < 50 ms")
        for label, (url, headers) in pages.items():
            response = client.get(url, headers=headers)
            assert response.status_code == 200 and b"record" in response.data, (url, response.status_code)
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                client.get(url, headers=headers)
                times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            median, p95 = statistics.median(times), times[int(len(times) * 0.95) - 1]
            ok = median < 50
            missed |= not ok
            print(f"{label:<22}{median:>10.1f}{p95:>9.1f}{times[-1]:>9.1f}  {'met' if ok else 'MISSED'}")
        return 1 if args.strict and missed else 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
