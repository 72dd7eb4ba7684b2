"""Q6: is an operator online? Pure: the caller passes the timestamps and ``now``."""

from __future__ import annotations

from datetime import datetime, timedelta


def is_online(
    *,
    heartbeat_at: datetime | None,
    last_activity_at: datetime | None,
    now: datetime,
    heartbeat_timeout: timedelta,
    offline_after: timedelta,
) -> bool:
    """Q6: a console is connected (recent heartbeat) and the operator was active recently."""
    if heartbeat_at is None or last_activity_at is None:
        return False
    return now - heartbeat_at <= heartbeat_timeout and now - last_activity_at <= offline_after
