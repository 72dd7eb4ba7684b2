"""Close (M3, R1, R2), client rating, and manual transfer (Q13, C5)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.engine import conversations, offers
from channels_app.engine.errors import InvalidState, NeedsConfirmation, NotAllowed, NotFound, ServiceError
from channels_app.models import ClientRating, ConversationStatus, LeavePeriod, Offer
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator, set_profile, system_keys
from tests.factories import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    return [make_operator(name) for name in ("olga", "piotr")]


def taken(engine, channel, operator, **kwargs):
    conversation = engine.receive(channel, **kwargs)
    offer = conversation.offers.get(operator=operator)
    return engine.commit(offers.offer_accept, offer_id=offer.pk, operator=operator)


def test_M3_R1_close_sends_the_closing_text_then_asks_for_a_rating(engine, team):
    olga = team[0]
    channel = make_channel(team, rating_timeout_minutes=30)
    conversation = taken(engine, channel, olga)
    closed = engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    assert closed.status == ConversationStatus.CLOSED_PENDING_RATING
    assert closed.rating_deadline == NOW + timedelta(minutes=30)
    assert system_keys(closed) == ["welcome", "close", "rating_request"]
    again = engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    assert again.status == ConversationStatus.CLOSED_PENDING_RATING
    assert system_keys(closed) == ["welcome", "close", "rating_request"]
    assert engine.events(f"operator.{olga.pk}", "conversation.closed")


def test_M3_closing_text_held_back_until_the_client_rates_and_R2_closes_at_once(engine, team):
    olga = team[0]
    channel = make_channel(team, close_message_after_rating=True, close_on_rating=True)
    conversation = taken(engine, channel, olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    assert system_keys(conversation) == ["welcome", "rating_request"]
    rated = engine.commit(conversations.conversation_rate_by_client, conversation_id=conversation.pk, value="dislike")
    assert rated.status == ConversationStatus.CLOSED
    assert rated.closed_by == "rating"
    assert rated.client_rating.value == ClientRating.Value.DISLIKE
    assert rated.client_rating.operator == olga
    assert system_keys(conversation) == ["welcome", "rating_request", "rating_thanks", "close"]


def test_R2_off_keeps_waiting_for_the_rating_deadline(engine, team):
    olga = team[0]
    channel = make_channel(team, close_on_rating=False)
    conversation = taken(engine, channel, olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    rated = engine.commit(conversations.conversation_rate_by_client, conversation_id=conversation.pk, value="like")
    assert rated.status == ConversationStatus.CLOSED_PENDING_RATING


def test_R1_rating_without_rating_step_or_with_a_bad_value_is_refused(engine, team):
    olga = team[0]
    channel = make_channel(team, rating_enabled=False)
    conversation = taken(engine, channel, olga)
    with pytest.raises(ServiceError, match="like"):
        engine.commit(conversations.conversation_rate_by_client, conversation_id=conversation.pk, value="meh")
    closed = engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    assert closed.status == ConversationStatus.CLOSED
    with pytest.raises(InvalidState):
        engine.commit(conversations.conversation_rate_by_client, conversation_id=conversation.pk, value="like")
    assert not ClientRating.objects.exists()


def test_only_the_holder_closes(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team), olga)
    with pytest.raises(NotAllowed):
        engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=piotr)


def test_Q13_C5_transfer_to_an_operator_who_becomes_responsible(engine, team):
    olga, piotr = team
    contact = ContactFactory(phone="+48 600 100 200", responsible=olga)
    channel = make_channel(team, responsible_follows_transfer=True)
    conversation = taken(engine, channel, olga, client_phone="+48 600 100 200")
    moved = engine.commit(
        conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
    )
    assert moved.operator == piotr
    assert moved.status == ConversationStatus.ACTIVE
    contact.refresh_from_db()
    assert contact.responsible == piotr
    assert moved.status_changes.last().reason == "transferred by olga"
    assert engine.events(f"operator.{piotr.pk}", "conversation.assigned")
    assert engine.events(f"operator.{olga.pk}", "conversation.assigned")  # tells the previous holder too


def test_C5_off_the_first_operator_stays_responsible(engine, team):
    olga, piotr = team
    contact = ContactFactory(phone="+48 600 100 200")
    channel = make_channel(team, responsible_follows_transfer=False)
    conversation = taken(engine, channel, olga, client_phone="+48 600 100 200")
    engine.commit(
        conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
    )
    contact.refresh_from_db()
    assert contact.responsible == olga


def test_Q13_transfer_refused_to_an_operator_on_leave_or_at_the_limit(engine, team):
    olga, piotr = team
    channel = make_channel(team, chat_limit_enabled=True, chat_limit=1)
    conversation = taken(engine, channel, olga)
    LeavePeriod.objects.create(operator=piotr, starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(hours=1))
    with pytest.raises(InvalidState, match=r"^Piotr is on leave until Nov\. 23, 2026, 11:00 \(UTC\)\.$"):
        engine.commit(
            conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
        )
    LeavePeriod.objects.all().delete()
    other = taken(engine, channel, piotr)
    assert other.operator == piotr
    with pytest.raises(InvalidState, match=r"^Piotr has reached the limit of 1 chat\.$"):
        engine.commit(
            conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
        )
    conversation.refresh_from_db()
    assert conversation.operator == olga


def test_Q13_transfer_to_an_offline_operator_is_refused_with_the_reason(engine, team):
    """Routing would not offer Piotr anything while he is offline (Q5, Q6): neither may a transfer hand him a client."""
    olga, piotr = team
    conversation = taken(engine, make_channel(team), olga)
    set_profile(piotr, is_online=False, console_heartbeat_at=None)
    with pytest.raises(InvalidState, match=r"^Piotr is offline\.$") as refused:
        engine.commit(
            conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
        )
    assert not isinstance(refused.value, NeedsConfirmation)  # the channel does not allow it even after a warning
    conversation.refresh_from_db()
    assert (conversation.operator, conversation.status) == (olga, ConversationStatus.ACTIVE)
    assert not engine.events(f"operator.{piotr.pk}", "conversation.assigned")


def test_Q13_transfer_refused_to_an_operator_not_clocked_in_or_on_a_break_where_routing_requires_it(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team, require_clocked_in=True), olga)
    set_profile(piotr, on_break=True)
    with pytest.raises(InvalidState, match=r"^Piotr is on a break\.$"):
        engine.commit(
            conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
        )
    set_profile(piotr, on_break=False, clocked_in=False)
    with pytest.raises(InvalidState, match=r"^Piotr is not clocked in\.$"):
        engine.commit(
            conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
        )


def test_Q13_transfer_to_an_unavailable_operator_goes_through_after_a_confirmed_warning(engine, team):
    """With the channel's setting on, the refusal asks for confirmation; the same request confirmed is honoured."""
    olga, piotr = team
    channel = make_channel(team, transfer_to_unavailable_after_warning=True, chat_limit_enabled=True, chat_limit=1)
    conversation = taken(engine, channel, olga)
    taken(engine, channel, piotr)
    set_profile(piotr, is_online=False, console_heartbeat_at=None)
    with pytest.raises(NeedsConfirmation) as warned:
        engine.commit(
            conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
        )
    assert str(warned.value) == "Piotr is offline. Piotr has reached the limit of 1 chat. Transfer anyway?"
    assert warned.value.details() == {"needs_confirmation": True}
    conversation.refresh_from_db()
    assert conversation.operator == olga
    moved = engine.commit(
        conversations.conversation_transfer,
        conversation_id=conversation.pk,
        operator=olga,
        to_operator_id=piotr.pk,
        confirmed=True,
    )
    assert (moved.operator, moved.status) == (piotr, ConversationStatus.ACTIVE)


