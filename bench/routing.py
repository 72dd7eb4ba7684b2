"""Routing throughput and decision latency on the embedded PostgreSQL (issue 3).

Usage::

    .venv/bin/python bench/routing.py [--conversations 2000] [--routers 1 4 8]

Uses its own database (``bench_routing`` on the same server, created and
migrated on first use, emptied at every run; ``BENCH_DATABASE_URL`` points
elsewhere). One open channel, 50 operators online, Evenly, no chat limit, so
every decision makes an offer. For 1, 4 and 8 concurrent routers (separate
processes, each with its own connection) it prints, for both paths:

* ``route``: one :func:`conversation_route` call per conversation (what an
  inbound message or a single task does);
* ``batch``: :func:`channel_redistribute` (the 2-minute retry and the Q9
  instant triggers), which decides up to 100 conversations per transaction.

Figures: conversations routed per second (wall clock, all routers together)
and p50 / p99 latency of one decision (for ``batch``: the transaction's time
divided by the conversations it routed, so every conversation of a batch
reports the same latency). Events go to the real channel layer (embedded Redis).

The reference (issue 17): before routing, pgbench's simple-update runs on the
same server with as many clients as there are routers (``--pgbench-seconds``
each, 0 to skip); every row prints that figure and the ratio of conversations
routed per second to it. The goal is ≥ 30 % with 1 router and ≥ 25 % with 8.
Settings are production's (DEBUG off: no query log), as the router processes
run them.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
# Production settings (DEBUG off, so Django keeps no query log); a throwaway key for this process only.
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "bench-routing-" + os.urandom(16).hex())
# The bench's only connector is a live chat (no credentials): a throwaway key is enough.
os.environ.setdefault("FIELD_ENCRYPTION_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
BENCH_DATABASE = "bench_routing"
OPERATORS = 50


def _configure_database() -> None:
    """Point Django at the bench database (created on the embedded server when missing)."""
    from django.conf import settings

    from contact_center import embedded

    embedded.start()

    if os.environ.get("BENCH_DATABASE_URL"):
        import environ

        settings.DATABASES["default"].update(environ.Env.db_url_config(os.environ["BENCH_DATABASE_URL"]))
        return
    import psycopg

    database = settings.DATABASES["default"]
    with psycopg.connect(host=database["HOST"], user=database["USER"], dbname="postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DATABASE]).fetchone():
            admin.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    database["NAME"] = BENCH_DATABASE


def _setup_django() -> None:
    import django

    django.setup()


def _prepare(conversations: int):
    """Empty the bench database and create the channel, its 50 operators and the waiting conversations."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE channels_app_offer, channels_app_routingdecision, channels_app_statuschange, "
            "channels_app_message, channels_app_conversation, channels_app_client, channels_app_connector, "
            "channels_app_queuemember, channels_app_operatorprofile, channels_app_openchannel, "
            "auth_user CASCADE"
        )
    from django.contrib.auth import get_user_model

    from channels_app.models import Client, Connector, Conversation, OpenChannel, OperatorProfile, QueueMember

    now = timezone.now()
    # Presence is not what is measured: with "check online" off the operators stay eligible for the whole run.
    channel = OpenChannel.objects.create(name="Bench", welcome_enabled=False, check_online=False)
    connector = Connector.objects.create(open_channel=channel, kind="livechat", account_id="bench")
    users = get_user_model().objects.bulk_create(
        [get_user_model()(username=f"bench-op-{n:02d}", first_name=f"Op {n}") for n in range(OPERATORS)]
    )
    OperatorProfile.objects.bulk_create(
        [
            OperatorProfile(user=user, is_online=True, clocked_in=True, console_heartbeat_at=now, last_activity_at=now)
            for user in users
        ]
    )
    QueueMember.objects.bulk_create(
        [QueueMember(open_channel=channel, operator=user, position=n) for n, user in enumerate(users)]
    )
    clients = Client.objects.bulk_create(
        [Client(connector=connector, external_id=f"bench-{n}") for n in range(conversations)]
    )
    Conversation.objects.bulk_create(
        [
            Conversation(
                open_channel=channel,
                connector=connector,
                client=client,
                status="queued",
                created_at=now,
                queued_at=now + timedelta(microseconds=n),
                last_message_at=now,
            )
            for n, client in enumerate(clients)
        ]
    )
    return channel.pk


