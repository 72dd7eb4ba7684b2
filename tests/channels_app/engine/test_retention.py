"""Issue 19, point 3: retention per open channel, erased by a beat task in batches, safe to run twice at once."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from channels_app import periodic, tasks
from channels_app.engine import jobs, retention
from channels_app.engine.erasure import ERASED
from channels_app.engine.retention import retention_sweep
from channels_app.models import (
    AuditAction,
    AuditEvent,
    Client,
    Conversation,
    ConversationStatus,
    InboundUpdate,
    Message,
)
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory, OpenChannelFactory

NOW = timezone.now().replace(microsecond=0)


def _closed(channel, *, days_ago: float, client=None, text="my secret") -> Conversation:
    connector = channel.connectors.first() or ConnectorFactory(open_channel=channel)
    closed_at = NOW - timedelta(days=days_ago)
    conversation = ConversationFactory(
        client=client or ClientFactory(connector=connector, name="Wanda Retained"),
        status=ConversationStatus.CLOSED,
        created_at=closed_at - timedelta(minutes=10),
        closed_at=closed_at,
    )
    Message.objects.create(
        conversation=conversation,
        connector=connector,
        author_kind=Message.Author.CLIENT,
        text=text,
        created_at=closed_at - timedelta(minutes=5),
    )
    return conversation


@pytest.mark.django_db
def test_retention_is_off_by_default_and_erases_only_what_closed_longer_ago_than_the_channel_keeps():
    kept_forever = OpenChannelFactory()
    _closed(kept_forever, days_ago=4000)
    channel = OpenChannelFactory(retention_days=30)
    old = _closed(channel, days_ago=31)
    recent = _closed(channel, days_ago=29)
    still_open = ConversationFactory(client=ClientFactory(connector=channel.connectors.first()))

    assert retention_sweep(now=NOW) == 1
    assert Conversation.objects.get(pk=old.pk).erased_at == NOW
    assert list(Message.objects.filter(conversation=old).values_list("text", flat=True)) == [ERASED]
    assert Conversation.objects.filter(erased_at__isnull=True).count() == 3
    assert Message.objects.filter(conversation=recent, text="my secret").exists()
    assert Conversation.objects.get(pk=still_open.pk).erased_at is None
    # The client had no other conversation: their identity goes too.
    assert Client.objects.get(pk=old.client_id).erased_at == NOW
    assert Client.objects.get(pk=old.client_id).name == ERASED
    event = AuditEvent.objects.get(action=AuditAction.RETENTION_SWEPT)
    assert event.actor is None and event.open_channel_id == channel.pk
    assert event.detail["conversations"] == 1 and event.detail["clients"] == 1
    # Run again: nothing left to do, and no second event.
    assert retention_sweep(now=NOW) == 0
    assert AuditEvent.objects.filter(action=AuditAction.RETENTION_SWEPT).count() == 1


@pytest.mark.django_db
def test_a_client_keeps_their_identity_while_a_conversation_of_theirs_is_not_erased():
    channel = OpenChannelFactory(retention_days=10)
    old = _closed(channel, days_ago=11)
    _closed(channel, days_ago=2, client=old.client)
    assert retention_sweep(now=NOW) == 1
    assert Client.objects.get(pk=old.client_id).erased_at is None
    assert Client.objects.get(pk=old.client_id).name == "Wanda Retained"


@pytest.mark.django_db
def test_the_sweep_works_in_batches():
    channel = OpenChannelFactory(retention_days=1)
    for _ in range(5):
        _closed(channel, days_ago=2)
    assert retention_sweep(now=NOW, batch_size=2) == 5
    assert not Conversation.objects.filter(erased_at__isnull=True).exists()
    assert AuditEvent.objects.get(action=AuditAction.RETENTION_SWEPT).detail["conversations"] == 5


@pytest.mark.django_db
def test_the_beat_runs_the_retention_task_hourly():
    (sweep,) = [sweep for sweep in periodic.SWEEPS if sweep.task == jobs.SWEEP_RETENTION]
    assert sweep.every_seconds == 3600
    assert tasks.sweep_retention.name == jobs.SWEEP_RETENTION
    assert tasks.sweep_retention() == 0


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_erase_each_conversation_exactly_once(settings, monkeypatch):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    erase = retention.conversations_content_erase
    erased_ids: list[int] = []

    def slow_erase(conversation_ids, *, now):
        # Each batch holds its claim a little while, so the two sweeps surely run side by side.
        erased_ids.extend(conversation_ids)
        time.sleep(0.02)
        return erase(conversation_ids, now=now)

    monkeypatch.setattr(retention, "conversations_content_erase", slow_erase)
    channels = [OpenChannelFactory(retention_days=7) for _ in range(2)]
    conversations = [_closed(channels[n % 2], days_ago=8 + n / 100) for n in range(60)]
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            counts.append(retention_sweep(now=NOW, batch_size=5))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert all(counts), "both sweeps erased some: they shared the work"
    assert sorted(erased_ids) == sorted(conversation.pk for conversation in conversations)  # each once
    assert sum(counts) == len(conversations)  # each conversation counted by exactly one sweep
    assert not Conversation.objects.filter(erased_at__isnull=True).exists()
    swept = AuditEvent.objects.filter(action=AuditAction.RETENTION_SWEPT)
    assert sum(event.detail["conversations"] for event in swept) == len(conversations)
    assert sum(event.detail["clients"] for event in swept) == len(conversations)
    assert Client.objects.filter(erased_at__isnull=False).count() == len(conversations)
    assert set(Message.objects.values_list("text", flat=True)) == {ERASED}


@pytest.mark.django_db
def test_handled_raw_deliveries_are_deleted_after_the_kept_days_and_pending_ones_stay(settings):
    settings.INBOUND_UPDATES_KEEP_DAYS = 14
    connector = ConnectorFactory(kind="telegram")

    def delivery(update_id: str, *, days_ago: float, state: str) -> InboundUpdate:
        return InboundUpdate.objects.create(
            connector=connector, update_id=update_id, received_at=NOW - timedelta(days=days_ago), state=state,
            payload={"message": {"from": {"first_name": "Wanda"}, "text": "my secret"}},
        )  # fmt: skip

    old = [delivery(f"old-{n}", days_ago=15, state=InboundUpdate.State.PROCESSED) for n in range(5)]
    old_failed = delivery("old-failed", days_ago=30, state=InboundUpdate.State.FAILED)
    old_pending = delivery("old-pending", days_ago=30, state=InboundUpdate.State.PENDING)
    recent = delivery("recent", days_ago=13, state=InboundUpdate.State.PROCESSED)

    assert retention.inbound_updates_prune(now=NOW, batch_size=2) == 6
    assert set(InboundUpdate.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}
    assert not InboundUpdate.objects.filter(pk__in=[row.pk for row in [*old, old_failed]]).exists()
    assert retention.inbound_updates_prune(now=NOW) == 0
    (sweep,) = [sweep for sweep in periodic.SWEEPS if sweep.task == jobs.PRUNE_INBOUND_UPDATES]
    assert sweep.every_seconds == 3600 and tasks.prune_inbound_updates.name == jobs.PRUNE_INBOUND_UPDATES


@pytest.mark.django_db
def test_clients_erased_together_have_their_raw_deliveries_blanked_and_nobody_elses():
    channel = OpenChannelFactory(retention_days=30)
    connector = ConnectorFactory(open_channel=channel, kind="telegram")
    first = ClientFactory(connector=connector, external_id="12", name="Wanda One")
    second = ClientFactory(connector=connector, external_id="4567", name="Wanda Two")
    for client in (first, second):
        _closed(channel, days_ago=40, client=client)

    def delivery(update_id: str, sender: int) -> InboundUpdate:
        return InboundUpdate.objects.create(
            connector=connector, update_id=update_id, received_at=NOW, state=InboundUpdate.State.PROCESSED,
            payload={"message": {"from": {"id": sender, "first_name": "Wanda"}, "text": "my secret"}},
        )  # fmt: skip

    theirs = [delivery("u1", 12), delivery("u2", 4567)]
    someone_else = delivery("u3", 123)  # an id that merely starts like the first client's

    assert retention_sweep(now=NOW) == 2
    assert [InboundUpdate.objects.get(pk=row.pk).payload for row in theirs] == [{}, {}]
    assert InboundUpdate.objects.get(pk=someone_else.pk).payload["message"]["text"] == "my secret"
    assert sorted(Client.objects.filter(pk__in=[first.pk, second.pk]).values_list("external_id", flat=True)) == [
        f"erased:{first.pk}",
        f"erased:{second.pk}",
    ]
