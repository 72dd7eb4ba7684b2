"""Time-driven sweeps (Q3, Q4, M2, Q6, Q10, Q11, M4, R1) and their Celery tasks; time moves with time-machine."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection

from channels_app import periodic, tasks
from channels_app.engine import conversations, offers, sweeps
from channels_app.engine.queue import schedule_opening_redistribution
from channels_app.models import (
    Conversation,
    ConversationStatus,
    DistributionMode,
    LeavePeriod,
    Message,
    NoAnswerAction,
    Offer,
    OperatorProfile,
    WorkingPeriod,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_channel, make_operator, set_profile, system_keys
from tests.factories import ConnectorFactory, OpenChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    return [make_operator(name) for name in ("olga", "piotr")]


def keep_online(operators, now) -> None:
    for operator in operators:
        set_profile(operator, console_heartbeat_at=now, last_activity_at=now)


def test_Q3_offer_not_taken_in_the_idle_time_moves_to_the_next_operator(engine, team):
    olga, _piotr = team
    channel = make_channel(team, offer_timeout_seconds=120)
    conversation = engine.receive(channel)
    keep_online(team, engine.clock.shift(timedelta(seconds=119)))
    assert engine.commit(sweeps.offers_expire) == 0
    keep_online(team, engine.clock.shift(timedelta(seconds=1)))
    assert engine.commit(sweeps.offers_expire) == 1
    assert engine.commit(sweeps.offers_expire) == 0  # a second run finds nothing to do
    assert dict(conversation.offers.values_list("operator__username", "status")) == {
        "olga": "expired",
        "piotr": "pending",
    }
    assert engine.events(f"operator.{olga.pk}", "offer.withdrawn")[0]["reason"] == "expired"


def test_Q4_M2_unanswered_conversation_is_flagged_once_and_the_text_sent_once(engine, team):
    channel = make_channel(team, unprocessed_after_seconds=600, no_answer_action=NoAnswerAction.SEND_TEXT)
    conversation = engine.receive(channel)
    engine.clock.shift(timedelta(seconds=599))
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 0
    engine.clock.shift(timedelta(seconds=1))
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 1
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 0
    conversation.refresh_from_db()
    assert conversation.is_unprocessed
    assert conversation.unprocessed_at == NOW + timedelta(seconds=600)
    assert system_keys(conversation) == ["welcome", "no_answer"]


def test_Q4_answered_conversations_are_never_unprocessed(engine, team):
    olga = team[0]
    channel = make_channel(team, unprocessed_after_seconds=60)
    conversation = engine.receive(channel)
    engine.commit(conversations.message_send_by_operator, conversation_id=conversation.pk, operator=olga, text="Hi")
    engine.clock.shift(timedelta(hours=1))
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 0


def test_M2_back_to_the_queue_takes_it_from_the_silent_operator(engine, team):
    olga, piotr = team
    channel = make_channel(
        team,
        distribution_mode=DistributionMode.EVENLY,
        unprocessed_after_seconds=300,
        no_answer_action=NoAnswerAction.BACK_TO_QUEUE,
    )
    conversation = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get().pk, operator=olga)
    keep_online(team, engine.clock.shift(timedelta(seconds=300)))
    engine.commit(sweeps.conversations_mark_unprocessed)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.offers.get(status=Offer.Status.PENDING).operator == piotr
    assert engine.events(f"operator.{olga.pk}", "conversation.status")


WARSAW = ZoneInfo("Europe/Warsaw")


def warsaw(*args: int) -> datetime:
    return datetime(*args, tzinfo=WARSAW).astimezone(UTC)


def weekday_hours_channel(operators, **settings):
    """Open Monday to Friday, 9:00 to 17:00 in Warsaw (NOW, Monday 10:00 UTC, is 11:00 there)."""
    channel = make_channel(operators, working_hours_enabled=True, time_zone="Europe/Warsaw", **settings)
    for weekday in range(5):
        WorkingPeriod.objects.create(open_channel=channel, weekday=weekday, start=time(9, 0), end=time(17, 0))
    return channel


def test_Q4_M2_a_night_message_is_neither_flagged_nor_answered_before_working_time_has_passed(engine):
    channel = weekday_hours_channel(
        [], unprocessed_after_seconds=1800, no_answer_action=NoAnswerAction.SEND_TEXT, no_answer_text="Still looking"
    )
    engine.clock.shift(warsaw(2026, 11, 23, 23, 0) - NOW)
    conversation = engine.receive(channel)
    assert system_keys(conversation) == [f"out_of_hours:{warsaw(2026, 11, 24, 9, 0).isoformat()}"]
    for moment in (warsaw(2026, 11, 23, 23, 30), warsaw(2026, 11, 24, 8, 59), warsaw(2026, 11, 24, 9, 29)):
        engine.clock.shift(moment - engine.clock.now())
        assert engine.commit(sweeps.conversations_mark_unprocessed) == 0
    conversation.refresh_from_db()
    assert not conversation.is_unprocessed
    assert "no_answer" not in system_keys(conversation)

    # The clock started at the opening: 30 minutes of working time later it is missed, and the text goes once.
    engine.clock.shift(warsaw(2026, 11, 24, 9, 30) - engine.clock.now())
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 1
    conversation.refresh_from_db()
    assert conversation.unprocessed_at == warsaw(2026, 11, 24, 9, 30)
    assert system_keys(conversation).count("no_answer") == 1


def test_Q4_the_wait_pauses_while_closed_and_resumes_at_the_opening(engine):
    channel = weekday_hours_channel([], unprocessed_after_seconds=1800)
    engine.clock.shift(warsaw(2026, 11, 27, 16, 50) - NOW)  # Friday, 10 minutes before closing
    conversation = engine.receive(channel)
    # Closed: 17:20 on Friday, the weekend, and Monday before 20 more working minutes.
    for moment in (warsaw(2026, 11, 27, 17, 20), warsaw(2026, 11, 29, 12, 0), warsaw(2026, 11, 30, 9, 19)):
        engine.clock.shift(moment - engine.clock.now())
        assert engine.commit(sweeps.conversations_mark_unprocessed) == 0
    engine.clock.shift(warsaw(2026, 11, 30, 9, 20) - engine.clock.now())
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 1
    conversation.refresh_from_db()
    assert conversation.is_unprocessed


def test_Q4_nothing_is_flagged_while_closed_even_when_the_working_time_ran_out_before_closing(engine):
    channel = weekday_hours_channel([], unprocessed_after_seconds=1800)
    engine.clock.shift(warsaw(2026, 11, 23, 16, 0) - NOW)
    conversation = engine.receive(channel)
    engine.clock.shift(warsaw(2026, 11, 23, 18, 0) - engine.clock.now())  # the sweep did not run before closing
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 0
    engine.clock.shift(warsaw(2026, 11, 24, 9, 0) - engine.clock.now())
    assert engine.commit(sweeps.conversations_mark_unprocessed) == 1
    conversation.refresh_from_db()
    assert conversation.unprocessed_at == warsaw(2026, 11, 24, 9, 0)


def test_M2_back_to_the_queue_repeats_for_every_silent_operator_until_one_answers(engine, team):
    olga, piotr = team
    channel = make_channel(
        team,
        distribution_mode=DistributionMode.EVENLY,
        unprocessed_after_seconds=300,
        no_answer_action=NoAnswerAction.BACK_TO_QUEUE,
    )
    conversation = engine.receive(channel)
    silent = []
    for _round in range(3):
        offer = conversation.offers.get(status=Offer.Status.PENDING)
        silent.append(offer.operator)
        engine.commit(offers.offer_accept, offer_id=offer.pk, operator=offer.operator)
        keep_online(team, engine.clock.shift(timedelta(seconds=299)))
        engine.commit(sweeps.conversations_mark_unprocessed)
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.ACTIVE  # a round lasts the whole time
        keep_online(team, engine.clock.shift(timedelta(seconds=1)))
        engine.commit(sweeps.conversations_mark_unprocessed)
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.OFFERED
    assert silent == [olga, piotr, olga]
    rounds = list(conversation.routing_decisions.filter(trigger="no_answer").order_by("created_at"))
    assert [decision.chosen for decision in rounds] == [[piotr.pk], [olga.pk], [piotr.pk]]
    assert all(
        {candidate["operator_id"] for candidate in decision.candidates} == {olga.pk, piotr.pk} for decision in rounds
    )

    # Piotr answers: no more rounds.
    offer = conversation.offers.get(status=Offer.Status.PENDING)
    engine.commit(offers.offer_accept, offer_id=offer.pk, operator=piotr)
    engine.commit(conversations.message_send_by_operator, conversation_id=conversation.pk, operator=piotr, text="Hi")
    keep_online(team, engine.clock.shift(timedelta(hours=1)))
    engine.commit(sweeps.conversations_mark_unprocessed)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE
    assert conversation.operator == piotr


def test_Q6_presence_sweep_marks_idle_operators_offline(engine, team):
    olga, piotr = team
    make_channel(team, offline_after_minutes=10)
    engine.clock.shift(timedelta(minutes=10, seconds=1))
    set_profile(piotr, console_heartbeat_at=engine.clock.now())
    assert engine.commit(sweeps.presence_sweep) == 2  # olga's tab is silent, piotr idle for 10 minutes
    assert engine.commit(sweeps.presence_sweep) == 0
    assert not OperatorProfile.objects.filter(is_online=True).exists()
    assert engine.events(f"operator.{olga.pk}", "operator.presence") == [
        {"type": "operator.presence", "operator_id": olga.pk, "online": False}
    ]


def test_Q10_the_daily_sweep_returns_what_no_instant_trigger_did(engine, team):
    olga, piotr = team
    quynh = make_operator("quynh")
    channel = make_channel([olga, piotr, quynh], absent_return_after_days=2)
    first = engine.receive(channel)
    second = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=first.offers.get().pk, operator=olga)
    engine.commit(offers.offer_accept, offer_id=second.offers.get().pk, operator=piotr)
    olga.is_active = False
    olga.save()  # outside a commit: the instant return never ran, as after a crash
    # Saved ahead, ten days from tomorrow: nothing happens at the save, the sweep acts once it has begun.
    LeavePeriod.objects.create(operator=piotr, starts_at=NOW + timedelta(days=1), ends_at=NOW + timedelta(days=11))

    keep_online([quynh], engine.clock.shift(timedelta(hours=12)))
    assert engine.commit(sweeps.absent_operators_sweep) == 1  # piotr's leave has not begun: he keeps his chat
    first.refresh_from_db()
    assert first.offers.get(status=Offer.Status.PENDING).operator == quynh
    assert first.status_changes.filter(reason="operator dismissed (Q10)").exists()

    keep_online([quynh], engine.clock.shift(timedelta(hours=12)))
    assert engine.commit(sweeps.absent_operators_sweep) == 1
    assert engine.commit(sweeps.absent_operators_sweep) == 0
    second.refresh_from_db()
    assert second.operator is None
    assert second.status_changes.filter(reason="operator on leave (Q10)").exists()


def test_Q10_a_leave_shorter_than_the_threshold_keeps_the_conversations(engine, team):
    olga, _piotr = team
    channel = make_channel(team, absent_return_after_days=2)
    held = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=held.offers.get().pk, operator=olga)
    LeavePeriod.objects.create(operator=olga, starts_at=NOW, ends_at=NOW + timedelta(days=2) - timedelta(minutes=1))
    engine.clock.shift(timedelta(days=1))
    assert engine.commit(sweeps.absent_operators_sweep) == 0
    held.refresh_from_db()
    assert held.operator == olga


def test_Q11_M4_inactive_conversation_is_closed_with_the_message(engine, team):
    channel = make_channel(team, auto_close_after_days=7)
    conversation = engine.receive(channel)
    engine.clock.shift(timedelta(days=6, hours=23))
    assert engine.commit(sweeps.conversations_auto_close) == 0
    engine.clock.shift(timedelta(hours=1))
    assert engine.commit(sweeps.conversations_auto_close) == 1
    assert engine.commit(sweeps.conversations_auto_close) == 0
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.closed_by == Conversation.ClosedBy.INACTIVITY
    assert system_keys(conversation)[-1] == "auto_close"
    assert not conversation.offers.filter(status=Offer.Status.PENDING).exists()


def test_M4_nothing_closes_silently(engine, team):
    channel = make_channel(team, auto_close_after_days=1, auto_close_action="nothing")
    conversation = engine.receive(channel)
    engine.clock.shift(timedelta(days=1))
    engine.commit(sweeps.conversations_auto_close)
    assert "auto_close" not in system_keys(conversation)


def test_R1_rating_time_over_ends_the_rating_step(engine, team):
    olga = team[0]
    channel = make_channel(team, rating_timeout_minutes=60, close_message_after_rating=True)
    conversation = engine.receive(channel)
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get().pk, operator=olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    engine.clock.shift(timedelta(minutes=60))
    assert engine.commit(sweeps.conversations_auto_close) == 1
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.closed_by == Conversation.ClosedBy.RATING_TIMEOUT
    assert system_keys(conversation)[-1] == "close"  # the held-back M3 text


def test_Q9_retry_sweep_offers_waiting_conversations_once_an_operator_is_back(engine):
    olga = make_operator("olga", console_heartbeat_at=None)
    channel = make_channel([olga])
    conversation = engine.receive(channel)
    assert system_keys(conversation) == ["welcome", "nobody_available"]
    keep_online([olga], engine.clock.shift(timedelta(minutes=2)))
    assert engine.commit(sweeps.conversations_retry_unassigned) == 1
    assert engine.commit(sweeps.conversations_retry_unassigned) == 0
    assert system_keys(conversation) == ["welcome", "nobody_available"]


def test_every_engine_beat_sweep_has_its_task(engine):
    engine_sweeps = [sweep for sweep in periodic.SWEEPS if sweep.task.startswith("channels_app.tasks.")]
    assert len(engine_sweeps) == 9  # with retention, data exports and raw deliveries (issue 19)
    for sweep in engine_sweeps:
        task = getattr(tasks, sweep.task.rsplit(".", 1)[1])
        assert task.name == sweep.task
        assert task() == 0  # nothing to do in an empty database, and no error


@pytest.mark.django_db(transaction=True)
def test_Q3_two_expiry_sweeps_started_together_forward_each_offer_once(settings, clock):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    operators = [make_operator(f"op{n}") for n in range(4)]
    channel = OpenChannelFactory(check_online=False, offer_timeout_seconds=60)
    for position, operator in enumerate(operators):
        channel.queue_members.create(operator=operator, position=position)
    ConnectorFactory(open_channel=channel)
    from channels_app.engine import inbound

    for n in range(40):
        inbound.message_receive(
            connector=channel.connectors.get(), external_user_id=f"v{n}", text="Hi", source_message_id=None, now=NOW
        )
    assert Offer.objects.filter(status="pending").count() == 40
    later = NOW + timedelta(seconds=61)
    barrier = threading.Barrier(2)
    counts = []

    def run():
        try:
            barrier.wait()
            counts.append(sweeps.offers_expire(now=later))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 40
    assert Offer.objects.filter(status="expired").count() == 40
    assert Offer.objects.filter(status="pending").count() == 40  # each forwarded exactly once
    assert Message.objects.filter(system_key="nobody_available").count() == 0


def test_H2_Q9_hours_opening_schedules_one_task_that_routes_the_queue_at_once(engine, monkeypatch):
    olga = make_operator("olga")
    channel = make_channel([olga], working_hours_enabled=True)
    WorkingPeriod.objects.create(open_channel=channel, weekday=0, start=time(12, 0), end=time(18, 0))
    conversation = engine.receive(channel)
    opening = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert engine.openings == [(channel.pk, opening)]

    # The real scheduler: one Celery task per channel and opening, however many conversations wait.
    queued = []
    monkeypatch.setattr(
        tasks.redistribute_open_channel, "apply_async", lambda args, eta: queued.append((tuple(args), eta))
    )
    cache.delete(f"engine:hours-open:{channel.pk}:{opening.isoformat()}")
    schedule_opening_redistribution(channel.pk, opening)  # the real one (the engine fixture records calls)
    schedule_opening_redistribution(channel.pk, opening)
    assert queued == [((channel.pk, "hours_open"), opening)]

    # Celery runs it at the opening.
    keep_online([olga], engine.clock.shift(opening - NOW))
    with engine._capture(execute=True):
        assert tasks.redistribute_open_channel(channel.pk, "hours_open") == 1
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.routing_decisions.first().trigger == "hours_open"