def _reset() -> None:
    """Put every conversation back in the queue, with no offers, and keep the operators online."""
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE channels_app_offer, channels_app_routingdecision, channels_app_statuschange")
        cursor.execute("UPDATE channels_app_conversation SET status = 'queued', first_offered_at = NULL")
        cursor.execute("UPDATE channels_app_queuemember SET last_assigned_at = NULL")
        cursor.execute(
            "UPDATE channels_app_operatorprofile SET console_heartbeat_at = %s, last_activity_at = %s",
            [timezone.now(), timezone.now()],
        )


def _router(path: str, channel_id: int, share: tuple[int, int], start_event, results) -> None:
    """One router process: route until nothing is waiting, recording each decision's latency."""
    _setup_django()
    from django.db import connection
    from django.utils import timezone

    from channels_app.engine.queue import channel_redistribute, conversation_route
    from channels_app.models import Conversation

    latencies: list[float] = []
    routed = 0
    start_event.wait()
    if path == "route":
        while True:
            ids = list(Conversation.objects.filter(status="queued").order_by("?").values_list("pk", flat=True)[:20])
            if not ids:
                break
            for conversation_id in ids:
                began = time.perf_counter()
                decision = conversation_route(conversation_id=conversation_id, now=timezone.now(), trigger="bench")
                if decision is not None:
                    if decision.outcome != "offered":
                        raise RuntimeError(f"bench conversation #{conversation_id} not offered: {decision.outcome}")
                    latencies.append(time.perf_counter() - began)
                    routed += 1
    else:
        while True:
            began = time.perf_counter()
            count = channel_redistribute(open_channel_id=channel_id, now=timezone.now(), trigger="bench", limit=100)
            if count == 0:
                if not Conversation.objects.filter(status="queued").exists():
                    break
                time.sleep(0.001)  # the rest is claimed by other routers right now
                continue
            per_decision = (time.perf_counter() - began) / count
            latencies.extend([per_decision] * count)
            routed += count
    connection.close()
    results.put((routed, latencies))


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _run(path: str, routers: int, channel_id: int) -> tuple[int, float, float, float]:
    from django.db import connections

    _reset()
    connections.close_all()
    context = multiprocessing.get_context("fork")
    start_event, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_router, args=(path, channel_id, (index, routers), start_event, results))
        for index in range(routers)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let every router finish importing before the clock starts
    began = time.perf_counter()
    start_event.set()
    collected = [results.get() for _ in processes]
    elapsed = time.perf_counter() - began
    for process in processes:
        process.join()
    routed = sum(count for count, _ in collected)
    latencies = [value for _, values in collected for value in values]
    from channels_app.models import Conversation, Offer

    assert Offer.objects.filter(status="pending").values("conversation").distinct().count() == routed
    assert not Conversation.objects.filter(status="queued").exists()
    return routed, routed / elapsed, _percentile(latencies, 0.5) * 1000, _percentile(latencies, 0.99) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--routers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--paths", nargs="+", default=["route", "batch"], choices=["route", "batch"])
    parser.add_argument(
        "--pgbench-seconds", type=int, default=10, help="pgbench run per router count, before routing (0: skip)"
    )
    options = parser.parse_args()

    _configure_database()
    _setup_django()
    from bench.reference import pgbench_tps

    reference = {}
    if options.pgbench_seconds:
        for routers in options.routers:
            reference[routers] = pgbench_tps(clients=routers, seconds=options.pgbench_seconds)
            print(f"pgbench simple-update, {routers} client(s): {reference[routers]:,.0f} tps", flush=True)
    channel_id = _prepare(options.conversations)
    print(f"{options.conversations} waiting conversations, {OPERATORS} operators online, Evenly, no chat limit")
    print(
        f"{'path':<6} {'routers':>7} {'routed':>7} {'conv/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'pgbench tps':>12} {'ratio':>7}"
    )
    for path in options.paths:
        for routers in options.routers:
            routed, rate, p50, p99 = _run(path, routers, channel_id)
            tps = reference.get(routers)
            versus = f"{tps:>12,.0f} {rate / tps:>7.1%}" if tps else f"{'-':>12} {'-':>7}"
            print(f"{path:<6} {routers:>7} {routed:>7} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {versus}", flush=True)


if __name__ == "__main__":
    main()
