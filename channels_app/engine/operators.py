"""Operator presence and shift state: console heartbeats (Q6), clock in/out and breaks (Q5).

Whether an operator is online is computed from two timestamps whenever it
matters (routing reads them directly): the console's heartbeat must be younger
than ``settings.CONSOLE_HEARTBEAT_TIMEOUT`` and the last activity younger than
the open channel's *offline after* time. ``OperatorProfile.is_online`` is a
cached flag for consoles and dashboards, kept current by these services and by
the presence sweep. Every change that can make an operator eligible routes the
waiting conversations at once (Q9).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from channels_app.engine import availability, events, locks
from channels_app.engine.errors import InvalidState, NotAllowed, ServiceError
from channels_app.engine.queue import request_redistribution
from channels_app.models import OperatorProfile, QueueMember
from channels_app.policy.presence import is_online

DEFAULT_OFFLINE_AFTER_MINUTES = 10


def operator_heartbeat(*, operator, now: datetime, active: bool) -> None:
    """Q6: the console pings (``active`` when the operator typed, clicked or sent something).

    1. Fast path, one UPDATE: an operator flagged online whose timestamps
       still say online (as :func:`cached_online` reads them, with the same
       longest *offline after* of their channels) stays online after a new
       heartbeat, so nothing but the timestamps changes. Every open console
       pings every 25 s, and this is almost every ping.
    2. Otherwise (coming online, a stale flag, no profile yet) under the
       profile's row lock: store the timestamps, correct the flag, announce
       the change and route waiting conversations at once (Q9).
    """
    if _heartbeat_while_online(operator.pk, now, active):
        return
    with transaction.atomic():
        profile = _locked_profile(operator)
        limit = offline_after(operator.pk)
        was_online = cached_online(profile, now, limit)
        profile.console_heartbeat_at = now
        fields = ["console_heartbeat_at"]
        if active:
            profile.last_activity_at = now
            fields.append("last_activity_at")
        _store_presence(profile, now, fields, limit)
        if profile.is_online and not was_online:
            request_redistribution(availability.operator_channel_ids(operator.pk), now=now, trigger="operator_online")


def operator_disconnect(*, operator, now: datetime) -> None:
    """Q6: the console closed; the operator counts as offline until the next heartbeat."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        profile.console_heartbeat_at = None
        _store_presence(profile, now, ["console_heartbeat_at"])