def test_Q13_a_dismissed_operator_is_refused_even_when_confirmed(engine, team):
    olga, piotr = team
    conversation = taken(engine, make_channel(team, transfer_to_unavailable_after_warning=True), olga)
    type(piotr).objects.filter(pk=piotr.pk).update(is_active=False)
    with pytest.raises(NotAllowed, match="dismissed"):
        engine.commit(
            conversations.conversation_transfer,
            conversation_id=conversation.pk,
            operator=olga,
            to_operator_id=piotr.pk,
            confirmed=True,
        )
    conversation.refresh_from_db()
    assert conversation.operator == olga


def test_Q13_transfer_to_another_open_channel_routes_it_there(engine, team):
    olga, _piotr = team
    sales_agent = make_operator("sergei")
    support = make_channel(team, name="Support")
    sales = make_channel([sales_agent], name="Sales")
    conversation = taken(engine, support, olga)
    moved = engine.commit(
        conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_open_channel_id=sales.pk
    )
    moved.refresh_from_db()
    assert moved.open_channel == sales
    assert moved.status == ConversationStatus.OFFERED
    assert moved.offers.get(status=Offer.Status.PENDING).operator == sales_agent
    assert moved.routing_decisions.first().trigger == "transfer"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({}, ServiceError), ({"to_operator_id": 999999}, NotFound), ({"to_open_channel_id": 999999}, NotFound)],
)
def test_Q13_bad_transfer_requests_change_nothing(engine, team, kwargs, error):
    olga = team[0]
    conversation = taken(engine, make_channel(team), olga)
    with pytest.raises(error):
        engine.commit(conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, **kwargs)
    conversation.refresh_from_db()
    assert (conversation.operator, conversation.status) == (olga, ConversationStatus.ACTIVE)


