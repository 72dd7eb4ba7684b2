"""Issue 15.5: the operator retries a failed reply (``engine.delivery.message_delivery_retry``).

Only the operator who holds the conversation, only a failed operator message; the retry queues one send that
resumes after the parts that went out, so the client never gets a part twice.
"""

from __future__ import annotations

import pytest

from channels_app.engine import delivery, jobs
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound
from channels_app.models import ConnectorKind, Message
from tests.channels_app.connectors.test_outbound_files import (
    PDF,
    PHOTO,
    deliver,
    delivery_events,
    reply_with_files,
    taken_conversation,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_operator
from tests.factories import QueueMemberFactory, UserFactory

pytestmark = pytest.mark.django_db

TELEGRAM_REFUSES = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def enqueued(monkeypatch):
    """The sends the retries queue (Celery is not running in these tests)."""
    calls: list[tuple] = []
    monkeypatch.setattr(jobs, "enqueue", lambda name, *args, **kwargs: calls.append((name, *args)))
    return calls


def failed_after_two_parts(engine, provider, enqueued):
    """Olga's long text, a photo and a PDF: the text and the photo went, Telegram refused the PDF."""
    olga, conversation = taken_conversation(engine, ConnectorKind.TELEGRAM)
    message = reply_with_files(engine, olga, conversation, "Please read both. " * 70, [PHOTO, PDF])
    provider.fail("/sendDocument", 403, TELEGRAM_REFUSES)
    assert deliver(engine, message).state == "failed"
    message.refresh_from_db()
    assert (message.delivery, message.delivery_parts_sent) == ("failed", 2)
    enqueued.clear()  # the sends queued when the messages were stored
    return olga, conversation, message


def test_retry_resumes_after_the_parts_sent_and_the_client_gets_each_part_once(engine, provider, enqueued):
    olga, conversation, message = failed_after_two_parts(engine, provider, enqueued)

    retried = engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=olga)

    assert (retried.delivery, retried.delivery_error) == ("queued", "")
    assert enqueued == [(jobs.SEND_MESSAGE, message.pk)]
    assert delivery_events(engine, conversation)[-1]["message"]["delivery"] == "queued"
    assert deliver(engine, message).state == "sent"
    assert len(provider.calls("/sendMessage")) == 1
    assert len(provider.calls("/sendPhoto")) == 1
    assert len(provider.calls("/sendDocument")) == 2  # the refused try and the one that went
    message.refresh_from_db()
    assert (message.delivery, message.delivery_parts_sent) == ("sent", 3)


def test_a_second_retry_of_the_same_failure_is_refused_so_it_is_sent_once(engine, provider, enqueued):
    olga, _conversation, message = failed_after_two_parts(engine, provider, enqueued)
    engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=olga)
    with pytest.raises(InvalidState):
        engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=olga)
    assert len(enqueued) == 1


def test_only_the_operator_holding_the_conversation_may_retry(engine, provider, enqueued):
    olga, conversation, message = failed_after_two_parts(engine, provider, enqueued)
    colleague = make_operator("piotr")
    QueueMemberFactory(open_channel=conversation.open_channel, operator=colleague)
    stranger = make_operator("stranger")
    supervisor = UserFactory(username="sue")
    conversation.open_channel.supervisors.add(supervisor)

    with pytest.raises(NotAllowed):
        engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=colleague)
    with pytest.raises(NotAllowed):
        engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=supervisor)
    with pytest.raises(NotFound):  # another channel's operator learns nothing of it
        engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=stranger)
    with pytest.raises(NotFound):
        engine.commit(delivery.message_delivery_retry, message_id=10**9, user=olga)

    message.refresh_from_db()
    assert message.delivery == "failed" and enqueued == []


def test_a_message_that_did_not_fail_or_is_not_an_operators_is_refused(engine, provider, enqueued):
    olga, conversation, message = failed_after_two_parts(engine, provider, enqueued)
    Message.objects.filter(pk=message.pk).update(delivery="sent")
    with pytest.raises(InvalidState):
        engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=olga)
    client_message = conversation.messages.filter(author_kind="client").first()
    Message.objects.filter(pk=client_message.pk).update(delivery="failed")
    with pytest.raises(InvalidState):
        engine.commit(delivery.message_delivery_retry, message_id=client_message.pk, user=olga)
    assert enqueued == []


def test_a_closed_conversation_is_not_retried(engine, provider, enqueued):
    olga, conversation, message = failed_after_two_parts(engine, provider, enqueued)
    conversation.refresh_from_db()
    type(conversation).objects.filter(pk=conversation.pk).update(status="closed")
    with pytest.raises(NotAllowed):
        engine.commit(delivery.message_delivery_retry, message_id=message.pk, user=olga)


def test_receipts_are_idempotent_and_announced_once(engine, provider):
    olga, conversation = taken_conversation(engine, ConnectorKind.TELEGRAM)
    message = reply_with_files(engine, olga, conversation, "Hello", [])
    assert deliver(engine, message).state == "sent"
    message.refresh_from_db()
    for _ in range(2):
        engine.commit(
            delivery.message_delivery_update,
            connector_id=message.connector_id,
            source_message_ids=[message.source_message_id, "unknown"],
            state="read",
        )
    message.refresh_from_db()
    assert message.delivery == "read"
    assert [e["message"]["delivery"] for e in delivery_events(engine, conversation)] == ["sent", "read"]
