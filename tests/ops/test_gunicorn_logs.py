"""gunicorn's own logs, as a pilot runs it: with sbweb's logger class and SBWEB_LOG_FORMAT=json
every line it writes is a JSON object, an access record names the request's id, and an
identity number in a URL is masked there — in the text access log too."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "520102198503151246"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_and_ask(app, key_dir, tmp_path, log_format):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists() and shutil.which("gunicorn") is None:
        pytest.skip("gunicorn is not installed (the scale extra)")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SBWEB_")},
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SBWEB_INSTANCE_PATH": str(tmp_path / "instance"),
        "SBWEB_SECRET_KEY": "66426f06ff94c43218bb16bbf097e934318d92513ba45637",
        "SBWEB_PAYMENT_KEY_DIR": str(key_dir),
        "SBWEB_LOG_FORMAT": log_format,
    }
    out = (tmp_path / "gunicorn.log").open("w+")
    process = subprocess.Popen(
        [
            str(gunicorn),
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "1",
            "--logger-class",
            "sbweb.logs.GunicornLogger",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
            "app:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/static/app.css", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # refused, or the worker still booting
                if time.monotonic() > deadline or process.poll() is not None:
                    out.seek(0)
                    raise AssertionError("gunicorn did not start:\n" + out.read()) from None
                time.sleep(0.1)
        answer = requests.get(
            f"http://127.0.0.1:{port}/queries/proxy-paid",
            params={"id_type": "201", "id_number": NUMBER, "name": "王芳"},
            headers={"X-Request-ID": "edge-4f2a9c1b"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 303 and answer.headers["X-Request-ID"] == "edge-4f2a9c1b"
        home = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert home.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=15)
    out.seek(0)
    return out.read(), home.headers["X-Request-ID"]


def test_json_logs_from_gunicorn_mask_numbers_and_name_the_request(app, key_dir, tmp_path):
    text, home_id = serve_and_ask(app, key_dir, tmp_path, "json")
    assert NUMBER not in text
    records = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    access = [r for r in records if r["logger"] == "gunicorn.access"]
    asked = next(r for r in access if r["path"] == "/queries/proxy-paid")
    assert asked["status"] == 303 and asked["request_id"] == "edge-4f2a9c1b" and asked["method"] == "GET"
    assert "id_number=5201**********1246" in asked["query"] and "5201**********1246" in asked["message"]
    assert {"time", "level", "duration_ms", "remote_addr"} <= set(asked)
    assert next(r for r in access if r["path"] == "/")["request_id"] == home_id
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)


def test_the_text_access_log_masks_numbers_too(app, key_dir, tmp_path):
    text, _ = serve_and_ask(app, key_dir, tmp_path, "text")
    assert NUMBER not in text
    assert "id_number=5201**********1246" in text and "GET /queries/proxy-paid" in text
