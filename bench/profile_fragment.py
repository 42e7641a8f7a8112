#!/usr/bin/env python3
"""Where the dues fragment's time goes, in-process (no HTTP, no gunicorn, no wrk).

    .venv/bin/python bench/profile_fragment.py               # bare vs same-work vs sbweb, ms/request
    .venv/bin/python bench/profile_fragment.py --instructions 100   # + instructions/request (callgrind)
    .venv/bin/python bench/profile_fragment.py --breakdown   # + sbweb's time by part of the request
    .venv/bin/python bench/profile_fragment.py --profile 30  # + cProfile, grouped by library

Each figure is the process CPU time of one WSGI call of GET /selfpay/<no>/dues (HX-Request,
signed in as 王芳 through the real form), the minimum over several batches, so it holds up on
a busy machine far better than a throughput figure. Each app is measured in its own process
(the what-if patches the app at import). Companion of fragment_bench.py; see bench/README.md.
"""

import argparse
import collections
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

VARIANTS = {
    "bare": "bare_app:app",
    "samework": "samework_app:app",
    "sbweb": "app:app",
    "whatif": "bench.whatif_app:app",
}


# ---------------------------------------------------------------------------- child: one app


def _import(target: str):
    module, _, name = target.partition(":")
    sys.path.insert(0, str(ROOT))
    mod = __import__(module, fromlist=[name])
    return getattr(mod, name)


def _signed_in_environ(app, dues_path: str | None):
    from harness import PREFERRED_ENROLLMENT, RESIDENT, SESSION_COOKIE, csrf_token
    from werkzeug.test import EnvironBuilder

    client = app.test_client()
    page = client.get("/auth/manual").get_data(as_text=True)
    posted = client.post("/auth/manual", data={"csrf_token": csrf_token(page), **RESIDENT})
    assert posted.status_code == 303, f"signing in answered {posted.status_code}"
    listing = client.get("/selfpay/").get_data(as_text=True)  # as a browser would: csrf in session
    if dues_path is None:
        paths = re.findall(r'href="(/selfpay/([^"/]+)/dues)"', listing)
        dues_path = next((p for p, no in paths if no == PREFERRED_ENROLLMENT), paths[0][0])
    cookie = client.get_cookie(SESSION_COOKIE).value
    return EnvironBuilder(
        path=dues_path, headers={"HX-Request": "true", "Cookie": f"{SESSION_COOKIE}={cookie}"}
    ).get_environ()


def _samework_environ(app, dues_path: str | None):
    """The same-work yardstick (bench/samework_app.py) signed in as the dues' owner."""
    from harness import PREFERRED_ENROLLMENT
    from samework_app import app as samework
    from werkzeug.test import EnvironBuilder

    dues_path = dues_path or f"/selfpay/{PREFERRED_ENROLLMENT}/dues"
    client = samework.test_client()
    assert client.get(f"/signin/{dues_path.split('/')[2]}").status_code == 200
    cookie = client.get_cookie(samework.config["SESSION_COOKIE_NAME"]).value
    return EnvironBuilder(
        path=dues_path, headers={"Cookie": f"{samework.config['SESSION_COOKIE_NAME']}={cookie}"}
    ).get_environ()


