"""Benchmark of the KPI page on a large history (issue 6, K3).

Fills a dedicated database ``bench_kpi_<days>d`` on the embedded PostgreSQL with
100,000 conversations and 1,000,000 messages spread over the last --days
days, derives their response records with the real arithmetic
(:mod:`kpi.metrics`), then times the KPI page for a 30-day period and prints
p50 / p95 / max over --runs runs:

- ``query``: :func:`kpi.selectors.kpi_overview` (every query the page makes);
- ``page``: the whole ``/kpi/`` request through Django (queries, chart, template);
- the same for one open channel, the drill-down list and the CSV export.

Usage::

    .venv/bin/python bench/kpi.py                 # fill once (about 2–3 minutes), then measure
    .venv/bin/python bench/kpi.py --reset         # drop and refill
    .venv/bin/python bench/kpi.py --conversations 2000 --reset   # a quick smoke run
    .venv/bin/python bench/kpi.py --explain       # also print the main query's plan

The goal is p95 ≤ 200 ms for the query of a 30-day period.

``--recording N`` (issue 8) measures instead, in its own database
``bench_kpi_recording``, what K1 recording costs per message: the old
synchronous path (``responses_record`` after every message) against the batch
(``responses_record_pending`` over N flagged conversations)::

    .venv/bin/python bench/kpi.py --recording 1000

``--year`` (issue 18) first runs pgbench's simple-update on the same embedded
PostgreSQL (:mod:`bench.reference`), then times the K3 query for a 12-month
period, all open channels and one, through the day rollup and over the raw
records alone, in the same run, and prints where one overview spends its time
(fill with ``--days 365`` so the year is full; about 1–2 minutes)::

    .venv/bin/python bench/kpi.py --year --days 365 --reset [--explain]

The goal is p95 ≤ 50 ms for a 12-month period.

``--month`` (issue 17) does the same for the K3 page's default period, the last 30 days to today,
checking first that the rollup and the raw records give the same figures. Measure it over
1,000,000 messages spread over a year and over 1,000,000 messages within the 30 days; each history
length keeps its own database (``bench_kpi_<days>d``), filled once and reused::

    .venv/bin/python bench/kpi.py --month --days 365 [--explain]
    .venv/bin/python bench/kpi.py --month --days 30 [--explain]

The goal is p95 ≤ 50 ms for the 30-day period.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")
# Development settings, as before DEBUG became off by default (no SECRET_KEY needed in-process).
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench.reference import p50_p95, timed, use_bench_database  # noqa: E402 -- after the path and settings above

DATABASE = "bench_kpi"
RECORDING_DATABASE = "bench_kpi_recording"
MESSAGES_PER_CONVERSATION = 10
OPERATORS = 40
OPEN_CHANNELS = 4
# Fixed so that two runs measure the same data; the period ends here.
HISTORY_END = datetime(2026, 11, 1, tzinfo=UTC)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=180, help="history length the conversations are spread over")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reset", action="store_true", help="drop and refill the benchmark database")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the main query (--year: of each statement)"
    )
    parser.add_argument(
        "--recording",
        type=int,
        default=0,
        metavar="N",
        help="issue 8: time K1 recording per message, old synchronous path vs the batch, over N conversations",
    )
    parser.add_argument("--year", action="store_true", help="issue 18: a 12-month period, rollup vs raw records")
    parser.add_argument(
        "--month",
        action="store_true",
        help="issue 17: the page's default period (the last 30 days, today included), rollup vs raw records",
    )
    parser.add_argument("--recording-messages", type=int, default=6, help="messages per conversation (--recording)")
    return parser.parse_args()


# --- filling ------------------------------------------------------------------------------------------


def copy_rows(model, rows) -> int:
    """COPY ``rows`` (dicts keyed by attname) into ``model``'s table; missing columns get the field default."""
    from django.db import connection

    fields = [field for field in model._meta.concrete_fields]
    columns = ", ".join(f'"{field.column}"' for field in fields)
    count = 0
    now = datetime.now(UTC)
    defaults = {}
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            defaults[field.attname] = now
        elif field.has_default() and callable(field.default):
            defaults[field.attname] = field.default  # called per row: it may have to be unique
        else:
            defaults[field.attname] = field.get_default()
    json_fields = {field.attname for field in fields if field.get_internal_type() == "JSONField"}
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f'COPY "{model._meta.db_table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                values = []
                for field in fields:
                    value = row.get(field.attname, defaults[field.attname])
                    if callable(value):
                        value = value()
                    if field.attname in json_fields and value is not None:
                        value = json.dumps(value)
                    values.append(value)
                copy.write_row(values)
                count += 1
    return count


