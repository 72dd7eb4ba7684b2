"""Q6: is an operator online? Pure: the caller passes the timestamps and ``now``.

*Decision (issue 16):* an open console tab that is visible on screen counts as
activity by itself, so an operator reading a long conversation stays online;
a hidden tab counts only the input it saw (pointer movement, scroll, keys,
focus). The inactivity rule can be switched off per open channel, and then a
connected console is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


def counts_as_activity(*, input_seen: bool, tab_visible: bool) -> bool:
    """Q6: a console heartbeat shows activity when the operator used the tab or the tab is on screen."""
    return input_seen or tab_visible


def is_online(
    *,
    heartbeat_at: datetime | None,
    last_activity_at: datetime | None,
    now: datetime,
    heartbeat_timeout: timedelta,
    offline_after: timedelta | None,
) -> bool:
    """Q6: a console is connected (recent heartbeat) and, unless the inactivity rule is off
    (``offline_after`` is None), the operator was active recently."""
    if heartbeat_at is None or now - heartbeat_at > heartbeat_timeout:
        return False
    if offline_after is None:
        return True
    return last_activity_at is not None and now - last_activity_at <= offline_after


# A heartbeat rewrites the stored timestamps once they are this fraction of their window old (decision 0031): the
# console pings every 25 s (at most 30 s between pings), so a 90 s heartbeat timeout is refreshed every second
# ping, and the stored heartbeat is never older than 45 + 30 = 75 s while the console pings.
REFRESH_FRACTION = 2


@dataclass(frozen=True)
class StoredPresence:
    """What PostgreSQL holds for an operator after a heartbeat wrote it, and the windows routing judges it by.

    ``offline_after`` is the longest *offline after* of their active channels (the cached flag's limit; None when
    one has the inactivity rule off), ``shortest_offline_after`` the shortest among those that have it on (None
    when none has): the one routing in that channel holds the stored activity to.
    """

    online: bool
    heartbeat_at: datetime | None
    activity_at: datetime | None
    offline_after: timedelta | None
    shortest_offline_after: timedelta | None


def still_online(stored: StoredPresence | None, *, now: datetime, heartbeat_timeout: timedelta) -> bool:
    """Whether what a console stored says the operator is online at ``now`` (flag and timestamps, with the flag's
    limit): then a heartbeat changes only the timestamps."""
    if stored is None or not stored.online:
        return False
    return is_online(
        heartbeat_at=stored.heartbeat_at,
        last_activity_at=stored.activity_at,
        now=now,
        heartbeat_timeout=heartbeat_timeout,
        offline_after=stored.offline_after,
    )


def heartbeat_changes_nothing(
    stored: StoredPresence | None, *, now: datetime, active_at: datetime | None, heartbeat_timeout: timedelta
) -> bool:
    """Decision 0031: whether a heartbeat at ``now`` may leave the stored presence as it is.

    ``active_at`` is the latest activity the console reported that is not stored yet (None: none). Nothing needs
    writing while the operator is flagged online and still online by the stored timestamps, the stored heartbeat
    is younger than half the heartbeat timeout, and, when there is activity to store, the stored activity is
    younger than a third of the shortest *offline after* (so that activity reaches PostgreSQL, at the latest with
    the next ping, before routing could count the operator as inactive). Anything else goes to the service.
    """
    if (
        stored is None
        or stored.heartbeat_at is None
        or not still_online(stored, now=now, heartbeat_timeout=heartbeat_timeout)
    ):
        return False
    if now - stored.heartbeat_at >= heartbeat_timeout / REFRESH_FRACTION:
        return False
    # The shortest window routing holds the activity to; without channels, the cached flag's.
    window = stored.shortest_offline_after or stored.offline_after
    if active_at is None or window is None:
        return True
    return stored.activity_at is not None and now - stored.activity_at < window / 3


# What a console does with one heartbeat (decision 0031).
HEARTBEAT_SKIP = "skip"  # answer it; nothing to store
HEARTBEAT_BATCH = "batch"  # an online operator's due refresh: with the web process's other consoles, in one statement
HEARTBEAT_WRITE = "write"  # through the locked path: input, or the operator's presence may change


def heartbeat_action(
    stored: StoredPresence | None,
    *,
    now: datetime,
    input_seen: bool,
    active_at: datetime | None,
    heartbeat_timeout: timedelta,
) -> str:
    """Decision 0031: what a heartbeat at ``now`` needs, given what the console last stored.

    A ping with input always takes the locked path (the operator is at work, maybe back at a tab whose presence
    changed unseen by this socket); otherwise nothing while :func:`heartbeat_changes_nothing`, the batch while the
    stored presence still says online, the locked path when it no longer does.
    """
    if input_seen:
        return HEARTBEAT_WRITE
    if heartbeat_changes_nothing(stored, now=now, active_at=active_at, heartbeat_timeout=heartbeat_timeout):
        return HEARTBEAT_SKIP
    if still_online(stored, now=now, heartbeat_timeout=heartbeat_timeout):
        return HEARTBEAT_BATCH
    return HEARTBEAT_WRITE
