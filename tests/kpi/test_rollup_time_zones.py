"""Issue 18: K3 days in each open channel's time zone, and the day rollup equal to the raw records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.models import ClientRating, OpenChannel
from kpi import rollup
from kpi.models import KpiConversationDay, KpiDay, ResponseRecord, SupervisorRating
from kpi.selectors import KpiPeriod, kpi_overview
from kpi.services import responses_record, responses_record_pending
from tests.factories import ConnectorFactory, OpenChannelFactory


def _overview_days(period, now, *, use_rollup=True):
    return {point.day: point.responses for point in kpi_overview(period, now=now, use_rollup=use_rollup).days}


def _answered(start_chat, operator, at, *, channel=None, after=timedelta(minutes=2)):
    chat = start_chat(operator, channel=channel, created_at=at)
    chat.client(at)
    chat.operator(operator, at + after)
    responses_record(conversation_id=chat.conversation.pk, now=at + after + timedelta(minutes=1))
    return chat


@pytest.mark.parametrize(
    ("zone", "at", "local"),
    [
        ("Asia/Ho_Chi_Minh", datetime(2026, 3, 1, 23, 30, tzinfo=UTC), date(2026, 3, 2)),
        ("UTC", datetime(2026, 3, 1, 23, 30, tzinfo=UTC), date(2026, 3, 1)),
        # Warsaw moves to summer time at 01:00 UTC on 29 March 2026: 22:30 UTC is 00:30 local after it.
        ("Europe/Warsaw", datetime(2026, 3, 28, 22, 30, tzinfo=UTC), date(2026, 3, 28)),  # 23:30 CET
        ("Europe/Warsaw", datetime(2026, 3, 29, 22, 30, tzinfo=UTC), date(2026, 3, 30)),  # 00:30 CEST
        ("Europe/Warsaw", datetime(2026, 10, 24, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # 00:30 CEST
        ("Europe/Warsaw", datetime(2026, 10, 25, 22, 30, tzinfo=UTC), date(2026, 10, 25)),  # 23:30 CET
    ],
)
def test_a_wait_counts_on_the_local_day_of_its_open_channel(start_chat, kpi_channel, operators, zone, at, local):
    kpi_channel.time_zone = zone
    kpi_channel.save()
    _answered(start_chat, operators[0], at)
    period = KpiPeriod(local - timedelta(days=2), local + timedelta(days=2), open_channel_id=kpi_channel.pk)
    for now in (at + timedelta(hours=1), at + timedelta(days=5)):  # today read raw, then a closed day
        days = _overview_days(period, now)
        assert {day for day, responses in days.items() if responses} == {local}
    assert KpiDay.objects.get().day == local


def test_today_is_the_open_channels_local_date(client, supervisor, kpi_channel, time_machine):
    kpi_channel.time_zone = "Asia/Ho_Chi_Minh"
    kpi_channel.save()
    time_machine.move_to(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), tick=False)  # 06:30 on 2 March there
    client.force_login(supervisor)
    response = client.get(reverse("kpi:overview"), {"open_channel": kpi_channel.pk})
    assert response.status_code == 200
    assert response.context["overview"].period.last_day == date(2026, 3, 2)
    assert "Asia/Ho_Chi_Minh" in response.content.decode()


def test_channels_of_different_zones_each_count_their_own_days(client, supervisor, kpi_channel, operators, start_chat):
    kpi_channel.time_zone = "Asia/Ho_Chi_Minh"
    kpi_channel.save()
    sales = OpenChannelFactory(name="Sales", time_zone="UTC")
    ConnectorFactory(open_channel=sales)
    sales.supervisors.add(supervisor)
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    _answered(start_chat, operators[0], at)
    _answered(start_chat, operators[0], at, channel=sales)
    period = KpiPeriod(date(2026, 2, 27), date(2026, 3, 3), visible_channel_ids=frozenset({kpi_channel.pk, sales.pk}))
    days = _overview_days(period, at + timedelta(days=5))
    assert days[date(2026, 3, 1)] == 1 and days[date(2026, 3, 2)] == 1
    client.force_login(supervisor)
    html = client.get(reverse("kpi:overview"), {"start": "2026-02-27", "end": "2026-03-03"}).content.decode()
    assert "Asia/Ho_Chi_Minh: Support" in html and "UTC: Sales" in html


def test_times_of_the_drill_down_and_transcript_are_in_the_channels_zone(
    client, supervisor, kpi_channel, operators, start_chat
):
    kpi_channel.time_zone = "Asia/Ho_Chi_Minh"
    kpi_channel.save()
    chat = _answered(start_chat, operators[0], datetime(2026, 3, 1, 23, 30, tzinfo=UTC))
    client.force_login(supervisor)
    listing = client.get(reverse("kpi:conversations"), {"start": "2026-03-02", "end": "2026-03-02"}).content.decode()
    assert "2 Mar 2026 06:30" in listing and "Asia/Ho_Chi_Minh" in listing
    transcript = client.get(reverse("kpi:conversation", args=[chat.conversation.pk])).content.decode()
    assert "2 Mar 06:30:00" in transcript and "times in Asia/Ho_Chi_Minh" in transcript


def test_a_record_recorded_twice_is_counted_once(start_chat, kpi_channel, operators):
    at = datetime(2026, 3, 2, 10, tzinfo=UTC)
    chat = _answered(start_chat, operators[0], at)
    responses_record(conversation_id=chat.conversation.pk, now=at + timedelta(hours=1))
    chat.conversation.responses_pending = True
    chat.conversation.save(update_fields=["responses_pending"])
    responses_record_pending(now=at + timedelta(hours=2))
    day = KpiDay.objects.get()
    assert (day.waits, day.responses, day.response_seconds_sum) == (1, 1, 120.0)
    assert KpiConversationDay.objects.count() == 1


def test_the_rebuild_command_is_idempotent(start_chat, kpi_channel, operators, capsys):
    for offset in range(3):
        _answered(start_chat, operators[offset % 2], datetime(2026, 3, 2 + offset, 10, tzinfo=UTC))
    recorded = _rows()
    KpiDay.objects.filter(day=date(2026, 3, 4)).update(responses=99)  # a stale row the rebuild corrects
    call_command("kpi_rollup_rebuild")
    assert _rows() == recorded
    call_command("kpi_rollup_rebuild", "--from", "2026-03-03")
    call_command("kpi_rollup_rebuild")
    assert _rows() == recorded
    assert "3 day rows" in capsys.readouterr().out


def test_the_rebuild_command_refuses_a_bad_date(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("kpi_rollup_rebuild", "--from", "yesterday")


def _rows():
    days = sorted(
        KpiDay.objects.values_list(
            "open_channel_id",
            "operator_id",
            "day",
            "waits",
            "responses",
            "response_seconds_sum",
            "initial_responses",
            "maximum_seconds",
            "misses",
            "conversations_only_here",
        ),
        key=str,
    )
    conversations = sorted(
        KpiConversationDay.objects.values_list("conversation_id", "operator_id", "day", "also_elsewhere"), key=str
    )
    return days, conversations


ZONES = ["UTC", "Europe/Warsaw", "Asia/Ho_Chi_Minh", "America/New_York"]
# Both DST changes of 2026 in Warsaw (29 March, 25 October) and New York (8 March, 1 November).
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    zones=st.lists(st.sampled_from(ZONES), min_size=2, max_size=2),
    waits=st.lists(
        st.tuples(
            st.integers(0, 1),  # open channel
            st.integers(0, 2),  # operator (2: nobody answers)
            st.integers(0, 250 * 24 * 60),  # minutes after EPOCH
            st.integers(1, 3),  # client messages before the reply
            st.integers(5, 4 * 3600),  # reply after (s)
            st.integers(0, 1),  # operator of the second reply (a transfer when it differs)
        ),
        min_size=1,
        max_size=14,
    ),
    first=st.integers(0, 240),
    length=st.integers(0, 60),
    today=st.integers(0, 260),
)
def test_rollup_and_raw_give_the_same_figures(start_chat, kpi_channel, operators, zones, waits, first, length, today):
    """Random conversations in two channels of random zones, over both DST changes: the page's figures read
    through the rollup equal those over the raw records, for a random period and a random "today"."""
    ResponseRecord.objects.all().delete()
    KpiDay.objects.all().delete()
    KpiConversationDay.objects.all().delete()
    other = OpenChannel.objects.filter(name="Sales").first()  # examples share the test's database
    if other is None:
        other = OpenChannelFactory(name="Sales")
        ConnectorFactory(open_channel=other)
    channels = [kpi_channel, other]
    for channel, zone in zip(channels, zones, strict=True):
        channel.time_zone = zone
        channel.save()
    now = EPOCH + timedelta(days=260)
    for channel_index, operator_index, minute, messages, reply, second in waits:
        at = EPOCH + timedelta(minutes=minute)
        holder = operators[operator_index] if operator_index < 2 else None
        chat = start_chat(holder, channel=channels[channel_index], created_at=at)
        for n in range(messages):
            chat.client(at + timedelta(seconds=n))
        if holder is not None:
            chat.operator(holder, at + timedelta(seconds=reply))
            # Recorded between the two waits too: the second, maybe on another day or by another operator,
            # then changes whether the conversation was answered under one (channel, operator, day) only.
            responses_record(conversation_id=chat.conversation.pk, now=now)
            chat.client(at + timedelta(seconds=reply + 60))  # a second wait, maybe after midnight
            chat.operator(operators[second], at + timedelta(seconds=2 * reply + 60))
        responses_record(conversation_id=chat.conversation.pk, now=now)
    recorded = _rows()
    rollup.rebuild()
    assert _rows() == recorded  # kept up to date by recording as a rebuild computes it
    period = KpiPeriod(
        (EPOCH + timedelta(days=first)).date(),
        (EPOCH + timedelta(days=first + length)).date(),
        visible_channel_ids=None,
    )
    at_today = EPOCH + timedelta(days=today, hours=13)
    for narrowed in (period, KpiPeriod(period.first_day, period.last_day, open_channel_id=other.pk)):
        with_rollup = kpi_overview(narrowed, now=at_today)
        raw = kpi_overview(narrowed, now=at_today, use_rollup=False)
        assert _figures(with_rollup) == _figures(raw)


def _figures(overview):
    def stats(row):
        s = row.stats
        rounded = [
            None if v is None else round(v, 6)
            for v in (s.initial_average_seconds, s.average_seconds, s.maximum_seconds, s.total_seconds)
        ]
        return (row.operator_id, s.conversations, s.responses, s.misses, *rounded)

    days = [
        (d.day, d.responses, d.misses, None if d.average_seconds is None else round(d.average_seconds, 6))
        for d in overview.days
    ]
    return sorted(map(stats, overview.rows), key=str), stats(overview.totals), days


@pytest.mark.parametrize("zones", [("UTC", "UTC"), ("UTC", "Asia/Ho_Chi_Minh")])
def test_ratings_count_on_the_local_day_of_their_conversations_channel(
    start_chat, kpi_channel, operators, supervisor, zones
):
    """Every channel of one zone is read without the conversations (no channel filter is needed then); the
    figures equal those of the same channels named one by one, which joins them."""
    sales = OpenChannelFactory(name="Sales", time_zone=zones[1])
    ConnectorFactory(open_channel=sales)
    kpi_channel.time_zone = zones[0]
    kpi_channel.save()
    at = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 1 March in UTC, 2 March in Ho Chi Minh City
    for channel, value, score in ((kpi_channel, "like", 5), (sales, "dislike", 2)):
        conversation = start_chat(operators[0], channel=channel, created_at=at).conversation
        ClientRating.objects.create(conversation=conversation, operator=operators[0], value=value, rated_at=at)
        SupervisorRating.objects.create(
            conversation=conversation, operator=operators[0], supervisor=supervisor, score=score, created_at=at
        )
    day = date(2026, 3, 1)
    every = frozenset({kpi_channel.pk, sales.pk})
    now = at + timedelta(days=3)

    def ratings(period):
        row = kpi_overview(period, now=now).totals
        return row.likes, row.dislikes, row.supervisor_ratings, row.supervisor_average

    expected = (1, 1, 2, 3.5) if zones[1] == "UTC" else (1, 0, 1, 5.0)
    assert ratings(KpiPeriod(day, day)) == expected
    assert ratings(KpiPeriod(day, day, visible_channel_ids=every)) == expected
    assert ratings(KpiPeriod(day, day, open_channel_id=sales.pk)) == (
        (0, 1, 1, 2.0) if zones[1] == "UTC" else (0, 0, 0, None)
    )
