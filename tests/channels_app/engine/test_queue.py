"""Routing on the real database: modes (Q2), eligibility (Q5), limits (Q8), nobody eligible and instant
redistribution (Q9), the responsible person (C4), and the stored decision with its reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.engine import conversations, offers, queue, sweeps
from channels_app.engine import operators as presence
from channels_app.models import (
    ChatLimitExclusion,
    ConversationStatus,
    DistributionMode,
    LeavePeriod,
    Offer,
    QueueMember,
    RoutingDecision,
)
from channels_app.policy import distribution
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator, set_profile, system_keys
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    return [make_operator(name) for name in ("olga", "piotr", "quynh")]


def holders_of_pending_offers(conversation) -> list[str]:
    return sorted(conversation.offers.filter(status=Offer.Status.PENDING).values_list("operator__username", flat=True))


def test_Q2_evenly_spreads_a_burst_over_the_queue_longest_waiting_first(engine, team):
    olga, piotr, _quynh = team
    channel = make_channel(team)
    QueueMember.objects.filter(operator=olga).update(last_assigned_at=NOW - timedelta(minutes=1))
    QueueMember.objects.filter(operator=piotr).update(last_assigned_at=NOW - timedelta(minutes=30))
    first, second, third = (engine.receive(channel) for _ in range(3))
    assert holders_of_pending_offers(first) == ["quynh"]  # never assigned
    assert holders_of_pending_offers(second) == ["piotr"]  # 30 minutes ago
    assert holders_of_pending_offers(third) == ["olga"]


def test_Q2_evenly_counts_the_last_assignment_in_any_open_channel(engine, team):
    olga, piotr, _quynh = team
    sales = make_channel([olga, piotr])
    support = make_channel([olga])
    QueueMember.objects.filter(open_channel=sales, operator=olga).update(last_assigned_at=NOW - timedelta(hours=1))
    QueueMember.objects.filter(open_channel=sales, operator=piotr).update(last_assigned_at=NOW - timedelta(minutes=30))
    in_support = engine.receive(support)  # olga is given a conversation in her other queue...
    assert holders_of_pending_offers(in_support) == ["olga"]
    in_sales = engine.receive(sales)  # ...so in sales piotr has now waited longer than she has
    assert holders_of_pending_offers(in_sales) == ["piotr"]
    olga_entry = in_sales.routing_decisions.get().candidates[0]
    assert olga_entry["reasons"] == [distribution.REASON_ASSIGNED_MORE_RECENTLY]


def test_Q2_evenly_burst_over_two_queues_rotates_through_both(engine, team):
    olga, piotr, _quynh = team
    sales = make_channel([olga, piotr])
    support = make_channel([olga, piotr])
    QueueMember.objects.filter(operator=piotr).update(last_assigned_at=NOW - timedelta(minutes=5))
    given = [holders_of_pending_offers(engine.receive(channel)) for channel in (sales, support)]
    assert given == [["olga"], ["piotr"]]  # not olga twice, once per queue


def test_Q2_Q3_strictly_in_order_forwards_to_the_next_and_wraps(engine, team):
    channel = make_channel(team, distribution_mode=DistributionMode.STRICTLY_IN_ORDER, offer_timeout_seconds=60)
    conversation = engine.receive(channel)
    offered_to = [holders_of_pending_offers(conversation)]
    for _ in range(3):
        now = engine.clock.shift(timedelta(seconds=61))
        for operator in team:  # consoles keep pinging while nobody takes the offer
            set_profile(operator, console_heartbeat_at=now, last_activity_at=now)
        engine.commit(sweeps.offers_expire)
        offered_to.append(holders_of_pending_offers(conversation))
    assert offered_to == [["olga"], ["piotr"], ["quynh"], ["olga"]]
    assert list(conversation.offers.order_by("id").values_list("status", flat=True)) == [
        "expired",
        "expired",
        "expired",
        "pending",
    ]


def test_Q2_all_at_once_offers_every_eligible_operator(engine, team):
    channel = make_channel(team, distribution_mode=DistributionMode.ALL_AT_ONCE)
    set_profile(team[2], console_heartbeat_at=None)
    conversation = engine.receive(channel)
    assert holders_of_pending_offers(conversation) == ["olga", "piotr"]
    decision = conversation.routing_decisions.get()
    assert decision.chosen == [team[0].pk, team[1].pk]
    assert decision.candidates[2]["reasons"] == ["offline"]


def test_Q5_Q9_every_skipped_operator_is_explained_and_the_client_told_once(engine, team):
    olga, piotr, quynh = team
    dismissed = make_operator("dmitri")
    dismissed.is_active = False
    dismissed.save()
    breaker = make_operator("bao", on_break=True)
    absent = make_operator("lena")
    LeavePeriod.objects.create(operator=absent, starts_at=NOW - timedelta(days=1), ends_at=NOW + timedelta(days=3))
    channel = make_channel(
        [olga, piotr, quynh, dismissed, breaker, absent],
        require_clocked_in=True,
        chat_limit_enabled=True,
        chat_limit=1,
    )
    set_profile(olga, last_activity_at=NOW - timedelta(minutes=11))
    set_profile(piotr, clocked_in=False)
    busy = engine.receive(channel, "earlier")
    assert holders_of_pending_offers(busy) == ["quynh"]

    conversation = engine.receive(channel, "anna")
    now = engine.clock.shift(timedelta(minutes=2))
    for operator in (piotr, quynh, dismissed, breaker, absent):  # consoles keep pinging
        set_profile(operator, console_heartbeat_at=now, last_activity_at=now)
    engine.commit(sweeps.conversations_retry_unassigned)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.QUEUED
    decision = conversation.routing_decisions.get()  # the identical retry is not stored again
    assert decision.outcome == "nobody_eligible"
    assert decision.trigger == "inbound"
    assert {entry["name"]: entry["reasons"] for entry in decision.candidates} == {
        "Olga": ["offline"],
        "Piotr": ["not clocked in"],
        "Quynh": ["at limit 1/1"],
        "Dmitri": ["dismissed"],
        "Bao": ["on a break"],
        "Lena": ["on leave"],
    }
    assert system_keys(conversation) == ["welcome", "nobody_available"]
    assert conversation.nobody_available_notified_at == NOW


def test_Q8_answered_exclusion_a_reply_frees_the_slot_and_routes_at_once(engine):
    olga = make_operator("olga")
    channel = make_channel(
        [olga], chat_limit_enabled=True, chat_limit=1, chat_limit_exclusion=ChatLimitExclusion.ANSWERED
    )
    first = engine.receive(channel, "anna")
    second = engine.receive(channel, "bob")
    assert second.status == ConversationStatus.QUEUED  # the pending offer fills olga's only slot
    engine.commit(offers.offer_accept, offer_id=first.offers.get().pk, operator=olga)
    second.refresh_from_db()
    assert second.status == ConversationStatus.QUEUED  # accepted but not answered: still counts

    engine.commit(conversations.message_send_by_operator, conversation_id=first.pk, operator=olga, text="Hi Anna")
    second.refresh_from_db()
    assert second.status == ConversationStatus.OFFERED
    assert second.routing_decisions.first().trigger == "slot_freed"


def test_Q8_waiting_for_client_exclusion_counts_a_conversation_again_when_the_client_writes(engine):
    olga = make_operator("olga")
    channel = make_channel(
        [olga], chat_limit_enabled=True, chat_limit=1, chat_limit_exclusion=ChatLimitExclusion.WAITING_FOR_CLIENT
    )
    first = engine.receive(channel, "anna")
    engine.commit(conversations.message_send_by_operator, conversation_id=first.pk, operator=olga, text="Hello")
    second = engine.receive(channel, "bob")
    assert second.status == ConversationStatus.OFFERED  # anna waits for herself to answer: not counted
    engine.commit(offers.offer_accept, offer_id=second.offers.get().pk, operator=olga)
    engine.receive(channel, "anna", "One more question")
    third = engine.receive(channel, "carl")
    assert third.status == ConversationStatus.QUEUED
    assert third.routing_decisions.get().candidates[0]["reasons"] == ["at limit 2/1"]


def test_Q8_closed_exclusion_counts_answered_conversations_until_closed(engine):
    olga = make_operator("olga")
    channel = make_channel(
        [olga], chat_limit_enabled=True, chat_limit=1, chat_limit_exclusion=ChatLimitExclusion.CLOSED
    )
    first = engine.receive(channel, "anna")
    engine.commit(conversations.message_send_by_operator, conversation_id=first.pk, operator=olga, text="Hello")
    second = engine.receive(channel, "bob")
    assert second.status == ConversationStatus.QUEUED
    engine.commit(conversations.conversation_close_by_operator, conversation_id=first.pk, operator=olga)
    second.refresh_from_db()
    assert second.status == ConversationStatus.OFFERED  # closed, waiting for a rating: not counted


def test_Q9_operator_coming_online_gets_waiting_conversations_at_once(engine):
    olga = make_operator("olga", console_heartbeat_at=None, is_online=False)
    channel = make_channel([olga])
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    engine.commit(presence.operator_heartbeat, operator=olga, active=True)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.routing_decisions.first().trigger == "operator_online"


@pytest.mark.parametrize("trigger", ["clock_in", "break_end"])
def test_Q9_clocking_in_or_ending_a_break_routes_at_once(engine, trigger):
    olga = make_operator("olga", clocked_in=trigger == "break_end", on_break=trigger == "break_end")
    channel = make_channel([olga], require_clocked_in=True)
    conversation = engine.receive(channel)
    assert conversation.status == ConversationStatus.QUEUED
    service = presence.operator_clock_in if trigger == "clock_in" else presence.operator_break_end
    engine.commit(service, operator=olga)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.routing_decisions.first().trigger == trigger


def test_C4_known_client_goes_to_the_responsible_person_even_outside_the_queue_and_offline(engine, team):
    manager = make_operator("marta", console_heartbeat_at=None)
    ContactFactory(phone="+48 600 100 200", responsible=manager)
    channel = make_channel(team, route_to_responsible=True, chat_limit_enabled=True, chat_limit=1)
    conversation = engine.receive(channel, "anna", client_phone="+48 600 100 200")
    assert holders_of_pending_offers(conversation) == ["marta"]
    decision = conversation.routing_decisions.get()
    assert decision.mode == "responsible"
    assert decision.candidates == [
        {
            "operator_id": manager.pk,
            "name": "Marta",
            "position": None,
            "eligible": True,
            "reasons": ["chosen: the client's responsible person (C4)"],
        }
    ]

    # Not taken in time: the conversation goes to the queue.
    now = engine.clock.shift(timedelta(minutes=3))
    for operator in team:
        set_profile(operator, console_heartbeat_at=now, last_activity_at=now)
    engine.commit(sweeps.offers_expire)
    assert holders_of_pending_offers(conversation) == ["olga"]
    latest = conversation.routing_decisions.first()
    assert latest.candidates[0]["name"] == "Marta"
    assert "already declined/expired for this conversation" in latest.candidates[0]["reasons"]


def test_C4_responsible_person_on_leave_is_skipped_for_the_queue(engine, team):
    manager = make_operator("marta")
    LeavePeriod.objects.create(operator=manager, starts_at=NOW - timedelta(hours=1), ends_at=NOW + timedelta(days=1))
    ContactFactory(phone="+48 600 100 200", responsible=manager)
    channel = make_channel(team, route_to_responsible=True)
    conversation = engine.receive(channel, "anna", client_phone="+48 600 100 200")
    assert holders_of_pending_offers(conversation) == ["olga"]
    assert conversation.routing_decisions.get().candidates[0]["reasons"] == [
        "on leave",
        "responsible person cannot take it: routed to the queue",
    ]


def test_routing_a_conversation_that_is_not_waiting_changes_nothing(engine, team):
    channel = make_channel(team)
    conversation = engine.receive(channel)
    before = (Offer.objects.count(), RoutingDecision.objects.count())
    assert engine.route(conversation) is None
    assert (Offer.objects.count(), RoutingDecision.objects.count()) == before


def test_routing_survives_a_vanished_conversation(engine):
    assert queue.conversation_route(conversation_id=987654, now=NOW, trigger="test") is None


def test_Q9_a_long_queue_is_routed_inline_up_to_a_limit_and_the_rest_by_a_task(engine, monkeypatch):
    from channels_app import tasks
    from tests.factories import ConversationFactory

    olga = make_operator("olga", console_heartbeat_at=None)
    channel = make_channel([olga])
    connector = channel.connectors.get()
    monkeypatch.setattr(queue, "INLINE_REDISTRIBUTION_LIMIT", 5)
    ConversationFactory.create_batch(7, client__connector=connector, status=ConversationStatus.QUEUED)
    queued = []
    monkeypatch.setattr(tasks.redistribute_open_channel, "apply_async", lambda args, eta=None: queued.append(args))

    engine.commit(presence.operator_heartbeat, operator=olga, active=True)
    assert Offer.objects.filter(operator=olga, status=Offer.Status.PENDING).count() == 5
    assert queued == [(channel.pk, "operator_online")]
    assert tasks.redistribute_open_channel(channel.pk, "operator_online") == 2


def test_routing_reads_presence_in_the_order_its_snapshot_has_fields():
    """The snapshot's and Evenly's SQL return the presence columns in ROUTING_PRESENCE_FIELDS order, and the
    locked-row stand-in is built from that order: both must name the same fields, or a decision reads the wrong
    column (a clock-in flag as a break)."""
    from channels_app.models import ROUTING_PRESENCE_FIELDS

    assert queue._Presence._fields == ROUTING_PRESENCE_FIELDS
