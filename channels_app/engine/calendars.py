"""Builds the pure :class:`~channels_app.policy.schedule.WorkingCalendar` of an open channel from its rows (H1)."""

from __future__ import annotations

import logging

from channels_app.models import OpenChannel
from channels_app.policy.schedule import Period, WorkingCalendar

logger = logging.getLogger(__name__)


def calendar_for(open_channel: OpenChannel) -> WorkingCalendar:
    """The open channel's working-hours calendar: time zone, weekly periods and holidays.

    Reads ``working_periods`` and ``holidays`` through ``.all()``, so a caller
    that loads many channels can ``prefetch_related`` both. A period row that
    bypassed the admin's validation (closing before it opens) is left out with
    a warning rather than making routing fail for the whole channel.
    """
    periods: list[Period] = []
    for row in open_channel.working_periods.all():
        try:
            periods.append(Period(weekday=row.weekday, start=row.start, end=row.end))
        except ValueError as error:
            logger.warning("Open channel %s: working period %s ignored: %s", open_channel.pk, row.pk, error)
    return WorkingCalendar(
        time_zone=open_channel.time_zone,
        periods=tuple(periods),
        holidays=frozenset(holiday.date for holiday in open_channel.holidays.all()),
        enabled=open_channel.working_hours_enabled,
    )
