"""bench/api_bench.py runs end to end on small numbers: the outbox filled, every event read back
in pages, and its figures printed."""

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "api_bench.py"


def test_the_feed_bench_reads_every_event_back_in_pages():
    done = subprocess.run(
        [sys.executable, str(BENCH), "--events", "2500", "--page", "1000", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "read 2500 events in 3 pages of 1000" in done.stdout
    assert re.search(r"ms per page: median \d+\.\d, p95 \d+\.\d, max \d+\.\d", done.stdout)
