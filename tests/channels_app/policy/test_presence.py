"""Q6, issue 16 point 5: a visible console tab is activity, and the inactivity rule can be switched off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from channels_app.policy import presence

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=90)
ages = st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=2))
limits = st.none() | st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=24))


def _online(heartbeat_age, activity_age, offline_after) -> bool:
    return presence.is_online(
        heartbeat_at=None if heartbeat_age is None else T0 - heartbeat_age,
        last_activity_at=None if activity_age is None else T0 - activity_age,
        now=T0,
        heartbeat_timeout=TIMEOUT,
        offline_after=offline_after,
    )


def test_Q6_a_visible_tab_counts_as_activity_without_any_input():
    assert presence.counts_as_activity(input_seen=False, tab_visible=True)
    assert presence.counts_as_activity(input_seen=True, tab_visible=False)
    assert not presence.counts_as_activity(input_seen=False, tab_visible=False)


def test_Q6_with_the_inactivity_rule_off_a_connected_console_is_online_however_long_the_operator_idles():
    assert _online(timedelta(seconds=30), timedelta(days=1), None)
    assert _online(timedelta(seconds=30), None, None)  # never touched the tab
    assert not _online(timedelta(minutes=5), timedelta(seconds=1), None)  # the tab closed


@given(heartbeat_age=ages, activity_age=ages, offline_after=limits)
def test_Q6_online_is_a_fresh_heartbeat_and_if_the_rule_is_on_recent_activity(
    heartbeat_age, activity_age, offline_after
):
    connected = heartbeat_age is not None and heartbeat_age <= TIMEOUT
    recently_active = activity_age is not None and offline_after is not None and activity_age <= offline_after
    assert _online(heartbeat_age, activity_age, offline_after) is (
        connected and (offline_after is None or recently_active)
    )


@given(heartbeat_age=ages, activity_age=ages, offline_after=limits)
def test_Q6_switching_the_inactivity_rule_off_never_takes_anyone_offline(heartbeat_age, activity_age, offline_after):
    if _online(heartbeat_age, activity_age, offline_after):
        assert _online(heartbeat_age, activity_age, None)