def reset_sequence(model) -> None:
    from django.db import connection

    table = model._meta.db_table
    with connection.cursor() as cursor:
        sequence = f"pg_get_serial_sequence('\"{table}\"', 'id')"
        cursor.execute(f'SELECT setval({sequence}, COALESCE((SELECT MAX(id) FROM "{table}"), 1))')


def conversation_plan(conversation_id: int, days: int, operator_ids: list[int]) -> dict:
    """Everything about one synthetic conversation, derived from its id (so two passes agree).

    Ten messages: client, welcome (system), then exchanges in which the client
    sometimes writes twice and one conversation in six is transferred.
    """
    rng = random.Random(conversation_id)
    start = HISTORY_END - timedelta(seconds=rng.uniform(0, days * 86400))
    first_operator = rng.choice(operator_ids)
    second_operator = rng.choice(operator_ids) if rng.random() < 1 / 6 else first_operator
    kinds = ["client", "system", "operator"]
    while len(kinds) < MESSAGES_PER_CONVERSATION:
        kinds += ["client", "client", "operator"] if rng.random() < 0.25 else ["client", "operator"]
    kinds = kinds[:MESSAGES_PER_CONVERSATION]
    messages = []
    at = start
    operators_written = 0
    for index, kind in enumerate(kinds):
        if kind == "system":
            at += timedelta(seconds=1)
        elif kind == "operator":
            # Mostly quick answers, a long tail of slow ones.
            at += timedelta(seconds=min(rng.lognormvariate(4.2, 1.1), 6 * 3600))
            operators_written += 1
        else:
            at += timedelta(seconds=rng.uniform(20, 600))
        author = None
        if kind == "operator":
            author = first_operator if operators_written <= 2 else second_operator
        messages.append((conversation_id * MESSAGES_PER_CONVERSATION + index, kind, author, at))
    return {
        "id": conversation_id,
        "channel": conversation_id % OPEN_CHANNELS,
        "start": start,
        "end": at,
        "operator": second_operator,
        "first_operator": first_operator,
        "messages": messages,
        "client_rating": rng.choice(["like", "like", "like", "dislike"]) if rng.random() < 0.4 else None,
        "supervisor_score": rng.randint(1, 5) if rng.random() < 0.02 else None,
    }


