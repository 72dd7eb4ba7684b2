"""Offers: accept, the first accept wins in To-all-at-once (Q2), decline moves on (Q3), reply implies accept."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.engine import conversations, offers
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound
from channels_app.models import ConversationStatus, DistributionMode, Offer, QueueMember
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    return [make_operator(name) for name in ("olga", "piotr", "quynh")]


def test_Q2_all_at_once_first_accept_wins_and_the_other_offers_are_withdrawn(engine, team):
    olga, piotr, quynh = team
    channel = make_channel(team, distribution_mode=DistributionMode.ALL_AT_ONCE)
    conversation = engine.receive(channel)
    by_operator = {offer.operator_id: offer for offer in conversation.offers.all()}

    engine.commit(offers.offer_accept, offer_id=by_operator[piotr.pk].pk, operator=piotr)
    with pytest.raises(InvalidState, match="Another operator has already taken"):
        engine.commit(offers.offer_accept, offer_id=by_operator[olga.pk].pk, operator=olga)

    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE
    assert conversation.operator == piotr
    assert conversation.first_operator == piotr
    assert dict(conversation.offers.values_list("operator__username", "status")) == {
        "olga": "withdrawn",
        "piotr": "accepted",
        "quynh": "withdrawn",
    }
    withdrawn = engine.events(type="offer.withdrawn")
    assert {event["operator_id"] for event in withdrawn} == {olga.pk, quynh.pk}
    assert {event["reason"] for event in withdrawn} == {"taken by another operator"}
    assert QueueMember.objects.get(operator=piotr).last_assigned_at == NOW
    assert engine.events(f"operator.{piotr.pk}", "conversation.assigned")


def test_accepting_twice_is_harmless_and_others_cannot_take_my_offer(engine, team):
    olga, piotr, _ = team
    channel = make_channel(team)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()
    assert offer.operator == olga
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=olga)
    again = engine.commit(offers.offer_accept, offer_id=offer.pk, operator=olga)
    assert again.operator == olga
    with pytest.raises(NotAllowed):
        engine.commit(offers.offer_accept, offer_id=offer.pk, operator=piotr)
    with pytest.raises(NotFound):
        engine.commit(offers.offer_accept, offer_id=999999, operator=olga)
    assert conversation.status_changes.filter(to_status="active").count() == 1


def test_Q3_an_expired_offer_cannot_be_accepted(engine, team):
    channel = make_channel(team, offer_timeout_seconds=60)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()
    engine.clock.shift(timedelta(seconds=60))
    with pytest.raises(InvalidState, match="expired"):
        engine.commit(offers.offer_accept, offer_id=offer.pk, operator=offer.operator)
    conversation.refresh_from_db()
    assert conversation.operator is None


def test_Q3_declining_moves_the_conversation_to_the_next_operator_at_once(engine, team):
    olga, piotr, _ = team
    channel = make_channel(team)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()
    engine.commit(offers.offer_decline, offer_id=offer.pk, operator=olga)
    engine.commit(offers.offer_decline, offer_id=offer.pk, operator=olga)  # idempotent
    pending = conversation.offers.get(status=Offer.Status.PENDING)
    assert pending.operator == piotr
    decision = conversation.routing_decisions.first()
    assert decision.trigger == "offer_declined"
    assert "already declined/expired for this conversation" in decision.candidates[0]["reasons"]


def test_operator_reply_to_an_offered_conversation_accepts_it(engine, team):
    olga = team[0]
    channel = make_channel(team, distribution_mode=DistributionMode.ALL_AT_ONCE)
    conversation = engine.receive(channel)
    message = engine.commit(
        conversations.message_send_by_operator, conversation_id=conversation.pk, operator=olga, text="Hello, Olga here"
    )
    conversation.refresh_from_db()
    assert conversation.operator == olga
    assert conversation.status == ConversationStatus.ACTIVE
    assert conversation.first_response_at == NOW
    assert message.author == olga
    assert conversation.offers.filter(status=Offer.Status.WITHDRAWN).count() == 2


def test_reply_by_an_operator_without_the_conversation_is_refused(engine, team):
    olga, piotr, _ = team
    channel = make_channel(team)
    conversation = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get().pk, operator=olga)
    with pytest.raises(NotAllowed, match="not assigned to you"):
        engine.commit(
            conversations.message_send_by_operator, conversation_id=conversation.pk, operator=piotr, text="Hi"
        )
    with pytest.raises(NotFound):
        engine.commit(conversations.message_send_by_operator, conversation_id=424242, operator=olga, text="Hi")
    assert conversation.messages.filter(author_kind="operator").count() == 0
