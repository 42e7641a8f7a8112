"""deploy/gunicorn.conf.py as it is, plus the CPU each request costs its worker, for the load run.

    gunicorn -c bench/gunicorn_cpu.conf.py …   with SBWEB_BENCH_CPU_DIR=<an empty folder>

gunicorn's own pre_request/post_request hooks (run in the worker around each request, from the
parsed request until the response is written and closed) read time.process_time(); each worker
appends `wall-clock time <TAB> X-Bench-Step <TAB> method path <TAB> CPU ms` to a file of its own
in SBWEB_BENCH_CPU_DIR. The step is the one the load run's resident names in an X-Bench-Step
header (URL-quoted). Nothing of the app changes: a pilot's gunicorn never loads this file.
"""

import os
import time
from pathlib import Path

_deploy = Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"
exec(compile(_deploy.read_text(), str(_deploy), "exec"))  # every setting and hook of make serve's

_cpu_dir = Path(os.environ["SBWEB_BENCH_CPU_DIR"])
_cpu_log = {}


def pre_request(worker, req):
    req.sbweb_cpu_started = time.process_time()


def post_request(worker, req, environ, resp):
    used = time.process_time() - req.sbweb_cpu_started
    log = _cpu_log.get(worker.pid)
    if log is None:
        # Kept open for the worker's life (line-buffered), not reopened on every request.
        log = _cpu_log[worker.pid] = open(_cpu_dir / f"worker-{worker.pid}.tsv", "a", buffering=1)  # noqa: SIM115
    step = environ.get("HTTP_X_BENCH_STEP", "")
    log.write(f"{time.time():.3f}\t{step}\t{req.method} {req.path}\t{used * 1000:.3f}\n")
