"""gunicorn for a scaled pilot: `gunicorn -c deploy/gunicorn.conf.py app:app` (what `make serve`
runs). Every setting can be overridden on the command line or with GUNICORN_CMD_ARGS.

Sync workers, one request at a time each, behind a reverse proxy that buffers slow phones
(nginx); the job consumer (`flask jobs run`) is a process of its own, never a worker.
"""

import os
import shutil
import subprocess
from pathlib import Path

# Prometheus' multiprocess mode: every worker writes its counters under instance/metrics/ and a
# scrape of any worker sums them (sbweb/metrics.py). Set before the app, and so prometheus_client,
# is imported anywhere. `make serve` sets it (and empties it) for the consumer too.
_given_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" in os.environ
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(os.environ.get("SBWEB_INSTANCE_PATH", "instance")).absolute() / "metrics")
)

bind = os.environ.get("SBWEB_BIND", "127.0.0.1:8000")
# About 2 × cores; every worker holds at most a few PostgreSQL connections (pool size 5).
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "sync"
# A request that takes longer than this is stuck (a provider that does not answer): the worker
# is killed and replaced. Provider calls have their own, shorter timeouts.
timeout = 30
# On SIGTERM (systemctl stop) or SIGHUP (reload), workers finish the request in hand first.
graceful_timeout = 30
keepalive = 2
# Replace each worker now and then, at different moments, so none grows for months.
max_requests = 5000
max_requests_jitter = 500
# Not preloaded: SIGHUP (systemctl reload) then starts workers on new code, one by one, which is
# how a deploy goes live after `flask db upgrade` (see README, "Running a bigger pilot").
preload_app = False

# No control socket: it lives in ~/.gunicorn/ and would be shared by every gunicorn of the user.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
loglevel = "info"
# Path without the query string (provider returns carry signatures), status, bytes, time in ms;
# never a form field, so no identity number can reach this log.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms %(p)s'


def on_starting(server):
    """In the master, before any worker boots: refuse to start, with one line, on a database that
    is missing or not at this release's revision (a worker would only serve 503s and 500s), or on
    settings the app refuses."""
    import sys

    metrics_dir = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    if not _given_metrics_dir:  # ours alone: last run's counters go (Prometheus sees a reset)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    # The check runs in a child process: the master itself never imports sbweb, so the workers
    # it forks after a SIGHUP import the code now on disk, not the code the master started with.
    check = subprocess.run([sys.executable, "-c", _START_CHECK], capture_output=True, text=True, env=os.environ)
    if check.returncode != 0:
        problem = check.stdout.strip() or (check.stderr.strip().splitlines() or ["the start check failed"])[-1]
        server.log.error("sbweb will not start: %s", problem)
        sys.exit(1)


# What on_starting's child runs: the start check, and on a problem its one line and exit status 1.
_START_CHECK = """
import sys
try:
    from sbweb import create_app
    from sbweb.database import start_problem
    problem = start_problem(create_app())
except Exception as exc:  # a setting refused: its message names it
    problem = f"{type(exc).__name__}: {exc}"
if problem:
    print(problem)
    sys.exit(1)
"""


def post_fork(server, worker):
    """With --preload the app was made in the master; connections must not cross a fork. (The
    app connects lazily, so there are none; this keeps it so if that ever changes.)"""
    import sys

    module = sys.modules.get("app")
    if module is None:
        return
    from sbweb.db import db

    with module.app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def post_worker_init(worker):
    """A new worker, its app loaded, before its first request: render a made-up document of each
    kind (sbweb.services.documents.warm), so that a resident's first download from this worker does
    not pay for the templates' compilation and xhtml2pdf's and ReportLab's first use (the font is
    registered by create_app). Done here, in each worker, because preload_app stays False (above:
    SIGHUP must start workers on new code); it costs each worker about 0.2 s of CPU at its start,
    before it accepts a connection.

    Then everything made so far (the app, the imported libraries: ~250,000 objects) is collected
    once and frozen (gc.freeze): Python's full garbage collection would otherwise walk all of it
    again a few requests in — 100–200 ms, measured landing on the first download itself."""
    import gc

    app = worker.wsgi
    try:
        from sbweb.services import documents

        with app.app_context():
            took = documents.warm(app.config.get("PDF_FONT_PATH"))
    except Exception as exc:  # noqa: BLE001 - a cold first download is better than no worker
        worker.log.warning("PDF warm-up failed (%s: %s); the first download will be slower", type(exc).__name__, exc)
    else:
        worker.log.info("worker %s: PDF documents warmed in %.0f ms", worker.pid, took * 1000)
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    """A worker that exited (killed, replaced after max_requests): its live gauges go; its counters
    stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
