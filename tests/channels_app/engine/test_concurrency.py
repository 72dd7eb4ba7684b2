"""Q2, Q3, Q8, Q9 under contention: many workers acting on the same conversations at once.

Ten threads (each with its own PostgreSQL connection) route, accept, decline,
reply, close, expire offers and run the sweeps over 1,200 conversations in two
open channels (Evenly and To-all-at-once) sharing twenty operators with a
limit of 3 chats, while a monitor thread checks the limit in single-statement
snapshots. Time runs 10x faster than the wall clock so offers really expire
and conversations become unprocessed (M2 sends its text). Afterwards the
invariants are checked: no conversation held by two operators, no operator
ever above the limit, no conversation lost or stuck, no system message sent
twice, and no deadlock or unexpected error in any worker.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.models import Count

from channels_app.engine import conversations, offers, queue, sweeps
from channels_app.engine import operators as presence
from channels_app.engine.availability import held_buckets
from channels_app.engine.errors import ServiceError
from channels_app.models import (
    ChatLimitExclusion,
    Client,
    Conversation,
    ConversationStatus,
    DistributionMode,
    Message,
    Offer,
)
from channels_app.policy.chat_limit import chat_load
from tests.channels_app.engine_support import NOW, make_channel, make_operator

CONVERSATIONS = 1200
OPERATORS = 20
LIMIT = 3
WORKERS = 10
RUN_SECONDS = 20
SPEED = 10  # simulated seconds per wall-clock second

LOAD_SQL = """
    SELECT operator_id, SUM(n) FROM (
        SELECT operator_id, COUNT(*) AS n FROM channels_app_conversation
         WHERE status = 'active' GROUP BY operator_id
        UNION ALL
        SELECT operator_id, COUNT(*) AS n FROM channels_app_offer
         WHERE status = 'pending' GROUP BY operator_id
    ) AS held GROUP BY operator_id
"""


class SimulatedClock:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def now(self):
        return NOW + timedelta(seconds=(time.monotonic() - self.started) * SPEED)


@pytest.fixture
def world(transactional_db, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    team = [make_operator(f"op{index:02d}") for index in range(OPERATORS)]
    common = {
        "check_online": False,
        "chat_limit_enabled": True,
        "chat_limit": LIMIT,
        "chat_limit_exclusion": ChatLimitExclusion.CLOSED,
        "offer_timeout_seconds": 60,
        "unprocessed_after_seconds": 60,
        "no_answer_action": "text",
    }
    evenly = make_channel(team, name="Evenly", distribution_mode=DistributionMode.EVENLY, **common)
    all_at_once = make_channel(
        list(reversed(team)), name="All", distribution_mode=DistributionMode.ALL_AT_ONCE, **common
    )
    for channel in (evenly, all_at_once):
        connector = channel.connectors.get()
        clients = Client.objects.bulk_create(
            [Client(connector=connector, external_id=f"{channel.pk}-{n}") for n in range(CONVERSATIONS // 2)]
        )
        # Arrivals spread over the run, so the unprocessed sweep (Q4, M2) has work all along.
        Conversation.objects.bulk_create(
            [
                Conversation(
                    open_channel=channel,
                    connector=connector,
                    client=client,
                    status=ConversationStatus.QUEUED,
                    created_at=NOW + timedelta(seconds=index / 3),
                    queued_at=NOW + timedelta(seconds=index / 3),
                    last_message_at=NOW,
                    last_message_author="client",
                )
                for index, client in enumerate(clients)
            ]
        )
    return team


def _ids(queryset, limit: int = 50) -> list:
    return list(queryset.order_by("?")[:limit])


class Worker(threading.Thread):
    def __init__(self, seed: int, clock: SimulatedClock, team, stop: threading.Event, errors: list) -> None:
        super().__init__(daemon=True)
        self.random = random.Random(seed)
        self.clock, self.team, self.stop, self.errors = clock, {user.pk: user for user in team}, stop, errors
        self.actions = Counter()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                action = self.random.choices(
                    [self.accept, self.reply, self.close, self.route, self.decline, self.expire, self.sweep, self.ping],
                    weights=[25, 15, 20, 10, 4, 8, 8, 5],
                )[0]
                try:
                    action()
                    self.actions[action.__name__] += 1
                except ServiceError:
                    self.actions["refused"] += 1
                except Exception:
                    self.errors.append(traceback.format_exc())
        finally:
            connection.close()

    def accept(self) -> None:
        pending = _ids(Offer.objects.filter(status=Offer.Status.PENDING).values_list("pk", "operator_id"), 5)
        if pending:
            offer_id, operator_id = self.random.choice(pending)
            offers.offer_accept(offer_id=offer_id, operator=self.team[operator_id], now=self.clock.now())

    def decline(self) -> None:
        pending = _ids(Offer.objects.filter(status=Offer.Status.PENDING).values_list("pk", "operator_id"), 5)
        if pending:
            offer_id, operator_id = self.random.choice(pending)
            offers.offer_decline(offer_id=offer_id, operator=self.team[operator_id], now=self.clock.now())

    def reply(self) -> None:
        held = _ids(Conversation.objects.filter(status="active").values_list("pk", "operator_id"), 5)
        offered = _ids(Offer.objects.filter(status="pending").values_list("conversation_id", "operator_id"), 5)
        choices = held + offered  # replying to an offer accepts it
        if choices:
            conversation_id, operator_id = self.random.choice(choices)
            conversations.message_send_by_operator(
                conversation_id=conversation_id, operator=self.team[operator_id], text="Hello", now=self.clock.now()
            )

    def close(self) -> None:
        held = _ids(Conversation.objects.filter(status="active").values_list("pk", "operator_id"), 5)
        if held:
            conversation_id, operator_id = self.random.choice(held)
            conversations.conversation_close_by_operator(
                conversation_id=conversation_id, operator=self.team[operator_id], now=self.clock.now()
            )

    def route(self) -> None:
        for conversation_id in _ids(Conversation.objects.filter(status="queued").values_list("pk", flat=True), 3):
            queue.conversation_route(conversation_id=conversation_id, now=self.clock.now(), trigger="test")

    def expire(self) -> None:
        sweeps.offers_expire(now=self.clock.now())

    def sweep(self) -> None:
        self.random.choice([sweeps.conversations_retry_unassigned, sweeps.conversations_mark_unprocessed])(
            now=self.clock.now()
        )

    def ping(self) -> None:
        presence.operator_heartbeat(
            operator=self.random.choice(list(self.team.values())), now=self.clock.now(), active=True
        )


class LimitMonitor(threading.Thread):
    """Reads every operator's load in one statement (one snapshot) again and again during the run."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stop = stop
        self.highest = 0
        self.samples = 0

    def run(self) -> None:
        try:
            with connections["default"].cursor() as cursor:
                while not self.stop.is_set():
                    cursor.execute(LOAD_SQL)
                    for _operator_id, load in cursor.fetchall():
                        self.highest = max(self.highest, int(load))
                    self.samples += 1
                    time.sleep(0.01)
        finally:
            connection.close()


