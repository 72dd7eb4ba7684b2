"""K1 off the message path (issue 8): the services flag conversations, a batch records them.

Storing a message, closing a conversation or a bot's hand-over sets
``Conversation.responses_pending`` in the UPDATE of the conversation row the
service makes anyway; ``responses_record_pending`` (beat task every
``KPI_RECORD_INTERVAL_SECONDS``) records the flagged conversations in batches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask

from channels_app.engine import messages
from channels_app.engine.conversations import (
    conversation_bot_handover,
    conversation_close_by_operator,
    message_send_by_bot,
    message_send_by_operator,
)
from channels_app.engine.inbound import message_receive
from channels_app.models import Conversation, ConversationStatus, Message
from channels_app.periodic import SWEEPS, sync_periodic_tasks
from kpi import services as kpi_services
from kpi.models import KpiMiss, ResponseRecord
from kpi.services import responses_record, responses_record_pending, responses_sweep
from tests.kpi.conftest import minutes

BASE_DIR = Path(__file__).resolve().parents[2]
RECORD_FIELDS = (
    "conversation_id",
    "open_channel_id",
    "client_message_id",
    "kind",
    "waiting_since",
    "operator_id",
    "response_message_id",
    "responded_at",
    "ended_at",
    "response_seconds",
    "due_at",
    "is_miss",
    "target_seconds",
    "working_hours_only",
)


def is_pending(conversation: Conversation) -> bool:
    return Conversation.objects.values_list("responses_pending", flat=True).get(pk=conversation.pk)


def flag(*conversations: Conversation) -> None:
    Conversation.objects.filter(pk__in=[c.pk for c in conversations]).update(responses_pending=True)


def conversation_updates(queries: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in queries if query["sql"].startswith('UPDATE "channels_app_conversation"')]


# --- the flag: set in the write the services make anyway --------------------------------------------------


def test_k1_a_client_message_flags_its_conversation_and_records_nothing_yet(kpi_channel):
    result = message_receive(
        connector=kpi_channel.connectors.get(),
        external_user_id="anna",
        text="Hello?",
        source_message_id="m1",
        now=minutes(0),
    )

    assert is_pending(result.conversation)
    assert not ResponseRecord.objects.exists(), "recording waits for the batch"
    assert responses_record_pending(now=minutes(1)) == 1
    assert ResponseRecord.objects.get().waiting_since == minutes(0)
    assert not is_pending(result.conversation)


def test_k1_an_operator_reply_flags_the_conversation_in_its_one_update(start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))

    with CaptureQueriesContext(connection) as queries:
        message_send_by_operator(conversation_id=chat.conversation.pk, operator=olga, text="Hi!", now=minutes(1))

    updates = conversation_updates(queries)
    assert len(updates) == 1 and '"responses_pending" = true' in updates[0]
    assert is_pending(chat.conversation)


def test_k1_a_system_message_flags_with_one_update_unless_already_flagged(start_chat, operators):
    chat = start_chat(operators[0])
    conversation = Conversation.objects.select_related("open_channel", "connector").get(pk=chat.conversation.pk)

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        messages.send_system_message(conversation, key="notice", text="We are looking into it.", now=minutes(0))
    assert len(conversation_updates(queries)) == 1
    assert is_pending(conversation)

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        messages.send_system_message(conversation, key="notice-2", text="Still looking.", now=minutes(1))
    assert conversation_updates(queries) == [], "already flagged in this row: no second UPDATE"


def test_k1_b1_bot_messages_flag_nothing_and_the_hand_over_flags_the_wait(start_chat):
    chat = start_chat(None)
    Conversation.objects.filter(pk=chat.conversation.pk).update(status=ConversationStatus.BOT)
    conversation = Conversation.objects.select_related("open_channel", "connector").get(pk=chat.conversation.pk)
    with transaction.atomic():
        messages.create_message(conversation, author_kind=Message.Author.CLIENT, text="Hello?", now=minutes(0))
    message_send_by_bot(conversation_id=conversation.pk, text="I am a bot; how can I help?", now=minutes(1))
    with transaction.atomic():
        messages.send_system_message(conversation, key="notice", text="Bots answer at night.", now=minutes(1))
    assert not is_pending(conversation), "while the bot answers nobody waits for an operator"

    conversation_bot_handover(conversation_id=conversation.pk, now=minutes(2))

    assert is_pending(conversation)
    assert responses_record_pending(now=minutes(3)) == 1
    record = ResponseRecord.objects.get()
    assert (record.kind, record.waiting_since, record.due_at) == ("initial", minutes(2), minutes(5))


def test_k1_k2_a_close_without_any_message_ends_the_wait_unanswered(start_chat, kpi_channel, operators):
    kpi_channel.close_message_enabled = False
    kpi_channel.rating_enabled = False
    kpi_channel.save()
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))

    conversation_close_by_operator(conversation_id=chat.conversation.pk, operator=olga, now=minutes(2))

    assert is_pending(chat.conversation)
    assert not Message.objects.filter(author_kind=Message.Author.SYSTEM).exists()
    assert responses_record_pending(now=minutes(2)) == 1
    record = ResponseRecord.objects.get()
    assert (record.ended_at, record.response_seconds, record.is_miss) == (minutes(2), None, False)
    assert responses_sweep(now=minutes(30)) == 0


def test_k1_recording_one_conversation_also_clears_its_flag(start_chat, operators):
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    flag(chat.conversation)

    responses_record(conversation_id=chat.conversation.pk, now=minutes(0))

    assert not is_pending(chat.conversation)
    assert responses_record_pending(now=minutes(1)) == 0


# --- the batch: the same records as recording after every message ----------------------------------------


CONVERSATION_SCRIPTS = [
    # (author, minute); "olga" / "piotr" are operators
    [("client", 0), ("olga", 2)],  # answered in time
    [("client", 0), ("olga", 4)],  # initial target (3 min) missed
    [("client", 0), ("olga", 1), ("client", 5), ("client", 6), ("piotr", 11)],  # subsequent (5 min) missed
    [("olga", 0), ("client", 1), ("olga", 2)],  # the operator wrote first
    [("client", 0), ("client", 1)],  # never answered: the sweep's miss
    [("client", 10)],  # still within the target at the end (minute 12)
]


def test_k1_k2_the_batch_records_what_recording_after_every_message_recorded(start_chat, operators):
    olga, piotr = operators[0], operators[1]
    authors = {"olga": olga, "piotr": piotr}
    end = minutes(12)
    chats = [start_chat(olga) for _ in CONVERSATION_SCRIPTS]

    # The old synchronous path: record after every message, at its time; the sweep finds the rest.
    for chat, script in zip(chats, CONVERSATION_SCRIPTS, strict=True):
        for author, minute in script:
            if author == "client":
                chat.client(minutes(minute))
            else:
                chat.operator(authors[author], minutes(minute))
            responses_record(conversation_id=chat.conversation.pk, now=minutes(minute))
    responses_sweep(now=end)
    synchronous = sorted(ResponseRecord.objects.values_list(*RECORD_FIELDS))
    synchronous_misses = sorted(KpiMiss.objects.values_list("response_record__client_message_id", "operator_id"))
    assert len(synchronous) == 7 and len(synchronous_misses) == 3

    KpiMiss.objects.all().delete()
    ResponseRecord.objects.all().delete()
    flag(*(chat.conversation for chat in chats))

    assert responses_record_pending(now=end, limit=4) == len(chats), "two batches, every conversation once"
    assert responses_sweep(now=end) == 0, "the batch already found every miss"
    assert sorted(ResponseRecord.objects.values_list(*RECORD_FIELDS)) == synchronous
    assert (
        sorted(KpiMiss.objects.values_list("response_record__client_message_id", "operator_id")) == synchronous_misses
    )
    assert not Conversation.objects.filter(responses_pending=True).exists()


def test_k2_the_sweep_records_pending_conversations_first(start_chat, operators):
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    flag(chat.conversation)  # the client's message, never recorded yet

    assert responses_sweep(now=minutes(10)) == 1

    assert KpiMiss.objects.get().operator_id == operators[0].pk
    assert not is_pending(chat.conversation)


def test_k1_the_beat_task_records_pending_conversations(start_chat, operators, time_machine):
    from kpi.tasks import record_pending_responses

    time_machine.move_to(minutes(2), tick=False)
    chat = start_chat(operators[0])
    chat.client(minutes(0))
    chat.operator(operators[0], minutes(1))
    flag(chat.conversation)

    assert record_pending_responses.run() == 1
    assert ResponseRecord.objects.get().response_seconds == 60.0
    assert record_pending_responses.run() == 0


def test_k1_a_failing_conversation_is_logged_stays_pending_and_does_not_stop_the_others(
    start_chat, operators, monkeypatch, caplog
):
    chats = [start_chat(operators[0]) for _ in range(5)]
    for chat in chats:
        chat.client(minutes(0))
    flag(*(chat.conversation for chat in chats))
    broken = chats[1].conversation.pk
    record_locked = kpi_services._record_locked

    def fails_for_one(conversation, **kwargs):
        if conversation.pk == broken:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 / 0")  # a database error aborts the transaction, like a real one
        return record_locked(conversation, **kwargs)

    monkeypatch.setattr(kpi_services, "_record_locked", fails_for_one)

    assert responses_record_pending(now=minutes(1), limit=2) == 4

    assert list(Conversation.objects.filter(responses_pending=True).values_list("pk", flat=True)) == [broken]
    assert set(ResponseRecord.objects.values_list("conversation_id", flat=True)) == {
        chat.conversation.pk for chat in chats if chat.conversation.pk != broken
    }
    assert f"Could not record the responses of conversation {broken}; it stays pending" in caplog.text

    monkeypatch.setattr(kpi_services, "_record_locked", record_locked)
    assert responses_record_pending(now=minutes(1)) == 1, "the next run retries it"
    assert ResponseRecord.objects.count() == 5


# --- the batch under real concurrent transactions -----------------------------------------------------------


class Worker(threading.Thread):
    """Runs ``target`` on its own database connection; ``result()`` re-raises its error."""

    def __init__(self, target, barrier: threading.Barrier | None = None):
        super().__init__()
        self.target, self.barrier, self.outcome = target, barrier, {}

    def run(self) -> None:
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=30)
            self.outcome["value"] = self.target()
        except BaseException as error:  # re-raised in the test thread
            self.outcome["error"] = error
        finally:
            close_old_connections()
            connection.close()

    def result(self):
        self.join(timeout=60)
        assert not self.is_alive(), "the worker is stuck"
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["value"]


def wait_until_a_transaction_waits_for_a_lock(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
    raise AssertionError("no transaction ever waited for the batch's row lock")


@pytest.mark.django_db(transaction=True)
def test_k1_a_reply_stored_while_a_batch_holds_the_conversation_stays_pending(start_chat, operators, monkeypatch):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    flag(chat.conversation)
    claimed, release = threading.Event(), threading.Event()
    read_locked = kpi_services._read_locked

    def read_then_hold(conversations):
        reads = read_locked(conversations)
        if conversations and not release.is_set():
            claimed.set()
            release.wait(timeout=30)
        return reads

    monkeypatch.setattr(kpi_services, "_read_locked", read_then_hold)
    batch = Worker(lambda: responses_record_pending(now=minutes(2)))
    batch.start()
    assert claimed.wait(timeout=30)
    reply = Worker(
        lambda: message_send_by_operator(
            conversation_id=chat.conversation.pk, operator=olga, text="Hi!", now=minutes(2)
        )
    )
    reply.start()
    wait_until_a_transaction_waits_for_a_lock()  # the reply waits for the batch's row lock
    release.set()

    assert batch.result() == 1
    reply.result()
    assert ResponseRecord.objects.get().responded_at is None, "the batch read the messages before the reply"
    assert is_pending(chat.conversation), "the reply flagged the row again after the batch cleared it"

    assert responses_record_pending(now=minutes(3)) == 1
    assert ResponseRecord.objects.get().responded_at == minutes(2)
    assert not is_pending(chat.conversation)


@pytest.mark.django_db(transaction=True)
def test_k1_a_batch_skips_a_conversation_whose_message_is_not_committed_yet(start_chat, operators):
    olga = operators[0]
    chat = start_chat(olga)
    chat.client(minutes(0))
    flag(chat.conversation)  # committed: the claim finds the row, but our open transaction holds it

    with transaction.atomic():
        message_send_by_operator(conversation_id=chat.conversation.pk, operator=olga, text="Hi!", now=minutes(1))
        skipped = Worker(lambda: responses_record_pending(now=minutes(1)))
        skipped.start()
        assert skipped.result() == 0
    assert is_pending(chat.conversation)
    assert responses_record_pending(now=minutes(1)) == 1
    assert ResponseRecord.objects.get().responded_at == minutes(1)


@pytest.mark.django_db(transaction=True)
def test_k1_k2_two_batches_at_once_record_each_conversation_once(start_chat, operators):
    chats = []
    for index in range(30):
        chat = start_chat(operators[index % 3])
        chat.client(minutes(0))
        chats.append(chat)
    flag(*(chat.conversation for chat in chats))
    barrier = threading.Barrier(3)
    batches = [Worker(lambda: responses_record_pending(now=minutes(10), limit=4), barrier) for _ in range(2)]
    sweep = Worker(lambda: responses_sweep(now=minutes(10)), barrier)
    for worker in (*batches, sweep):
        worker.start()

    recorded = sum(batch.result() for batch in batches)
    misses_found_by_the_sweep = sweep.result()

    assert recorded + misses_found_by_the_sweep == 30, "each conversation recorded (with its miss) exactly once"
    assert ResponseRecord.objects.count() == 30
    assert KpiMiss.objects.count() == 30
    assert not Conversation.objects.filter(responses_pending=True).exists()


# --- the beat entry -----------------------------------------------------------------------------------------


def test_k1_recording_is_declared_for_beat_every_configured_interval(db):
    sweep = next(sweep for sweep in SWEEPS if sweep.task == "kpi.tasks.record_pending_responses")
    assert sweep.every_seconds == django_settings.KPI_RECORD_INTERVAL_SECONDS

    sync_periodic_tasks()

    task = PeriodicTask.objects.get(task="kpi.tasks.record_pending_responses")
    assert (task.interval.every, task.interval.period, task.enabled) == (sweep.every_seconds, "seconds", True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", "7"), ("0", "KPI_RECORD_INTERVAL_SECONDS must be a whole number of seconds, at least 1.")],
)
def test_k1_the_interval_comes_from_the_environment(value, expected):
    code = (
        "from channels_app.periodic import SWEEPS\n"
        "print(next(s.every_seconds for s in SWEEPS if s.task == 'kpi.tasks.record_pending_responses'))"
    )
    env = {**os.environ, "KPI_RECORD_INTERVAL_SECONDS": value, "DJANGO_SETTINGS_MODULE": "contact_center.settings"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert expected in (done.stdout if value != "0" else done.stderr)
    assert (done.returncode == 0) == (value != "0")
