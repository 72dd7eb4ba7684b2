"""Working-hours calendar of an open channel (H1, H2): pure, no ORM, no clock.

A calendar is a set of weekly opening periods in the open channel's local time
zone, minus holidays (local dates closed all day). Every question takes an
aware datetime and answers in aware UTC, so callers never handle wall-clock
times themselves.

How local wall-clock boundaries become instants (the only subtle part):

- Each period boundary is resolved to exactly one instant, so every open
  stretch is a half-open real-time interval ``[opens, closes)``.
- A boundary that does not exist (inside the spring-forward gap) resolves to
  the instant the clocks jump: the missing local times are skipped, and a
  period lying wholly inside the gap is empty that day.
- A boundary that occurs twice (inside the repeated fall-back hour) resolves to
  its first occurrence, so the repeated hour is never counted twice.
- ``time(0, 0)`` as an end means midnight at the end of that day (24:00).
  Periods of one day that overlap or touch merge, and so do a period ending at
  midnight and the next day's period starting at midnight.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "Period",
    "WorkingCalendar",
    "is_open",
    "next_closing",
    "next_opening",
    "open_seconds_between",
    "working_time_before",
]

MIDNIGHT = time(0, 0)
ONE_DAY = timedelta(days=1)
# After the last holiday the calendar repeats weekly; two more weeks (DST can
# empty a period on one date) prove that nothing else will ever change.
_SETTLE_DAYS = 15


@dataclass(frozen=True)
class Period:
    """One opening period on a weekday, in the calendar's local time."""

    weekday: int  # 0 = Monday … 6 = Sunday
    start: time
    end: time  # time(0, 0) means midnight at the END of that day

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), not {self.weekday!r}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("period times are local wall-clock times and must not carry a time zone")
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(
                f"a period must close after it opens ({self.start:%H:%M}–{self.end:%H:%M}); "
                "split a period that runs past midnight into two days"
            )


@dataclass(frozen=True)
class WorkingCalendar:
    """An open channel's weekly periods, holidays and time zone; refuses an unknown zone with ValueError."""

    time_zone: str  # IANA name, e.g. "Europe/Warsaw"
    periods: tuple[Period, ...]
    holidays: frozenset[date] = frozenset()  # local dates closed all day
    enabled: bool = True  # False => always open
    _zone: ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
            raise ValueError(f"unknown time zone {self.time_zone!r}") from error
        object.__setattr__(self, "periods", tuple(self.periods))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "_zone", zone)


def is_open(calendar: WorkingCalendar, at: datetime) -> bool:
    """Whether the open channel is inside working hours at the instant ``at`` (aware)."""
    at = _as_utc(at, "at")
    if not calendar.enabled:
        return True
    local_day = at.astimezone(calendar._zone).date()
    # Neighbouring days too: around a DST change a day's stretches may begin
    # before (or end after) the instants whose local date is that day.
    for day in (local_day - ONE_DAY, local_day, local_day + ONE_DAY):
        for opens, closes in _day_intervals(calendar, day):
            if opens <= at < closes:
                return True
    return False


def next_opening(calendar: WorkingCalendar, after: datetime) -> datetime | None:
    """The first instant at or after ``after`` when the channel is open (aware UTC).

    ``after`` itself when already open; None when it never opens (no periods:
    holidays are finite, so any weekly period opens again eventually).
    """
    after = _as_utc(after, "after")
    if not calendar.enabled:
        return after
    for opens, _closes in _open_stretches(calendar, after):
        return max(opens, after)
    return None


def next_closing(calendar: WorkingCalendar, after: datetime) -> datetime | None:
    """The first instant at or after ``after`` when the channel is closed (aware UTC).

    ``after`` itself when already closed; None when it never closes (calendar
    disabled, or open around the clock with no holiday ahead).
    """
    after = _as_utc(after, "after")
    if not calendar.enabled:
        return None
    for opens, closes in _open_stretches(calendar, after):
        if opens > after:
            return after
        return closes
    return after


