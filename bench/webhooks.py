"""Webhook acknowledgement time under load (S2: providers expect a fast answer).

    .venv/bin/python bench/webhooks.py [--rate 200] [--seconds 10] [--workers 1] [--pool 16]

1. Creates a scratch database ``bench_webhooks`` on the embedded PostgreSQL,
   migrates it and adds one Telegram connector.
2. Starts uvicorn (production-like: DEBUG off, no access log) on a free
   loopback port, with Celery publishing to a Redis database no worker reads,
   so the enqueue cost is measured but nothing is processed.
3. Fires ``rate`` signed Telegram updates per second for ``seconds`` seconds
   with an async httpx client, open loop (requests leave on schedule whether
   or not earlier ones were answered), and prints p50 / p90 / p99 / max of the
   acknowledgement time, the achieved rate and any non-200 answers.
4. Stops uvicorn, drops the scratch database and flushes the scratch Redis database.

The load generator shares the machine's two cores with uvicorn and
PostgreSQL, so the figures include that contention.

Under ASGI every request runs its sync code in a fresh thread, so Django
opens one PostgreSQL connection per request (``DB_CONN_MAX_AGE`` > 0 only
leaks them until the server refuses clients). ``--pool N`` runs the server
with Django's psycopg connection pool (``OPTIONS["pool"]``, needs the
``psycopg-pool`` package) to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")

BENCH_DB = "bench_webhooks"
BENCH_BROKER_DB = 14
GOAL_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database() -> tuple[str, str, dict[str, str]]:
    """A fresh scratch database with one Telegram connector; returns its URL, the connector id and secret, env."""
    import psycopg

    from contact_center import embedded

    socket_dir = embedded.postgres_socket_dir()
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    database_url = f"postgresql://postgres@/{BENCH_DB}?host={socket_dir}"
    redis_socket = embedded.redis_url().removeprefix("unix://")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"redis+socket://{redis_socket}?virtual_host={BENCH_BROKER_DB}",
        "DEBUG": "false",
        # DEBUG off needs keys of its own (settings refuse to start without them); fresh ones for every run.
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    script = (
        "import django; django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', interactive=False, verbosity=0)\n"
        "from channels_app.models import Connector, ConnectorKind, OpenChannel\n"
        "channel = OpenChannel.objects.create(name='Bench')\n"
        "bot = Connector.objects.create(open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id='1',"
        " access_token='1:bench')\n"
        "print(bot.pk, bot.webhook_secret)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=BASE_DIR, check=True, capture_output=True, text=True
    ).stdout.split()
    return out[-2], out[-1], env


def drop_database() -> None:
    import psycopg
    import redis

    from contact_center import embedded

    with psycopg.connect(
        host=str(embedded.postgres_socket_dir()), user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    client = redis.Redis.from_url(embedded.redis_url(), db=BENCH_BROKER_DB)
    client.flushdb()
    client.close()


def start_server(env: dict[str, str], port: int, workers: int, pool_size: int, scratch: Path) -> subprocess.Popen:
    env = {**env, "DB_CONN_MAX_AGE": "0"}
    if pool_size:
        # A settings module that only adds the pool, importable by the server process alone.
        (scratch / "bench_pool_settings.py").write_text(
            "from contact_center.settings import *  # noqa: F403\n"
            f"DATABASES['default'].setdefault('OPTIONS', {{}})['pool'] = {{'min_size': 2, 'max_size': {pool_size}}}\n"
        )
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(scratch), str(BASE_DIR), env.get("PYTHONPATH", "")) if p)
        env["DJANGO_SETTINGS_MODULE"] = "bench_pool_settings"
    command = [sys.executable, "-m", "uvicorn", "contact_center.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, cwd=BASE_DIR)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code in (200, 503):
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("uvicorn did not start within 30 s")


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """User + system CPU of uvicorn and its worker processes so far."""
    process = psutil.Process(server.pid)
    total = 0.0
    for item in [process, *process.children(recursive=True)]:
        try:
            times = item.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def update(update_id: int) -> bytes:
    return json.dumps(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "from": {"id": 1000 + update_id % 50, "is_bot": False, "first_name": "Bench", "username": "bench"},
                "chat": {"id": 1000 + update_id % 50, "first_name": "Bench", "type": "private"},
                "date": 1767225600,
                "text": f"Benchmark message number {update_id}",
            },
        }
    ).encode()


async def fire(url: str, secret: str, rate: int, seconds: float, first_id: int) -> tuple[list[float], dict, float]:
    """Open-loop load: request i leaves at start + i / rate."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    total = int(rate * seconds)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def one(body: bytes) -> None:
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                key = str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[key] = statuses.get(key, 0) + 1

        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(update(first_id + i))))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return latencies, statuses, total / elapsed


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=200, help="requests per second (default 200)")
    parser.add_argument("--seconds", type=float, default=10, help="duration of the measured run (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--pool", type=int, default=0, help="psycopg pool size per worker (default: no pool)")
    args = parser.parse_args()

    connector_id, secret, env = prepare_database()
    port = free_port()
    scratch = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    server = start_server(env, port, args.workers, args.pool, scratch)
    url = f"http://127.0.0.1:{port}/webhooks/telegram/{connector_id}/"
    try:
        # Warm-up: connections, imports and caches, not measured.
        asyncio.run(fire(url, secret, rate=50, seconds=2, first_id=1))
        cpu_before = server_cpu_seconds(server)
        generator_cpu_before = time.process_time()
        latencies, statuses, achieved = asyncio.run(
            fire(url, secret, rate=args.rate, seconds=args.seconds, first_id=1_000_000)
        )
        cpu_per_request_ms = (server_cpu_seconds(server) - cpu_before) / len(latencies) * 1000
        generator_cpu_ms = (time.process_time() - generator_cpu_before) / len(latencies) * 1000
    finally:
        server.terminate()
        server.wait(timeout=30)
        drop_database()
        shutil.rmtree(scratch, ignore_errors=True)

    p99 = percentile(latencies, 99)
    pooling = f"connection pool {args.pool}" if args.pool else "no connection pool"
    print(
        f"webhooks: {len(latencies)} signed Telegram updates at {args.rate}/s for {args.seconds:g} s "
        f"(achieved {achieved:.0f}/s), uvicorn workers={args.workers}, "
        f"{pooling}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  ack time ms: p50 {percentile(latencies, 50):.1f}  p90 {percentile(latencies, 90):.1f}  "
        f"p99 {p99:.1f}  max {max(latencies):.1f}  mean {statistics.fmean(latencies):.1f}"
    )
    print(f"  answers: {dict(sorted(statuses.items()))}")
    print(
        f"  CPU per request: uvicorn {cpu_per_request_ms:.1f} ms, load generator {generator_cpu_ms:.1f} ms "
        "(PostgreSQL's own work not included)"
    )
    print(f"  goal p99 < {GOAL_P99_MS:.0f} ms: {'met' if p99 < GOAL_P99_MS else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