@pytest.mark.timeout(240)
def test_Q2_Q8_ten_workers_on_1200_conversations_keep_every_invariant(world):
    team = world
    clock = SimulatedClock()
    stop = threading.Event()
    errors: list[str] = []
    workers = [Worker(seed, clock, team, stop, errors) for seed in range(WORKERS)]
    monitor = LimitMonitor(stop)
    for thread in [monitor, *workers]:
        thread.start()
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline and not errors:
        time.sleep(0.5)
    stop.set()
    for thread in [monitor, *workers]:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in [monitor, *workers])
    assert not errors, errors[0]  # no deadlock, no unexpected exception in any worker
    actions = sum((worker.actions for worker in workers), Counter())
    assert all(actions[name] for name in ("accept", "reply", "close", "route", "expire", "sweep")), actions

    # Let the remaining offers expire and the retry run once more: nothing may stay stuck.
    later = clock.now() + timedelta(minutes=2)
    sweeps.offers_expire(now=later)
    sweeps.conversations_retry_unassigned(now=later)

    assert Conversation.objects.count() == CONVERSATIONS  # nothing lost
    pending = Counter(Offer.objects.filter(status=Offer.Status.PENDING).values_list("conversation_id", flat=True))
    for pk, status, operator_id in Conversation.objects.values_list("pk", "status", "operator_id"):
        if status == ConversationStatus.OFFERED:
            assert pending[pk] >= 1, f"#{pk} offered without a pending offer"
        else:
            assert pending[pk] == 0, f"#{pk} is {status} but still has pending offers"
        assert (operator_id is not None) == (status in ("active", "closed_pending_rating")), (pk, status)
    loads = held_buckets([user.pk for user in team], later)
    if Conversation.objects.filter(status=ConversationStatus.QUEUED).exists():
        # Waiting only because every operator is full, not because routing forgot them.
        assert all(chat_load(loads.get(user.pk, ()), "closed") >= LIMIT for user in team)

    # Never held by two operators: at most one accepted offer per conversation, naming the holder.
    accepted = Counter(Offer.objects.filter(status=Offer.Status.ACCEPTED).values_list("conversation_id", flat=True))
    assert accepted and max(accepted.values()) == 1
    holders = dict(Offer.objects.filter(status=Offer.Status.ACCEPTED).values_list("conversation_id", "operator_id"))
    for pk, operator_id in Conversation.objects.filter(pk__in=list(holders)).values_list("pk", "operator_id"):
        assert holders[pk] == operator_id

    # Never above the limit, in any snapshot taken during the run, nor at the end.
    assert monitor.samples > 10
    assert monitor.highest <= LIMIT
    assert all(chat_load(buckets, "closed") <= LIMIT for buckets in loads.values())

    # No system message twice.
    repeated = (
        Message.objects.filter(author_kind=Message.Author.SYSTEM)
        .values("conversation_id", "text")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not repeated.exists()
    closed = Conversation.objects.filter(status=ConversationStatus.CLOSED_PENDING_RATING).count()
    assert closed and Message.objects.filter(system_key="rating_request").count() == closed
    assert (
        Message.objects.filter(system_key="no_answer").count()
        == Conversation.objects.filter(no_answer_action_at__isnull=False).count()
    )
