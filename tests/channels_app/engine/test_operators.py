"""Presence (Q6), clock in/out and breaks (Q5) and the online/offline rules routing reads."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.engine import operators as presence
from channels_app.engine.errors import InvalidState
from channels_app.models import ConversationStatus, OperatorProfile
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