def open_seconds_between(calendar: WorkingCalendar, start: datetime, end: datetime) -> float:
    """Seconds of ``[start, end)`` inside working hours; 0 when ``end`` is not after ``start``.

    The KPI "count only working hours" option measures response times with it.
    A disabled calendar is always open, so the plain elapsed time is returned.
    """
    start = _as_utc(start, "start")
    end = _as_utc(end, "end")
    if end <= start:
        return 0.0
    if not calendar.enabled:
        return (end - start).total_seconds()
    zone = calendar._zone
    day = start.astimezone(zone).date() - ONE_DAY
    last_day = end.astimezone(zone).date() + ONE_DAY
    total = timedelta(0)
    while day <= last_day:
        for opens, closes in _day_intervals(calendar, day):
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta(0):
                total += overlap
        day += ONE_DAY
    return total.total_seconds()


def working_time_before(calendar: WorkingCalendar, end: datetime, seconds: float) -> datetime | None:
    """The latest instant ``start`` with ``open_seconds_between(calendar, start, end) >= seconds`` (aware UTC).

    Q4 and M2 ask it once per channel: a conversation waiting since this instant
    or earlier has waited ``seconds`` of working time by ``end``, so the sweep
    filters on it in SQL instead of measuring every row. Every instant at or
    before the answer qualifies and none after it does, because working time
    only grows as ``start`` moves back. None when not enough working time ever
    lies before ``end`` (a calendar with no periods).

    1. A disabled calendar is always open: ``end - seconds``.
    2. Otherwise walk local dates back from ``end``, each day's open intervals
       latest first (clipped at ``end``), until they add up to ``seconds``; the
       answer lies inside the interval that completes the sum.
    3. Holidays are finite and every week has its periods, so a walk that found
       nothing for longer than the holidays plus ``_SETTLE_DAYS`` never will.
    """
    end = _as_utc(end, "end")
    needed = timedelta(seconds=seconds)
    if not calendar.enabled or needed <= timedelta(0):
        return end - max(needed, timedelta(0))
    if not calendar.periods:
        return None
    day = end.astimezone(calendar._zone).date() + ONE_DAY
    days_without_work = 0
    while days_without_work <= len(calendar.holidays) + _SETTLE_DAYS:
        intervals = [(opens, min(closes, end)) for opens, closes in _day_intervals(calendar, day) if opens < end]
        days_without_work = 0 if intervals else days_without_work + 1
        for opens, closes in reversed(intervals):
            if closes - opens >= needed:
                return closes - needed
            needed -= closes - opens
        day -= ONE_DAY
    return None


# --- internals -------------------------------------------------------------------


def _as_utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (got naive {moment.isoformat()})")
    return moment.astimezone(UTC)


