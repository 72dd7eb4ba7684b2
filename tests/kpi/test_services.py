"""K1, K2, R3: recording responses from messages, notifying misses once, supervisor ratings."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.mail.backends.base import BaseEmailBackend
from django.db import close_old_connections, connection, transaction

from channels_app.engine.errors import InvalidState, NotAllowed, NotFound, ServiceError
from channels_app.models import Conversation, ConversationStatus, Notification, OpenChannel, WorkingPeriod
from channels_app.periodic import SWEEPS
from kpi.models import KpiMiss, ResponseRecord, SupervisorRating
from kpi.services import (
    MISS_TEMPLATE_DEFAULT,
    misses_notify,
    responses_record,
    responses_sweep,
    supervisor_rating_save,
)
from tests.factories import OpenChannelFactory, UserFactory
from tests.kpi.conftest import T0, minutes

IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def console(settings):
    """An in-memory channel layer and a way to read what a user's console group received."""
    settings.CHANNEL_LAYERS = IN_MEMORY_LAYER
    layer = get_channel_layer()

    def listen(user) -> str:
        channel = f"test-console-{user.pk}"
        async_to_sync(layer.group_add)(f"operator.{user.pk}", channel)
        return channel

    def received(channel: str) -> list[dict]:
        async def drain():
            frames = []
            while True:
                try:
                    frames.append(await asyncio.wait_for(layer.receive(channel), timeout=0.05))
                except TimeoutError:
                    return frames

        return async_to_sync(drain)()

    return listen, received


# --- K1: response records ---------------------------------------------------------------------------------


def test_k1_initial_and_subsequent_responses_are_recorded_per_operator(start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    chat.operator(olga, minutes(2))
    chat.client(minutes(10))
    chat.client(minutes(11), "Anyone?")
    chat.operator(olga, minutes(14))

    result = responses_record(conversation_id=chat.conversation.pk, now=minutes(20))

    assert result.records == 2
    records = list(ResponseRecord.objects.order_by("waiting_since"))
    assert [(r.kind, r.operator_id, r.response_seconds, r.is_miss) for r in records] == [
        ("initial", olga.pk, 120.0, False),
        ("subsequent", olga.pk, 240.0, False),
    ]
    assert records[1].waiting_since == minutes(10), "the client waits since the first unanswered message"
    assert records[0].target_seconds == 180 and records[1].target_seconds == 300


def test_k1_recording_twice_changes_nothing(start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    chat.operator(olga, minutes(1))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(5))
    before = list(ResponseRecord.objects.values())

    again = responses_record(conversation_id=chat.conversation.pk, now=minutes(6))

    assert again.records == 1
    assert list(ResponseRecord.objects.values()) == before


def test_k1_an_open_wait_is_completed_when_the_reply_arrives(start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(1))
    waiting = ResponseRecord.objects.get()
    assert (waiting.responded_at, waiting.operator_id, waiting.due_at) == (None, None, minutes(3))

    chat.operator(olga, minutes(2))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(2))

    waiting.refresh_from_db()
    assert (waiting.responded_at, waiting.operator_id, waiting.response_seconds) == (minutes(2), olga.pk, 120.0)
    assert ResponseRecord.objects.count() == 1


def test_k1_transfer_attributes_the_response_to_the_operator_who_answered(start_chat, operators):
    olga, piotr = operators[0], operators[1]
    chat = start_chat(olga)
    chat.client(minutes(0))
    chat.operator(olga, minutes(1))
    chat.client(minutes(5))
    Conversation.objects.filter(pk=chat.conversation.pk).update(operator=piotr)  # Q13 transfer
    chat.operator(piotr, minutes(7))

    responses_record(conversation_id=chat.conversation.pk, now=minutes(8))

    assert list(ResponseRecord.objects.order_by("waiting_since").values_list("operator_id", "response_seconds")) == [
        (olga.pk, 60.0),
        (piotr.pk, 120.0),
    ]


