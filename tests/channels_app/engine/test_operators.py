"""Presence (Q6), clock in/out and breaks (Q5), the online/offline rules routing reads, and absent operators whose
conversations return to the queue at once (Q10)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.engine import offers
from channels_app.engine import operators as presence
from channels_app.engine.errors import InvalidState
from channels_app.models import ConversationStatus, LeavePeriod, Offer, OperatorProfile, QueueMember
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_Q6_heartbeat_creates_the_profile_and_marks_online(engine):
    user = UserFactory(username="newbie")
    engine.commit(presence.operator_heartbeat, operator=user, active=True)
    profile = OperatorProfile.objects.get(user=user)
    assert profile.is_online
    assert profile.console_heartbeat_at == profile.last_activity_at == NOW
    assert engine.events(f"operator.{user.pk}", "operator.presence")[0]["online"] is True


def test_Q6_a_connected_but_idle_operator_is_offline_for_routing(engine):
    olga = make_operator("olga")
    channel = make_channel([olga], offline_after_minutes=10)
    engine.clock.shift(timedelta(minutes=11))
    engine.commit(presence.operator_heartbeat, operator=olga, active=False)  # the tab is open, nobody at the desk
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    assert conversation.routing_decisions.get().candidates[0]["reasons"] == ["offline"]
    assert not OperatorProfile.objects.get(user=olga).is_online


def test_Q6_disconnect_takes_the_operator_offline_at_once(engine):
    olga = make_operator("olga")
    channel = make_channel([olga])
    engine.commit(presence.operator_disconnect, operator=olga)
    assert not OperatorProfile.objects.get(user=olga).is_online
    assert engine.receive(channel).status == ConversationStatus.QUEUED


def test_Q5_clock_and_break_cycle(engine):
    olga = make_operator("olga", clocked_in=False)
    with pytest.raises(InvalidState, match="Clock in"):
        engine.commit(presence.operator_break_start, operator=olga)
    engine.commit(presence.operator_clock_in, operator=olga)
    first_clock_in = OperatorProfile.objects.get(user=olga).clocked_in_at
    engine.clock.shift(timedelta(hours=1))
    engine.commit(presence.operator_clock_in, operator=olga)  # idempotent: keeps the start of the day
    engine.commit(presence.operator_break_start, operator=olga)
    profile = OperatorProfile.objects.get(user=olga)
    assert (profile.clocked_in_at, profile.on_break, profile.break_started_at) == (
        first_clock_in,
        True,
        NOW + timedelta(hours=1),
    )
    engine.commit(presence.operator_break_end, operator=olga)
    engine.commit(presence.operator_clock_out, operator=olga)
    profile.refresh_from_db()
    assert (profile.clocked_in, profile.on_break) == (False, False)


def test_Q5_not_clocked_in_only_matters_when_the_channel_requires_it(engine):
    olga = make_operator("olga", clocked_in=False)
    relaxed = make_channel([olga], require_clocked_in=False)
    assert engine.receive(relaxed).status == ConversationStatus.OFFERED
    strict = make_channel([olga], require_clocked_in=True)
    conversation = engine.receive(strict)
    assert conversation.status == ConversationStatus.QUEUED
    assert conversation.routing_decisions.get().candidates[0]["reasons"] == ["not clocked in"]


# --- Q10 at once -----------------------------------------------------------------------------------------------


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a change the way the admin makes it: what its signals scheduled after commit runs too."""

    def run(change) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            change()

    return run


def held_by(engine, channel, operator):
    conversation = engine.receive(channel)
    offer = conversation.offers.get(status=Offer.Status.PENDING)
    assert offer.operator == operator
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=operator)
    conversation.refresh_from_db()
    assert conversation.operator == operator
    return conversation


def returned_to(conversation, reason: str) -> list[str]:
    """Who the conversation is offered to now, after it went back to the queue for ``reason``."""
    conversation.refresh_from_db()
    assert conversation.operator is None
    assert conversation.status_changes.filter(to_status=ConversationStatus.QUEUED, reason=reason).exists()
    return list(conversation.offers.filter(status=Offer.Status.PENDING).values_list("operator__username", flat=True))


@pytest.fixture
def pair(db):
    return make_operator("olga"), make_operator("piotr")


def test_Q10_dismissing_an_operator_returns_their_conversations_at_once(engine, committed, pair):
    olga, piotr = pair
    channel = make_channel([olga, piotr])
    held = held_by(engine, channel, olga)
    olga.is_active = False
    committed(olga.save)
    assert returned_to(held, "operator dismissed (Q10)") == ["piotr"]


def test_Q10_deleting_a_user_who_holds_a_conversation_returns_it_to_the_queue(engine, committed, pair):
    """Deleting the user (not only deactivating) used to fail: the active conversation would lose its operator."""
    olga, piotr = pair
    channel = make_channel([olga, piotr])
    held = held_by(engine, channel, olga)
    committed(olga.delete)
    assert returned_to(held, "operator dismissed (Q10)") == ["piotr"]


def test_Q10_leaving_a_queue_returns_that_channels_conversations_at_once(engine, committed, pair):
    olga, piotr = pair
    sales = make_channel([olga, piotr])
    support = make_channel([olga])
    in_sales = held_by(engine, sales, olga)
    in_support = held_by(engine, support, olga)
    committed(QueueMember.objects.get(open_channel=sales, operator=olga).delete)
    assert returned_to(in_sales, "operator left the queue (Q10)") == ["piotr"]
    in_support.refresh_from_db()
    assert in_support.operator == olga  # still in that queue: she keeps it


def test_Q10_deleting_an_operator_profile_returns_their_conversations_at_once(engine, committed, pair):
    olga, piotr = pair
    channel = make_channel([olga, piotr])
    held = held_by(engine, channel, olga)
    committed(OperatorProfile.objects.get(user=olga).delete)
    assert returned_to(held, "operator profile deleted (Q10)") == ["piotr"]


def test_Q10_a_long_enough_leave_starting_now_returns_the_conversations_at_once(engine, committed, pair):
    olga, piotr = pair
    channel = make_channel([olga, piotr], absent_return_after_days=2)
    held = held_by(engine, channel, olga)
    committed(lambda: LeavePeriod.objects.create(operator=olga, starts_at=NOW, ends_at=NOW + timedelta(days=2)))
    assert returned_to(held, "operator on leave (Q10)") == ["piotr"]


def test_Q10_a_short_or_later_leave_keeps_the_conversations(engine, committed, pair):
    olga, piotr = pair
    channel = make_channel([olga, piotr], absent_return_after_days=2)
    held = held_by(engine, channel, olga)
    short = (NOW, NOW + timedelta(days=1))
    later = (NOW + timedelta(days=1), NOW + timedelta(days=9))
    for starts_at, ends_at in (short, later):
        committed(lambda: LeavePeriod.objects.create(operator=olga, starts_at=starts_at, ends_at=ends_at))  # noqa: B023
    held.refresh_from_db()
    assert held.operator == olga
    assert held.status == ConversationStatus.ACTIVE