def _resolve_wall_time(wall: datetime, zone: ZoneInfo) -> datetime:
    """The one UTC instant a naive local wall-clock time stands for (see the module docstring).

    1. ``fold=0`` gives the first occurrence of an ambiguous time, which is
       what we want; for an existing time it is the only occurrence.
    2. A time inside a spring-forward gap does not survive the round trip
       through UTC; then the transition instant lies between the readings
       with the offsets after (earlier instant) and before (later instant)
       the gap, and a binary search on whole seconds finds it (zone
       transitions fall on whole seconds).
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # still before the jump
    high = first  # already after the jump
    offset_after = high.astimezone(zone).utcoffset()
    while (high - low) > timedelta(seconds=1):
        middle = low + timedelta(seconds=((high - low) // timedelta(seconds=1)) // 2)
        if middle.astimezone(zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return high


@functools.lru_cache(maxsize=64)
def _periods_by_weekday(periods: tuple[Period, ...]) -> tuple[tuple[tuple[time, time | None], ...], ...]:
    """Per weekday, the merged ``(start, end)`` wall-clock spans; ``None`` as end is 24:00."""
    by_weekday: list[list[tuple[time, time | None]]] = [[] for _ in range(7)]
    for period in sorted(periods, key=lambda p: (p.weekday, p.start)):
        end = None if period.end == MIDNIGHT else period.end
        spans = by_weekday[period.weekday]
        if spans and (spans[-1][1] is None or spans[-1][1] >= period.start):
            previous_start, previous_end = spans[-1]
            merged_end = None if previous_end is None or end is None else max(previous_end, end)
            spans[-1] = (previous_start, merged_end)
        else:
            spans.append((period.start, end))
    return tuple(tuple(spans) for spans in by_weekday)


@functools.lru_cache(maxsize=4096)
def _day_intervals(calendar: WorkingCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """The open UTC intervals of one local date, merged, in order (empty on a holiday)."""
    if day in calendar.holidays:
        return ()
    zone = calendar._zone
    intervals: list[tuple[datetime, datetime]] = []
    for start, end in _periods_by_weekday(calendar.periods)[day.weekday()]:
        opens = _resolve_wall_time(datetime.combine(day, start), zone)
        end_wall = datetime.combine(day + ONE_DAY, MIDNIGHT) if end is None else datetime.combine(day, end)
        closes = _resolve_wall_time(end_wall, zone)
        if closes <= opens:
            continue  # the whole period fell inside a spring-forward gap
        if intervals and intervals[-1][1] >= opens:
            intervals[-1] = (intervals[-1][0], max(intervals[-1][1], closes))
        else:
            intervals.append((opens, closes))
    return tuple(intervals)


@functools.lru_cache(maxsize=64)
def _sorted_holidays(holidays: frozenset[date]) -> tuple[date, ...]:
    return tuple(sorted(holidays))


@functools.lru_cache(maxsize=64)
def _open_around_the_clock(periods: tuple[Period, ...]) -> bool:
    return all(spans == ((MIDNIGHT, None),) for spans in _periods_by_weekday(periods))


def _open_stretches(calendar: WorkingCalendar, since: datetime) -> Iterator[tuple[datetime, datetime | None]]:
    """Yield the maximal open stretches ``(opens, closes)`` that end after ``since``, in time order.

    ``closes`` is None for a stretch that never ends.

    1. Walk local dates from the day before ``since``'s local date, merging
       each day's intervals into the pending stretch while they touch (a
       period ending at midnight and the next day's period from midnight).
    2. A pending stretch is final, and yielded, once a day starts after it ended.
    3. When every weekday is open around the clock, a stretch can only end at
       a holiday: jump straight to the next one instead of walking there; with
       no holiday ahead the stretch never ends.
    4. Past the last holiday the calendar repeats weekly, so once
       ``_SETTLE_DAYS`` more days have been walked with no stretch pending,
       nothing will ever open again.
    """
    if not calendar.periods:
        return
    zone = calendar._zone
    holidays = _sorted_holidays(calendar.holidays)
    around_the_clock = _open_around_the_clock(calendar.periods)
    day = since.astimezone(zone).date() - ONE_DAY
    settled_after = max(day, holidays[-1] if holidays else day) + timedelta(days=_SETTLE_DAYS)
    pending: tuple[datetime, datetime] | None = None
    while True:
        if pending is not None and pending[1] < _day_start(day, zone):
            if pending[1] > since:
                yield pending
            pending = None
        if pending is None and day > settled_after:
            return
        for opens, closes in _day_intervals(calendar, day):
            if pending is not None and pending[1] >= opens:
                pending = (pending[0], max(pending[1], closes))
                continue
            if pending is not None and pending[1] > since:
                yield pending
            pending = (opens, closes)
        day += ONE_DAY
        if around_the_clock and pending is not None and pending[1] >= _day_start(day, zone):
            next_holiday_index = bisect.bisect_left(holidays, day)
            if next_holiday_index == len(holidays):
                yield pending[0], None
                return
            day = holidays[next_holiday_index]
            pending = (pending[0], _day_start(day, zone))


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return _resolve_wall_time(datetime.combine(day, MIDNIGHT), zone)
