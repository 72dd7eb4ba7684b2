"""Issue 15.5: the widget reports what the visitor saw (``read`` {message_id}); the console shows it read.

Only the operator messages of the conversation this socket follows, only up to the id given, once: a replay or
an id of another conversation changes nothing; a bad id gets an error frame.
"""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from channels_app.engine import conversations
from channels_app.models import Conversation, Message
from tests.channels_app.livechat import test_consumer_limits as limits
from tests.channels_app.livechat.test_consumer_limits import _db, start_conversation, visitor_socket
from tests.sockets import ask

pytestmark = pytest.mark.django_db(transaction=True)

# The fixtures of the limits tests: an in-memory channel layer, own rate-limit buckets, Olga's support channel.
in_memory_layer_and_own_buckets = limits.in_memory_layer_and_own_buckets
support = limits.support


def operator_replies(conversation_id: int, olga, *texts: str) -> list[int]:
    conversation = Conversation.objects.get(pk=conversation_id)
    if conversation.operator_id != olga.pk:
        Conversation.objects.filter(pk=conversation_id).update(
            status="active", operator=olga, assigned_at=timezone.now()
        )
    return [
        conversations.message_send_by_operator(
            conversation_id=conversation_id, operator=olga, text=text, now=timezone.now()
        ).pk
        for text in texts
    ]


def deliveries(conversation_id: int) -> dict[int, tuple[str, bool]]:
    return {
        pk: (state, read_at is not None)
        for pk, state, read_at in Message.objects.filter(conversation_id=conversation_id)
        .exclude(author_kind="client")
        .values_list("pk", "delivery", "read_at")
    }


async def test_the_widget_marks_operator_messages_read_up_to_the_one_shown(support):
    visitor = await visitor_socket(support.connector)
    conversation_id = await start_conversation(visitor)
    first, second = await _db(operator_replies, conversation_id, support.olga, "Hi!", "How can I help?")

    answer = await ask(visitor, "read", message_id=first)
    assert (answer["type"], answer["read"]) == ("ack", 1)
    assert await _db(deliveries, conversation_id) == {first: ("read", True), second: ("sent", False)}

    assert (await ask(visitor, "read", message_id=second))["read"] == 1
    assert (await ask(visitor, "read", message_id=second))["read"] == 0  # idempotent
    client_message = await _db(
        lambda: Message.objects.filter(conversation_id=conversation_id, author_kind="client").get()
    )
    assert client_message.delivery == "received"  # the visitor's own message is not the operator's to read
    await visitor.disconnect()


async def test_another_visitors_conversation_is_never_marked(support):
    theirs = await visitor_socket(support.connector)
    their_conversation = await start_conversation(theirs)
    [their_reply] = await _db(operator_replies, their_conversation, support.olga, "For them")
    mine = await visitor_socket(support.connector)
    assert (await ask(mine, "read", message_id=their_reply))["read"] == 0  # no conversation yet
    await ask(mine, "send", text="Me too", client_id=uuid.uuid4().hex)
    assert (await ask(mine, "read", message_id=their_reply))["read"] == 0  # ids below it are not mine
    assert await _db(deliveries, their_conversation) == {their_reply: ("sent", False)}
    await theirs.disconnect()
    await mine.disconnect()


@pytest.mark.parametrize("message_id", [0, -1, "7", None, True, 1.5])
async def test_a_bad_message_id_is_an_error_frame_and_changes_nothing(support, message_id):
    visitor = await visitor_socket(support.connector)
    conversation_id = await start_conversation(visitor)
    await _db(operator_replies, conversation_id, support.olga, "Hi!")
    answer = await ask(visitor, "read", message_id=message_id)
    assert answer["type"] == "error" and "message_id" in answer["message"]
    assert all(state == "sent" for state, _ in (await _db(deliveries, conversation_id)).values())
    await visitor.disconnect()
