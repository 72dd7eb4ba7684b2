"""Q6, issue 16 point 5: a visible console tab is activity, and the inactivity rule can be switched off."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

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


# Decision 0031: a ping the console skips.
NEXT_PING = timedelta(seconds=30)  # static/console/socket.js: every 25 s, on a 5 s tick
windows = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=24))


@given(
    heartbeat_age=ages,
    activity_age=ages,
    unstored_activity_age=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=2)),
    shortest=st.none() | windows,
    longest=limits,
    later=st.timedeltas(min_value=timedelta(0), max_value=NEXT_PING),
)
def test_Q6_a_skipped_ping_leaves_routing_judging_the_stored_row_as_if_it_had_been_stored(
    heartbeat_age, activity_age, unstored_activity_age, shortest, longest, later
):
    """Until the next ping, every channel's routing sees the stored row online exactly when it would see the row
    this ping would have written online."""
    stored = presence.StoredPresence(
        online=True,
        heartbeat_at=None if heartbeat_age is None else T0 - heartbeat_age,
        activity_at=None if activity_age is None else T0 - activity_age,
        offline_after=longest,
        shortest_offline_after=shortest,
    )
    active_at = None if unstored_activity_age is None else T0 - unstored_activity_age
    if not presence.heartbeat_changes_nothing(stored, now=T0, active_at=active_at, heartbeat_timeout=TIMEOUT):
        return
    assert stored.heartbeat_at is not None
    written_activity = max(filter(None, [stored.activity_at, active_at]), default=None)
    moment = T0 + later
    for window in {shortest, longest, None}:
        if window is not None and shortest is not None and window < shortest:
            continue  # no channel of the operator's has a shorter window
        as_stored = presence.is_online(
            heartbeat_at=stored.heartbeat_at,
            last_activity_at=stored.activity_at,
            now=moment,
            heartbeat_timeout=TIMEOUT,
            offline_after=window,
        )
        as_written = presence.is_online(
            heartbeat_at=T0, last_activity_at=written_activity, now=moment, heartbeat_timeout=TIMEOUT,
            offline_after=window,
        )  # fmt: skip
        assert as_stored == as_written, window


def test_Q6_a_ping_is_stored_once_the_stored_heartbeat_is_half_the_timeout_old_or_the_flag_is_off():
    stored = presence.StoredPresence(True, T0 - timedelta(seconds=44), T0, timedelta(minutes=10), timedelta(minutes=10))
    skip = partial(presence.heartbeat_changes_nothing, now=T0, active_at=None, heartbeat_timeout=TIMEOUT)
    assert skip(stored)
    assert not skip(replace(stored, heartbeat_at=T0 - timedelta(seconds=45)))
    assert not skip(replace(stored, online=False))
    assert not skip(None)  # nothing stored by this socket yet
    # Activity to store: skipped while the stored one is younger than a third of the shortest window.
    with_activity = partial(presence.heartbeat_changes_nothing, now=T0, active_at=T0, heartbeat_timeout=TIMEOUT)
    short = replace(stored, shortest_offline_after=timedelta(minutes=1))
    assert with_activity(replace(short, activity_at=T0 - timedelta(seconds=19)))
    assert not with_activity(replace(short, activity_at=T0 - timedelta(seconds=20)))


def test_decision_0031_a_heartbeat_is_skipped_batched_or_written_through_the_locked_path():
    stored = presence.StoredPresence(True, T0 - timedelta(seconds=44), T0, timedelta(minutes=10), timedelta(minutes=10))
    action = partial(presence.heartbeat_action, now=T0, active_at=None, heartbeat_timeout=TIMEOUT)
    assert action(stored, input_seen=False) == presence.HEARTBEAT_SKIP
    assert action(stored, input_seen=True) == presence.HEARTBEAT_WRITE  # input always takes the locked path
    due = replace(stored, heartbeat_at=T0 - timedelta(seconds=45))
    assert action(due, input_seen=False) == presence.HEARTBEAT_BATCH  # still online: only the timestamps change
    assert action(replace(due, online=False), input_seen=False) == presence.HEARTBEAT_WRITE
    assert action(replace(stored, heartbeat_at=T0 - TIMEOUT * 2), input_seen=False) == presence.HEARTBEAT_WRITE
    assert action(None, input_seen=False) == presence.HEARTBEAT_WRITE  # nothing stored by this socket yet