def test_k1_reopened_enquiry_gets_its_own_initial_response(start_chat, operators):
    olga = operators[0]
    first = start_chat(olga)
    first.client(minutes(0))
    first.operator(olga, minutes(1))
    Conversation.objects.filter(pk=first.conversation.pk).update(
        status=ConversationStatus.CLOSED, closed_at=minutes(10)
    )
    # Two days later the same client writes again: the inbound service starts a new conversation.
    second = start_chat(olga, created_at=minutes(2 * 24 * 60))
    second.conversation.client = first.conversation.client
    second.conversation.save()
    second.client(minutes(2 * 24 * 60))
    second.operator(olga, minutes(2 * 24 * 60 + 2))

    responses_record(conversation_id=first.conversation.pk, now=minutes(3 * 24 * 60))
    responses_record(conversation_id=second.conversation.pk, now=minutes(3 * 24 * 60))

    reopened = ResponseRecord.objects.get(conversation=second.conversation)
    assert (reopened.kind, reopened.response_seconds) == ("initial", 120.0)


def test_k1_working_hours_option_counts_only_open_time(start_chat, kpi_channel, operators):
    olga = operators[0]
    kpi_channel.working_hours_enabled = True
    kpi_channel.time_zone = "Europe/Warsaw"
    kpi_channel.kpi_working_hours_only = True
    kpi_channel.save()
    for weekday in range(5):
        WorkingPeriod.objects.create(open_channel=kpi_channel, weekday=weekday, start=time(9), end=time(17))
    chat = start_chat(olga)
    friday_16_58 = datetime(2026, 3, 6, 16, 58, tzinfo=ZoneInfo("Europe/Warsaw"))
    monday_09_01 = datetime(2026, 3, 9, 9, 1, tzinfo=ZoneInfo("Europe/Warsaw"))
    chat.client(friday_16_58)
    chat.operator(olga, monday_09_01)

    responses_record(conversation_id=chat.conversation.pk, now=monday_09_01)

    record = ResponseRecord.objects.get()
    assert record.response_seconds == 180.0
    assert record.working_hours_only
    assert not record.is_miss, "3 working minutes meet the 3-minute target"
    assert record.due_at == monday_09_01


