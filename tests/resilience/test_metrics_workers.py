"""/metrics under gunicorn with several workers (deploy/gunicorn.conf.py, as `make serve` runs it):
every worker counts into instance/metrics/ and a scrape of any of them gives the sum; a worker
killed mid-run takes none of its counts with it."""

import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.test_gunicorn_logs import _free_port

ROOT = Path(__file__).resolve().parents[2]


def _home_requests(base) -> float:
    text = requests.get(f"{base}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "sbweb_http_requests_total" and sample.labels["endpoint"] == "home.index"
    )


def _wait_for(base, process, out, workers=1):
    """Until the app answers and `workers` workers have finished their start (each warms the PDF
    documents before it takes a request, and says so: a later one could otherwise miss every
    request of a short burst)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                out.seek(0)
                log = out.read()
                if log.count("PDF documents warmed") + log.count("PDF warm-up failed") >= workers:
                    return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            out.seek(0)
            raise AssertionError("gunicorn did not start:\n" + out.read())
        time.sleep(0.1)


def test_metrics_sum_every_worker_and_keep_a_dead_workers_counts(app, key_dir, tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists() and shutil.which("gunicorn") is None:
        pytest.skip("gunicorn is not installed (the scale extra)")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    instance = tmp_path / "instance"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SBWEB_", "PROMETHEUS_"))},
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SBWEB_INSTANCE_PATH": str(instance),
        "SBWEB_SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
        "SBWEB_PAYMENT_KEY_DIR": str(key_dir),
        "SBWEB_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
    }
    out = (tmp_path / "gunicorn.log").open("w+")
    process = subprocess.Popen(
        [str(gunicorn), "-c", "deploy/gunicorn.conf.py", "app:app"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(base, process, out, workers=2)
        # Eight at a time: a sync worker takes one request at a time, so both workers answer —
        # usually in the first 40; on a busy machine one worker may take them all, so more rounds
        # of 40 go until both have (at most five).
        metrics_dir = instance / "metrics"
        sent, pids = 0, set()
        while len(pids) < 2 and sent < 200:
            with ThreadPoolExecutor(max_workers=8) as pool:
                statuses = list(pool.map(lambda _: requests.get(f"{base}/", timeout=30).status_code, range(40)))
            assert statuses == [200] * 40
            sent += 40
            pids = {int(p.stem.rsplit("_", 1)[1]) for p in metrics_dir.glob("counter_*.db")}
        assert len(pids) >= 2, sorted(p.name for p in metrics_dir.iterdir())
        assert _home_requests(base) == sent

        os.kill(sorted(pids)[0], signal.SIGKILL)  # a worker dies; gunicorn boots another
        deadline = time.monotonic() + 30
        while len({p.name for p in metrics_dir.glob("counter_*.db")}) == len(pids) and time.monotonic() < deadline:
            requests.get(f"{base}/healthz", timeout=10)
            time.sleep(0.2)
        for _ in range(10):
            requests.get(f"{base}/", timeout=30)
        assert _home_requests(base) == sent + 10
    finally:
        process.terminate()
        process.wait(timeout=30)
