"""Q6: the one-UPDATE heartbeat of an operator already online leaves exactly what the locked path leaves."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.engine import operators as presence
from channels_app.models import OperatorProfile
from tests.channels_app.engine_support import make_channel, make_operator, set_profile

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0)
TIMEOUT = timedelta(seconds=90)
HEARTBEAT_AGES = [None, timedelta(seconds=10), TIMEOUT, TIMEOUT + timedelta(microseconds=1), timedelta(minutes=5)]
# The operator's active channels allow 3 and 10 minutes of inactivity (the longest counts); an inactive one 30.
ACTIVITY_AGES = [
    None,
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=10, microseconds=1),
    timedelta(minutes=20),
]
CASES = list(itertools.product([True, False], HEARTBEAT_AGES, ACTIVITY_AGES, [True, False]))


@pytest.fixture
def recorded(monkeypatch, settings):
    settings.CONSOLE_HEARTBEAT_TIMEOUT = TIMEOUT
    calls: list[tuple] = []
    monkeypatch.setattr(
        presence.events, "publish", lambda groups, event: calls.append(("event", tuple(groups), event["online"]))
    )
    monkeypatch.setattr(
        presence,
        "request_redistribution",
        lambda channel_ids, *, now, trigger: calls.append(("route", tuple(sorted(channel_ids)), trigger)),
    )
    return calls


def _heartbeat(operator, *, flagged_online, heartbeat_age, activity_age, active, calls) -> tuple:
    set_profile(
        operator,
        is_online=flagged_online,
        console_heartbeat_at=None if heartbeat_age is None else NOW - heartbeat_age,
        last_activity_at=None if activity_age is None else NOW - activity_age,
    )
    calls.clear()
    presence.operator_heartbeat(operator=operator, now=NOW, active=active)
    profile = OperatorProfile.objects.get(user=operator)
    return profile.is_online, profile.console_heartbeat_at, profile.last_activity_at, list(calls)


def test_Q6_every_state_ends_the_same_with_or_without_the_fast_path(recorded, monkeypatch):
    olga = make_operator("olga")
    make_channel([olga], offline_after_minutes=3)
    make_channel([olga], offline_after_minutes=10)
    make_channel([olga], offline_after_minutes=30, is_active=False)
    fast_path = presence._heartbeat_while_online
    used = 0
    for flagged_online, heartbeat_age, activity_age, active in CASES:
        state = {"flagged_online": flagged_online, "heartbeat_age": heartbeat_age, "activity_age": activity_age}

        def counting(*args, **kwargs):
            nonlocal used
            taken = fast_path(*args, **kwargs)
            used += taken is not None
            return taken

        monkeypatch.setattr(presence, "_heartbeat_while_online", counting)
        with_fast_path = _heartbeat(olga, **state, active=active, calls=recorded)
        monkeypatch.setattr(presence, "_heartbeat_while_online", lambda *args: None)
        locked_only = _heartbeat(olga, **state, active=active, calls=recorded)
        assert with_fast_path == locked_only, (state, active)
    # Flagged online, heartbeat within 90 s, activity within the longest 10 minutes: 2 × 2 × 2 of the cases.
    assert used == 8


def test_Q6_an_online_operator_s_heartbeat_is_one_statement(django_assert_num_queries):
    olga = make_operator("olga")
    make_channel([olga], offline_after_minutes=10)
    set_profile(olga, is_online=True, console_heartbeat_at=NOW - timedelta(seconds=25), last_activity_at=NOW)
    with django_assert_num_queries(1):
        presence.operator_heartbeat(operator=olga, now=NOW, active=False)
    profile = OperatorProfile.objects.get(user=olga)
    assert profile.console_heartbeat_at == NOW and profile.last_activity_at == NOW and profile.is_online


def test_Q6_an_operator_without_channels_uses_the_default_offline_time(recorded):
    loner = make_operator("loner")
    state = {"flagged_online": True, "heartbeat_age": timedelta(seconds=5), "active": False, "calls": recorded}
    assert _heartbeat(loner, **state, activity_age=timedelta(minutes=9))[0] is True
    assert _heartbeat(loner, **state, activity_age=timedelta(minutes=11))[0] is False
    assert recorded == [("event", (f"operator.{loner.pk}",), False)]


def test_Q6_the_fast_path_agrees_when_one_channel_switches_the_inactivity_rule_off(recorded, monkeypatch):
    olga = make_operator("olga")
    make_channel([olga], offline_after_minutes=3)
    make_channel([olga], offline_after_minutes=10, offline_when_inactive=False)
    fast_path = presence._heartbeat_while_online
    for flagged_online, heartbeat_age, activity_age, active in CASES:
        state = {"flagged_online": flagged_online, "heartbeat_age": heartbeat_age, "activity_age": activity_age}
        monkeypatch.setattr(presence, "_heartbeat_while_online", fast_path)
        with_fast_path = _heartbeat(olga, **state, active=active, calls=recorded)
        monkeypatch.setattr(presence, "_heartbeat_while_online", lambda *args: None)
        locked_only = _heartbeat(olga, **state, active=active, calls=recorded)
        assert with_fast_path == locked_only, (state, active)
        # With no inactivity limit anywhere, a fresh heartbeat is online whatever the last activity.
        assert with_fast_path[0] is True, (state, active)


def test_Q6_a_heartbeat_from_a_visible_tab_counts_as_activity(recorded):
    olga = make_operator("olga")
    make_channel([olga], offline_after_minutes=10)
    set_profile(
        olga,
        is_online=True,
        console_heartbeat_at=NOW - timedelta(seconds=25),
        last_activity_at=NOW - timedelta(minutes=9),
    )
    presence.operator_heartbeat(operator=olga, now=NOW, active=False, tab_visible=True)
    profile = OperatorProfile.objects.get(user=olga)
    assert profile.last_activity_at == NOW and profile.is_online
    presence.operator_heartbeat(operator=olga, now=NOW + timedelta(minutes=11), active=False, tab_visible=True)
    assert OperatorProfile.objects.get(user=olga).is_online


def test_Q6_due_heartbeats_of_many_consoles_are_one_statement_and_skip_who_is_no_longer_online(
    django_assert_num_queries,
):
    """Decision 0031: a web process writes its consoles' due heartbeats together; whoever is no longer online by
    the stored timestamps is left out (their console goes the locked path) and nothing of theirs changes."""
    online = [make_operator(f"online{number}") for number in range(3)]
    stale = make_operator("stale")
    make_channel([*online, stale], offline_after_minutes=10)
    for operator in online:
        set_profile(operator, is_online=True, console_heartbeat_at=NOW - timedelta(seconds=45), last_activity_at=NOW)
    set_profile(stale, is_online=True, console_heartbeat_at=NOW - TIMEOUT - timedelta(seconds=1), last_activity_at=NOW)
    later = NOW + timedelta(seconds=1)
    activity = {operator.pk: None for operator in online} | {stale.pk: later}
    activity[online[0].pk] = later
    with django_assert_num_queries(1):
        stored = presence.operators_heartbeat_while_online(activity=activity, now=later)
    assert sorted(stored) == sorted(operator.pk for operator in online)
    assert stored[online[0].pk].activity_at == later and stored[online[1].pk].activity_at == NOW
    assert stored[online[1].pk].offline_after == stored[online[1].pk].shortest_offline_after == timedelta(minutes=10)
    profiles = {profile.user_id: profile for profile in OperatorProfile.objects.all()}
    assert all(profiles[operator.pk].console_heartbeat_at == later for operator in online)
    assert profiles[stale.pk].console_heartbeat_at == NOW - TIMEOUT - timedelta(seconds=1)
    assert profiles[stale.pk].last_activity_at == NOW
