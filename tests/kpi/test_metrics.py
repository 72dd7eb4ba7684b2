"""K1–K3: the response-time arithmetic as a pure module (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_app.policy.schedule import Period, WorkingCalendar, open_seconds_between
from kpi.metrics import (
    MessageFact,
    ResponseFact,
    ResponseKind,
    ResponseRules,
    Wait,
    conversation_waits,
    counted_seconds,
    due_at,
    measure,
    operator_stats,
    render_miss_text,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
OLGA, PIOTR = 11, 12


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def client(message_id: int, minutes: float) -> MessageFact:
    return MessageFact(id=message_id, author_kind="client", at=at(minutes))


def operator(message_id: int, minutes: float, operator_id: int = OLGA) -> MessageFact:
    return MessageFact(id=message_id, author_kind="operator", at=at(minutes), operator_id=operator_id)


def bot(message_id: int, minutes: float) -> MessageFact:
    return MessageFact(id=message_id, author_kind="bot", at=at(minutes))


def system(message_id: int, minutes: float) -> MessageFact:
    return MessageFact(id=message_id, author_kind="system", at=at(minutes))


# --- K1: splitting a conversation into waits ------------------------------------------------------


def test_k1_initial_and_subsequent_responses():
    waits = conversation_waits(
        [client(1, 0), system(2, 0), operator(3, 2), client(4, 10), operator(5, 15), client(6, 20), operator(7, 21)]
    )
    assert [(w.kind, w.client_message_id, w.response_message_id) for w in waits] == [
        (ResponseKind.INITIAL, 1, 3),
        (ResponseKind.SUBSEQUENT, 4, 5),
        (ResponseKind.SUBSEQUENT, 6, 7),
    ]
    assert [w.responded_at - w.waiting_since for w in waits] == [
        timedelta(minutes=2),
        timedelta(minutes=5),
        timedelta(minutes=1),
    ]


def test_k1_the_client_waits_since_the_first_unanswered_message():
    waits = conversation_waits([client(1, 0), client(2, 3), client(3, 4), operator(4, 6), operator(5, 7)])
    assert len(waits) == 1
    assert waits[0].client_message_id == 1
    assert waits[0].waiting_since == at(0)
    assert waits[0].responded_at == at(6), "the operator's second message answers nothing"


def test_k1_bot_and_system_messages_neither_start_nor_end_a_wait():
    waits = conversation_waits([system(1, 0), client(2, 1), bot(3, 1.5), system(4, 2), operator(5, 4)])
    assert [(w.client_message_id, w.responded_at) for w in waits] == [(2, at(4))]


def test_k1_messages_are_ordered_by_time_then_id_whatever_the_input_order():
    shuffled = [operator(3, 2), client(2, 0), client(1, 0)]
    waits = conversation_waits(shuffled)
    assert waits[0].client_message_id == 1


def test_k1_a_wait_still_open_has_no_response_yet():
    waits = conversation_waits([client(1, 0), operator(2, 1), client(3, 5)])
    assert waits[-1] == Wait(kind=ResponseKind.SUBSEQUENT, client_message_id=3, waiting_since=at(5))
    assert waits[-1].ended_at is None


def test_k1_transfer_the_response_belongs_to_the_operator_who_answered():
    # Olga answered first; the conversation went to Piotr, who answered the next wait.
    waits = conversation_waits(
        [client(1, 0), operator(2, 1, OLGA), client(3, 5), operator(4, 9, PIOTR), client(5, 10), operator(6, 12, PIOTR)]
    )
    assert [(w.operator_id, w.responded_at - w.waiting_since) for w in waits] == [
        (OLGA, timedelta(minutes=1)),
        (PIOTR, timedelta(minutes=4)),
        (PIOTR, timedelta(minutes=2)),
    ]


def test_k1_transfer_before_the_first_answer_counts_the_whole_wait_for_the_new_operator():
    # Olga held the chat without answering; after the transfer Piotr answered: the client waited 7 minutes.
    waits = conversation_waits([client(1, 0), operator(2, 7, PIOTR)])
    assert waits[0].kind == ResponseKind.INITIAL
    assert (waits[0].operator_id, waits[0].responded_at - waits[0].waiting_since) == (PIOTR, timedelta(minutes=7))


def test_k1_reply_after_a_long_gap_is_one_long_response():
    waits = conversation_waits([client(1, 0), operator(2, 3 * 24 * 60)])
    assert waits[0].responded_at - waits[0].waiting_since == timedelta(days=3)


def test_k1_reopened_enquiry_is_a_new_conversation_with_its_own_initial_response():
    # Conversation A closed; the client wrote again two days later, which starts conversation B.
    first = conversation_waits([client(1, 0), operator(2, 1)], closed_at=at(30))
    again = conversation_waits([client(10, 2 * 24 * 60), operator(11, 2 * 24 * 60 + 4)])
    assert first[0].kind == again[0].kind == ResponseKind.INITIAL
    assert again[0].waiting_since == at(2 * 24 * 60), "not measured from conversation A's first message"
    assert again[0].responded_at - again[0].waiting_since == timedelta(minutes=4)


def test_k1_close_ends_a_wait_unanswered_and_later_client_messages_start_none():
    waits = conversation_waits([client(1, 0), operator(2, 1), client(3, 5), client(4, 40)], closed_at=at(30))
    assert len(waits) == 2
    assert waits[1].responded_at is None
    assert waits[1].closed_unanswered_at == at(30)
    assert waits[1].ended_at == at(30)


def test_k1_operator_writing_first_makes_every_wait_subsequent():
    waits = conversation_waits([operator(1, 0), client(2, 5), operator(3, 6)])
    assert [w.kind for w in waits] == [ResponseKind.SUBSEQUENT]


def test_k1_b1_waits_opened_while_the_bot_answered_count_from_the_hand_over():
    waits = conversation_waits([client(1, 0), bot(2, 0.1), client(3, 1), operator(4, 6)], answerable_from=at(3))
    assert waits[0].client_message_id == 1
    assert waits[0].waiting_since == at(3)
    assert waits[0].responded_at - waits[0].waiting_since == timedelta(minutes=3)


def test_k1_no_client_message_no_wait():
    assert conversation_waits([]) == []
    assert conversation_waits([operator(1, 0), system(2, 1)]) == []


# --- K1: measuring on the wall clock or in working hours ----------------------------------------------

WARSAW_OFFICE = WorkingCalendar(
    time_zone="Europe/Warsaw", periods=tuple(Period(weekday=d, start=time(9), end=time(17)) for d in range(5))
)


def test_k1_wall_clock_response_time():
    wait = conversation_waits([client(1, 0), operator(2, 4)])[0]
    assert measure(wait, ResponseRules(), now=at(100)).response_seconds == 240.0


def test_k1_working_hours_option_counts_only_open_time():
    # Friday 16:50 Warsaw → Monday 09:05: ten minutes on Friday, five on Monday.
    friday = datetime(2026, 3, 6, 16, 50, tzinfo=ZoneInfo("Europe/Warsaw"))
    monday = datetime(2026, 3, 9, 9, 5, tzinfo=ZoneInfo("Europe/Warsaw"))
    wait = Wait(
        kind=ResponseKind.INITIAL,
        client_message_id=1,
        waiting_since=friday,
        response_message_id=2,
        operator_id=OLGA,
        responded_at=monday,
    )
    office_hours = ResponseRules(target_seconds=20 * 60, working_hours_only=True, calendar=WARSAW_OFFICE)
    result = measure(wait, office_hours, now=monday)
    assert result.response_seconds == 15 * 60
    assert not result.is_miss, "15 working minutes are within a 20-minute target"
    assert result.due_at == datetime(2026, 3, 9, 9, 10, tzinfo=ZoneInfo("Europe/Warsaw"))

    wall_clock = ResponseRules(target_seconds=20 * 60)
    assert measure(wait, wall_clock, now=monday).is_miss


def test_k1_working_hours_option_with_a_disabled_calendar_is_the_wall_clock():
    always = WorkingCalendar(time_zone="UTC", periods=(), enabled=False)
    rules = ResponseRules(working_hours_only=True, calendar=always)
    assert counted_seconds(rules, at(0), at(90)) == 90 * 60


def test_k1_working_hours_option_with_no_periods_is_never_due():
    never = WorkingCalendar(time_zone="UTC", periods=())
    rules = ResponseRules(target_seconds=60, working_hours_only=True, calendar=never)
    assert due_at(rules, at(0)) is None
    wait = conversation_waits([client(1, 0)])[0]
    assert not measure(wait, rules, now=at(10_000)).is_miss


def test_k1_due_across_several_working_days():
    rules = ResponseRules(target_seconds=10 * 3600, working_hours_only=True, calendar=WARSAW_OFFICE)
    friday_noon = datetime(2026, 3, 6, 12, tzinfo=ZoneInfo("Europe/Warsaw"))
    # 5 h on Friday, 5 h on Monday from 09:00.
    assert due_at(rules, friday_noon) == datetime(2026, 3, 9, 14, tzinfo=ZoneInfo("Europe/Warsaw"))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),  # noqa: DTZ001 -- hypothesis takes naive bounds
    st.integers(10, 12 * 3600),
)
def test_k1_property_due_at_is_where_the_counted_time_reaches_the_target(start, target):
    rules = ResponseRules(target_seconds=target, working_hours_only=True, calendar=WARSAW_OFFICE)
    deadline = due_at(rules, start)
    assert open_seconds_between(WARSAW_OFFICE, start, deadline) == pytest.approx(target, abs=1e-6)
    # Just before the deadline the target is not reached yet.
    assert open_seconds_between(WARSAW_OFFICE, start, deadline - timedelta(seconds=1)) < target


# --- K2: what counts as a miss ------------------------------------------------------------------------


def test_k2_answer_after_the_target_is_a_miss_and_exactly_on_it_is_not():
    rules = ResponseRules(target_seconds=180)
    on_time = conversation_waits([client(1, 0), operator(2, 3)])[0]
    late = conversation_waits([client(1, 0), operator(2, 3.01)])[0]
    assert not measure(on_time, rules, now=at(60)).is_miss
    assert measure(late, rules, now=at(60)).is_miss


def test_k2_an_unanswered_wait_misses_once_now_is_past_the_target():
    wait = conversation_waits([client(1, 0)])[0]
    rules = ResponseRules(target_seconds=180)
    assert not measure(wait, rules, now=at(3)).is_miss
    assert measure(wait, rules, now=at(3.5)).is_miss
    assert measure(wait, rules, now=at(3.5)).due_at == at(3)


def test_k2_closed_unanswered_misses_only_if_closed_after_the_target():
    rules = ResponseRules(target_seconds=600)
    closed_in_time = conversation_waits([client(1, 0)], closed_at=at(5))[0]
    closed_late = conversation_waits([client(1, 0)], closed_at=at(15))[0]
    assert not measure(closed_in_time, rules, now=at(100)).is_miss
    assert measure(closed_late, rules, now=at(100)).is_miss
    assert measure(closed_late, rules, now=at(100)).response_seconds is None


def test_k2_without_a_target_nothing_is_missed():
    wait = conversation_waits([client(1, 0), operator(2, 600)])[0]
    result = measure(wait, ResponseRules(target_seconds=None), now=at(1000))
    assert (result.is_miss, result.due_at, result.response_seconds) == (False, None, 36000.0)


def test_k2_template_replaces_operator_and_dialog_everywhere():
    text = render_miss_text("#OPERATOR# missed #DIALOG#; see #DIALOG#.", operator_name="Olga", dialog="#42")
    assert text == "Olga missed #42; see #42."


# --- K3: per-operator statistics ------------------------------------------------------------------------


def test_k3_operator_stats_arithmetic():
    facts = [
        ResponseFact(
            conversation_id=1, operator_id=OLGA, kind=ResponseKind.INITIAL, response_seconds=60, is_miss=False
        ),
        ResponseFact(
            conversation_id=1, operator_id=OLGA, kind=ResponseKind.SUBSEQUENT, response_seconds=300, is_miss=True
        ),
        ResponseFact(
            conversation_id=2, operator_id=OLGA, kind=ResponseKind.INITIAL, response_seconds=120, is_miss=False
        ),
        ResponseFact(
            conversation_id=3, operator_id=OLGA, kind=ResponseKind.SUBSEQUENT, response_seconds=None, is_miss=True
        ),
    ]
    stats = operator_stats(facts, operator_id=OLGA)
    assert stats.conversations == 2, "an unanswered wait does not count as a conversation handled"
    assert stats.responses == 3
    assert stats.initial_average_seconds == 90
    assert stats.average_seconds == 160
    assert stats.maximum_seconds == 300
    assert stats.total_seconds == 480
    assert stats.misses == 2


def test_k3_operator_stats_of_nothing():
    stats = operator_stats([])
    assert (stats.conversations, stats.responses, stats.average_seconds, stats.maximum_seconds) == (0, 0, None, None)
    assert stats.total_seconds == 0.0
