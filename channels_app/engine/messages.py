"""Storing a message of any author, and the system notices services send (M1–M4, Q9, H2, R1)."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from channels_app.engine import events, signals
from channels_app.engine.attachments import IncomingFile, attachments_add, downloads_queue_after_commit
from channels_app.engine.texts import client_text
from channels_app.models import ConnectorKind, Conversation, ConversationStatus, Message
from channels_app.models.rows import Columns

# Every message of every author is one INSERT and one UPDATE of its conversation: written through
# models.rows.Columns, which prepares the values as save() does without compiling a query per message
# (decision 0033). No receiver listens to either model's save signals.
_MESSAGE = Columns(Message)
_CONVERSATION = Columns(Conversation)


def outbound_delivery(conversation: Conversation) -> str:
    # The live-chat widget reads messages over its socket; messenger connectors send queued ones.
    if conversation.connector.kind == ConnectorKind.LIVECHAT:
        return Message.Delivery.SENT
    return Message.Delivery.QUEUED


def create_message(
    conversation: Conversation,
    *,
    author_kind: str,
    text: str,
    now: datetime,
    author=None,
    files: list[IncomingFile] | None = None,
    source_message_id: str | None = None,
    template: dict | None = None,
    button: dict | None = None,
) -> Message:
    """Store a message (with its files), keep the conversation's message timestamps current, and announce it
    after commit. ``template`` is the WhatsApp template it goes out as (``Message.template``); ``button`` the
    button a client pressed (``Message.button``)."""
    message = _new_message(
        conversation,
        author_kind=author_kind,
        text=text,
        now=now,
        author=author,
        source_message_id=source_message_id,
        template=template,
    )
    message.button = button
    _MESSAGE.insert(message)
    attachments = attachments_add(message, files or [], now)
    _record_stored(conversation, message, now)
    downloads_queue_after_commit(attachments)
    return message


def create_message_once(
    conversation: Conversation, *, system_key: str, author_kind: str, text: str, now: datetime
) -> Message | None:
    """:func:`create_message` for a message carrying ``system_key``, stored at most once per conversation.

    When the conversation already has a message with this key, nothing is
    stored and ``None`` is returned: retries and overlapping sweeps cannot
    repeat "nobody is available" or the closing text.
    """
    if not system_key:
        raise ValueError("create_message_once() needs a system_key; use create_message() for other messages.")
    if Message.objects.filter(conversation=conversation, system_key=system_key).exists():
        return None
    message = _new_message(conversation, author_kind=author_kind, text=text, now=now, system_key=system_key)
    try:
        with transaction.atomic():
            _MESSAGE.insert(message)
    except IntegrityError:
        return None
    attachments_add(message, [], now)
    _record_stored(conversation, message, now)
    return message


def send_system_message(conversation: Conversation, *, key: str, text: str, now: datetime) -> Message | None:
    """A notice to the client, once per ``key`` per conversation; an empty text sends nothing."""
    if not text.strip():
        return None
    # O3: an untouched default text goes out in the open channel's language.
    text = client_text(text, conversation.open_channel.language)
    return create_message_once(conversation, system_key=key, author_kind=Message.Author.SYSTEM, text=text, now=now)


# --- helpers ----------------------------------------------------------------------------------------------


def _new_message(
    conversation: Conversation,
    *,
    author_kind: str,
    text: str,
    now: datetime,
    author=None,
    system_key: str = "",
    source_message_id: str | None = None,
    template: dict | None = None,
) -> Message:
    delivery = Message.Delivery.RECEIVED if author_kind == Message.Author.CLIENT else outbound_delivery(conversation)
    return Message(
        conversation=conversation,
        connector_id=conversation.connector_id,
        author_kind=author_kind,
        author=author,
        text=text,
        system_key=system_key,
        source_message_id=source_message_id,
        created_at=now,
        delivery=delivery,
        template=template,
    )


def _record_stored(conversation: Conversation, message: Message, now: datetime) -> None:
    """After a message is saved: the conversation's timestamps and K1 flag, then the after-commit announcements."""
    author_kind = message.author_kind
    # K1: response times are recorded later in batches (kpi.services.responses_record_pending); the flag
    # rides on this UPDATE of the conversation row. A bot's conversation is flagged when it hands over.
    records_responses = conversation.status != ConversationStatus.BOT and author_kind != Message.Author.BOT
    # System notices are not conversation activity: they neither keep a
    # conversation from auto-closing (Q11) nor change who spoke last (Q8).
    if author_kind != Message.Author.SYSTEM:
        fields = ["last_message_at"]
        if records_responses:
            conversation.responses_pending = True
            fields.append("responses_pending")
        conversation.last_message_at = now
        if author_kind == Message.Author.CLIENT:
            conversation.last_client_message_at = now
            conversation.last_message_author = Message.Author.CLIENT
            fields += ["last_client_message_at", "last_message_author"]
        elif author_kind == Message.Author.OPERATOR:
            conversation.last_operator_message_at = now
            conversation.last_message_author = Message.Author.OPERATOR
            fields += ["last_operator_message_at", "last_message_author"]
            if conversation.first_response_at is None:
                conversation.first_response_at = now
                fields.append("first_response_at")
        _CONVERSATION.update(conversation, fields)
    elif records_responses and not conversation.responses_pending:
        # Rare (welcome, close notices); a close already flagged this row in set_status.
        Conversation.objects.filter(pk=conversation.pk).update(responses_pending=True)
        conversation.responses_pending = True

    events.publish_to_conversation(
        conversation, events.message_created(message), operator_ids=[conversation.operator_id]
    )
    signals.send_message_created_after_commit(
        Message,
        message_id=message.pk,
        conversation_id=conversation.pk,
        author_kind=author_kind,
        conversation_status=conversation.status,
    )
