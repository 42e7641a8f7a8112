"""Route function sizes in sbweb/views/*.py (issue 16): body lines of each route (its first body
statement to its end, the docstring included) and its McCabe complexity as ruff counts it; the
median, the 90th percentile and the largest over every view module (the back office package
included), and the routes over 20 lines or McCabe 10. Goals (issue 16): median ≤ 12, p90 ≤ 20,
none over 30 lines, none over McCabe 10. Run from the repository root: .venv/bin/python bench/route_sizes.py"""

import ast
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path


def complexities(root):
    """McCabe per function, as ruff counts it (C901 with the threshold at 0 reports every one)."""
    out = subprocess.run(
        [
            ".venv/bin/ruff",
            "check",
            root,
            "--select",
            "C901",
            "--config",
            "lint.mccabe.max-complexity=0",
            "--output-format",
            "json",
            "--no-cache",
            "--exit-zero",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for item in json.loads(out):
        m = re.match(r"`(\w+)` is too complex \((\d+)", item["message"])
        if m:
            found[(str(Path(item["filename"]).relative_to(Path.cwd())), m.group(1))] = int(m.group(2))
    return found


COMPLEXITY = {}


def routes(path: Path):
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and getattr(d.func.value, "id", "") == "bp"
            for d in node.decorator_list
        ):
            yield node.name, node.end_lineno - node.body[0].lineno + 1, COMPLEXITY.get((str(path), node.name), 1)


def p90(values):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]


def main(root="sbweb/views"):
    COMPLEXITY.update(complexities(root))
    rows = []
    for path in sorted(Path(root).rglob("*.py")):
        for name, size, cc in routes(path):
            rows.append((str(path.relative_to(root).with_suffix("")).replace("/", "."), name, size, cc))
    sizes = [r[2] for r in rows]
    print(f"all views: {len(sizes)} routes, median {statistics.median(sizes)}, p90 {p90(sizes)}, max {max(sizes)}")
    print("routes over 20 lines or McCabe over 10:")
    for module, name, size, cc in sorted(rows, key=lambda r: -r[2]):
        if size > 20 or cc > 10:
            print(f"  {module}.{name}: {size} lines, McCabe {cc}")


if __name__ == "__main__":
    main(*sys.argv[1:])