def test_k1_a_wait_keeps_the_target_in_force_when_it_started(start_chat, kpi_channel, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    kpi_channel.kpi_initial_target_seconds = 60
    kpi_channel.save()
    chat.operator(olga, minutes(2))

    responses_record(conversation_id=chat.conversation.pk, now=minutes(2))

    record = ResponseRecord.objects.get()
    assert (record.target_seconds, record.is_miss) == (180, False)


def test_k1_b1_nothing_is_recorded_while_the_bot_answers(start_chat):
    chat = start_chat(None)
    Conversation.objects.filter(pk=chat.conversation.pk).update(status=ConversationStatus.BOT)
    chat.client(minutes(0))
    assert responses_record(conversation_id=chat.conversation.pk, now=minutes(30)).records == 0
    assert not ResponseRecord.objects.exists()


def test_k1_unknown_conversation_records_nothing(db):
    assert responses_record(conversation_id=987654, now=T0).records == 0


# --- K2: misses and their notification ------------------------------------------------------------------------


def test_k2_late_reply_is_a_miss_notified_once_by_console_and_email(
    start_chat, operators, supervisor, console, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://cc.example.com"
    listen, received = console
    sam_console = listen(supervisor)
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    chat.operator(olga, minutes(4))  # initial target is 3 minutes

    result = responses_record(conversation_id=chat.conversation.pk, now=minutes(4))
    assert len(result.new_miss_ids) == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            misses_notify(
                now=minutes(
                    4,
                )
            )
            == 1
        )

    conversation_id = chat.conversation.pk
    expected_text = f"Olga missed the target in #{conversation_id}."
    url = f"https://cc.example.com/kpi/conversations/{conversation_id}/"
    frames = received(sam_console)
    assert frames[0] == {
        "type": "event.forward",
        "event": {"type": "kpi.miss", "text": expected_text, "conversation_id": conversation_id, "url": url},
    }
    # Issue 15: the miss also stays as a notification until read, with its link to the conversation.
    (notified,) = [frame["event"] for frame in frames[1:]]
    assert notified["type"] == "notification.created"
    assert notified["notification"]["kind"] == "k2_miss"
    assert notified["notification"]["conversation_id"] == conversation_id
    assert notified["notification"]["text"] == expected_text
    assert Notification.objects.filter(recipient=supervisor, kind="k2_miss", read_at__isnull=True).count() == 1
    assert len(mailoutbox) == 1
    email = mailoutbox[0]
    assert email.to == ["sam@example.com"]
    assert email.body == f"Olga missed the target in #{conversation_id} ({url})."
    html, mime = email.alternatives[0]
    assert mime == "text/html" and f'<a href="{url}">#{conversation_id}</a>' in html
    miss = KpiMiss.objects.get()
    assert (miss.operator_id, miss.kind, miss.text, miss.recipients) == (
        olga.pk,
        "initial",
        expected_text,
        [supervisor.pk],
    )

    # Recording and notifying again: still one miss, nothing sent twice.
    responses_record(conversation_id=chat.conversation.pk, now=minutes(10))
    with django_capture_on_commit_callbacks(execute=True):
        assert misses_notify(now=minutes(10)) == 0
    assert KpiMiss.objects.count() == 1
    assert len(mailoutbox) == 1
    assert received(sam_console) == []
    assert Notification.objects.count() == 1


class BrokenMailServer(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def test_k2_a_mail_server_failure_is_logged_and_the_miss_not_notified_twice(
    start_chat, operators, supervisor, console, settings, caplog, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "tests.kpi.test_services.BrokenMailServer"
    listen, received = console
    sam_console = listen(supervisor)
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(4))

    with django_capture_on_commit_callbacks(execute=True):
        assert misses_notify(now=minutes(4)) == 1

    assert "Could not send 1 KPI miss e-mail(s)" in caplog.text
    assert _kpi_misses(received(sam_console)) == 1, "the console still hears about it"
    assert KpiMiss.objects.get().notified_at == minutes(4)
    with django_capture_on_commit_callbacks(execute=True):
        assert misses_notify(now=minutes(5)) == 0


def test_k2_only_the_chosen_active_users_are_notified(
    start_chat, kpi_channel, operators, supervisor, console, mailoutbox, django_capture_on_commit_callbacks
):
    listen, received = console
    no_email = UserFactory(username="nomail", email="")
    gone = UserFactory(username="gone", is_active=False)
    bystander = UserFactory(username="bystander")
    kpi_channel.kpi_notify_users.add(no_email, gone)
    consoles = {user: listen(user) for user in (supervisor, no_email, gone, bystander)}
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(4))

    with django_capture_on_commit_callbacks(execute=True):
        misses_notify(now=minutes(4))

    frames = {user: received(consoles[user]) for user in (supervisor, no_email, gone, bystander)}
    assert [_kpi_misses(frames[user]) for user in (supervisor, no_email, gone, bystander)] == [1, 1, 0, 0]
    assert [email.to for email in mailoutbox] == [["sam@example.com"]]
    # Kept for both chosen active users; told live only to whoever may read the conversation (the supervisor).
    assert sorted(Notification.objects.values_list("recipient__username", flat=True)) == ["nomail", "sam"]
    assert [len(frames[user]) for user in (supervisor, no_email)] == [2, 1]


def _kpi_misses(frames: list[dict]) -> int:
    return sum(frame["event"]["type"] == "kpi.miss" for frame in frames)


def test_k2_sweep_finds_an_unanswered_wait_past_its_target_and_blames_the_holder(start_chat, operators, mailoutbox):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))

    assert responses_sweep(now=minutes(3)) == 0, "exactly at the target is not late yet"
    assert responses_sweep(now=minutes(3.5)) == 1
    assert responses_sweep(now=minutes(4)) == 0

    miss = KpiMiss.objects.get()
    assert miss.operator_id == olga.pk
    record = ResponseRecord.objects.get()
    assert (record.is_miss, record.operator_id, record.responded_at) == (True, olga.pk, None)


