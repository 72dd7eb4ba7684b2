"""What counting one webhook costs: the counter increment and the histogram observation of the webhook doors.

    .venv/bin/python bench/metrics_overhead.py [--calls 200000]

Times ``channels_app.connectors.webhooks.count_answer`` (a labelled counter increment, a labelled histogram
observation and the ``perf_counter`` read they need) against a plain Python function call with the same
arguments, in one process of each kind:

- single-process mode (values in memory), as ``manage.py web`` with one worker and no ``PROMETHEUS_MULTIPROC_DIR``;
- multiprocess mode (values in mmap'ed files under ``PROMETHEUS_MULTIPROC_DIR``), as ``manage.py serve`` runs.

prometheus_client chooses its mode once, when imported, so each mode runs in a child process. Absolute times
vary about 2x between days on these machines; the ratio to the plain call, measured in the same run, holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, os, sys, time, timeit
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
import django
django.setup()
from channels_app.connectors.webhooks import count_answer

def plain(provider, status, started):
    return None

calls = int(sys.argv[1])
started = time.perf_counter()
best = {}
for name, function in (("plain call", plain), ("count_answer", count_answer)):
    # Best of five runs: the least disturbed by the other processes sharing the cores.
    best[name] = min(timeit.repeat(lambda: function("telegram", 200, started), number=calls, repeat=5)) / calls
print(json.dumps(best))
"""


def run(calls: int, multiprocess_directory: str | None) -> dict[str, float]:
    environment = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess_directory is not None:
        environment["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_directory
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(calls)], env=environment, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        modes = {"single-process": run(arguments.calls, None), "multiprocess": run(arguments.calls, directory)}
    print(f"{'mode':<16} {'plain call':>12} {'count_answer':>14} {'ratio':>7}")
    for mode, times in modes.items():
        plain, counted = times["plain call"], times["count_answer"]
        print(f"{mode:<16} {plain * 1e9:>10.0f} ns {counted * 1e9:>12.0f} ns {counted / plain:>6.1f}x")


if __name__ == "__main__":
    main()
