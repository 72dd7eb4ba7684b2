"""Issue 20, point 6: the operator's own Available / Away / Offline, independent of clock-in, and the console's
explanation of why no new conversations are offered right now."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from channels_app.engine import availability, offers
from channels_app.engine import operators as presence
from channels_app.engine.conversations import message_send_by_operator
from channels_app.engine.errors import ServiceError
from channels_app.models import ConversationStatus, LeavePeriod, Offer, OperatorProfile
from channels_app.policy import distribution
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def accept(engine, conversation, operator):
    offer = conversation.offers.get(status=Offer.Status.PENDING, operator=operator)
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=operator)
    conversation.refresh_from_db()
    return conversation


def test_an_away_operator_is_offered_nothing_and_keeps_the_chats_they_hold(engine):
    olga, piotr = make_operator("olga"), make_operator("piotr")
    channel = make_channel([olga, piotr], distribution_mode="in_order")
    held = accept(engine, engine.receive(channel), olga)

    engine.commit(presence.operator_availability_set, operator=olga, availability="away")

    conversation = engine.receive(channel)
    pending = conversation.offers.get(status=Offer.Status.PENDING)
    assert pending.operator == piotr  # first in order, but Away
    olga_entry = next(c for c in conversation.routing_decisions.get().candidates if c["operator_id"] == olga.pk)
    assert olga_entry["reasons"] == ["set to away"]
    held.refresh_from_db()
    assert (held.status, held.operator) == (ConversationStatus.ACTIVE, olga)  # her chat stays hers
    # …and she still answers it.
    reply = engine.commit(message_send_by_operator, conversation_id=held.pk, operator=olga, text="Still here")
    assert reply.author_id == olga.pk


def test_away_is_independent_of_clock_in_and_nobody_else_means_the_chat_waits(engine):
    olga = make_operator("olga", clocked_in=False)
    channel = make_channel([olga], require_clocked_in=False)
    engine.commit(presence.operator_availability_set, operator=olga, availability="away")
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    assert conversation.routing_decisions.get().candidates[0]["reasons"] == ["set to away"]

    # Back to Available: the waiting conversation is offered at once (Q9), no clock-in needed here.
    engine.commit(presence.operator_availability_set, operator=olga, availability="available")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.offers.get(status=Offer.Status.PENDING).operator == olga


def test_offline_by_choice_blocks_offers_even_where_presence_is_not_checked(engine):
    olga = make_operator("olga")
    channel = make_channel([olga], check_online=False)
    engine.commit(presence.operator_availability_set, operator=olga, availability="offline")
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    assert conversation.routing_decisions.get().candidates[0]["reasons"] == ["set to offline"]
    assert not availability.anyone_available(channel, NOW)  # the website chat offers its offline form


def test_going_away_withdraws_a_ringing_offer_so_the_chat_moves_on_at_once(engine):
    olga, piotr = make_operator("olga"), make_operator("piotr")
    channel = make_channel([olga, piotr], distribution_mode="in_order")
    conversation = engine.receive(channel)
    first = conversation.offers.get(status=Offer.Status.PENDING)
    assert first.operator == olga

    engine.commit(presence.operator_availability_set, operator=olga, availability="away")

    first.refresh_from_db()
    assert first.status == Offer.Status.WITHDRAWN
    assert conversation.offers.get(status=Offer.Status.PENDING).operator == piotr
    assert engine.events(f"operator.{olga.pk}", "operator.presence")  # her other tabs redraw


def test_an_away_operator_may_still_take_a_waiting_chat_themselves(engine):
    olga = make_operator("olga")
    channel = make_channel([olga])
    engine.commit(presence.operator_availability_set, operator=olga, availability="away")
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    taken = engine.commit(offers.conversation_take, conversation_id=conversation.pk, operator=olga)
    assert (taken.status, taken.operator) == (ConversationStatus.ACTIVE, olga)


def test_away_holds_for_the_responsible_person_too():
    rules = distribution.RoutingRules()
    away = distribution.OperatorSnapshot(operator_id=1, name="Olga", position=None, availability="away")
    decision = distribution.choose_responsible(away, rules)
    assert not decision.chosen
    assert "set to away" in decision.considered[0].reasons


def test_an_unknown_availability_is_refused_and_changes_nothing(engine):
    olga = make_operator("olga")
    with pytest.raises(ServiceError):
        engine.commit(presence.operator_availability_set, operator=olga, availability="sleeping")
    assert OperatorProfile.objects.get(user=olga).availability == "available"


def test_the_transfer_list_sees_away_and_offline_colleagues(engine):
    olga, piotr = make_operator("olga"), make_operator("piotr")
    channel = make_channel([olga, piotr])
    engine.commit(presence.operator_availability_set, operator=piotr, availability="away")
    olga, piotr = fresh(olga), fresh(piotr)
    found = availability.availability_for([olga, piotr], channel, NOW)
    assert (found[olga.pk].presence, found[piotr.pk].presence) == ("online", "away")
    assert found[piotr.pk].explain(channel) == "Piotr is away."
    engine.commit(presence.operator_availability_set, operator=piotr, availability="offline")
    found = availability.availability_for([fresh(piotr)], channel, NOW)
    assert found[piotr.pk].presence == "offline"
    assert found[piotr.pk].explain(channel) == "Piotr is offline."


def fresh(user):
    return get_user_model().objects.select_related("operator_profile").get(pk=user.pk)


# --- the explanation --------------------------------------------------------------------------------------


def reasons_of(user) -> tuple[bool, tuple[str, ...], bool]:
    own = availability.own_availability(user, NOW)
    return own.receiving, own.reasons, own.clock_in_required


def test_an_available_operator_with_nothing_in_the_way_hears_no_reason(engine):
    olga = make_operator("olga")
    make_channel([olga], name="Website support")
    assert reasons_of(olga) == (True, (), False)


def test_the_explanation_names_each_reason_in_plain_words(engine):
    olga = make_operator("olga", clocked_in=False)
    make_channel([olga], name="Website support", require_clocked_in=True)
    make_channel([olga], name="Telegram", chat_limit_enabled=True, chat_limit=1)
    assert reasons_of(olga) == (True, ("Clock in to receive conversations in Website support.",), True)

    engine.commit(presence.operator_clock_in, operator=olga)
    engine.commit(presence.operator_break_start, operator=olga)
    assert reasons_of(olga) == (True, ("You are on a break.",), True)

    engine.commit(presence.operator_availability_set, operator=olga, availability="away")
    receiving, reasons, _ = reasons_of(olga)
    assert not receiving
    assert reasons[0] == "You are Away: you keep your conversations, but no new ones are offered to you."


def test_the_limit_is_explained_with_its_number(engine):
    olga = make_operator("olga")
    channel = make_channel([olga], chat_limit_enabled=True, chat_limit=1)
    accept(engine, engine.receive(channel), olga)  # not answered yet: it counts
    assert reasons_of(olga) == (False, ("You are at your limit of 1 chat.",), False)


def test_leave_and_no_queue_are_explained(engine):
    newcomer = make_operator("newcomer")
    receiving, reasons, _ = reasons_of(newcomer)
    assert not receiving and "no open channel" in reasons[0]

    olga = make_operator("olga")
    make_channel([olga], time_zone="Europe/Warsaw")
    LeavePeriod.objects.create(operator=olga, starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=2))
    receiving, reasons, _ = reasons_of(olga)
    assert not receiving and reasons[0].startswith("You are on leave until ")
    assert "(Europe/Warsaw)" in reasons[0]


def test_a_user_without_a_profile_is_explained_without_error(engine):
    user = UserFactory(username="plain")
    assert reasons_of(user)[0] is False
