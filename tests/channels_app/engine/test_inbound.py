"""Inbound client messages: M1 welcome, H2 out-of-hours, B1 chatbot, Q7 always-monitor, dedup, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from channels_app.engine import conversations, inbound, offers, signals, sweeps
from channels_app.engine.errors import NotAllowed, ServiceError
from channels_app.models import (
    Chatbot,
    ClientRating,
    Conversation,
    ConversationStatus,
    Message,
    Offer,
    WorkingPeriod,
)
from channels_app.policy import ratings
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator, set_profile, system_keys
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(db):
    return make_operator("olga")


@pytest.fixture
def support(olga):
    return make_channel([olga], name="Support")


def test_M1_first_message_gets_the_welcome_once(engine, support):
    conversation = engine.receive(support, "anna", "Hello")
    engine.receive(support, "anna", "Anyone there?")
    assert system_keys(conversation) == ["welcome"]
    assert conversation.messages.filter(author_kind=Message.Author.CLIENT).count() == 2
    assert Conversation.objects.filter(client__external_id="anna").count() == 1


def test_M1_welcome_off_sends_nothing(engine, olga):
    channel = make_channel([olga], welcome_enabled=False)
    conversation = engine.receive(channel)
    assert system_keys(conversation) == []


def test_new_conversation_is_offered_and_signals_fire_after_commit(engine, support, olga):
    created, messages = [], []

    def on_conversation(sender, conversation_id, **kwargs):
        created.append(conversation_id)

    def on_message(sender, message_id, conversation_id, author_kind, **kwargs):
        messages.append(author_kind)

    signals.conversation_created.connect(on_conversation)
    signals.message_created.connect(on_message)
    try:
        conversation = engine.receive(support, "anna")
    finally:
        signals.conversation_created.disconnect(on_conversation)
        signals.message_created.disconnect(on_message)
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.offers.get().operator == olga
    assert created == [conversation.pk]
    assert messages == ["client", "system"]


def test_replayed_source_message_id_returns_the_stored_message(engine, support):
    connector = support.connectors.get()
    first = engine.commit(
        inbound.message_receive, connector=connector, external_user_id="anna", text="Hi", source_message_id="tg-1"
    )
    again = engine.commit(
        inbound.message_receive, connector=connector, external_user_id="anna", text="Hi", source_message_id="tg-1"
    )
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.filter(author_kind=Message.Author.CLIENT).count() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "   "}, "The message is empty."),
        ({"external_user_id": ""}, "The sender has no user id."),
        ({"files": "not a list"}, "Files must be a list of IncomingFile."),
        ({"text": "x" * 20_001}, "longer than"),
    ],
)
def test_bad_inbound_input_is_refused_and_changes_nothing(engine, support, kwargs, message):
    arguments = {"connector": support.connectors.get(), "external_user_id": "anna", "text": "Hi"}
    arguments.update(kwargs)
    with pytest.raises(ServiceError, match=message):
        engine.commit(inbound.message_receive, source_message_id=None, **arguments)
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def test_switched_off_connector_is_refused(engine, support):
    connector = support.connectors.get()
    connector.is_active = False
    connector.save()
    with pytest.raises(NotAllowed):
        engine.commit(
            inbound.message_receive, connector=connector, external_user_id="a", text="Hi", source_message_id=None
        )
    assert not Conversation.objects.exists()


def test_messenger_replies_are_queued_for_the_connector_live_chat_ones_are_sent(engine, olga):
    telegram = make_channel([olga], connector_kind="telegram")
    conversation = engine.receive(telegram)
    assert conversation.messages.get(system_key="welcome").delivery == Message.Delivery.QUEUED
    assert conversation.messages.get(author_kind="client").delivery == Message.Delivery.RECEIVED


# --- H2 --------------------------------------------------------------------------------------------------


def _hours(channel, weekday: int, start: time, end: time) -> None:
    WorkingPeriod.objects.create(open_channel=channel, weekday=weekday, start=start, end=end)


def test_H2_out_of_hours_reply_once_then_routed_when_hours_begin(engine, olga):
    channel = make_channel([olga], working_hours_enabled=True, time_zone="UTC")
    _hours(channel, 0, time(12, 0), time(18, 0))  # NOW is Monday 10:00 UTC
    conversation = engine.receive(channel, "anna")
    engine.receive(channel, "anna", "Still closed?")
    conversation.refresh_from_db()
    opening = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert conversation.status == ConversationStatus.QUEUED
    assert conversation.route_not_before == opening
    assert system_keys(conversation) == [f"out_of_hours:{opening.isoformat()}"]  # and no welcome
    assert conversation.routing_decisions.get().outcome == "out_of_hours"
    assert engine.openings == [(channel.pk, opening)]

    engine.clock.shift(timedelta(hours=1, minutes=59))
    assert engine.commit(sweeps.conversations_retry_unassigned) == 0
    now = engine.clock.shift(timedelta(minutes=1))
    set_profile(olga, console_heartbeat_at=now, last_activity_at=now)  # her console kept pinging
    assert engine.commit(sweeps.conversations_retry_unassigned) == 1
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED


def test_H2_opening_across_the_spring_dst_change_in_warsaw(engine, olga, clock):
    channel = make_channel([olga], working_hours_enabled=True, time_zone="Europe/Warsaw")
    for weekday in range(5):
        _hours(channel, weekday, time(9, 0), time(17, 0))
    # Saturday 28 March 2026, 20:00 in Warsaw (CET, UTC+1); clocks go forward on Sunday 29 March.
    clock.shift(datetime(2026, 3, 28, 19, 0, tzinfo=UTC) - NOW)
    conversation = engine.receive(channel, "anna")
    conversation.refresh_from_db()
    # Monday 30 March 09:00 CEST is 07:00 UTC, not 08:00.
    assert conversation.route_not_before == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_H2_reply_off_still_waits_for_opening(engine, olga):
    channel = make_channel([olga], working_hours_enabled=True, out_of_hours_reply_enabled=False)
    _hours(channel, 1, time(9, 0), time(17, 0))
    conversation = engine.receive(channel)
    conversation.refresh_from_db()
    assert system_keys(conversation) == []
    assert conversation.route_not_before == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


# --- B1 --------------------------------------------------------------------------------------------------


def test_B1_conversation_starts_with_the_chatbot_and_is_routed_when_it_hands_over(engine, olga):
    bot = Chatbot.objects.create(name="Helper", handover_text="Connecting you to an operator.")
    channel = make_channel([olga], chatbot_enabled=True, chatbot=bot)
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.BOT
    assert not Offer.objects.exists()
    engine.commit(conversations.message_send_by_bot, conversation_id=conversation.pk, text="How can I help?")

    engine.clock.shift(timedelta(minutes=1))
    engine.commit(conversations.conversation_bot_handover, conversation_id=conversation.pk, reason="asked for a human")
    engine.commit(conversations.conversation_bot_handover, conversation_id=conversation.pk)  # idempotent
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.bot_handed_over_at == engine.clock.now()
    assert list(conversation.messages.filter(author_kind="bot").values_list("text", flat=True)) == [
        "How can I help?",
        "Connecting you to an operator.",
    ]


# --- C1, Q7, R1 ------------------------------------------------------------------------------------------


def test_C1_known_client_is_linked_to_their_contact(engine, olga):
    contact = ContactFactory(phone="+48 123 456 789")
    channel = make_channel([olga])
    conversation = engine.receive(channel, "anna", client_phone="+48 123 456 789")
    assert conversation.client.contact == contact


def test_Q7_always_monitor_sends_the_conversation_back_when_its_operator_is_offline(engine, olga):
    piotr = make_operator("piotr")
    channel = make_channel([olga, piotr], always_monitor_availability=True)
    conversation = engine.receive(channel, "anna")
    offer = conversation.offers.get()
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=offer.operator)
    set_profile(offer.operator, last_activity_at=NOW - timedelta(minutes=11))

    engine.receive(channel, "anna", "Hello?")
    conversation.refresh_from_db()
    other = piotr if offer.operator == olga else olga
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.offers.get(status=Offer.Status.PENDING).operator == other
    assert conversation.status_changes.filter(reason__contains="Q7").exists()


def test_Q7_off_keeps_the_conversation_with_an_offline_operator(engine, olga, support):
    conversation = engine.receive(support, "anna")
    offer = conversation.offers.get()
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=olga)
    set_profile(olga, console_heartbeat_at=None)
    engine.receive(support, "anna", "Hello?")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE
    assert conversation.operator == olga


def test_R1_thumbs_up_from_a_messenger_client_rates_the_closed_conversation(engine, olga):
    channel = make_channel([olga], connector_kind="telegram")
    conversation = engine.receive(channel, "anna")
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get().pk, operator=olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)

    engine.receive(channel, "anna", "👍")
    conversation.refresh_from_db()
    assert conversation.client_rating.value == ClientRating.Value.LIKE
    assert conversation.status == ConversationStatus.CLOSED
    assert Conversation.objects.count() == 1

    engine.receive(channel, "anna", "New question")
    assert Conversation.objects.count() == 2


def closed_by_olga(engine, olga, channel, visitor: str = "anna"):
    """A conversation Olga took and closed: it waits for the client's rating (R1)."""
    conversation = engine.receive(channel, visitor)
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get().pk, operator=olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED_PENDING_RATING
    return conversation