def _caller(app, environ):
    def call():
        status = []
        body = b"".join(app(dict(environ), lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200"):
            raise SystemExit(f"not 200: {status[0]}")
        return body

    return call


def _ms_per_request(call, batches=10, per_batch=150) -> float:
    for _ in range(per_batch):
        call()
    best = float("inf")
    for _ in range(batches):
        t = time.process_time()
        for _ in range(per_batch):
            call()
        best = min(best, (time.process_time() - t) / per_batch)
    return best * 1000


def _breakdown(app, call, n=1000):
    """CPU time inside the main parts of the request (timers wrapped around them)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    acc, patched = collections.defaultdict(float), []

    def wrap(obj, name, label):
        original = getattr(obj, name, None)
        if original is None:
            print(f"  (no {obj.__name__ if hasattr(obj, '__name__') else obj}.{name}: skipped)")
            return

        def timed(*a, **k):
            t = time.process_time()
            try:
                return original(*a, **k)
            finally:
                acc[label] += time.process_time() - t

        setattr(obj, name, timed)
        patched.append((obj, name, original))

    import flask_wtf.csrf

    import sbweb.htmx
    import sbweb.identity
    import sbweb.services.dues
    import sbweb.views.selfpay

    session_if = app.session_interface
    wrap(session_if, "open_session", "session cookie: verify + decode")
    wrap(session_if, "save_session", "session cookie: re-sign + Set-Cookie")
    wrap(sbweb.identity, "current_person", "identity.current_person (Person row)")
    wrap(sbweb.services.dues, "dues_page", "dues_service.dues_page (one Core SELECT)")
    wrap(flask_wtf.csrf, "generate_csrf", "CSRF token")
    wrap(sbweb.htmx, "render_template", "render_template (incl. lazy loads)")
    sql = {"n": 0, "t": 0.0}

    def before(conn, cursor, statement, params, context, many):
        conn.info["bench_t"] = time.process_time()

    def after(conn, cursor, statement, params, context, many):
        sql["n"] += 1
        sql["t"] += time.process_time() - conn.info.pop("bench_t", time.process_time())

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    try:
        for _ in range(100):
            call()
        acc.clear()
        sql.update(n=0, t=0.0)
        t = time.process_time()
        for _ in range(n):
            call()
        total = (time.process_time() - t) / n
    finally:
        event.remove(Engine, "before_cursor_execute", before)
        event.remove(Engine, "after_cursor_execute", after)
        for obj, name, original in patched:
            setattr(obj, name, original)
    print(
        f"  CPU per request with timers: {total * 1000:.3f} ms; SQL statements per "
        f"request: {sql['n'] / n:.1f}, of which inside sqlite3: {sql['t'] / n * 1000:.3f} ms"
    )
    print("  (auth.current_person is timed on every call; only the first one queries)")
    for label, seconds in sorted(acc.items(), key=lambda kv: -kv[1]):
        print(f"  {label:<42}{seconds / n * 1000:7.3f} ms {seconds / n / total:6.1%}")
    print(f"  {'everything else (Flask, WSGI, htmx, ...)':<42}{(total - sum(acc.values()) / n) * 1000:7.3f} ms")


GROUPS = (
    "sqlalchemy",
    "flask_sqlalchemy",
    "jinja2",
    "/templates/",
    "wtforms",
    "flask_wtf",
    "itsdangerous",
    "werkzeug",
    "flask_htmx",
    "/flask/",
    "markupsafe",
    "/sbweb/",
    "/bench/",
)


def _profile(call, top: int, n=2000):
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler)
    groups = collections.Counter()
    for fn, values in stats.stats.items():
        key = next((g for g in GROUPS if g in fn[0]), "builtins/stdlib")
        groups[key] += values[2]
    total = sum(groups.values())
    print(
        f"  cProfile: {total / n * 1000:.3f} ms/request under the profiler (a multiple of the real cost), "
        f"own time by library:"
    )
    for key, seconds in groups.most_common():
        print(f"    {key:<22}{seconds / total:6.1%}")
    stats.sort_stats("cumulative").print_stats(top)


def child(args):
    os.environ.update(_env(Path(args.db_dir)))
    app = _import(VARIANTS.get(args.child, args.child))
    if args.child == "bare":
        from werkzeug.test import EnvironBuilder

        environ = EnvironBuilder(path="/fragment").get_environ()
    elif args.child == "samework":
        environ = _samework_environ(app, args.path)
    else:
        environ = _signed_in_environ(app, args.path)
    call = _caller(app, environ)
    if args.child != "bare" and args.size_file:
        Path(args.size_file).write_bytes(call())
    if args.child == "samework" and len(call()) != int(os.environ.get("SAMEWORK_FRAGMENT_BYTES") or 0):
        print(
            f"  note: the same-work page is {len(call()):,} bytes, not sbweb's "
            f"{os.environ.get('SAMEWORK_FRAGMENT_BYTES')}"
        )
    if args.instructions:
        # Under callgrind with instrumentation off: warm, then wait while the parent turns it
        # on, run the measured calls, and leave at once (os._exit: no interpreter shutdown).
        for _ in range(50):
            call()
        # As a gunicorn worker does once the app is made (deploy/gunicorn.conf.py): what is loaded
        # so far is frozen, so a full collection does not walk it. Without this, whether one such
        # collection (tens of millions of instructions) falls inside the counted requests decided
        # ±0.5 M instructions per request between otherwise equal runs.
        gc.collect()
        gc.freeze()
        print("READY", flush=True)
        sys.stdin.readline()
        for _ in range(args.instructions):
            call()
        os._exit(0)
    print(f"RESULT {_ms_per_request(call):.4f}", flush=True)
    if args.breakdown and args.child == "sbweb":
        _breakdown(app, call)
    if args.profile:
        _profile(call, args.profile)


def _env(tmp: Path) -> dict:
    from harness import sbweb_env

    env = sbweb_env(tmp)
    env["SBWEB_SECRET_KEY"] = "bench-profile-" + "0" * 50  # same in every child
    env["BARE_FRAGMENT_FILE"] = str(tmp / "fragment.html")
    env["SAMEWORK_SECRET_KEY"] = "bench-samework-" + "0" * 49
    if (tmp / "fragment.html").exists():
        env["SAMEWORK_FRAGMENT_BYTES"] = str((tmp / "fragment.html").stat().st_size)
    return env


# ---------------------------------------------------------------------------- parent


def instructions_per_request(tmp: Path, variant: str, calls: int = 200, path: str | None = None) -> float:
    """Machine instructions per request under valgrind's callgrind: counted only around `calls`
    warm requests (instrumentation turned on by callgrind_control once the child is set up), so
    neither the imports nor the sign-in count. Independent of other load on the machine."""
    out = tmp / f"callgrind.{variant}.out"
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out}",
        sys.executable,
        __file__,
        "--db-dir",
        str(tmp),
        "--child",
        variant,
        "--instructions",
        str(calls),
    ] + (["--path", path] if path else [])
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for line in proc.stdout:
            if line.strip() == "READY":
                break
        else:
            raise RuntimeError(f"{variant} under callgrind did not get ready:\n{proc.stderr.read()}")
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        _stdout, stderr = proc.communicate(timeout=1800)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    found = re.search(r"Collected\s*:\s*(\d+)", stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"{variant} under callgrind failed ({proc.returncode}):\n{stderr[-2000:]}")
    out.unlink(missing_ok=True)
    return int(found.group(1)) / calls


def steady_ms(tmp: Path, variants, rounds: int, path: str | None = None, extra_last=lambda v: []) -> dict:
    """In-process CPU ms per request of each variant (each in a child process on the database in
    `tmp`, alternating, `rounds` times): the minimum. fragment_bench.py uses it too."""
    run = [sys.executable, __file__, "--db-dir", str(tmp)] + (["--path", path] if path else [])
    best = {}
    for i in range(rounds):
        for v in variants:
            extra = extra_last(v) if i == rounds - 1 else []
            done = subprocess.run(run + ["--child", v, *extra], capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise RuntimeError(f"{v} failed:\n{done.stdout}{done.stderr}")
            lines = done.stdout.splitlines()
            ms = float(next(ln for ln in lines if ln.startswith("RESULT ")).split()[1])
            best[v] = min(best.get(v, float("inf")), ms)
            rest = [ln for ln in lines if not ln.startswith("RESULT ")]
            if rest:
                print(f"--- {v}\n" + "\n".join(rest))
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--variants",
        default="bare,samework,sbweb",
        help="comma-separated: bare, samework, sbweb, whatif, or MODULE:APP",
    )
    p.add_argument("--rounds", type=int, default=2, help="alternations; the minimum is kept")
    p.add_argument("--breakdown", action="store_true", help="sbweb's time by part of the request")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="cProfile each variant; show the top N functions by cumulative time",
    )
    p.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="also count instructions per request under valgrind --tool=callgrind, "
        "over N requests per variant (steady whatever the machine's load)",
    )
    p.add_argument("--path", help="dues path (default: 王芳's first dues link)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--db-dir", help=argparse.SUPPRESS)
    p.add_argument("--size-file", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(args)

    from harness import flask_cli

    tmp = Path(tempfile.mkdtemp(prefix="sbweb-profile-"))
    try:
        env = _env(tmp)
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "demo", "load")
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        # The bare app serves the real fragment's bytes: render it once first.
        run = [sys.executable, __file__, "--db-dir", str(tmp)] + (["--path", args.path] if args.path else [])
        subprocess.run(
            run + ["--child", "sbweb", "--size-file", str(tmp / "fragment.html")],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )

        def extra(_variant):
            breakdown = ["--breakdown"] if args.breakdown else []
            return breakdown + (["--profile", str(args.profile)] if args.profile else [])

        best = steady_ms(tmp, variants, args.rounds, args.path, extra)
        size = (tmp / "fragment.html").stat().st_size
        print(f"\nin-process CPU per request (min over {args.rounds} round(s)), fragment {size:,} bytes:")
        base, same = best.get("bare"), best.get("samework")
        for v in variants:
            vs = f"   {best[v] / base:5.1f} × bare" if base and v != "bare" else ""
            if same and v not in ("bare", "samework"):
                vs += f"   {best[v] / same:5.2f} × same-work"
            print(f"  {v:<10}{best[v]:8.3f} ms{vs}")
        if args.instructions:
            counted = {v: instructions_per_request(tmp, v, args.instructions, args.path) for v in variants}
            print(f"\ninstructions per request (valgrind --tool=callgrind, {args.instructions} requests each):")
            for v in variants:
                vs = f"   {counted[v] / counted['bare']:5.1f} × bare" if "bare" in counted and v != "bare" else ""
                if "samework" in counted and v not in ("bare", "samework"):
                    vs += f"   {counted[v] / counted['samework']:5.2f} × same-work"
                print(f"  {v:<10}{counted[v] / 1e6:8.2f} M{vs}")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
