"""Benchmark of the privacy work (issue 19): a client's data export, an erasure, and the retention sweep.

Fills a dedicated database ``bench_privacy`` on the embedded PostgreSQL with --clients clients of one Telegram
connector, each with one conversation of --messages messages closed 60 days ago, plus one "long-standing" client
with --big-conversations conversations of --messages messages and a --file-mb MB file. Then, after pgbench's
simple-update on the same server (:mod:`bench.reference`), it prints:

- ``export``: building the long-standing client's archive (``export_build``): seconds, archive size, and the
  peak Python memory while building (``tracemalloc``), which must not grow with the file;
- ``erase``: ``client_erase`` of the long-standing client: milliseconds and messages erased per second;
- ``retention``: ``retention_sweep`` over every other conversation (retention 30 days), once with one sweeper and
  once (after a refill) with two sweepers at once: conversations erased per second, and a check that each
  conversation was erased exactly once.

Usage::

    .venv/bin/python bench/privacy.py                       # 2,000 conversations of 20 messages; about 2 minutes
    .venv/bin/python bench/privacy.py --clients 200          # a quick smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-privacy-")

from bench.reference import pgbench_tps, use_bench_database  # noqa: E402 -- after the path and settings above

DATABASE = "bench_privacy"


def fill(*, channel, connector, operator, clients: int, messages: int, prefix: str, closed_days_ago: int) -> list[int]:
    """``clients`` clients with one closed conversation of ``messages`` messages each; returns the conversation ids."""
    from django.db import transaction
    from django.utils import timezone

    from channels_app.models import Client, Conversation, ConversationStatus, Message

    closed_at = timezone.now() - timedelta(days=closed_days_ago)
    with transaction.atomic():
        made = Client.objects.bulk_create(
            Client(connector=connector, external_id=f"{prefix}{n}", name=f"Client {prefix}{n}", phone=f"+4860{n:07d}")
            for n in range(clients)
        )
        conversations = Conversation.objects.bulk_create(
            Conversation(
                open_channel=channel, connector=connector, client=client, status=ConversationStatus.CLOSED,
                operator=operator, created_at=closed_at - timedelta(hours=1), queued_at=closed_at - timedelta(hours=1),
                last_message_at=closed_at, closed_at=closed_at,
            )
            for client in made
        )  # fmt: skip
        Message.objects.bulk_create(
            Message(
                conversation=conversation, connector=connector,
                author_kind=Message.Author.CLIENT if n % 2 else Message.Author.OPERATOR,
                author=None if n % 2 else operator,
                delivery=Message.Delivery.RECEIVED if n % 2 else Message.Delivery.SENT,
                text=f"Message {n} about order {conversation.pk}-{n}: where is my parcel, my phone is +48 600 100 200",
                created_at=closed_at - timedelta(minutes=messages - n),
            )
            for conversation in conversations
            for n in range(messages)
        )  # fmt: skip
    return [conversation.pk for conversation in conversations]


def sweep_in_threads(sweepers: int) -> tuple[float, list[int]]:
    from django.db import connection
    from django.utils import timezone

    from channels_app.engine.retention import retention_sweep

    counts: list[int] = []
    barrier = threading.Barrier(sweepers)

    def run() -> None:
        try:
            barrier.wait()
            counts.append(retention_sweep(now=timezone.now()))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(sweepers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--big-conversations", type=int, default=100)
    parser.add_argument("--file-mb", type=int, default=16)  # under the 20 MB a chat accepts by default
    args = parser.parse_args()

    use_bench_database(DATABASE, reset=True)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    tps = pgbench_tps(clients=1, seconds=10)
    print(f"reference: pgbench simple-update (-N), 1 client, 10 s, scale 10: {tps:,.0f} tps\n")

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.utils import timezone

    from channels_app.engine.attachments import attachments_add, file_store_upload
    from channels_app.engine.erasure import client_erase
    from channels_app.engine.exports import export_build, export_request
    from channels_app.models import Client, Connector, Conversation, DataExport, Message, OpenChannel

    channel = OpenChannel.objects.create(name="Bench privacy", max_file_megabytes=args.file_mb + 1)
    connector = Connector.objects.create(open_channel=channel, kind="telegram", account_id="bench-privacy")
    operator = get_user_model().objects.create(username="bench-operator", first_name="Bench", password="!")
    administrator = get_user_model().objects.create(username="bench-admin", password="!")
    administrator.groups.add(Group.objects.get(name="Administrators"))

    # The long-standing client: many conversations, one large file.
    began = time.perf_counter()
    fill(channel=channel, connector=connector, operator=operator, clients=args.big_conversations,
         messages=args.messages, prefix="big", closed_days_ago=5)  # fmt: skip
    big = Client.objects.get(external_id="big0")
    Conversation.objects.filter(client__external_id__startswith="big").update(client=big)
    stored = file_store_upload(
        open_channel=channel,
        upload=SimpleUploadedFile("scan.pdf", b"%PDF-1.4\n" + os.urandom(args.file_mb * 1024 * 1024)),
        name="scan.pdf",
        mime_type="application/pdf",
    )
    attachments_add(Message.objects.filter(conversation__client=big).first(), [stored], timezone.now())
    others = fill(channel=channel, connector=connector, operator=operator, clients=args.clients,
                  messages=args.messages, prefix="c", closed_days_ago=60)  # fmt: skip
    print(
        f"filled in {time.perf_counter() - began:.0f} s: {args.clients:,} conversations of {args.messages} messages "
        f"closed 60 days ago; one client with {args.big_conversations} conversations and a {args.file_mb} MB file\n"
    )

    # Export.
    export = export_request(actor=administrator, client_id=big.pk, now=timezone.now())
    tracemalloc.start()
    began = time.perf_counter()
    built = export_build(export_id=export.pk, now=timezone.now())
    seconds = time.perf_counter() - began
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert built is not None and built.status == DataExport.Status.READY, built
    total_messages = args.big_conversations * args.messages
    print(
        f"export   {total_messages:,} messages + {args.file_mb} MB file: {seconds:6.2f} s, archive "
        f"{built.size / 1e6:.1f} MB, peak Python memory {peak / 1e6:.1f} MB; "
        f"{total_messages / seconds:,.0f} messages/s = {100 * total_messages / seconds / tps:.0f} % of pgbench tps"
    )

    # Erasure.
    began = time.perf_counter()
    result = client_erase(client_id=big.pk, actor=administrator, now=timezone.now())
    seconds = time.perf_counter() - began
    print(
        f"erase    {result.content.messages:,} messages, {result.content.conversations} conversations, "
        f"{result.content.files} file: {1000 * seconds:7.1f} ms; {result.content.messages / seconds:,.0f} messages/s "
        f"= {100 * result.content.messages / seconds / tps:.0f} % of pgbench tps"
    )

    # Retention: one sweeper, then two at once on a refill.
    channel.retention_days = 30
    channel.save(update_fields=["retention_days"])
    for sweepers in (1, 2):
        if sweepers == 2:
            others = fill(channel=channel, connector=connector, operator=operator, clients=args.clients,
                          messages=args.messages, prefix="d", closed_days_ago=60)  # fmt: skip
        seconds, counts = sweep_in_threads(sweepers)
        erased = Conversation.objects.filter(pk__in=others, erased_at__isnull=False).count()
        assert sum(counts) == len(others) == erased, (counts, len(others), erased)
        print(
            f"retention {sweepers} sweeper{'s' if sweepers > 1 else ' '} {len(others):,} conversations "
            f"({len(others) * args.messages:,} messages): {seconds:6.2f} s, {len(others) / seconds:,.0f} "
            f"conversations/s = {100 * len(others) / seconds / tps:.0f} % of pgbench tps; each erased once "
            f"(per sweeper: {sorted(counts)})"
        )


if __name__ == "__main__":
    main()
