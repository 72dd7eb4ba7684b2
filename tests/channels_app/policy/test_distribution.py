"""The pure distribution policy (Q2, Q5, Q6, Q8, C4): examples and hypothesis properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels_app.policy import chat_limit, presence
from channels_app.policy import distribution as d

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def op(operator_id: int, position: int | None = None, **kwargs) -> d.OperatorSnapshot:
    return d.OperatorSnapshot(
        operator_id=operator_id,
        name=kwargs.pop("name", f"op{operator_id}"),
        position=operator_id if position is None else position,
        **kwargs,
    )


def active(count: int = 1, *, replied: bool = False, last_by_operator: bool = False) -> chat_limit.HeldBucket:
    return chat_limit.HeldBucket(
        kind=chat_limit.HELD_ACTIVE, replied=replied, last_by_operator=last_by_operator, count=count
    )


# --- Q5 eligibility ------------------------------------------------------------------------------------


def test_Q5_every_failed_rule_is_named():
    rules = d.RoutingRules(check_online=True, require_clocked_in=True, chat_limit=3)
    dismissed = op(1, is_active=False, on_leave=True, online=False, clocked_in=False, held=(active(3),))
    assert d.ineligibility_reasons(dismissed, rules) == (
        "dismissed",
        "on leave",
        "offline",
        "not clocked in",
        "at limit 3/3",
    )


def test_Q5_on_a_break_counts_only_when_clocking_in_is_required():
    on_break = op(1, on_break=True)
    assert d.ineligibility_reasons(on_break, d.RoutingRules(require_clocked_in=True)) == ("on a break",)
    assert d.ineligibility_reasons(on_break, d.RoutingRules(require_clocked_in=False)) == ()


def test_Q5_offline_operator_is_eligible_when_online_is_not_checked():
    assert d.is_eligible(op(1, online=False), d.RoutingRules(check_online=False))
    assert not d.is_eligible(op(1, online=False), d.RoutingRules(check_online=True))


def test_Q5_limit_off_ignores_load():
    assert d.is_eligible(op(1, held=(active(50),)), d.RoutingRules(chat_limit=None))


# --- Q6 online -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heartbeat_age", "activity_age", "online"),
    [
        (timedelta(seconds=30), timedelta(minutes=9), True),
        (timedelta(seconds=30), timedelta(minutes=11), False),  # tab open, operator idle
        (timedelta(minutes=5), timedelta(seconds=1), False),  # tab closed
    ],
)
def test_Q6_online_needs_a_connected_console_and_recent_activity(heartbeat_age, activity_age, online):
    assert (
        presence.is_online(
            heartbeat_at=T0 - heartbeat_age,
            last_activity_at=T0 - activity_age,
            now=T0,
            heartbeat_timeout=timedelta(seconds=90),
            offline_after=timedelta(minutes=10),
        )
        is online
    )


def test_Q6_never_connected_is_offline():
    kwargs = {"now": T0, "heartbeat_timeout": timedelta(seconds=90), "offline_after": timedelta(minutes=10)}
    assert not presence.is_online(heartbeat_at=None, last_activity_at=T0, **kwargs)
    assert not presence.is_online(heartbeat_at=T0, last_activity_at=None, **kwargs)


# --- Q8 count ------------------------------------------------------------------------------------------


def test_Q8_answered_exclusion_skips_replied_and_closed():
    held = (
        active(2, replied=True),
        active(1, replied=False),
        chat_limit.HeldBucket(kind=chat_limit.HELD_CLOSED_PENDING_RATING, count=4),
        chat_limit.HeldBucket(kind=chat_limit.HELD_OFFERED, count=1),
    )
    assert chat_limit.chat_load(held, chat_limit.EXCLUDE_ANSWERED) == 2  # one unanswered + one pending offer


def test_Q8_waiting_for_client_exclusion_skips_conversations_whose_last_message_is_the_operators():
    held = (
        active(1, replied=True, last_by_operator=True),
        active(2, replied=True, last_by_operator=False),  # the client wrote again
        chat_limit.HeldBucket(kind=chat_limit.HELD_CLOSED_PENDING_RATING, count=1),
    )
    assert chat_limit.chat_load(held, chat_limit.EXCLUDE_WAITING_FOR_CLIENT) == 2


def test_Q8_closed_exclusion_counts_every_open_conversation():
    held = (
        active(2, replied=True, last_by_operator=True),
        chat_limit.HeldBucket(kind=chat_limit.HELD_CLOSED_PENDING_RATING, count=3),
    )
    assert chat_limit.chat_load(held, chat_limit.EXCLUDE_CLOSED) == 2


def test_Q8_pending_offer_counts_under_every_exclusion():
    offer = chat_limit.HeldBucket(kind=chat_limit.HELD_OFFERED, count=1)
    for exclusion in (chat_limit.EXCLUDE_ANSWERED, chat_limit.EXCLUDE_WAITING_FOR_CLIENT, chat_limit.EXCLUDE_CLOSED):
        assert chat_limit.chat_load((offer,), exclusion) == 1


# --- Q2 modes ------------------------------------------------------------------------------------------


def test_Q2_evenly_picks_never_assigned_then_least_recently_assigned():
    operators = [
        op(1, last_assigned_at=T0 - timedelta(minutes=1)),
        op(2, last_assigned_at=T0 - timedelta(minutes=30)),
        op(3, last_assigned_at=None),
    ]
    decision = d.choose(operators, d.RoutingRules(mode=d.EVENLY))
    assert decision.chosen == (3,)
    decision = d.choose(operators[:2], d.RoutingRules(mode=d.EVENLY))
    assert decision.chosen == (2,)
    assert decision.reasons_for(1) == (d.REASON_ASSIGNED_MORE_RECENTLY,)


def test_Q2_evenly_ties_go_to_the_earlier_queue_position():
    operators = [op(1, position=5, last_assigned_at=T0), op(2, position=1, last_assigned_at=T0)]
    decision = d.choose(operators, d.RoutingRules(mode=d.EVENLY))
    assert decision.chosen == (2,)
    assert decision.reasons_for(1) == (d.REASON_TIE_LATER_IN_QUEUE,)


def test_Q2_in_order_first_offer_goes_to_first_eligible_then_next_and_wraps():
    rules = d.RoutingRules(mode=d.STRICTLY_IN_ORDER)
    operators = [op(1, online=False), op(2), op(3), op(4)]
    assert d.choose(operators, rules).chosen == (2,)
    assert d.choose(operators, rules, last_offered_position=2).chosen == (3,)
    assert d.choose(operators, rules, last_offered_position=4).chosen == (2,)  # wraps past offline op 1


def test_Q2_all_at_once_offers_every_eligible_operator():
    rules = d.RoutingRules(mode=d.ALL_AT_ONCE, chat_limit=2)
    decision = d.choose([op(1), op(2, held=(active(2),)), op(3)], rules)
    assert decision.chosen == (1, 3)
    assert decision.considered[1].reasons == ("at limit 2/2",)


def test_Q3_evenly_skips_operators_who_let_it_expire_until_everyone_has_been_tried():
    rules = d.RoutingRules(mode=d.EVENLY)
    tried_first = [op(1, already_tried=True), op(2, last_assigned_at=T0)]
    decision = d.choose(tried_first, rules)
    assert decision.chosen == (2,)
    assert d.REASON_ALREADY_TRIED in decision.reasons_for(1)
    everyone_tried = [op(1, already_tried=True), op(2, already_tried=True, last_assigned_at=T0)]
    decision = d.choose(everyone_tried, rules)
    assert decision.chosen == (1,)
    assert d.REASON_NEW_ROUND in decision.reasons_for(1)


def test_Q9_nobody_eligible_says_why_for_each_operator():
    rules = d.RoutingRules(mode=d.EVENLY, chat_limit=1)
    decision = d.choose([op(1, online=False), op(2, on_leave=True), op(3, held=(active(1),))], rules)
    assert decision.outcome == d.OUTCOME_NOBODY_ELIGIBLE
    assert decision.chosen == ()
    assert [entry.reasons for entry in decision.considered] == [("offline",), ("on leave",), ("at limit 1/1",)]
    assert decision.candidates_json()[2] == {
        "operator_id": 3,
        "name": "op3",
        "position": 3,
        "eligible": False,
        "reasons": ["at limit 1/1"],
    }


def test_evenly_passes_over_an_operator_being_assigned_elsewhere_unless_alone():
    rules = d.RoutingRules(mode=d.EVENLY)
    operators = [op(1), op(2, last_assigned_at=T0)]
    assert d.choose(operators, rules, busy_ids=frozenset({1})).chosen == (2,)
    assert d.choose(operators[:1], rules, busy_ids=frozenset({1})).chosen == (1,)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="unknown distribution mode"):
        d.choose([op(1)], d.RoutingRules(mode="random"))


# --- C4 ------------------------------------------------------------------------------------------------


def test_C4_responsible_person_ignores_online_and_limit_but_not_leave():
    rules = d.RoutingRules(check_online=True, chat_limit=1)
    busy_offline = op(9, position=None, online=False, held=(active(5),))
    assert d.choose_responsible(busy_offline, rules).chosen == (9,)
    on_leave = op(9, position=None, on_leave=True)
    decision = d.choose_responsible(on_leave, rules)
    assert decision.chosen == ()
    assert decision.considered[0].reasons == ("on leave", d.REASON_RESPONSIBLE_NOT_ELIGIBLE)


def test_C4_responsible_person_who_let_it_expire_is_not_offered_it_again():
    decision = d.choose_responsible(op(9, already_tried=True), d.RoutingRules())
    assert decision.chosen == ()


# --- properties ----------------------------------------------------------------------------------------

held_buckets = st.lists(
    st.builds(
        chat_limit.HeldBucket,
        kind=st.sampled_from([chat_limit.HELD_OFFERED, chat_limit.HELD_ACTIVE, chat_limit.HELD_CLOSED_PENDING_RATING]),
        replied=st.booleans(),
        last_by_operator=st.booleans(),
        count=st.integers(min_value=0, max_value=4),
    ),
    max_size=4,
).map(tuple)

snapshots = st.lists(
    st.builds(
        op,
        operator_id=st.integers(min_value=1, max_value=10_000),
        is_active=st.booleans(),
        on_leave=st.booleans(),
        online=st.booleans(),
        clocked_in=st.booleans(),
        on_break=st.booleans(),
        last_assigned_at=st.none() | st.integers(min_value=0, max_value=500).map(lambda m: T0 - timedelta(minutes=m)),
        held=held_buckets,
        already_tried=st.booleans(),
    ),
    max_size=12,
    unique_by=lambda snapshot: snapshot.operator_id,
)

rules_strategy = st.builds(
    d.RoutingRules,
    mode=st.sampled_from(d.MODES),
    check_online=st.booleans(),
    require_clocked_in=st.booleans(),
    chat_limit=st.none() | st.integers(min_value=1, max_value=6),
    chat_limit_exclusion=st.sampled_from(
        [chat_limit.EXCLUDE_ANSWERED, chat_limit.EXCLUDE_WAITING_FOR_CLIENT, chat_limit.EXCLUDE_CLOSED]
    ),
)


@settings(max_examples=300, deadline=None)
@given(operators=snapshots, rules=rules_strategy, last=st.none() | st.integers(min_value=0, max_value=10_000))
def test_property_Q5_chosen_operator_is_always_eligible_and_Q8_never_over_the_limit(operators, rules, last):
    decision = d.choose(operators, rules, last_offered_position=last)
    by_id = {snapshot.operator_id: snapshot for snapshot in operators}
    for operator_id in decision.chosen:
        assert d.is_eligible(by_id[operator_id], rules)
        if rules.chat_limit is not None:
            # The new offer counts too: the load after it stays within the limit.
            assert by_id[operator_id].load(rules.chat_limit_exclusion) + 1 <= rules.chat_limit
    assert (decision.outcome == d.OUTCOME_OFFERED) == bool(decision.chosen)
    assert bool(decision.chosen) == any(d.is_eligible(snapshot, rules) for snapshot in operators)
    assert [entry.operator_id for entry in decision.considered] == sorted(by_id, key=lambda i: (by_id[i].position, i))
    for entry in decision.considered:
        assert entry.eligible == d.is_eligible(by_id[entry.operator_id], rules)
        if not entry.eligible:
            assert entry.reasons  # every skipped operator is explained


@settings(max_examples=300, deadline=None)
@given(operators=snapshots)
def test_property_Q2_evenly_picks_the_longest_waiting_untried_operator(operators):
    rules = d.RoutingRules(mode=d.EVENLY, check_online=False)
    decision = d.choose(operators, rules)
    eligible = [snapshot for snapshot in operators if d.is_eligible(snapshot, rules)]
    if not eligible:
        assert decision.chosen == ()
        return
    pool = [snapshot for snapshot in eligible if not snapshot.already_tried] or eligible
    (chosen_id,) = decision.chosen
    chosen = next(snapshot for snapshot in pool if snapshot.operator_id == chosen_id)
    for other in pool:
        if chosen.last_assigned_at is None:
            assert other.last_assigned_at is not None or other.position >= chosen.position
        else:
            assert other.last_assigned_at is not None
            assert (other.last_assigned_at, other.position) >= (chosen.last_assigned_at, chosen.position)


@settings(max_examples=300, deadline=None)
@given(
    eligible_positions=st.sets(st.integers(min_value=0, max_value=30), min_size=1, max_size=10),
    last=st.integers(min_value=0, max_value=30),
)
def test_property_Q2_in_order_takes_the_next_position_and_wraps(eligible_positions, last):
    operators = [op(position + 1, position=position) for position in eligible_positions]
    decision = d.choose(operators, d.RoutingRules(mode=d.STRICTLY_IN_ORDER), last_offered_position=last)
    (chosen_id,) = decision.chosen
    later = sorted(position for position in eligible_positions if position > last)
    expected = later[0] if later else min(eligible_positions)
    assert chosen_id == expected + 1


@settings(max_examples=200, deadline=None)
@given(held=held_buckets)
def test_property_Q8_exclusions_only_ever_remove_from_the_closed_count(held):
    strictest = chat_limit.chat_load(held, chat_limit.EXCLUDE_CLOSED)
    assert chat_limit.chat_load(held, chat_limit.EXCLUDE_ANSWERED) <= strictest
    assert chat_limit.chat_load(held, chat_limit.EXCLUDE_WAITING_FOR_CLIENT) <= strictest
    pending = sum(bucket.count for bucket in held if bucket.kind == chat_limit.HELD_OFFERED)
    assert (
        min(
            chat_limit.chat_load(held, exclusion)
            for exclusion in (chat_limit.EXCLUDE_ANSWERED, chat_limit.EXCLUDE_CLOSED)
        )
        >= pending
    )
