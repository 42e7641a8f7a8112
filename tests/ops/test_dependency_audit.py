"""`make audit` (.ci/audit.py) against a vulnerability service of our own on 127.0.0.1 that
speaks OSV's query API: a known vulnerability fails it with a readable message, an ignore needs
a written reason, and a service that cannot be reached says so (exit 2), never a silent pass."""

import importlib.util
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / ".ci" / "audit.py"
FLASK = version("flask")


class FakeOSV(BaseHTTPRequestHandler):
    """OSV's POST /v1/query: one advisory, against the installed Flask."""

    def do_POST(self):
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.asked.append(query["package"]["name"])
        answer = {}
        if query["package"]["name"] == "flask":
            answer = {
                "vulns": [
                    {
                        "id": "GHSA-test-0000-0001",
                        "aliases": ["CVE-2099-0001"],
                        "summary": "Session cookie disclosure",
                        "affected": [
                            {
                                "package": {"name": "flask", "ecosystem": "PyPI"},
                                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}],
                            }
                        ],
                    }
                ]
            }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def osv():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOSV)
    server.asked = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def audit(osv_url, ignore_file):
    env = {"PATH": "/usr/bin:/bin", "SBWEB_AUDIT_SERVICES": "osv", "SBWEB_AUDIT_OSV_URL": osv_url}
    return subprocess.run(
        [sys.executable, str(AUDIT), "--ignore-file", str(ignore_file), "--timeout", "5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_a_known_vulnerability_fails_the_audit_then_an_ignore_with_a_reason_passes_it(osv, tmp_path):
    url = f"http://127.0.0.1:{osv.server_port}/v1/query"
    ignore = tmp_path / "ignore.toml"
    failed = audit(url, ignore)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "DEPENDENCY AUDIT FAILED" in failed.stdout
    [line] = [line for line in failed.stdout.splitlines() if line.startswith(f"  - flask {FLASK}: ")]
    assert "GHSA-test-0000-0001" in line and "CVE-2099-0001" in line  # (pip-audit picks which comes first)
    assert line.endswith("— fixed in 99.0. Session cookie disclosure")
    assert {"flask", "sqlalchemy", "cryptography"} <= set(osv.asked)  # the whole environment was asked about

    ignore.write_text(
        '[[ignore]]\nid = "CVE-2099-0001"\npackage = "flask"\nreason = "tested: the fake applies to no one"\n'
    )
    passed = audit(url, ignore)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "no known vulnerabilities; 1 ignored with a reason" in passed.stdout
    assert "tested: the fake applies to no one" in passed.stdout


def test_an_ignore_without_a_reason_fails(osv, tmp_path):
    ignore = tmp_path / "ignore.toml"
    ignore.write_text('[[ignore]]\nid = "GHSA-test-0000-0001"\n')
    done = audit(f"http://127.0.0.1:{osv.server_port}/v1/query", ignore)
    assert done.returncode == 1 and "needs an id and a written reason" in done.stdout


def test_an_unreachable_service_is_said_and_is_not_a_pass(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = audit(f"http://127.0.0.1:{port}/v1/query", tmp_path / "none.toml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "DEPENDENCY AUDIT NOT RUN" in done.stdout and "osv:" in done.stdout


def _verdict():
    spec = importlib.util.spec_from_file_location("ci_audit", AUDIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.verdict


def test_a_report_that_skipped_packages_is_not_a_pass():
    """What PyPI's JSON API does from a mirror that answers 404 for every version: pip-audit
    skips each package as not found and exits 0; we must not."""
    report = {
        "dependencies": [
            {"name": "flask", "skip_reason": "Dependency not found on PyPI and could not be audited: flask (3.1.3)"},
            {"name": "sbweb", "skip_reason": "distribution marked as editable"},
            {"name": "jinja2", "version": "3.1.6", "vulns": []},
        ]
    }
    code, lines = _verdict()(report, {})
    assert code == 2 and "1 of 3 packages could not be checked" in lines[0]
    code, _ = _verdict()({"dependencies": [{"name": "jinja2", "version": "3.1.6", "vulns": []}]}, {})
    assert code == 0
