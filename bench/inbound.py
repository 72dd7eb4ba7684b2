"""CPU and SQL statements per inbound message in one process: the web process's share of the message path.

    .venv/bin/python bench/inbound.py [--messages 1000] [--conversations 50] [--profile] [--pgbench 10]

What ``bench/e2e.py`` spreads over uvicorn, the load generator and the sockets, measured here without them, so
that a change's cost shows without a shared machine's noise: for each of ``--messages`` signed Telegram
updates, exactly what the ASGI webhook door does (:func:`handle_webhook`: find the connector, verify, store
the ``InboundUpdate``; then ``intake_paused`` and ``_process_here``: ``message_receive`` into an active
conversation, events to the channel layer, the update marked processed). Each message continues one of
``--conversations`` active conversations held by online operators, as in the e2e run's steady state.

1. Creates the scratch database ``bench_inbound`` on the embedded PostgreSQL (embedded Redis for the channel
   layer and the broker), migrates, seeds the operators and conversations.
2. Warms up (50 messages), then counts the SQL statements of the next 20 messages and
   times ``--messages`` messages with ``time.process_time()`` (this process's CPU: Python, psycopg, redis-py;
   PostgreSQL's and Redis's own CPU are not included), and how much of it the events sender thread spent.
3. ``--profile``: cProfile of the timed messages, top functions by own and by cumulative time.
4. ``--pgbench S``: pgbench simple-update, 8 clients, ``S`` seconds on the same server first (0 = skip),
   printed beside the result (``bench/reference.py``).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-inbound-" + os.urandom(24).hex())
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", __import__("base64").urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from reference import pgbench_tps, use_bench_database  # noqa: E402

BENCH_DATABASE = "bench_inbound"


def seed(conversation_count: int):
    """The e2e bench's data (one open channel, each operator online holding one active Telegram conversation with
    its own client, external id ``1000 + i``); returns its connector."""
    from bench.e2e import seed as seed_e2e
    from channels_app.models import Connector

    return Connector.objects.get(pk=seed_e2e(conversation_count).connector_id)


def _sender_thread_cpu() -> float:
    """CPU seconds so far of the thread that sends events to the channel layer (engine.events)."""
    import psutil

    from channels_app.engine import events

    native_id = events._sender().thread.native_id
    return next((t.user_time + t.system_time for t in psutil.Process().threads() if t.id == native_id), 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--pgbench", type=int, default=10, help="seconds of pgbench with 8 clients first (0: skip)")
    args = parser.parse_args()

    use_bench_database(BENCH_DATABASE, reset=True)
    tps = pgbench_tps(clients=8, seconds=args.pgbench) if args.pgbench else None

    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils.datastructures import CaseInsensitiveMapping

    from bench.e2e import telegram_update
    from channels_app.connectors import webhooks
    from channels_app.connectors.processing import intake_paused

    if os.environ.get("BENCH_SSB"):
        settings.DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
        connection.settings_dict["OPTIONS"]["server_side_binding"] = True
    connector = seed(args.conversations)
    headers = CaseInsensitiveMapping(
        {"X-Telegram-Bot-Api-Secret-Token": connector.webhook_secret, "Content-Type": "application/json"}
    )
    sequence = 0

    def one() -> None:
        nonlocal sequence
        sequence += 1
        answer = webhooks.handle_webhook(
            provider="telegram", connector_id=connector.pk, method="POST", headers=headers, query={},
            body=telegram_update(sequence, sequence % args.conversations),
        )  # fmt: skip
        assert answer.status == 200 and answer.stored, answer
        if not intake_paused():
            webhooks._process_here(answer.stored, answer.connector)

    for _ in range(50):
        one()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            one()
    statements = len(queries) / 20
    sender_before = _sender_thread_cpu()
    profiler = cProfile.Profile(time.process_time) if args.profile else None  # CPU, not waits
    began_cpu, began_wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for _ in range(args.messages):
        one()
    if profiler:
        profiler.disable()
    cpu_ms = (time.process_time() - began_cpu) * 1000 / args.messages
    wall_ms = (time.perf_counter() - began_wall) * 1000 / args.messages
    sender_ms = (_sender_thread_cpu() - sender_before) * 1000 / args.messages

    from channels_app.models import InboundUpdate, Message

    pending = InboundUpdate.objects.exclude(state="processed").count()
    stored = Message.objects.filter(author_kind="client").count()
    print(f"messages: {args.messages} timed (+70 warm-up and counted), {stored} stored, {pending} not processed")
    print(
        f"per message: {statements:.1f} SQL statements, {cpu_ms:.2f} ms CPU of this process "
        f"(of which the events sender thread {sender_ms:.2f} ms), {wall_ms:.2f} ms wall"
    )
    if tps:
        print(f"pgbench simple-update, 8 clients, same server: {tps:,.0f} tps; one process at this CPU cost: "
              f"{1000 / cpu_ms:,.0f} messages/s = {100 * 1000 / cpu_ms / tps:.1f} % of pgbench")  # fmt: skip
    for sql in [q["sql"] for q in queries.captured_queries[-(len(queries) // 20) :]]:
        print("   ", sql[:160])
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(45)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
