"""Issue 16, point 10: a change of configuration re-decides the channel's waiting conversations at once.

Each change is made the way the admin makes it (a model save whose signals act after commit); before, the
conversation kept the wait or the offers the old settings gave it until the opening, the idle time or the
2-minute retry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from channels_app.engine import offers
from channels_app.models import ConversationStatus, DistributionMode, Holiday, Offer, QueueMember, WorkingPeriod
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator

pytestmark = pytest.mark.django_db

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # NOW is Monday 10:00 UTC
TUESDAY_NINE = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a change the way the admin makes it: what its signals scheduled after commit runs too."""

    def run(change) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            change()

    return run


@pytest.fixture
def pair(db):
    return make_operator("olga"), make_operator("piotr")


def offered_to(conversation) -> list[str]:
    conversation.refresh_from_db()
    return sorted(conversation.offers.filter(status=Offer.Status.PENDING).values_list("operator__username", flat=True))


def save(instance, **fields):
    def change() -> None:
        for name, value in fields.items():
            setattr(instance, name, value)
        instance.save()

    return change


def parked_until_noon(engine, operators, **settings):
    """A messenger client who wrote while the channel was closed: parked until Monday 12:00 (H2)."""
    channel = make_channel(operators, connector_kind="telegram", working_hours_enabled=True, **settings)
    WorkingPeriod.objects.create(open_channel=channel, weekday=0, start=time(12, 0), end=time(18, 0))
    WorkingPeriod.objects.create(open_channel=channel, weekday=1, start=time(9, 0), end=time(17, 0))
    conversation = engine.receive(channel)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.route_not_before) == (ConversationStatus.QUEUED, MONDAY_NOON)
    return channel, conversation


def test_H1_switching_working_hours_off_offers_a_parked_conversation_at_once(engine, committed, pair):
    """The issue's story: the online operator first in strict order got no offer until the old opening."""
    channel, conversation = parked_until_noon(engine, pair, distribution_mode=DistributionMode.STRICTLY_IN_ORDER)
    committed(save(channel, working_hours_enabled=False))
    assert offered_to(conversation) == ["olga"]
    assert conversation.route_not_before is None
    assert conversation.status == ConversationStatus.OFFERED


def test_H1_hours_edited_to_open_now_offer_a_parked_conversation_at_once(engine, committed, pair):
    channel, conversation = parked_until_noon(engine, pair)
    period = channel.working_periods.get(weekday=0)
    committed(save(period, start=time(8, 0)))
    assert offered_to(conversation) == ["olga"]


def test_H1_a_working_period_added_for_now_offers_a_parked_conversation_at_once(engine, committed, pair):
    channel, conversation = parked_until_noon(engine, pair)
    committed(lambda: WorkingPeriod.objects.create(open_channel=channel, weekday=0, start=time(9, 0), end=time(11, 0)))
    assert offered_to(conversation) == ["olga"]


def test_H2_a_holiday_added_today_moves_the_wait_to_the_next_opening(engine, committed, pair):
    channel, conversation = parked_until_noon(engine, pair)
    committed(lambda: Holiday.objects.create(open_channel=channel, date=date(2026, 11, 23)))
    conversation.refresh_from_db()
    assert (conversation.status, conversation.route_not_before) == (ConversationStatus.QUEUED, TUESDAY_NINE)
    assert (channel.pk, TUESDAY_NINE) in engine.openings
    assert offered_to(conversation) == []


def test_H2_deleting_the_days_only_period_moves_the_wait_to_the_next_opening(engine, committed, pair):
    channel, conversation = parked_until_noon(engine, pair)
    committed(channel.working_periods.get(weekday=0).delete)
    conversation.refresh_from_db()
    assert conversation.route_not_before == TUESDAY_NINE


def test_Q1_an_operator_added_to_the_queue_is_offered_a_waiting_conversation_at_once(engine, committed, pair):
    _olga, piotr = pair
    channel = make_channel([make_operator("away", console_heartbeat_at=None)], check_online=True)
    conversation = engine.receive(channel)
    assert offered_to(conversation) == []
    committed(lambda: QueueMember.objects.create(open_channel=channel, operator=piotr, position=1))
    assert offered_to(conversation) == ["piotr"]


def full_with_one(engine, operator, **settings):
    """The operator holds one conversation at a limit of 1; a second one waits (Q8, Q9)."""
    channel = make_channel([operator], chat_limit_enabled=True, chat_limit=1, **settings)
    first = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=first.offers.get().pk, operator=operator)
    waiting = engine.receive(channel, "second")
    assert offered_to(waiting) == []
    return channel, waiting


def test_Q8_raising_the_chat_limit_offers_a_waiting_conversation_at_once(engine, committed, pair):
    olga, _piotr = pair
    channel, waiting = full_with_one(engine, olga)
    committed(save(channel, chat_limit=2))
    assert offered_to(waiting) == ["olga"]


def test_Q8_switching_the_chat_limit_off_offers_a_waiting_conversation_at_once(engine, committed, pair):
    olga, _piotr = pair
    channel, waiting = full_with_one(engine, olga)
    committed(save(channel, chat_limit_enabled=False))
    assert offered_to(waiting) == ["olga"]


def test_Q2_changing_to_all_at_once_offers_the_conversation_to_everyone_at_once(engine, committed, pair):
    channel = make_channel(pair, distribution_mode=DistributionMode.STRICTLY_IN_ORDER)
    conversation = engine.receive(channel)
    assert offered_to(conversation) == ["olga"]
    committed(save(channel, distribution_mode=DistributionMode.ALL_AT_ONCE))
    assert offered_to(conversation) == ["olga", "piotr"]
    assert conversation.status_changes.filter(reason="distribution mode changed (Q2)").exists()


def test_Q2_changing_from_all_at_once_to_strict_order_keeps_only_the_first_operators_offer(engine, committed, pair):
    channel = make_channel(pair, distribution_mode=DistributionMode.ALL_AT_ONCE)
    conversation = engine.receive(channel)
    assert offered_to(conversation) == ["olga", "piotr"]
    committed(save(channel, distribution_mode=DistributionMode.STRICTLY_IN_ORDER))
    assert offered_to(conversation) == ["olga"]


def test_Q2_a_save_that_keeps_the_mode_leaves_pending_offers_alone(engine, committed, pair):
    channel = make_channel(pair, distribution_mode=DistributionMode.STRICTLY_IN_ORDER)
    conversation = engine.receive(channel)
    offer = conversation.offers.get()
    committed(save(channel, display_name="Support"))
    assert list(conversation.offers.filter(status=Offer.Status.PENDING)) == [offer]
    assert offer.created_at == NOW
