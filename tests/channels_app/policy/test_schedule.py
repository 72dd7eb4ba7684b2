"""H1, H2: the working-hours calendar (pure module) and its loader from the open channel's rows.

Local times in the examples are written in the calendar's own zone and
checked against UTC, so every expectation can be read off a wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.engine.calendars import calendar_for
from channels_app.models import Holiday, OpenChannel, WorkingPeriod
from channels_app.policy.schedule import (
    Period,
    WorkingCalendar,
    is_open,
    next_closing,
    next_opening,
    open_seconds_between,
    working_time_before,
)
from tests.factories import OpenChannelFactory

WARSAW = "Europe/Warsaw"
NEW_YORK = "America/New_York"
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)
HOUR = 3600.0


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    """The instant a wall-clock time stands for, in UTC (PEP 495: ``==`` across zones is False in a fold)."""
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def calendar(zone: str, *periods: tuple[int, time, time], holidays=(), enabled=True) -> WorkingCalendar:
    return WorkingCalendar(
        time_zone=zone,
        periods=tuple(Period(weekday=w, start=s, end=e) for w, s, e in periods),
        holidays=frozenset(holidays),
        enabled=enabled,
    )


# --- H1: weekly periods ---------------------------------------------------------------

# 2026-03-02 is a Monday (winter time in Warsaw, UTC+1).
SPLIT_DAY = calendar(WARSAW, (MONDAY, time(9), time(12)), (MONDAY, time(13), time(17)))


def test_h1_several_periods_a_day_open_inside_each_and_closed_at_lunch():
    assert is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 9, 0))
    assert is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 11, 59, 59))
    assert not is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 12, 0)), "a period's end is exclusive"
    assert not is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 12, 30))
    assert is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 13, 0))
    assert not is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 8, 59, 59))
    assert not is_open(SPLIT_DAY, local(WARSAW, 2026, 3, 3, 10, 0)), "no periods on Tuesday"


def test_h1_next_opening_and_closing_around_a_lunch_break():
    assert next_closing(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 10, 0)) == local(WARSAW, 2026, 3, 2, 12, 0)
    assert next_opening(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 12, 30)) == local(WARSAW, 2026, 3, 2, 13, 0)
    assert next_opening(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 18, 0)) == local(WARSAW, 2026, 3, 9, 9, 0)


def test_h1_answers_are_aware_utc():
    opening = next_opening(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 12, 30))
    assert opening.tzinfo is UTC
    assert opening == utc(2026, 3, 2, 12, 0)


def test_h1_next_opening_is_the_instant_itself_when_open_and_next_closing_when_closed():
    inside = local(WARSAW, 2026, 3, 2, 10, 15)
    outside = local(WARSAW, 2026, 3, 2, 12, 15)
    assert next_opening(SPLIT_DAY, inside) == inside
    assert next_closing(SPLIT_DAY, outside) == outside


def test_h1_overlapping_periods_merge_into_one_stretch():
    overlapping = calendar(
        WARSAW, (MONDAY, time(9), time(12)), (MONDAY, time(11), time(14)), (MONDAY, time(14), time(15))
    )
    assert next_closing(overlapping, local(WARSAW, 2026, 3, 2, 10, 0)) == local(WARSAW, 2026, 3, 2, 15, 0)
    assert open_seconds_between(overlapping, local(WARSAW, 2026, 3, 2), local(WARSAW, 2026, 3, 3)) == 6 * HOUR


def test_h1_a_period_ending_at_midnight_runs_to_the_end_of_its_day():
    evening = calendar(WARSAW, (FRIDAY, time(20), time(0, 0)))
    assert is_open(evening, local(WARSAW, 2026, 3, 6, 23, 59, 59))
    assert not is_open(evening, local(WARSAW, 2026, 3, 7, 0, 0))
    assert next_closing(evening, local(WARSAW, 2026, 3, 6, 21, 0)) == local(WARSAW, 2026, 3, 7, 0, 0)
    assert open_seconds_between(evening, local(WARSAW, 2026, 3, 6), local(WARSAW, 2026, 3, 8)) == 4 * HOUR


def test_h1_a_night_shift_split_at_midnight_is_one_stretch():
    night = calendar(WARSAW, (FRIDAY, time(20), time(0, 0)), (SATURDAY, time(0, 0), time(6)))
    assert next_closing(night, local(WARSAW, 2026, 3, 6, 21, 0)) == local(WARSAW, 2026, 3, 7, 6, 0)
    assert next_opening(night, local(WARSAW, 2026, 3, 7, 7, 0)) == local(WARSAW, 2026, 3, 13, 20, 0)


def test_h1_open_seconds_between_counts_only_working_hours():
    # Monday 08:00 → Tuesday 08:00 spans both periods: 3 h + 4 h.
    assert open_seconds_between(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 8), local(WARSAW, 2026, 3, 3, 8)) == 7 * HOUR
    # A wait from 11:30 to 13:30 counts 30 min before lunch and 30 min after.
    assert open_seconds_between(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 11, 30), local(WARSAW, 2026, 3, 2, 13, 30)) == (
        HOUR
    )
    assert open_seconds_between(SPLIT_DAY, local(WARSAW, 2026, 3, 2, 13), local(WARSAW, 2026, 3, 2, 12)) == 0.0


# --- H1: holidays ------------------------------------------------------------------------


def test_Q4_working_time_before_skips_the_night_and_the_weekend():
    # Mon–Fri 9–17 in Warsaw; 30 working minutes before Monday 9:10 began on Friday at 16:40.
    weekdays = calendar(WARSAW, *((day, time(9), time(17)) for day in range(MONDAY, SATURDAY)))
    monday_morning = local(WARSAW, 2026, 3, 9, 9, 10)
    assert working_time_before(weekdays, monday_morning, 30 * 60) == local(WARSAW, 2026, 3, 6, 16, 40)
    assert working_time_before(weekdays, monday_morning, 10 * 60) == local(WARSAW, 2026, 3, 9, 9, 0)
    # Inside working hours it is plain subtraction; a disabled calendar always is.
    assert working_time_before(weekdays, monday_morning, 5 * 60) == monday_morning - timedelta(minutes=5)
    disabled = calendar(WARSAW, enabled=False)
    assert working_time_before(disabled, monday_morning, 3600) == monday_morning - timedelta(hours=1)
    assert working_time_before(calendar(WARSAW), monday_morning, 60) is None


def test_h1_a_holiday_closes_the_whole_local_date():
    weekdays = calendar(WARSAW, *[(day, time(9), time(17)) for day in range(5)], holidays={date(2026, 5, 1)})
    # 2026-05-01 is a Friday: closed; the next opening is Monday 4 May.
    assert not is_open(weekdays, local(WARSAW, 2026, 5, 1, 10, 0))
    assert next_opening(weekdays, local(WARSAW, 2026, 4, 30, 18, 0)) == local(WARSAW, 2026, 5, 4, 9, 0)
    assert open_seconds_between(weekdays, local(WARSAW, 2026, 4, 27), local(WARSAW, 2026, 5, 4)) == 4 * 8 * HOUR


def test_h1_holidays_are_local_dates_of_the_calendar_zone():
    # 22:00 on 3 July in New York is already 4 July in UTC: the local date decides.
    evenings = calendar(NEW_YORK, (FRIDAY, time(20), time(23)), holidays={date(2026, 7, 3)})
    assert not is_open(evenings, utc(2026, 7, 4, 2, 0))
    assert is_open(evenings, utc(2026, 7, 11, 2, 0))


def test_h1_open_around_the_clock_closes_only_on_the_next_holiday():
    always = calendar(WARSAW, *[(day, time(0, 0), time(0, 0)) for day in range(7)], holidays={date(2030, 12, 24)})
    assert next_closing(always, local(WARSAW, 2026, 3, 2, 10)) == local(WARSAW, 2030, 12, 24, 0, 0)
    assert next_opening(always, local(WARSAW, 2030, 12, 24, 10)) == local(WARSAW, 2030, 12, 25, 0, 0)
    without_holidays = calendar(WARSAW, *[(day, time(0, 0), time(0, 0)) for day in range(7)])
    assert next_closing(without_holidays, local(WARSAW, 2026, 3, 2, 10)) is None


# --- H1, H2: no periods, disabled calendar ----------------------------------------------------


def test_h2_a_channel_with_no_periods_never_opens():
    closed = calendar(WARSAW)
    moment = local(WARSAW, 2026, 3, 2, 10)
    assert not is_open(closed, moment)
    assert next_opening(closed, moment) is None
    assert next_closing(closed, moment) == moment
    assert open_seconds_between(closed, moment, moment + timedelta(days=30)) == 0.0


def test_h2_only_holidays_ahead_still_opens_after_them():
    mondays = calendar(
        WARSAW, (MONDAY, time(9), time(10)), holidays={date(2026, 3, 2) + timedelta(weeks=w) for w in range(10)}
    )
    assert next_opening(mondays, local(WARSAW, 2026, 3, 1)) == local(WARSAW, 2026, 5, 11, 9, 0)


def test_h2_a_disabled_calendar_is_always_open():
    disabled = calendar(WARSAW, (MONDAY, time(9), time(10)), holidays={date(2026, 3, 3)}, enabled=False)
    moment = local(WARSAW, 2026, 3, 3, 3, 0)
    assert is_open(disabled, moment)
    assert next_opening(disabled, moment) == moment
    assert next_closing(disabled, moment) is None
    assert open_seconds_between(disabled, moment, moment + timedelta(hours=5)) == 5 * HOUR


# --- H1: daylight saving time ------------------------------------------------------------------
# Warsaw: 2026-03-29 02:00 CET → 03:00 CEST (01:00 UTC); 2026-10-25 03:00 CEST → 02:00 CET (01:00 UTC).
# New York: 2026-03-08 02:00 EST → 03:00 EDT (07:00 UTC); 2026-11-01 02:00 EDT → 01:00 EST (06:00 UTC).


def test_h1_spring_forward_period_across_the_gap_lasts_one_hour_less():
    early_sunday = calendar(WARSAW, (SUNDAY, time(1), time(4)))
    assert next_opening(early_sunday, utc(2026, 3, 28)) == utc(2026, 3, 29, 0, 0)  # 01:00 CET
    assert next_closing(early_sunday, utc(2026, 3, 29, 0, 30)) == utc(2026, 3, 29, 2, 0)  # 04:00 CEST
    assert open_seconds_between(early_sunday, utc(2026, 3, 28), utc(2026, 3, 30)) == 2 * HOUR


def test_h1_spring_forward_a_start_inside_the_gap_opens_when_the_clocks_jump():
    from_half_past_two = calendar(WARSAW, (SUNDAY, time(2, 30), time(5)))
    assert next_opening(from_half_past_two, utc(2026, 3, 28)) == utc(2026, 3, 29, 1, 0)  # 03:00 CEST
    assert not is_open(from_half_past_two, utc(2026, 3, 29, 0, 59, 59))
    assert open_seconds_between(from_half_past_two, utc(2026, 3, 28), utc(2026, 3, 30)) == 2 * HOUR


def test_h1_spring_forward_a_period_wholly_inside_the_gap_is_skipped_that_day():
    in_the_gap = calendar(WARSAW, (SUNDAY, time(2, 10), time(2, 40)))
    assert next_opening(in_the_gap, utc(2026, 3, 28)) == local(WARSAW, 2026, 4, 5, 2, 10)
    assert open_seconds_between(in_the_gap, utc(2026, 3, 28), utc(2026, 3, 30)) == 0.0


def test_h1_spring_forward_new_york():
    early_sunday = calendar(NEW_YORK, (SUNDAY, time(0, 0), time(6)))
    assert open_seconds_between(early_sunday, utc(2026, 3, 7), utc(2026, 3, 10)) == 5 * HOUR
    assert next_closing(early_sunday, utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 8, 10, 0)  # 06:00 EDT


def test_h1_fall_back_period_across_the_repeated_hour_counts_each_real_second_once():
    early_sunday = calendar(WARSAW, (SUNDAY, time(1), time(4)))
    # The wall clock shows 01:00–04:00 for four real hours that night.
    assert next_opening(early_sunday, utc(2026, 10, 24)) == utc(2026, 10, 24, 23, 0)  # 01:00 CEST
    assert next_closing(early_sunday, utc(2026, 10, 25, 0, 0)) == utc(2026, 10, 25, 3, 0)  # 04:00 CET
    assert open_seconds_between(early_sunday, utc(2026, 10, 24), utc(2026, 10, 26)) == 4 * HOUR
    assert is_open(early_sunday, local(WARSAW, 2026, 10, 25, 2, 30, fold=0))
    assert is_open(early_sunday, local(WARSAW, 2026, 10, 25, 2, 30, fold=1))


def test_h1_fall_back_a_boundary_in_the_repeated_hour_is_its_first_occurrence():
    until_half_past_two = calendar(WARSAW, (SUNDAY, time(0, 0), time(2, 30)))
    first_half_past_two = local(WARSAW, 2026, 10, 25, 2, 30, fold=0)
    assert next_closing(until_half_past_two, utc(2026, 10, 24, 23, 0)) == first_half_past_two
    # The second 02:00–02:30 does not open again: the period is not counted twice.
    assert not is_open(until_half_past_two, local(WARSAW, 2026, 10, 25, 2, 15, fold=1))
    assert open_seconds_between(until_half_past_two, utc(2026, 10, 24), utc(2026, 10, 26)) == 2.5 * HOUR

    from_half_past_two = calendar(WARSAW, (SUNDAY, time(2, 30), time(6)))
    assert next_opening(from_half_past_two, utc(2026, 10, 24)) == first_half_past_two
    assert is_open(from_half_past_two, local(WARSAW, 2026, 10, 25, 2, 15, fold=1))


def test_h1_fall_back_new_york():
    early_sunday = calendar(NEW_YORK, (SUNDAY, time(0, 0), time(6)))
    assert open_seconds_between(early_sunday, utc(2026, 10, 31), utc(2026, 11, 3)) == 7 * HOUR
    assert next_closing(early_sunday, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 11, 0)  # 06:00 EST


def test_h1_midnight_inside_a_dst_gap_keeps_a_night_shift_continuous():
    # Santiago springs forward at midnight: 2026-09-06 00:00 does not exist (clocks go to 01:00).
    night = calendar("America/Santiago", (SATURDAY, time(20), time(0, 0)), (SUNDAY, time(0, 0), time(6)))
    assert next_closing(night, local("America/Santiago", 2026, 9, 5, 21)) == local("America/Santiago", 2026, 9, 6, 6)
    assert open_seconds_between(night, utc(2026, 9, 5), utc(2026, 9, 8)) == 9 * HOUR


# --- bad input --------------------------------------------------------------------------------------


def test_h1_naive_datetimes_are_refused_with_a_clear_error():
    with pytest.raises(ValueError, match="aware"):
        is_open(SPLIT_DAY, datetime(2026, 3, 2, 10))  # noqa: DTZ001 -- naive on purpose
    with pytest.raises(ValueError, match="aware"):
        open_seconds_between(SPLIT_DAY, utc(2026, 3, 2), datetime(2026, 3, 3))  # noqa: DTZ001 -- naive on purpose


@pytest.mark.parametrize(
    ("weekday", "start", "end", "message"),
    [
        (7, time(9), time(10), "weekday"),
        (-1, time(9), time(10), "weekday"),
        (MONDAY, time(10), time(9), "close after it opens"),
        (MONDAY, time(10), time(10), "close after it opens"),
    ],
)
def test_h1_invalid_periods_are_refused(weekday, start, end, message):
    with pytest.raises(ValueError, match=message):
        Period(weekday=weekday, start=start, end=end)


def test_h1_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="unknown time zone"):
        WorkingCalendar(time_zone="Mars/Olympus_Mons", periods=())


# --- H1: properties ------------------------------------------------------------------------------------

ZONES = ["UTC", WARSAW, NEW_YORK, "America/Santiago", "Australia/Lord_Howe", "Asia/Kathmandu"]
# Instants near DST changes are where bugs live: draw many of them.
TRANSITIONS = [
    utc(2026, 3, 29, 1),
    utc(2026, 10, 25, 1),
    utc(2026, 3, 8, 7),
    utc(2026, 11, 1, 6),
    utc(2026, 4, 5, 3),
    utc(2026, 9, 6, 4),
    utc(2026, 4, 4, 15),
    utc(2026, 10, 3, 15, 30),
]


@st.composite
def periods_strategy(draw):
    weekday = draw(st.integers(0, 6))
    # Quarter hours, with the DST-sensitive small hours over-represented.
    start_minute = draw(st.one_of(st.integers(0, 95).map(lambda q: q * 15), st.integers(0, 16).map(lambda q: q * 15)))
    length = draw(st.integers(1, (1440 - start_minute) // 15)) * 15
    end_minute = start_minute + length
    end = time(0, 0) if end_minute == 1440 else time(end_minute // 60, end_minute % 60)
    return Period(weekday=weekday, start=time(start_minute // 60, start_minute % 60), end=end)


instants = st.one_of(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001 -- hypothesis takes naive bounds
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(TRANSITIONS),
        st.integers(-36 * 60, 36 * 60),
    ),
)


@st.composite
def scenarios(draw):
    """A calendar and an instant, with holidays drawn close to the instant so that they matter."""
    moment = draw(instants)
    zone = draw(st.sampled_from(ZONES))
    periods = tuple(draw(st.lists(periods_strategy(), max_size=6)))
    local_date = moment.astimezone(ZoneInfo(zone)).date()
    holidays = frozenset(
        local_date + timedelta(days=offset) for offset in draw(st.sets(st.integers(-2, 12), max_size=4))
    )
    return WorkingCalendar(time_zone=zone, periods=periods, holidays=holidays), moment


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(scenarios(), st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_h1_property_next_opening_is_open_and_nothing_before_it_is(scenario, fractions):
    working, moment = scenario
    opening = next_opening(working, moment)
    if opening is None:
        assert not working.periods
        assert not is_open(working, moment)
        return
    assert opening >= moment
    assert is_open(working, opening)
    if is_open(working, moment):
        assert opening == moment
    assert open_seconds_between(working, moment, opening) == 0.0
    for fraction in fractions:
        between = moment + (opening - moment) * fraction
        if between < opening:
            assert not is_open(working, between)


@PROPERTY_SETTINGS
@given(scenarios(), st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_h1_property_open_until_next_closing(scenario, fractions):
    working, moment = scenario
    closing = next_closing(working, moment)
    if closing is None:
        month = timedelta(days=30)
        assert open_seconds_between(working, moment, moment + month) == month.total_seconds()
        return
    assert closing >= moment
    assert not is_open(working, closing)
    assert open_seconds_between(working, moment, closing) == (closing - moment).total_seconds()
    for fraction in fractions:
        between = moment + (closing - moment) * fraction
        if between < closing:
            assert is_open(working, between)


@PROPERTY_SETTINGS
@given(scenarios(), st.timedeltas(timedelta(0), timedelta(days=9)), st.timedeltas(timedelta(0), timedelta(days=9)))
def test_h1_property_open_seconds_between_is_additive_and_bounded(scenario, first, second):
    working, start = scenario
    middle, end = start + first, start + first + second
    whole = open_seconds_between(working, start, end)
    parts = open_seconds_between(working, start, middle) + open_seconds_between(working, middle, end)
    assert whole == pytest.approx(parts, abs=1e-6)
    assert 0.0 <= whole <= (end - start).total_seconds()


@PROPERTY_SETTINGS
@given(scenarios())
def test_h1_property_is_open_matches_the_wall_clock_where_it_is_unambiguous(scenario):
    """Away from a repeated fall-back hour, open means: not a holiday and inside a period of that weekday."""
    working, moment = scenario
    zone = ZoneInfo(working.time_zone)
    wall = moment.astimezone(zone)
    if wall.utcoffset() != wall.replace(fold=1 - wall.fold).utcoffset():
        return  # a repeated local time: covered by the fall-back examples above
    clock = wall.time().replace(tzinfo=None)
    expected = wall.date() not in working.holidays and any(
        period.weekday == wall.weekday() and period.start <= clock and (period.end == time(0, 0) or clock < period.end)
        for period in working.periods
    )
    assert is_open(working, moment) == expected


@PROPERTY_SETTINGS
@given(
    st.lists(periods_strategy(), max_size=8),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),  # noqa: DTZ001 -- hypothesis takes naive bounds
)
def test_h1_property_a_week_without_dst_or_holidays_holds_the_union_of_its_periods(periods, start):
    week_minutes = 0
    for weekday in range(7):
        minutes = set()
        for period in periods:
            if period.weekday == weekday:
                end = 1440 if period.end == time(0, 0) else period.end.hour * 60 + period.end.minute
                minutes.update(range(period.start.hour * 60 + period.start.minute, end))
        week_minutes += len(minutes)
    working = WorkingCalendar(time_zone="UTC", periods=tuple(periods))
    begin = start.replace(tzinfo=UTC)
    assert open_seconds_between(working, begin, begin + timedelta(weeks=1)) == week_minutes * 60


# --- H1: loading a calendar from an open channel's rows --------------------------------------------------


@pytest.mark.django_db
def test_h1_calendar_for_reads_zone_periods_holidays_and_switch():
    channel = OpenChannelFactory(time_zone=WARSAW, working_hours_enabled=True)
    WorkingPeriod.objects.create(open_channel=channel, weekday=MONDAY, start=time(9), end=time(17))
    WorkingPeriod.objects.create(open_channel=channel, weekday=FRIDAY, start=time(20), end=time(0, 0))
    Holiday.objects.create(open_channel=channel, date=date(2026, 5, 1), name="Labour Day")
    other = OpenChannelFactory()
    WorkingPeriod.objects.create(open_channel=other, weekday=TUESDAY, start=time(9), end=time(17))

    loaded = calendar_for(channel)

    assert loaded == calendar(
        WARSAW,
        (MONDAY, time(9), time(17)),
        (FRIDAY, time(20), time(0, 0)),
        holidays={date(2026, 5, 1)},
    )
    assert is_open(loaded, local(WARSAW, 2026, 3, 2, 10))


@pytest.mark.django_db
def test_h2_calendar_for_a_channel_without_working_hours_is_always_open():
    channel = OpenChannelFactory(working_hours_enabled=False)
    loaded = calendar_for(channel)
    assert not loaded.enabled
    assert is_open(loaded, utc(2026, 3, 1, 3))


@pytest.mark.django_db
def test_h1_calendar_for_skips_a_period_row_that_bypassed_validation(caplog):
    channel = OpenChannelFactory(time_zone=WARSAW, working_hours_enabled=True)
    WorkingPeriod.objects.create(open_channel=channel, weekday=MONDAY, start=time(17), end=time(9))
    WorkingPeriod.objects.create(open_channel=channel, weekday=TUESDAY, start=time(9), end=time(17))
    loaded = calendar_for(channel)
    assert loaded.periods == (Period(weekday=TUESDAY, start=time(9), end=time(17)),)
    assert "ignored" in caplog.text


@pytest.mark.django_db
def test_h1_calendar_for_uses_prefetched_rows(django_assert_num_queries):
    channel = OpenChannelFactory(time_zone=WARSAW, working_hours_enabled=True)
    WorkingPeriod.objects.create(open_channel=channel, weekday=MONDAY, start=time(9), end=time(17))
    Holiday.objects.create(open_channel=channel, date=date(2026, 5, 1))
    prefetched = OpenChannel.objects.prefetch_related("working_periods", "holidays").get(pk=channel.pk)
    with django_assert_num_queries(0):
        loaded = calendar_for(prefetched)
    assert len(loaded.periods) == 1
    assert loaded.holidays == frozenset({date(2026, 5, 1)})


@PROPERTY_SETTINGS
@given(scenarios(), st.integers(1, 3 * 24 * 3600))
def test_Q4_property_working_time_before_is_where_the_working_seconds_add_up(scenario, seconds):
    working, end = scenario
    start = working_time_before(working, end, seconds)
    if start is None:
        assert not working.periods
        return
    assert start <= end
    assert open_seconds_between(working, start, end) == pytest.approx(seconds, abs=1e-6)
    # The latest such instant: a second later there is less than that working time left.
    assert open_seconds_between(working, start + timedelta(seconds=1), end) < seconds
