"""Taking a waiting conversation from the queue (issue 15, point 7): routing's rules, race-free; declining (Q3)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from channels_app.engine import offers
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound
from channels_app.models import (
    ConversationStatus,
    DistributionMode,
    LeavePeriod,
    Offer,
    QueueMember,
    RoutingDecision,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator, set_profile
from tests.factories import ConnectorFactory, OpenChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    return [make_operator(name) for name in ("olga", "piotr", "quynh")]


def _queued(engine, channel, operators):
    """A conversation left waiting: its operators are offline, so routing offers it to nobody (Q9)."""
    for operator in operators:
        set_profile(operator, console_heartbeat_at=None)
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    return conversation


def test_an_operator_of_the_channel_takes_a_waiting_conversation(engine, team):
    olga, piotr, _ = team
    channel = make_channel([olga, piotr])
    conversation = _queued(engine, channel, [olga, piotr])

    taken = engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=piotr)

    assert taken.status == ConversationStatus.ACTIVE
    assert taken.operator == piotr and taken.first_operator == piotr
    change = conversation.status_changes.get(to_status="active")
    assert (change.actor, change.reason) == (piotr, "taken from the queue")
    decision = conversation.routing_decisions.first()
    assert (decision.trigger, decision.outcome) == ("taken_by_operator", "taken_from_queue")
    assert decision.chosen == [piotr.pk]
    assert QueueMember.objects.get(open_channel=channel, operator=piotr).last_assigned_at == NOW  # Evenly's order
    assert engine.events(f"operator.{piotr.pk}", "conversation.assigned")
    # Taking again what one holds changes nothing; a colleague is told it is gone (409).
    assert engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=piotr).operator == piotr
    with pytest.raises(InvalidState, match="already taken") as refused:
        engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)
    assert refused.value.status_code == 409
    assert RoutingDecision.objects.filter(conversation=conversation, outcome="taken_from_queue").count() == 1


def test_an_operator_at_the_chat_limit_is_refused_with_the_reason(engine, team):
    olga, _, _ = team
    channel = make_channel([olga], chat_limit_enabled=True, chat_limit=1)
    first = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=first.offers.get().pk, operator=olga)
    waiting = engine.receive(channel)
    assert waiting.status == ConversationStatus.QUEUED  # nobody eligible: Olga is at her limit

    with pytest.raises(InvalidState, match="reached the limit of 1 chat"):
        engine.commit(offers.conversation_take, conversation_id=waiting.pk, operator=olga)
    waiting.refresh_from_db()
    assert waiting.status == ConversationStatus.QUEUED and waiting.operator is None


def test_an_operator_on_leave_is_refused(engine, team):
    olga, piotr, _ = team
    channel = make_channel([olga, piotr])
    conversation = _queued(engine, channel, [olga, piotr])
    LeavePeriod.objects.create(operator=olga, starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(days=1))
    with pytest.raises(InvalidState, match="on leave"):
        engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)


def test_an_operator_outside_the_channels_queue_is_refused(engine, team):
    olga, piotr, quynh = team
    channel = make_channel([olga, piotr])
    conversation = _queued(engine, channel, [olga, piotr])
    with pytest.raises(NotAllowed, match="not in the queue"):
        engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=quynh)
    with pytest.raises(NotFound):
        engine.commit(offers.conversation_take, conversation_id=987654, operator=olga)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.QUEUED


def test_taking_a_conversation_offered_to_a_colleague_withdraws_the_offer(engine, team):
    olga, piotr, _ = team
    channel = make_channel([olga, piotr], distribution_mode=DistributionMode.STRICTLY_IN_ORDER)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()
    assert offer.operator == olga

    engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=piotr)

    offer.refresh_from_db()
    conversation.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN
    assert conversation.operator == piotr
    assert [event["reason"] for event in engine.events(f"operator.{olga.pk}", "offer.withdrawn")] == [
        "taken by another operator"
    ]
    with pytest.raises(InvalidState):
        engine.commit(offers.offer_accept, offer_id=offer.pk, operator=olga)


def test_taking_a_conversation_offered_to_me_accepts_my_offer_even_at_my_limit(engine, team):
    olga, _, _ = team
    channel = make_channel([olga], chat_limit_enabled=True, chat_limit=1)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()  # counts toward her limit of 1 already
    engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.ACCEPTED


def test_a_conversation_with_the_chatbot_or_closed_cannot_be_taken(engine, team):
    olga, _, _ = team
    channel = make_channel([olga])
    conversation = _queued(engine, channel, [olga])
    conversation.status = ConversationStatus.CLOSED
    conversation.save(update_fields=["status"])
    with pytest.raises(InvalidState, match="no longer waiting"):
        engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)


@pytest.mark.parametrize("mode", [DistributionMode.STRICTLY_IN_ORDER, DistributionMode.EVENLY])
def test_Q3_declining_offers_the_next_operator_at_once(engine, team, mode):
    olga, piotr, quynh = team
    channel = make_channel(team, distribution_mode=mode)
    conversation = engine.receive(channel)
    first = conversation.offers.get()
    assert first.operator == olga

    engine.commit(offers.offer_decline, offer_id=first.pk, operator=olga)

    second = conversation.offers.get(status=Offer.Status.PENDING)
    assert second.operator == piotr
    assert second.created_at == NOW  # at once, not at the offer's deadline
    assert engine.events(f"operator.{piotr.pk}", "offer.created")
    engine.commit(offers.offer_decline, offer_id=second.pk, operator=piotr)
    assert conversation.offers.get(status=Offer.Status.PENDING).operator == quynh


# --- two operators at once: real threads, each with its own connection and transaction -----------------------


@pytest.mark.django_db(transaction=True)
def test_two_operators_taking_the_same_conversation_at_once_exactly_one_wins(settings, clock):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    olga, piotr = make_operator("olga", console_heartbeat_at=None), make_operator("piotr", console_heartbeat_at=None)
    channel = OpenChannelFactory()
    for position, operator in enumerate([olga, piotr]):
        channel.queue_members.create(operator=operator, position=position)
    ConnectorFactory(open_channel=channel)
    from channels_app.engine import inbound

    results = [
        inbound.message_receive(
            connector=channel.connectors.get(), external_user_id=f"v{n}", text="Hi", source_message_id=None, now=NOW
        ).conversation
        for n in range(5)
    ]
    assert {conversation.status for conversation in results} == {ConversationStatus.QUEUED}

    for conversation in results:
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def take(operator, conversation=conversation, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                offers.conversation_take(conversation_id=conversation.pk, operator=operator, now=NOW)
                outcomes[operator.username] = "took"
            except InvalidState as refused:
                outcomes[operator.username] = f"{refused.status_code}"
            finally:
                connection.close()

        threads = [threading.Thread(target=take, args=(operator,)) for operator in (olga, piotr)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes.values()) == ["409", "took"]
        conversation.refresh_from_db()
        winner = next(name for name, outcome in outcomes.items() if outcome == "took")
        assert conversation.operator.username == winner
        assert conversation.status_changes.filter(to_status="active").count() == 1


def test_an_operator_on_a_break_or_not_clocked_in_is_refused_where_routing_would_skip_them(engine, team):
    olga, piotr, _ = team
    channel = make_channel([olga, piotr], require_clocked_in=True)
    conversation = _queued(engine, channel, [olga, piotr])
    set_profile(olga, on_break=True)
    set_profile(piotr, clocked_in=False)
    with pytest.raises(InvalidState, match="on a break"):
        engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)
    with pytest.raises(InvalidState, match="not clocked in"):
        engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=piotr)


def test_a_conversation_waiting_for_the_opening_hours_may_be_taken(engine, team):
    olga, _, _ = team
    channel = make_channel([olga], working_hours_enabled=True)  # no working period: it never opens
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)
    conversation.refresh_from_db()
    assert conversation.operator == olga