def operator_clock_in(*, operator, now: datetime) -> None:
    """Q5: start of the working day; channels that route only to clocked-in operators route at once."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if profile.clocked_in and not profile.on_break:
            return
        if not profile.clocked_in:
            profile.clocked_in, profile.clocked_in_at = True, now
        profile.on_break, profile.break_started_at = False, None
        profile.save(update_fields=["clocked_in", "clocked_in_at", "on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))
        _route_channels_requiring_clock_in(operator.pk, now, trigger="clock_in")


def operator_clock_out(*, operator, now: datetime) -> None:
    """Q5: end of the working day. Conversations already held stay with the operator."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if not profile.clocked_in:
            return
        profile.clocked_in, profile.on_break, profile.break_started_at = False, False, None
        profile.save(update_fields=["clocked_in", "on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))


def operator_break_start(*, operator, now: datetime) -> None:
    """Q5: a break; no new conversations where clocking in is required."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if not profile.clocked_in:
            raise InvalidState("Clock in before taking a break.")
        if profile.on_break:
            return
        profile.on_break, profile.break_started_at = True, now
        profile.save(update_fields=["on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))


def operator_break_end(*, operator, now: datetime) -> None:
    """Q5, Q9: back from the break; waiting conversations are routed at once."""
    with transaction.atomic():
        profile = _locked_profile(operator)
        if not profile.on_break:
            return
        profile.on_break, profile.break_started_at = False, None
        profile.save(update_fields=["on_break", "break_started_at"])
        events.nudge_wallboards(availability.operator_channel_ids(operator.pk))
        _route_channels_requiring_clock_in(operator.pk, now, trigger="break_end")


def operator_language_set(*, operator, language: str) -> str:
    """O3: save the operator's console language; an unknown code is refused and changes nothing."""
    if language not in dict(settings.LANGUAGES):
        raise ServiceError(f"Unknown language: {language!r}.")
    with transaction.atomic():
        updated = OperatorProfile.objects.filter(user_id=operator.pk).update(language=language)
    if not updated:
        raise NotAllowed("Only operators have a console language.")
    return language


# --- helpers ----------------------------------------------------------------------------------------------

# The conditions are policy.presence.is_online's (``<=`` limits) on the stored values, and the limit is
# offline_after()'s: the longest *offline after* of the operator's active channels, else the default.
_HEARTBEAT_WHILE_ONLINE_SQL = """
    UPDATE channels_app_operatorprofile AS profile
       SET console_heartbeat_at = %(now)s,
           last_activity_at = CASE WHEN %(active)s THEN %(now)s ELSE profile.last_activity_at END
     WHERE profile.user_id = %(user_id)s
       AND profile.is_online
       AND profile.console_heartbeat_at >= %(now)s - make_interval(secs => %(heartbeat_timeout_seconds)s)
       AND profile.last_activity_at >= %(now)s - make_interval(mins => COALESCE(
               (SELECT MAX(channel.offline_after_minutes)
                  FROM channels_app_queuemember AS member
                  JOIN channels_app_openchannel AS channel ON channel.id = member.open_channel_id
                 WHERE member.operator_id = %(user_id)s AND channel.is_active),
               %(default_minutes)s))
"""


def _heartbeat_while_online(user_id: int, now: datetime, active: bool) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            _HEARTBEAT_WHILE_ONLINE_SQL,
            {
                "user_id": user_id,
                "now": now,
                "active": active,
                "heartbeat_timeout_seconds": settings.CONSOLE_HEARTBEAT_TIMEOUT.total_seconds(),
                "default_minutes": DEFAULT_OFFLINE_AFTER_MINUTES,
            },
        )
        return cursor.rowcount == 1


def offline_after(user_id: int) -> timedelta:
    """The longest *offline after* time of the operator's channels: the cached flag is "online somewhere"."""
    minutes = QueueMember.objects.filter(operator_id=user_id, open_channel__is_active=True).aggregate(
        longest=Max("open_channel__offline_after_minutes")
    )["longest"]
    return timedelta(minutes=minutes or DEFAULT_OFFLINE_AFTER_MINUTES)


def cached_online(profile: OperatorProfile, now: datetime, limit: timedelta | None = None) -> bool:
    return is_online(
        heartbeat_at=profile.console_heartbeat_at,
        last_activity_at=profile.last_activity_at,
        now=now,
        heartbeat_timeout=settings.CONSOLE_HEARTBEAT_TIMEOUT,
        offline_after=limit if limit is not None else offline_after(profile.user_id),
    )


def _locked_profile(operator) -> OperatorProfile:
    locks.ensure_profiles([operator.pk])
    return OperatorProfile.objects.select_for_update().get(user_id=operator.pk)


def _store_presence(profile: OperatorProfile, now: datetime, fields: list[str], limit: timedelta | None = None) -> None:
    online = cached_online(profile, now, limit)
    if online != profile.is_online:
        profile.is_online = online
        fields = [*fields, "is_online"]
        events.publish([events.operator_group(profile.user_id)], events.operator_presence(profile.user_id, online))
        events.nudge_wallboards(availability.operator_channel_ids(profile.user_id))
    profile.save(update_fields=fields)


def _route_channels_requiring_clock_in(user_id: int, now: datetime, *, trigger: str) -> None:
    channel_ids = QueueMember.objects.filter(
        operator_id=user_id, open_channel__is_active=True, open_channel__require_clocked_in=True
    ).values_list("open_channel_id", flat=True)
    request_redistribution(list(channel_ids), now=now, trigger=trigger)
