"""Benchmark of the supervisor's wallboard snapshot (issue 18): what one re-read costs as a floor grows.

Every wallboard socket re-reads :func:`kpi.wallboard.snapshot` when the engine nudges one of its channels
(nudges within 200 ms share one read). This fills a dedicated database ``bench_wallboard`` on the embedded
PostgreSQL with ``--channels`` open channels, each with ``--operators`` queue operators, ``--waiting``
waiting conversations (half of them offered to two operators), ``--held`` conversations with operators and
``--today`` conversations closed earlier today (with ratings, misses and status changes), then times the
snapshot of every channel together and of one channel, and counts its SQL statements.

Beside it, in the same run, the reference of every bench here: pgbench's simple-update TPS with one client on
the same server (:mod:`bench.reference`), and the ratio of snapshots per second to it.

Usage::

    .venv/bin/python bench/wallboard.py                       # 10 channels × 20 operators, 30 waiting, 60 held
    .venv/bin/python bench/wallboard.py --channels 50 --runs 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.reference import p50_p95, timed  # noqa: E402 -- after the path and settings above

DATABASE = "bench_wallboard"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--operators", type=int, default=20, help="queue operators per open channel")
    parser.add_argument("--waiting", type=int, default=30, help="waiting conversations per open channel")
    parser.add_argument("--held", type=int, default=60, help="conversations with operators per open channel")
    parser.add_argument("--today", type=int, default=300, help="conversations closed earlier today per channel")
    parser.add_argument("--runs", type=int, default=30)
    return parser.parse_args()


def prepare_database() -> None:
    import psycopg

    from contact_center import embedded

    socket_dir = str(embedded.postgres_socket_dir())
    embedded_started = False
    try:
        psycopg.connect(host=socket_dir, user="postgres", dbname="postgres").close()
    except psycopg.OperationalError:
        embedded_started = True
    if embedded_started:
        import django

        django.setup()
        embedded.start()
    with psycopg.connect(host=socket_dir, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = DATABASE
    if not embedded_started:
        import django

        django.setup()
    embedded.start()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fill(args: argparse.Namespace, now: datetime) -> None:
    from django.contrib.auth import get_user_model

    from channels_app.models import (
        Client,
        ClientRating,
        Connector,
        Conversation,
        ConversationStatus,
        Offer,
        OpenChannel,
        OperatorProfile,
        QueueMember,
        StatusChange,
    )

    User = get_user_model()
    for c in range(args.channels):
        channel = OpenChannel.objects.create(name=f"Channel {c:02d}", chat_limit_enabled=True, chat_limit=5)
        connector = Connector.objects.create(open_channel=channel, kind="livechat", account_id=f"site-{c}")
        operators = User.objects.bulk_create(
            User(username=f"op-{c}-{o}", first_name=f"Operator {o}") for o in range(args.operators)
        )
        OperatorProfile.objects.bulk_create(
            OperatorProfile(user=user, is_online=o % 3 != 0, console_heartbeat_at=now, last_activity_at=now)
            for o, user in enumerate(operators)
        )
        QueueMember.objects.bulk_create(
            QueueMember(open_channel=channel, operator=user, position=o) for o, user in enumerate(operators)
        )
        total = args.waiting + args.held + args.today
        clients = Client.objects.bulk_create(
            Client(connector=connector, external_id=f"v-{c}-{n}", name=f"Visitor {n}") for n in range(total)
        )
        conversations = []
        for n, client in enumerate(clients):
            started = now - timedelta(minutes=1 + n % 300)
            if n < args.waiting:
                fields = {"status": ConversationStatus.OFFERED if n % 2 else ConversationStatus.QUEUED}
            elif n < args.waiting + args.held:
                fields = {"status": ConversationStatus.ACTIVE, "operator": operators[n % len(operators)]}
            else:
                fields = {"status": ConversationStatus.CLOSED, "closed_at": now, "is_unprocessed": n % 10 == 0}
            conversations.append(
                Conversation(
                    open_channel=channel,
                    connector=connector,
                    client=client,
                    created_at=started,
                    queued_at=started,
                    assigned_at=started if "operator" in fields else None,
                    unprocessed_at=started if fields.get("is_unprocessed") else None,
                    **fields,
                )
            )
        conversations = Conversation.objects.bulk_create(conversations)
        Offer.objects.bulk_create(
            Offer(conversation=conversation, operator=operators[i % len(operators)], created_at=now,
                  expires_at=now + timedelta(minutes=1))
            for conversation in conversations[: args.waiting] if conversation.status == "offered"
            for i in range(2)
        )  # fmt: skip
        StatusChange.objects.bulk_create(
            StatusChange(conversation=conversation, at=conversation.created_at, from_status="offered",
                         to_status="active", operator=operators[n % len(operators)])
            for n, conversation in enumerate(conversations[args.waiting :])
        )  # fmt: skip
        ClientRating.objects.bulk_create(
            ClientRating(conversation=conversation, value="like" if n % 4 else "dislike", rated_at=now)
            for n, conversation in enumerate(conversations[args.waiting + args.held :])
        )


def percentiles(samples: list[float]) -> str:
    p50, p95 = p50_p95(samples)
    return f"p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   max {max(samples):6.1f} ms"


def main() -> None:
    args = parse_args()
    prepare_database()
    from bench.reference import pgbench_tps

    tps = pgbench_tps(clients=1, seconds=10)
    print(f"reference: pgbench simple-update (-N), 1 client, 10 s, scale 10: {tps:,.0f} tps")

    now = datetime.now(UTC)
    started = time.perf_counter()
    fill(args, now)
    print(
        f"filled {args.channels} channels × {args.operators} operators, {args.waiting} waiting, {args.held} held, "
        f"{args.today} closed today each, in {time.perf_counter() - started:.1f} s"
    )

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from channels_app.models import OpenChannel
    from kpi.wallboard import snapshot

    channels = list(OpenChannel.objects.order_by("pk"))
    for label, chosen in (("every channel", channels), ("one channel", channels[:1])):
        with CaptureQueriesContext(connection) as queries:
            board = snapshot(chosen, now)
        samples = timed(lambda chosen=chosen: snapshot(chosen, now), args.runs, warm_ups=3)
        per_second = 1000 / statistics.median(samples)
        rows = sum(len(c["waiting"]) + len(c["held"]) + len(c["operators"]) for c in board["channels"])
        print(
            f"snapshot, {label:13s} ({len(chosen):3d} channels, {rows:5d} rows, {len(queries)} statements): "
            f"{percentiles(samples)}   {per_second:6.1f}/s = {per_second / tps:.1%} of pgbench tps"
        )


if __name__ == "__main__":
    main()
