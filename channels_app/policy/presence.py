"""Q6: is an operator online? Pure: the caller passes the timestamps and ``now``.

*Decision (issue 16):* an open console tab that is visible on screen counts as
activity by itself, so an operator reading a long conversation stays online;
a hidden tab counts only the input it saw (pointer movement, scroll, keys,
focus). The inactivity rule can be switched off per open channel, and then a
connected console is enough.
"""

from __future__ import annotations

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
