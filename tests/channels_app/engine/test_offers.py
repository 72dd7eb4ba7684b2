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


# --- an offered operator who may no longer take the conversation (issue 13, point 10) ------------------------


def test_taking_an_operator_out_of_the_queue_moves_their_offer_on_at_once(
    engine, team, django_capture_on_commit_callbacks
):
    olga, piotr, _ = team
    channel = make_channel(team)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()
    assert offer.operator == olga

    with django_capture_on_commit_callbacks(execute=True):
        QueueMember.objects.get(open_channel=channel, operator=olga).delete()  # as the admin's queue inline does

    offer.refresh_from_db()
    assert offer.status == Offer.Status.WITHDRAWN
    assert conversation.offers.get(status=Offer.Status.PENDING).operator == piotr
    assert conversation.routing_decisions.first().trigger == "operator_left"
    assert [event["reason"] for event in engine.events(f"operator.{olga.pk}", "offer.withdrawn")] == [
        "operator left the queue"
    ]
    with pytest.raises(InvalidState, match="no longer available"):
        engine.commit(offers.offer_accept, offer_id=offer.pk, operator=olga)


def test_giving_a_queue_place_to_someone_else_moves_the_previous_holders_offer_on(
    engine, team, django_capture_on_commit_callbacks
):
    olga, piotr, quynh = team
    channel = make_channel([olga, piotr])
    conversation = engine.receive(channel)
    assert conversation.offers.get().operator == olga

    place = QueueMember.objects.get(open_channel=channel, operator=olga)
    with django_capture_on_commit_callbacks(execute=True):
        place.operator = quynh  # the admin's inline lets one change the operator of a row
        place.save()

    assert conversation.offers.get(operator=olga).status == Offer.Status.WITHDRAWN
    assert conversation.offers.filter(status=Offer.Status.PENDING).count() == 1


def test_leaving_one_queue_keeps_the_offers_of_the_other(engine, team, django_capture_on_commit_callbacks):
    olga, piotr, _ = team
    support = make_channel([olga, piotr])
    sales = make_channel([olga, piotr])
    in_support, in_sales = engine.receive(support), engine.receive(sales)

    with django_capture_on_commit_callbacks(execute=True):
        QueueMember.objects.filter(open_channel=sales, operator=olga).delete()

    assert in_support.offers.get(status=Offer.Status.PENDING).operator == olga
    assert in_sales.offers.get(status=Offer.Status.PENDING).operator == piotr


def test_a_dismissed_operators_offers_move_on_in_every_channel(engine, team, django_capture_on_commit_callbacks):
    olga, piotr, _ = team
    conversations_offered = [engine.receive(make_channel([olga, piotr])) for _ in range(2)]

    with django_capture_on_commit_callbacks(execute=True):
        olga.is_active = False
        olga.save()  # the admin's user form saves every field

    for conversation in conversations_offered:
        assert conversation.offers.get(status=Offer.Status.PENDING).operator == piotr
