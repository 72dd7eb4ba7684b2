"""Private notes: what operators and supervisors tell each other inside a conversation.

A note is a :class:`~channels_app.models.ConversationNote`, never a message, so no connector, widget or
transcript can send it to the client; its event goes to the staff group of the conversation (the consoles that
watch it, never the client's widget) and to the holder's console.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from channels_app.engine import access, events
from channels_app.engine.errors import NotFound, ServiceError
from channels_app.models import TYPED_TEXT_MAX_LENGTH, Conversation, ConversationNote


def note_add(*, conversation_id: int, author, text: str, now: datetime) -> ConversationNote:
    """``author`` (who may read the conversation) leaves a note in it; the holder's console shows it at once."""
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise ServiceError("Write the note first.")
    if len(text) > TYPED_TEXT_MAX_LENGTH:
        raise ServiceError(f"The note is longer than {TYPED_TEXT_MAX_LENGTH} characters.")
    with transaction.atomic():
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        if conversation is None or not access.can_see_conversation(author, conversation):
            raise NotFound("This conversation does not exist.")
        note = ConversationNote.objects.create(conversation=conversation, author=author, text=text, created_at=now)
        event = events.note_created(note)
        groups = [events.conversation_staff_group(conversation.pk)]
        if conversation.operator_id is not None and conversation.operator_id != author.pk:
            groups.append(events.operator_group(conversation.operator_id))
        events.publish(groups, event)
        return note


def conversation_notes(conversation_id: int) -> list[ConversationNote]:
    """The conversation's notes, oldest first, with their authors (the caller checked who may read them)."""
    return list(
        ConversationNote.objects.filter(conversation_id=conversation_id).select_related("author__operator_profile")
    )