def fill(conversations: int, days: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from channels_app.models import (
        Client,
        ClientRating,
        Connector,
        ConnectorKind,
        Conversation,
        ConversationStatus,
        Message,
        OpenChannel,
        OperatorProfile,
    )
    from kpi.metrics import MessageFact, ResponseRules, conversation_waits, measure
    from kpi.models import ResponseRecord, SupervisorRating

    User = get_user_model()
    began = time.perf_counter()
    with transaction.atomic():
        channels = [
            OpenChannel.objects.create(
                name=f"Bench channel {n + 1}",
                kpi_initial_enabled=True,
                kpi_initial_target_seconds=180,
                kpi_subsequent_enabled=True,
                kpi_subsequent_target_seconds=300,
            )
            for n in range(OPEN_CHANNELS)
        ]
        connectors = [
            Connector.objects.create(
                open_channel=channel, kind=ConnectorKind.LIVECHAT, account_id=f"bench-{channel.pk}"
            )
            for channel in channels
        ]
        operators = [
            User.objects.create(username=f"operator{n:02d}", first_name="Operator", last_name=f"{n:02d}", password="!")
            for n in range(OPERATORS)
        ]
        OperatorProfile.objects.bulk_create([OperatorProfile(user=user) for user in operators])
        supervisor = User.objects.create(
            username="bench_admin", is_staff=True, is_superuser=True, first_name="Bench", password="!"
        )
        operator_ids = [user.pk for user in operators]
        plans = (conversation_plan(n, days, operator_ids) for n in range(1, conversations + 1))

        def client_rows():
            for n in range(1, conversations + 1):
                yield {
                    "id": n,
                    "connector_id": connectors[n % OPEN_CHANNELS].pk,
                    "external_id": f"v{n}",
                    "name": f"Client {n}",
                }

        copy_rows(Client, client_rows())
        print(f"  clients: {conversations:,}", flush=True)

        def conversation_rows():
            for plan in plans:
                channel = plan["channel"]
                yield {
                    "id": plan["id"],
                    "open_channel_id": channels[channel].pk,
                    "connector_id": connectors[channel].pk,
                    "client_id": plan["id"],
                    "status": ConversationStatus.CLOSED,
                    "operator_id": plan["operator"],
                    "first_operator_id": plan["first_operator"],
                    "created_at": plan["start"],
                    "queued_at": plan["start"],
                    "assigned_at": plan["start"] + timedelta(seconds=5),
                    "last_message_at": plan["end"],
                    "closed_at": plan["end"] + timedelta(minutes=1),
                    "closed_by": "operator",
                    "fully_closed_at": plan["end"] + timedelta(minutes=2),
                }

        copy_rows(Conversation, conversation_rows())
        print(f"  conversations: {conversations:,} ({time.perf_counter() - began:.0f} s)", flush=True)

        def message_rows():
            for n in range(1, conversations + 1):
                plan = conversation_plan(n, days, operator_ids)
                connector_id = connectors[plan["channel"]].pk
                for message_id, kind, author, at in plan["messages"]:
                    yield {
                        "id": message_id,
                        "conversation_id": n,
                        "connector_id": connector_id,
                        "author_kind": kind,
                        "author_id": author,
                        "text": "Thank you for your message." if kind == "system" else f"{kind} message {message_id}",
                        "attachments": [],
                        "created_at": at,
                        "delivery": "sent",
                    }

        messages = copy_rows(Message, message_rows())
        print(f"  messages: {messages:,} ({time.perf_counter() - began:.0f} s)", flush=True)

        targets = {"initial": 180, "subsequent": 300}

        def record_rows():
            for n in range(1, conversations + 1):
                plan = conversation_plan(n, days, operator_ids)
                facts = [
                    MessageFact(id=mid, author_kind=kind, at=at, operator_id=author)
                    for mid, kind, author, at in plan["messages"]
                ]
                closed_at = plan["end"] + timedelta(minutes=1)
                for wait in conversation_waits(facts, closed_at=closed_at):
                    rules = ResponseRules(target_seconds=targets[wait.kind])
                    result = measure(wait, rules, now=HISTORY_END)
                    yield {
                        "conversation_id": n,
                        "open_channel_id": channels[plan["channel"]].pk,
                        "kind": wait.kind.value,
                        "client_message_id": wait.client_message_id,
                        "waiting_since": wait.waiting_since,
                        "operator_id": wait.operator_id if wait.responded_at else plan["operator"],
                        "response_message_id": wait.response_message_id,
                        "responded_at": wait.responded_at,
                        "ended_at": wait.ended_at,
                        "response_seconds": result.response_seconds,
                        "target_seconds": rules.target_seconds,
                        "due_at": result.due_at,
                        "is_miss": result.is_miss,
                    }

        records = copy_rows(ResponseRecord, ({"id": i, **row} for i, row in enumerate(record_rows(), start=1)))
        print(f"  response records: {records:,} ({time.perf_counter() - began:.0f} s)", flush=True)

        def rating_rows():
            for n in range(1, conversations + 1):
                plan = conversation_plan(n, days, operator_ids)
                if plan["client_rating"]:
                    yield {
                        "conversation_id": n,
                        "operator_id": plan["operator"],
                        "value": plan["client_rating"],
                        "rated_at": plan["end"] + timedelta(minutes=1, seconds=30),
                    }

        ratings = copy_rows(ClientRating, ({"id": i, **row} for i, row in enumerate(rating_rows(), start=1)))

        def supervisor_rows():
            for n in range(1, conversations + 1):
                plan = conversation_plan(n, days, operator_ids)
                if plan["supervisor_score"]:
                    yield {
                        "conversation_id": n,
                        "operator_id": plan["operator"],
                        "supervisor_id": supervisor.pk,
                        "score": plan["supervisor_score"],
                        "comment": "",
                        "created_at": plan["end"] + timedelta(hours=2),
                    }

        scores = copy_rows(SupervisorRating, ({"id": i, **row} for i, row in enumerate(supervisor_rows(), start=1)))
        print(f"  client ratings: {ratings:,}, supervisor ratings: {scores:,}", flush=True)
        for model in (Client, Conversation, Message, ResponseRecord, ClientRating, SupervisorRating):
            reset_sequence(model)
        from kpi.services import kpi_rollup_rebuild

        days, conversation_days = kpi_rollup_rebuild()
        print(f"  rollup: {days:,} day rows, {conversation_days:,} conversation-day rows", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"  filled and analysed in {time.perf_counter() - began:.0f} s", flush=True)


# --- measuring ------------------------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> str:
    p50, p95 = p50_p95(samples)
    return f"p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   max {max(samples):7.1f} ms"


def measure_pages(runs: int, explain: bool) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from channels_app.models import Conversation, Message, OpenChannel
    from kpi.models import ResponseRecord
    from kpi.selectors import KpiPeriod, kpi_overview

    settings.ALLOWED_HOSTS = ["*"]
    last_day = (HISTORY_END - timedelta(days=1)).date()
    first_day = last_day - timedelta(days=29)
    period = KpiPeriod(first_day, last_day)
    now = HISTORY_END
    channel = OpenChannel.objects.order_by("pk").first()
    counts = {
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "response records": ResponseRecord.objects.count(),
        "records in the period": ResponseRecord.objects.filter(
            waiting_since__gte=period.start(UTC), waiting_since__lt=period.end(UTC)
        ).count(),
    }
    print("data: " + ", ".join(f"{name} {value:,}" for name, value in counts.items()))
    print(f"period: {first_day} – {last_day} (30 days), {runs} runs each after 2 warm-ups\n")

    with CaptureQueriesContext(connection) as queries:
        overview = kpi_overview(period, now=now)
    print(f"KPI page data: {len(overview.rows)} operator rows, {len(queries)} queries")

    http = HttpClient()
    http.force_login(get_user_model().objects.get(username="bench_admin"))
    params = {"start": first_day.isoformat(), "end": last_day.isoformat()}

    def page(url, extra=None):
        def get():
            response = http.get(url, {**params, **(extra or {})})
            assert response.status_code == 200, response.status_code

        return get

    any_operator = overview.rows[0].operator_id
    results = [
        ("query  /kpi/ all open channels", timed(lambda: kpi_overview(period, now=now), runs)),
        (
            "query  /kpi/ one open channel",
            timed(lambda: kpi_overview(KpiPeriod(first_day, last_day, open_channel_id=channel.pk), now=now), runs),
        ),
        ("page   /kpi/ all open channels", timed(page("/kpi/"), runs)),
        ("page   /kpi/ one open channel", timed(page("/kpi/", {"open_channel": channel.pk}), runs)),
        ("page   /kpi/export.csv", timed(page("/kpi/export.csv"), runs)),
        (
            "page   /kpi/conversations/ one operator",
            timed(page("/kpi/conversations/", {"operator": any_operator}), runs),
        ),
    ]
    for label, samples in results:
        print(f"{label:42s} {percentiles(samples)}")
    goal = sorted(results[0][1])[max(0, round(0.95 * runs) - 1)]
    print(f"\ngoal: query p95 ≤ 200 ms → {'met' if goal <= 200 else 'NOT met'} ({goal:.1f} ms)")

    if explain:
        with CaptureQueriesContext(connection) as captured:
            kpi_overview(period, now=now)
        sql = captured.captured_queries[1]["sql"]  # after the open channels' zones
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            print("\n" + "\n".join(row[0] for row in cursor.fetchall()))


def measure_period(period_days: int, runs: int, explain: bool) -> None:
    """Issues 18 and 17: the K3 query for the last ``period_days`` days (today included, as the page's
    default period), all open channels and one, through the day rollup and over the raw records alone (the
    reference the rollup must equal: the two overviews are compared and must be the same), beside pgbench's
    simple-update TPS measured first on the same server; the ratios; then where the rollup path spends its
    time (each SQL statement's median, and with ``explain`` their plans)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.reference import pgbench_tps
    from channels_app.models import OpenChannel
    from kpi.models import KpiConversationDay, KpiDay
    from kpi.selectors import KpiPeriod, kpi_overview

    tps = pgbench_tps(clients=1, seconds=10)
    print(f"reference: pgbench simple-update (-N), 1 client, 10 s, scale 10: {tps:,.0f} tps")
    last_day = (HISTORY_END - timedelta(days=1)).date()
    period = KpiPeriod(last_day - timedelta(days=period_days - 1), last_day)
    channel = OpenChannel.objects.order_by("pk").first()
    one_channel = KpiPeriod(period.first_day, period.last_day, open_channel_id=channel.pk)
    now = HISTORY_END - timedelta(hours=1)  # the last day is today
    label = f"{period_days} days"
    print(
        f"period {period.first_day} – {period.last_day} ({label}); rollup: {KpiDay.objects.count():,} day rows, "
        f"{KpiConversationDay.objects.count():,} conversation-day rows; {runs} runs each after 2 warm-ups"
    )
    cases = [
        ("all open channels", period),
        ("one open channel", one_channel),
    ]
    for name, case in cases:
        same = same_figures(kpi_overview(case, now=now), kpi_overview(case, now=now, use_rollup=False))
        rollup = timed(lambda case=case: kpi_overview(case, now=now), runs)
        raw = timed(lambda case=case: kpi_overview(case, now=now, use_rollup=False), runs)
        print(f"query  {label}, {name}, rollup{'':8s} {percentiles(rollup)}")
        print(f"query  {label}, {name}, raw (reference) {percentiles(raw)}")
        print(f"  rollup and raw give the same figures: {'yes' if same else 'NO'}")
        p95 = {label: p95_of(samples) for label, samples in (("rollup", rollup), ("raw", raw))}
        per_second = 1000 / p95["rollup"]
        print(
            f"  p95: raw / rollup {p95['raw'] / p95['rollup']:.1f}x; rollup overviews per second at p95 "
            f"{per_second:.1f} = {per_second / tps:.3f} x pgbench tps; goal p95 <= 50 ms: "
            f"{'met' if p95['rollup'] <= 50 else 'NOT met'}"
        )

    # Where the time goes: every statement of one overview, median over the runs.
    print(f"\nstatements of one overview (all open channels, rollup), median of {runs} runs:")
    timings: list[list[float]] = []
    sqls: list[str] = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            kpi_overview(period, now=now)
        sqls = [query["sql"] for query in captured.captured_queries]
        timings.append([float(query["time"]) * 1000 for query in captured.captured_queries])
    for index, sql in enumerate(sqls):
        median = statistics.median(run[index] for run in timings)
        print(f"  {median:7.1f} ms  {' '.join(sql.split())[:110]}")
    if explain:
        with connection.cursor() as cursor:
            for sql in sqls:
                if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                print("\n" + "\n".join(row[0] for row in cursor.fetchall()))


def overview_figures(overview) -> list[tuple]:
    """Everything the K3 page shows of ``overview``: the totals, each operator's row, each day's point."""

    def row(row):
        stats = row.stats
        return (
            row.operator_id,
            row.name,
            stats.conversations,
            stats.responses,
            stats.initial_average_seconds,
            stats.average_seconds,
            stats.maximum_seconds,
            stats.total_seconds,
            stats.misses,
            row.likes,
            row.dislikes,
            row.supervisor_average,
            row.supervisor_ratings,
        )

    days = [(point.day, point.responses, point.average_seconds, point.misses) for point in overview.days]
    return [row(overview.totals), *map(row, overview.rows), *days]


def same_figures(first, second) -> bool:
    """Whether two overviews show the same figures (floats to 1e-9 relative: sums are added in another order)."""

    def same(a, b) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-9)
        return a == b

    a, b = overview_figures(first), overview_figures(second)
    return len(a) == len(b) and all(
        len(x) == len(y) and all(same(u, v) for u, v in zip(x, y, strict=True)) for x, y in zip(a, b, strict=True)
    )


def p95_of(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def measure_recording(count: int, steps: int) -> None:
    """Issue 8: K1 recording per message, the old synchronous path against the batch.

    1. Three identical sets of ``count`` active conversations on an open
       channel with both targets on.
    2. Step by step, every conversation of sets A and B gets one message
       (client, operator, client, …, a minute apart). Set A is recorded with
       ``responses_record`` per conversation, as the ``message_created``
       receiver did for every message; set B is flagged and recorded by one
       ``responses_record_pending`` run: the batch's worst case, one new
       message per conversation between two runs.
    3. Set C gets all its messages first, then one run records them (several
       messages of a conversation between two runs cost one recording).
    4. One more step counts the SQL statements of each path; A and B must end
       with the same records.
    """
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from channels_app.models import (
        Client,
        Connector,
        ConnectorKind,
        Conversation,
        ConversationStatus,
        Message,
        OpenChannel,
    )
    from kpi.models import ResponseRecord
    from kpi.services import responses_record, responses_record_pending

    settings.DEBUG = False  # no query log in the timed loops (CaptureQueriesContext turns it on where counted)
    start = HISTORY_END
    channel = OpenChannel.objects.create(
        name="Recording bench",
        kpi_initial_enabled=True,
        kpi_initial_target_seconds=180,
        kpi_subsequent_enabled=True,
        kpi_subsequent_target_seconds=300,
    )
    connector = Connector.objects.create(open_channel=channel, kind=ConnectorKind.LIVECHAT, account_id="recording")
    operator = get_user_model().objects.create(username="recording_operator", password="!")
    clients = Client.objects.bulk_create(
        [Client(connector=connector, external_id=f"r{n}", name=f"Client {n}") for n in range(3 * count)]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                open_channel=channel,
                connector=connector,
                client=client,
                status=ConversationStatus.ACTIVE,
                operator=operator,
                first_operator=operator,
                created_at=start,
                queued_at=start,
                assigned_at=start,
            )
            for client in clients
        ]
    )
    set_a, set_b, set_c = (
        [c.pk for c in conversations[:count]],
        [c.pk for c in conversations[count : 2 * count]],
        [c.pk for c in conversations[2 * count :]],
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")

    def add_messages(conversation_ids: list[int], step: int) -> datetime:
        at = start + timedelta(minutes=step)
        kind = Message.Author.CLIENT if step % 2 == 0 else Message.Author.OPERATOR
        Message.objects.bulk_create(
            [
                Message(
                    conversation_id=pk,
                    connector=connector,
                    author_kind=kind,
                    author=operator if kind == Message.Author.OPERATOR else None,
                    text=f"{kind} message {step}",
                    created_at=at,
                )
                for pk in conversation_ids
            ]
        )
        return at

    def flag(conversation_ids: list[int]) -> None:
        # In production this rides on the UPDATE that stores the message's timestamps.
        Conversation.objects.filter(pk__in=conversation_ids).update(responses_pending=True)

    old_seconds = new_seconds = 0.0
    for step in range(steps):
        now = add_messages(set_a + set_b, step)
        began = time.perf_counter()
        for pk in set_a:
            responses_record(conversation_id=pk, now=now)
        old_seconds += time.perf_counter() - began
        flag(set_b)
        began = time.perf_counter()
        recorded = responses_record_pending(now=now)
        new_seconds += time.perf_counter() - began
        assert recorded == count, recorded

    for step in range(steps):
        now = add_messages(set_c, step)
    flag(set_c)
    began = time.perf_counter()
    assert responses_record_pending(now=now) == count
    coalesced_seconds = time.perf_counter() - began

    now = add_messages(set_a + set_b, steps)
    with CaptureQueriesContext(connection) as old_queries:
        responses_record(conversation_id=set_a[0], now=now)
    flag(set_b)
    with CaptureQueriesContext(connection) as new_queries:
        responses_record_pending(now=now)
    for pk in set_a[1:]:
        responses_record(conversation_id=pk, now=now)

    def records(conversation_ids: list[int]) -> list[tuple]:
        offset = {pk: index for index, pk in enumerate(conversation_ids)}
        fields = ("kind", "waiting_since", "responded_at", "response_seconds", "due_at", "is_miss")
        rows = ResponseRecord.objects.filter(conversation_id__in=conversation_ids).values_list(
            "conversation_id", *fields
        )
        return sorted((offset[row[0]], *row[1:]) for row in rows)

    same = records(set_a) == records(set_b)
    messages = count * steps
    print(f"K1 recording: {count:,} conversations per set, {steps} messages each ({messages:,} messages per set)")
    print(
        f"  old, responses_record after every message:     {old_seconds / messages * 1000:6.3f} ms per message"
        f"   ({len(old_queries)} SQL statements per message)"
    )
    print(
        f"  new, batch with one new message per conversation: {new_seconds / messages * 1000:6.3f} ms per message"
        f"   ({len(new_queries) / count:.2f} SQL statements per message; {len(new_queries)} per run of {count:,})"
    )
    print(
        f"  new, batch after all {steps} messages at once:      "
        f"{coalesced_seconds / messages * 1000:6.3f} ms per message"
        f"   ({coalesced_seconds / count * 1000:.3f} ms per conversation)"
    )
    print(
        f"  speed-up per message: {old_seconds / new_seconds:.1f}x (one new message), "
        f"{old_seconds / coalesced_seconds:.1f}x (all at once); same records: {'yes' if same else 'NO'}"
    )


def main() -> None:
    args = parse_args()
    if args.recording:
        use_bench_database(RECORDING_DATABASE, reset=True)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        measure_recording(args.recording, args.recording_messages)
        return
    database = f"{DATABASE}_{args.days}d"  # one kept database per history length
    use_bench_database(database, reset=args.reset)
    from django.core.management import call_command

    from channels_app.models import Conversation

    call_command("migrate", verbosity=0)
    existing = Conversation.objects.count()
    if existing != args.conversations:
        if existing:
            sys.exit(f"{database} holds {existing:,} conversations, not {args.conversations:,}: rerun with --reset")
        print(f"filling {database}: {args.conversations:,} conversations over {args.days} days …", flush=True)
        fill(args.conversations, args.days)
    if args.year or args.month:
        measure_period(365 if args.year else 30, args.runs, args.explain)
        return
    measure_pages(args.runs, args.explain)


if __name__ == "__main__":
    main()