def test_Q13_a_conversation_is_transferred_only_to_someone_of_its_queue(engine, team):
    """Handing a conversation to an operator of another team would let them read it: refused, nothing changes."""
    olga, _piotr = team
    stranger = make_operator("sergei")
    make_channel([stranger], name="Sales")
    conversation = taken(engine, make_channel(team, name="Support"), olga)
    with pytest.raises(NotAllowed, match="not in the queue"):
        engine.commit(
            conversations.conversation_transfer,
            conversation_id=conversation.pk,
            operator=olga,
            to_operator_id=stranger.pk,
        )
    conversation.refresh_from_db()
    assert (conversation.operator, conversation.status) == (olga, ConversationStatus.ACTIVE)


def test_supervisors_take_over_reassign_and_close_only_in_the_channels_they_supervise(engine, team):
    olga, piotr = team
    support = make_channel(team, name="Support", rating_enabled=False)

    def held():
        conversation = engine.receive(support)
        offer = conversation.offers.get()  # Evenly: to whoever waited longest
        return engine.commit(offers.offer_accept, offer_id=offer.pk, operator=offer.operator)

    first, second, third = held(), held(), held()
    sara = UserFactory(username="sara", is_staff=True)  # staff, but not this channel's supervisor
    for attempt in (
        lambda: engine.commit(
            conversations.conversation_transfer, conversation_id=first.pk, operator=sara, to_operator_id=sara.pk
        ),
        lambda: engine.commit(conversations.conversation_close_by_operator, conversation_id=first.pk, operator=sara),
    ):
        with pytest.raises(NotAllowed):
            attempt()
    holder = first.operator
    first.refresh_from_db()
    assert (first.operator, first.status) == (holder, ConversationStatus.ACTIVE)

    support.supervisors.add(sara)
    taken_over = engine.commit(
        conversations.conversation_transfer, conversation_id=first.pk, operator=sara, to_operator_id=sara.pk
    )
    assert taken_over.operator == sara
    colleague = olga if second.operator == piotr else piotr
    reassigned = engine.commit(
        conversations.conversation_transfer, conversation_id=second.pk, operator=sara, to_operator_id=colleague.pk
    )
    assert reassigned.operator == colleague
    closed = engine.commit(conversations.conversation_close_by_operator, conversation_id=third.pk, operator=sara)
    assert closed.status == ConversationStatus.CLOSED