def test_k2_unassigned_miss_names_nobody(start_chat, supervisor, mailoutbox, django_capture_on_commit_callbacks):
    chat = start_chat(None)
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    responses_sweep(now=minutes(10))
    with django_capture_on_commit_callbacks(execute=True):
        misses_notify(now=minutes(10))
    assert mailoutbox[0].body.startswith("Nobody (unassigned) missed the target in #")


@pytest.mark.parametrize(
    ("language", "subject", "body"),
    [
        (
            "pl",
            "[Support] Przekroczony cel pierwszej odpowiedzi w rozmowie #",
            "Nikt (nieprzypisana) przekroczył(a) cel czasu odpowiedzi w rozmowie #",
        ),
        (
            "vi",
            "[Support] Trễ mục tiêu phản hồi đầu tiên trong cuộc trò chuyện #",
            "Chưa ai nhận đã trễ mục tiêu thời gian phản hồi trong cuộc trò chuyện #",
        ),
    ],
)
def test_k2_miss_email_in_the_channel_language_when_the_template_is_untouched(
    start_chat, kpi_channel, mailoutbox, django_capture_on_commit_callbacks, language, subject, body
):
    """Issue 20: the untouched default template, the subject and "nobody" follow the open channel's language."""
    kpi_channel.language = language
    kpi_channel.kpi_miss_template = OpenChannel._meta.get_field("kpi_miss_template").default
    kpi_channel.save()
    chat = start_chat(None)
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    responses_sweep(now=minutes(10))
    with django_capture_on_commit_callbacks(execute=True):
        misses_notify(now=minutes(10))
    assert mailoutbox[0].subject.startswith(subject)
    assert mailoutbox[0].body.startswith(body)


def test_k2_miss_template_default_is_the_model_default():
    assert OpenChannel._meta.get_field("kpi_miss_template").default == MISS_TEMPLATE_DEFAULT


def test_k2_closed_in_time_without_a_reply_is_not_a_miss(start_chat, operators):
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    Conversation.objects.filter(pk=chat.conversation.pk).update(status=ConversationStatus.CLOSED, closed_at=minutes(2))

    assert responses_sweep(now=minutes(30)) == 0

    record = ResponseRecord.objects.get()
    assert (record.ended_at, record.is_miss, record.response_seconds) == (minutes(2), False, None)


def test_k2_no_target_no_miss(start_chat, kpi_channel, operators):
    kpi_channel.kpi_initial_enabled = False
    kpi_channel.save()
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    chat.operator(operators[0], minutes(60))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(60))
    assert responses_sweep(now=minutes(120)) == 0
    record = ResponseRecord.objects.get()
    assert (record.target_seconds, record.due_at, record.is_miss, record.response_seconds) == (None, None, False, 3600)


def test_k2_sweep_is_declared_for_celery_beat():
    assert any(sweep.task == "kpi.tasks.sweep_response_targets" for sweep in SWEEPS)


def test_k2_sweep_task_records_and_notifies(start_chat, operators, mailoutbox, time_machine):
    from kpi.tasks import sweep_response_targets

    time_machine.move_to(minutes(0), tick=False)
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    time_machine.move_to(minutes(10), tick=False)

    assert sweep_response_targets.run() == {"misses": 1, "notified": 1}
    assert KpiMiss.objects.get().notified_at == minutes(10)


# --- K2: one notification per miss when sweeps overlap (real concurrent transactions) --------------------------


def _in_thread(target):
    """Run ``target`` in its own thread (its own database connection); return its result."""
    outcome = {}

    def run():
        try:
            outcome["value"] = target()
        except BaseException as error:  # re-raised in the test thread
            outcome["error"] = error
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.mark.django_db(transaction=True)
def test_k2_sweep_skips_a_conversation_another_sweep_holds(start_chat, operators):
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))

    with transaction.atomic():
        Conversation.objects.select_for_update().get(pk=chat.conversation.pk)  # the other sweep's lock
        assert _in_thread(lambda: responses_sweep(now=minutes(10))) == 0
    assert not KpiMiss.objects.exists()
    assert responses_sweep(now=minutes(10)) == 1


