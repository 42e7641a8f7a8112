"""`make serve`'s gunicorn reloads code worker by worker on SIGHUP (preload_app stays False), which
holds only if its master never imports sbweb: a worker forked after the reload would otherwise
run the code the master started with. The master's start check runs in a child process."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.resilience.test_vanished_database import ROOT, embedded_env, flask, free_port


def test_the_gunicorn_master_checks_the_database_without_importing_sbweb(tmp_path, key_dir):
    binary = Path(sys.executable).with_name("gunicorn")
    if not binary.exists():
        pytest.skip("gunicorn is not installed (the scale extra)")
    env = embedded_env(tmp_path, key_dir)
    assert flask(env, "db", "upgrade").returncode == 0
    report = tmp_path / "master-modules.txt"
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(  # the deployed configuration, plus a hook that reports from the master
        f"exec(open({str(ROOT / 'deploy/gunicorn.conf.py')!r}).read())\n"
        "def when_ready(server):\n"
        "    import sys\n"
        f"    open({str(report)!r}, 'w').write(' '.join(m for m in sys.modules if m.split('.')[0] == 'sbweb'))\n"
    )
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "-c", str(config), "app:app"],
        cwd=ROOT,
        env={**env, "SBWEB_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(
                    "gunicorn did not start:\n" + (process.stderr.read() if process.poll() is not None else "")
                )
            time.sleep(0.1)
        assert report.read_text() == ""  # the master, after its start check, holds no sbweb module
    finally:
        process.terminate()
        process.wait(timeout=30)
