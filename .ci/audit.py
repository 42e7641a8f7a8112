"""Dependency audit: pip-audit over the installed environment, read so that nothing passes
silently. Exit 0: every package was checked and none has a known vulnerability (but those
ignored, with their written reason, in .ci/audit-ignore.toml). Exit 1: a vulnerability, or
an ignore without a reason. Exit 2: no vulnerability service answered for every package, so
nothing can be said; the output says exactly what each service answered.

    python .ci/audit.py                   # PyPI's JSON API, then OSV
    SBWEB_AUDIT_SERVICES=osv SBWEB_AUDIT_OSV_URL=http://mirror/v1/query python .ci/audit.py
"""

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OK, VULNERABLE, NOT_AUDITED = 0, 1, 2


def load_ignores(path: Path) -> tuple[dict[str, str], list[str]]:
    """{vulnerability id: reason} from the ignore file, and what is wrong with it."""
    if not path.exists():
        return {}, []
    try:
        entries = tomllib.loads(path.read_text()).get("ignore", [])
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"{path}: not TOML: {exc}"]
    ignores, problems = {}, []
    for n, entry in enumerate(entries, 1):
        vuln, reason = str(entry.get("id", "")).strip(), str(entry.get("reason", "")).strip()
        if not vuln or not reason:
            problems.append(f"{path} entry {n}: every ignored vulnerability needs an id and a written reason")
            continue
        ignores[vuln] = reason
    return ignores, problems


def run_pip_audit(python: str, service: str, osv_url: str | None, timeout: int) -> tuple[dict | None, str]:
    """pip-audit's JSON report, or None and what went wrong."""
    command = [
        python,
        "-m",
        "pip_audit",
        "--local",
        "--skip-editable",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--vulnerability-service",
        service,
        "--timeout",
        str(timeout),
    ]
    if service == "osv" and osv_url:
        command += ["--osv-url", osv_url]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return None, "pip-audit did not finish within 600 s"
    try:
        return json.loads(done.stdout), ""
    except json.JSONDecodeError:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        return None, (lines[-1] if lines else f"pip-audit exited {done.returncode} without a report")


def verdict(report: dict, ignores: dict[str, str]) -> tuple[int, list[str]]:
    """What a pip-audit report means: (exit code, lines to print)."""
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason") and "editable" not in d["skip_reason"]]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    found, ignored = [], []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            names = {vuln.get("id"), *vuln.get("aliases", [])}
            reason = next((ignores[n] for n in names if n in ignores), None)
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            line = (
                f"{dep['name']} {dep['version']}: {vuln.get('id')}"
                f"{' (' + ', '.join(sorted(n for n in names - {vuln.get('id')} if n)) + ')' if len(names) > 1 else ''}"
                f" — fixed in {fixed}. {(vuln.get('description') or '').strip()[:300]}"
            )
            (ignored if reason else found).append(line + (f" [ignored: {reason}]" if reason else ""))
    if found:
        return VULNERABLE, [
            "DEPENDENCY AUDIT FAILED: known vulnerabilities in installed packages:",
            *(f"  - {line}" for line in found),
            "Upgrade them (pyproject.toml), or if no fix can be used, add each to "
            ".ci/audit-ignore.toml with the reason.",
            *(f"  ignored: {line}" for line in ignored),
        ]
    if skipped or not audited:
        sample = "; ".join(d["skip_reason"] for d in skipped[:3])
        return NOT_AUDITED, [f"{len(skipped)} of {len(dependencies)} packages could not be checked ({sample} …)"]
    return OK, [
        f"dependency audit: {len(audited)} packages checked, no known vulnerabilities"
        + (f"; {len(ignored)} ignored with a reason:" if ignored else ""),
        *(f"  - {line}" for line in ignored),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the environment's python (default: this one)")
    parser.add_argument("--ignore-file", type=Path, default=HERE / "audit-ignore.toml")
    parser.add_argument("--timeout", type=int, default=15, help="seconds per request to the service")
    args = parser.parse_args(argv)

    ignores, problems = load_ignores(args.ignore_file)
    if problems:
        print("DEPENDENCY AUDIT FAILED:", *problems, sep="\n  ")
        return VULNERABLE
    services = [s.strip() for s in os.environ.get("SBWEB_AUDIT_SERVICES", "pypi,osv").split(",") if s.strip()]
    osv_url = os.environ.get("SBWEB_AUDIT_OSV_URL")
    tried = []
    for service in services:
        report, failure = run_pip_audit(args.python, service, osv_url, args.timeout)
        if report is None:
            tried.append(f"{service}: {failure}")
            continue
        code, lines = verdict(report, ignores)
        if code == NOT_AUDITED:
            tried.append(f"{service}: {lines[0]}")
            continue
        print(f"[{service}{' ' + osv_url if service == 'osv' and osv_url else ''}]", *lines, sep="\n")
        return code
    print(
        "DEPENDENCY AUDIT NOT RUN: no vulnerability service answered for every installed package,",
        "so nothing is known about their vulnerabilities. What each service answered:",
        *(f"  - {line}" for line in tried),
        "Run `make audit` where PyPI's JSON API (pypi.org/pypi/<name>/<version>/json) or OSV "
        "(api.osv.dev) can be reached, or point SBWEB_AUDIT_OSV_URL at an OSV mirror.",
        sep="\n",
    )
    return NOT_AUDITED


if __name__ == "__main__":
    sys.exit(main())
