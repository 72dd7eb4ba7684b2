"""Reads for the console (O2): what an operator sees, history paging, and who may read a conversation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from channels_app.engine import access, conversations, offers, selectors
from channels_app.models import DistributionMode
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_console_lists_held_conversations_and_pending_offers_with_the_offer_id(engine):
    olga, piotr = make_operator("olga"), make_operator("piotr")
    channel = make_channel([olga, piotr], distribution_mode=DistributionMode.ALL_AT_ONCE)
    held = engine.receive(channel, "anna")
    engine.commit(offers.offer_accept, offer_id=held.offers.get(operator=olga).pk, operator=olga)
    offered = engine.receive(channel, "bob")

    olga_sees = {row.pk: row.pending_offer_id for row in selectors.conversations_for_console(olga)}
    assert olga_sees == {held.pk: None, offered.pk: offered.offers.get(operator=olga).pk}
    piotr_sees = [conversation.pk for conversation in selectors.conversations_for_console(piotr)]
    assert piotr_sees == [offered.pk]
    assert [offer.conversation_id for offer in selectors.pending_offers_for(piotr)] == [offered.pk]
    assert list(selectors.operator_open_channels(olga)) == [channel]
    assert [c.pk for c in selectors.waiting_conversations(channel.pk)] == []


def test_history_pages_after_the_last_message_seen(engine):
    olga = make_operator("olga")
    channel = make_channel([olga])
    conversation = engine.receive(channel, "anna", "First")
    engine.receive(channel, "anna", "Second")
    history = selectors.conversation_messages(conversation.pk).messages
    assert [message.text for message in history] == [
        "First",
        "Thank you for your message. An operator will answer shortly.",
        "Second",
    ]
    newer = selectors.conversation_messages(conversation.pk, after_id=history[1].pk)  # seen up to the welcome
    assert [message.text for message in newer.messages] == ["Second"]
    assert not newer.has_newer


def test_who_may_read_a_conversation(engine):
    olga, piotr, stranger = make_operator("olga"), make_operator("piotr"), make_operator("sven")
    channel = make_channel([olga, piotr])
    elsewhere = make_channel([stranger])
    conversation = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get().pk, operator=olga)
    engine.commit(
        conversations.conversation_transfer, conversation_id=conversation.pk, operator=olga, to_operator_id=piotr.pk
    )
    channel.queue_members.filter(operator=olga).delete()  # olga moved to another team after the transfer
    conversation.refresh_from_db()
    supervisor, other_supervisor = UserFactory(username="sara"), UserFactory(username="otto")
    channel.supervisors.add(supervisor)
    elsewhere.supervisors.add(other_supervisor)
    administrator = UserFactory(username="ada")
    administrator.groups.add(Group.objects.get(name="Administrators"))

    assert access.can_see_conversation(piotr, conversation)
    assert access.can_see_conversation(olga, conversation)  # held it before the transfer (O2)
    assert access.can_see_conversation(supervisor, conversation)
    assert access.can_see_conversation(administrator, conversation)
    assert not access.can_see_conversation(stranger, conversation)
    assert not access.can_see_conversation(other_supervisor, conversation)
    # Staff is no role: it only opens the admin's login page.
    assert not access.can_see_conversation(UserFactory(username="boss", is_staff=True), conversation)
    assert set(access.conversations_seen_by(olga)) == {conversation}
    assert set(access.conversations_seen_by(other_supervisor)) == set()
    assert [decision.outcome for decision in selectors.routing_decisions_for(conversation.pk)] == ["offered"]
