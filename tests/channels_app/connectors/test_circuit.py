"""Issue 21: a connector's circuit breaker, bounded retries, one sender at a time, replies in order after an outage.

The provider is the real local fake (``FakeProvider``); "down" means nothing
listens on its address (connections refused), as in an outage.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.connectors import circuit, processing
from channels_app.models import ConnectorKind, Message, Reachability
from channels_app.policy import circuit as policy
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory

pytestmark = pytest.mark.django_db

# In the past: queued tasks (eager here) run with the real clock, which must find the probes due.
T0 = timezone.now().replace(microsecond=0) - timedelta(hours=2)


@pytest.fixture
def bot(open_channel, settings):
    settings.CONNECTOR_BREAKER_FAILURES = 3
    settings.CONNECTOR_BREAKER_PROBE_SECONDS = 30
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="7000021", access_token="7000021:TOKEN"
    )


def conversation_of(bot, chat_id: str):
    return ConversationFactory(client=ClientFactory(connector=bot, external_id=chat_id))


def reply(conversation, text: str, *, at=T0) -> Message:
    return Message.objects.create(
        conversation=conversation,
        connector=conversation.client.connector,
        author_kind=Message.Author.OPERATOR,
        text=text,
        created_at=at,
        delivery=Message.Delivery.QUEUED,
    )


def sent_texts(provider, chat_id: str) -> list[str]:
    return [call.json["text"] for call in provider.calls("/sendMessage") if str(call.json["chat_id"]) == chat_id]


# --- the rules (pure) --------------------------------------------------------------------------------------------


def test_the_breaker_opens_at_the_threshold_and_a_failed_probe_reopens_it():
    interval = timedelta(seconds=30)
    after = policy.after_failure(state=policy.REACHABLE, failures=1, threshold=3, probe_interval=interval, now=T0)
    assert after == policy.Breaker(policy.REACHABLE, 2, None)
    after = policy.after_failure(state=policy.REACHABLE, failures=2, threshold=3, probe_interval=interval, now=T0)
    assert after == policy.Breaker(policy.UNREACHABLE, 3, T0 + interval)
    reopened = policy.after_failure(state=policy.PROBING, failures=3, threshold=3, probe_interval=interval, now=T0)
    assert reopened == policy.Breaker(policy.UNREACHABLE, 4, T0 + interval)
    assert policy.after_success() == policy.Breaker(policy.REACHABLE, 0, None)


def test_a_sender_holds_until_the_probe_is_due():
    due = T0 + timedelta(seconds=30)
    assert policy.sender_may(state=policy.REACHABLE, next_probe_at=None, now=T0) == policy.SEND
    assert policy.sender_may(state=policy.UNREACHABLE, next_probe_at=due, now=T0) == policy.HOLD
    assert policy.sender_may(state=policy.UNREACHABLE, next_probe_at=due, now=due) == policy.PROBE
    # A probe whose sender died is claimable again once its time is up.
    assert policy.sender_may(state=policy.PROBING, next_probe_at=due, now=due) == policy.PROBE


def test_the_deadline_never_passes_the_messaging_window():
    window_closes = T0 + timedelta(hours=3)
    day = timedelta(hours=24)
    assert policy.delivery_deadline(first_attempt_at=T0, retry_window=day, messaging_window_closes_at=None) == T0 + day
    closes = policy.delivery_deadline(first_attempt_at=T0, retry_window=day, messaging_window_closes_at=window_closes)
    assert closes == window_closes


# --- the breaker in the sender -----------------------------------------------------------------------------------


def test_transport_failures_of_different_replies_make_the_connector_unreachable_and_replies_then_wait(bot, provider):
    provider.refuse_connections()
    replies = [reply(conversation_of(bot, str(100 + n)), f"answer {n}") for n in range(5)]

    outcomes = [processing.message_deliver(message_id=m.pk, now=T0).state for m in replies]

    # Two failures are retried; the third opens the breaker; the rest wait without calling the provider.
    assert outcomes == ["retry", "retry", "held", "held", "held"]
    bot.refresh_from_db()
    assert bot.reachability == Reachability.UNREACHABLE and bot.unreachable_since == T0
    assert "ConnectError" in bot.transport_error
    assert bot.next_probe_at == T0 + timedelta(seconds=30)
    waiting = Message.objects.filter(pk__in=[m.pk for m in replies]).order_by("pk")
    assert [m.delivery_attempts for m in waiting] == [1, 1, 1, 0, 0]
    assert all(m.delivery == "queued" and m.delivery_delayed for m in waiting)
    assert waiting[4].next_attempt_at == bot.next_probe_at


def test_a_refusal_about_one_message_is_not_an_outage(bot, provider):
    blocked = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    provider.fail("/sendMessage", 403, blocked, times=5)
    for n in range(5):
        message = reply(conversation_of(bot, str(200 + n)), "hello")
        assert processing.message_deliver(message_id=message.pk, now=T0).state == "failed"
    bot.refresh_from_db()
    assert bot.reachability == Reachability.REACHABLE and bot.transport_failures == 0


def test_a_success_resets_the_count_of_failures_in_a_row(bot, provider):
    provider.fail("/sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"}, times=2)
    first, second, third = (reply(conversation_of(bot, str(300 + n)), "hi") for n in range(3))
    assert processing.message_deliver(message_id=first.pk, now=T0).state == "retry"
    assert processing.message_deliver(message_id=second.pk, now=T0).state == "retry"
    assert processing.message_deliver(message_id=third.pk, now=T0).state == "sent"
    bot.refresh_from_db()
    assert (bot.reachability, bot.transport_failures) == (Reachability.REACHABLE, 0)


def test_of_many_senders_exactly_one_probes(bot):
    bot.reachability = Reachability.UNREACHABLE
    bot.next_probe_at = T0
    bot.save()
    first = circuit.send_permission(bot, now=T0)
    second = circuit.send_permission(type(bot).objects.get(pk=bot.pk), now=T0)
    assert (first, second) == (policy.PROBE, policy.HOLD)
    bot.refresh_from_db()
    assert bot.reachability == Reachability.PROBING and bot.next_probe_at == T0 + timedelta(seconds=30)


def test_after_the_outage_every_waiting_reply_goes_out_once_in_its_conversations_order(
    bot, provider, eager_celery, django_capture_on_commit_callbacks, settings
):
    settings.CONNECTOR_BREAKER_FAILURES = 2
    anna, ben = conversation_of(bot, "401"), conversation_of(bot, "402")
    provider.refuse_connections()
    written = [reply(anna, "anna 1"), reply(ben, "ben 1"), reply(anna, "anna 2"), reply(anna, "anna 3")]
    written.append(reply(ben, "ben 2"))
    for message in written:
        processing.message_deliver(message_id=message.pk, now=T0)
    bot.refresh_from_db()
    assert bot.is_unreachable

    # Not due yet: the beat's probe queues nothing.
    assert processing.connectors_probe(now=T0 + timedelta(seconds=10)) == 0
    provider.accept_connections()
    with django_capture_on_commit_callbacks(execute=True):
        # Due: the oldest waiting reply is the test; it goes, the breaker closes, the drain sends the rest.
        processing.connectors_probe(now=T0 + timedelta(seconds=31))

    bot.refresh_from_db()
    assert bot.reachability == Reachability.REACHABLE and bot.unreachable_since is None
    assert set(Message.objects.filter(pk__in=[m.pk for m in written]).values_list("delivery", flat=True)) == {"sent"}
    assert sent_texts(provider, "401") == ["anna 1", "anna 2", "anna 3"]
    assert sent_texts(provider, "402") == ["ben 1", "ben 2"]


def test_a_newer_reply_waits_behind_a_delayed_one_of_its_conversation(bot, provider):
    anna = conversation_of(bot, "501")
    provider.fail("/sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    older, newer = reply(anna, "first"), reply(anna, "second")
    assert processing.message_deliver(message_id=older.pk, now=T0).state == "retry"
    # The older one is delayed: the newer does not overtake it, and says so.
    assert processing.message_deliver(message_id=newer.pk, now=T0).state == "held"
    newer.refresh_from_db()
    assert newer.delivery_delayed and newer.delivery_error == "Waits for the reply before it to go out."
    assert processing.message_deliver(message_id=older.pk, now=T0 + timedelta(seconds=10)).state == "sent"
    assert processing.message_deliver(message_id=newer.pk, now=T0 + timedelta(seconds=10)).state == "sent"
    assert sent_texts(provider, "501") == ["first", "first", "second"]  # the refused try, then both in order


def test_an_attempt_under_way_is_never_doubled_and_a_dead_workers_lease_runs_out(bot, provider):
    message = reply(conversation_of(bot, "601"), "once")
    Message.objects.filter(pk=message.pk).update(sending_until=T0 + timedelta(seconds=60), delivery_attempts=1)
    assert processing.message_deliver(message_id=message.pk, now=T0).state == "skipped"
    assert provider.calls("/sendMessage") == []
    assert processing.message_deliver(message_id=message.pk, now=T0 + timedelta(seconds=61)).state == "sent"
    assert len(provider.calls("/sendMessage")) == 1


def test_a_reply_waiting_past_its_deadline_fails_with_the_reason(bot, provider, settings):
    settings.CONNECTOR_SEND_RETRY_HOURS = 1
    provider.refuse_connections()
    messages = [reply(conversation_of(bot, str(700 + n)), "late") for n in range(4)]
    for message in messages:
        processing.message_deliver(message_id=message.pk, now=T0)
    waiting = messages[3]
    assert Message.objects.get(pk=waiting.pk).delivery_delayed

    later = T0 + timedelta(hours=1, seconds=1)
    assert processing.message_deliver(message_id=waiting.pk, now=later).state == "failed"
    waiting.refresh_from_db()
    assert waiting.delivery == "failed"
    assert "did not take it before" in waiting.delivery_error


def test_the_sweep_leaves_an_unreachable_connectors_replies_to_the_probe(bot, provider):
    provider.refuse_connections()
    held = [reply(conversation_of(bot, str(800 + n)), "wait") for n in range(4)]
    for message in held:
        processing.message_deliver(message_id=message.pk, now=T0)
    lost = reply(conversation_of(bot, "899"), "lost task", at=T0 - timedelta(hours=1))
    assert processing.connectors_sweep(now=T0 + timedelta(hours=1)).messages == []

    type(bot).objects.filter(pk=bot.pk).update(reachability=Reachability.REACHABLE, transport_failures=0)
    swept = processing.connectors_sweep(now=T0 + timedelta(hours=1)).messages
    assert lost.pk in swept and set(m.pk for m in held) <= set(swept)