@pytest.mark.parametrize("connector_kind", ["telegram", "livechat"])
@pytest.mark.parametrize("word", ["yes", "no", "1", "0", "+", "-", "like", "dislike"])
def test_R1_an_ordinary_word_while_a_rating_is_awaited_is_a_new_enquiry(engine, olga, connector_kind, word):
    channel = make_channel([olga], connector_kind=connector_kind)
    closed = closed_by_olga(engine, olga, channel)

    enquiry = engine.receive(channel, "anna", word)
    closed.refresh_from_db()
    assert not ClientRating.objects.exists()
    assert closed.status == ConversationStatus.CLOSED_PENDING_RATING  # still rateable until its deadline
    assert enquiry.pk != closed.pk
    assert enquiry.status == ConversationStatus.OFFERED
    assert list(enquiry.messages.filter(author_kind=Message.Author.CLIENT).values_list("text", flat=True)) == [word]


def test_R1_the_channels_typed_rating_answers_rate(engine, olga):
    channel = make_channel([olga], connector_kind="zalo", rating_answers="1, tak / 2, nie")
    closed = closed_by_olga(engine, olga, channel)

    assert engine.receive(channel, "anna", "Nie").pk == closed.pk
    closed.refresh_from_db()
    assert closed.client_rating.value == ClientRating.Value.DISLIKE
    assert closed.status == ConversationStatus.CLOSED
    assert Conversation.objects.count() == 1


def test_R1_a_thumb_in_a_skin_tone_rates_whatever_answers_are_configured(engine, olga):
    channel = make_channel([olga], connector_kind="zalo", rating_answers="1 / 2")
    closed = closed_by_olga(engine, olga, channel)
    engine.receive(channel, "anna", "👍🏽")
    closed.refresh_from_db()
    assert closed.client_rating.value == ClientRating.Value.LIKE


def test_R1_a_pressed_rating_button_rates_whatever_its_label_says(engine, olga):
    channel = make_channel([olga], connector_kind="telegram", language="pl")
    closed = closed_by_olga(engine, olga, channel)
    rated = engine.receive(channel, "anna", "👎 Źle", pressed_rating="dislike")
    assert rated.pk == closed.pk
    assert rated.client_rating.value == ClientRating.Value.DISLIKE


def test_R1_a_pressed_rating_is_like_or_dislike(engine, olga, support):
    with pytest.raises(ServiceError):
        engine.receive(support, "anna", "5 stars", pressed_rating="5")
    assert not Message.objects.exists()


def test_R1_the_policy_speaks_the_ratings_stored_values():
    assert {ratings.LIKE, ratings.DISLIKE} == set(ClientRating.Value.values)