@pytest.mark.django_db(transaction=True)
def test_k2_notify_skips_a_miss_another_sweep_holds(start_chat, operators, mailoutbox):
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    responses_sweep(now=minutes(10))

    with transaction.atomic():
        KpiMiss.objects.select_for_update().get()
        assert _in_thread(lambda: misses_notify(now=minutes(10))) == 0
    assert misses_notify(now=minutes(10)) == 1
    assert misses_notify(now=minutes(10)) == 0
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_k2_two_sweeps_at_once_notify_each_miss_once(start_chat, operators, mailoutbox):
    chats = []
    for index in range(6):
        chat = start_chat(operators[index % 3])
        chat.client(minutes(0))
        responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
        chats.append(chat)
    barrier = threading.Barrier(2)
    results = []

    def sweep():
        barrier.wait(timeout=30)
        results.append((responses_sweep(now=minutes(10)), misses_notify(now=minutes(10))))

    threads = [threading.Thread(target=lambda: (sweep(), connection.close())) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(found for found, _ in results) == 6
    assert sum(notified for _, notified in results) == 6
    assert KpiMiss.objects.count() == 6
    assert len(mailoutbox) == 6


# --- R3: supervisor rating --------------------------------------------------------------------------------------


def test_r3_supervisor_rates_the_operator_and_can_change_the_rating(start_chat, operators, supervisor):
    olga = operators[0]
    chat = start_chat(olga)
    rating = supervisor_rating_save(
        conversation_id=chat.conversation.pk, supervisor=supervisor, score=4, comment=" Polite. ", now=minutes(5)
    )
    assert (rating.operator_id, rating.score, rating.comment, rating.created_at) == (olga.pk, 4, "Polite.", minutes(5))

    supervisor_rating_save(
        conversation_id=chat.conversation.pk, supervisor=supervisor, score=2, comment="Too slow.", now=minutes(9)
    )
    assert list(SupervisorRating.objects.values_list("score", "comment")) == [(2, "Too slow.")]


@pytest.mark.parametrize("score", [0, 6, -1, "5", 4.5, True, None])
def test_r3_score_must_be_a_whole_number_from_1_to_5(start_chat, operators, supervisor, score):
    chat = start_chat(operators[0])
    with pytest.raises(ServiceError, match="1 to 5"):
        supervisor_rating_save(
            conversation_id=chat.conversation.pk, supervisor=supervisor, score=score, comment="", now=T0
        )
    assert not SupervisorRating.objects.exists()


def test_r3_only_supervisors_rate(start_chat, operators):
    chat = start_chat(operators[0])
    with pytest.raises(NotAllowed):
        supervisor_rating_save(
            conversation_id=chat.conversation.pk, supervisor=operators[1], score=5, comment="", now=T0
        )


def test_r3_unknown_or_unhandled_conversation(start_chat, supervisor):
    with pytest.raises(NotFound):
        supervisor_rating_save(conversation_id=987654, supervisor=supervisor, score=5, comment="", now=T0)
    unhandled = start_chat(None)
    with pytest.raises(InvalidState, match="No operator"):
        supervisor_rating_save(
            conversation_id=unhandled.conversation.pk, supervisor=supervisor, score=5, comment="", now=T0
        )


def test_records_of_another_channel_keep_their_own_channel(start_chat, operators):
    other = OpenChannelFactory(name="Sales")
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))
    original_channel = chat.conversation.open_channel_id
    Conversation.objects.filter(pk=chat.conversation.pk).update(open_channel=other)  # Q13 transfer to Sales
    chat.operator(operators[0], minutes(1))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(1))
    assert ResponseRecord.objects.get().open_channel_id == original_channel
