"""Issue 15.5: which delivery state may follow which (pure module ``channels_app.policy.delivery``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels_app.policy.delivery import (
    DELIVERED,
    FAILED,
    ORDER,
    QUEUED,
    READ,
    RECEIVED,
    SENT,
    delivery_after,
    may_retry,
    rank,
)

STATES = [RECEIVED, QUEUED, SENT, DELIVERED, READ, FAILED]


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (QUEUED, SENT, SENT),
        (QUEUED, FAILED, FAILED),
        (SENT, DELIVERED, DELIVERED),
        (SENT, READ, READ),  # Messenger and the widget report read without delivered
        (DELIVERED, READ, READ),
        (SENT, FAILED, FAILED),  # WhatsApp refuses after accepting
    ],
)
def test_forward_moves(current, reported, expected):
    assert delivery_after(current, reported) == expected


@pytest.mark.parametrize(
    ("current", "reported"),
    [
        (READ, DELIVERED),  # a late "delivered" never downgrades "read"
        (READ, SENT),
        (DELIVERED, SENT),
        (READ, FAILED),
        (DELIVERED, FAILED),
        (QUEUED, DELIVERED),  # a receipt overtaking our own "sent" waits for it
        (QUEUED, READ),
        (FAILED, DELIVERED),  # failed is terminal until a retry
        (FAILED, READ),
        (FAILED, SENT),
        (RECEIVED, READ),  # a client's message has no delivery
        (SENT, SENT),
        (READ, READ),
        (SENT, "bogus"),
    ],
)
def test_no_change(current, reported):
    assert delivery_after(current, reported) is None


@given(st.lists(st.sampled_from(STATES), max_size=12), st.sampled_from([SENT, DELIVERED, READ]))
def test_a_state_that_went_out_never_goes_back_whatever_arrives(reports, start):
    state = start
    for reported in reports:
        following = delivery_after(state, reported)
        if following is None:
            continue
        if following != FAILED:
            assert rank(following) > rank(state)
        else:
            assert state == SENT
        state = following


@given(st.permutations([DELIVERED, READ]))
def test_receipts_in_any_order_end_read(order):
    state = SENT
    for reported in order:
        state = delivery_after(state, reported) or state
    assert state == READ


def test_only_failed_may_be_retried():
    assert may_retry(FAILED)
    assert [s for s in STATES if may_retry(s)] == [FAILED]
    assert ORDER == (QUEUED, SENT, DELIVERED, READ)
