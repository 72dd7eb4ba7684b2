"""Private notes: what operators and supervisors tell each other inside a conversation.

A note is a :class:`~channels_app.models.ConversationNote`, never a message, so no connector, widget or
transcript can send it to the client; its event goes to the staff group of the conversation (the consoles that
watch it, never the client's widget) and to the holder's console.

``@name`` in a note mentions a colleague by the name the console shows them by (their display name): the server
resolves the names against the people who may read the conversation (:func:`mention_candidates`), records them on
the note and notifies each (:mod:`channels_app.engine.notifications`). A name nobody of them bears stays text; the
browser's list of suggestions is never trusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from channels_app.engine import access, events, notifications
from channels_app.engine.errors import NotFound, ServiceError
from channels_app.models import (
    TYPED_TEXT_MAX_LENGTH,
    Conversation,
    ConversationNote,
    Notification,
    QueueMember,
    operator_display_name,
)


def note_add(*, conversation_id: int, author, text: str, now: datetime) -> ConversationNote:
    """``author`` (who may read the conversation) leaves a note in it; the holder's console shows it at once, and
    every colleague it ``@mentions`` gets a notification."""
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        raise ServiceError(_("Write the note first."))
    if len(text) > TYPED_TEXT_MAX_LENGTH:
        raise ServiceError(_("The note is longer than %(limit)d characters.") % {"limit": TYPED_TEXT_MAX_LENGTH})
    with transaction.atomic():
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        if conversation is None or not access.can_see_conversation(author, conversation):
            raise NotFound(_("This conversation does not exist."))
        note = ConversationNote.objects.create(conversation=conversation, author=author, text=text, created_at=now)
        mentioned = mentioned_users(text, mention_candidates(conversation)) if "@" in text else []
        if mentioned:
            note.mentioned.set(mentioned)
            notifications.notify(
                recipient_ids=[user.pk for user in mentioned if user.pk != author.pk],
                kind=Notification.Kind.MENTION,
                conversation_id=conversation.pk,
                note_id=note.pk,
                text=f"{operator_display_name(author)}: {text}",
                now=now,
            )
        event = events.note_created(note)
        groups = [events.conversation_staff_group(conversation.pk)]
        if conversation.operator_id is not None and conversation.operator_id != author.pk:
            groups.append(events.operator_group(conversation.operator_id))
        events.publish(groups, event)
        return note


def conversation_notes(conversation_id: int) -> list[ConversationNote]:
    """The conversation's notes, oldest first, with their authors and whom they mention (the caller checked who
    may read them)."""
    return list(
        ConversationNote.objects.filter(conversation_id=conversation_id)
        .select_related("author__operator_profile")
        .prefetch_related("mentioned__operator_profile")
    )


def mention_candidates(conversation: Conversation) -> list:
    """The colleagues a note in ``conversation`` may mention: active people who may read it (its channel's queue
    and supervisors, and whoever held it), by display name."""
    channel_id = conversation.open_channel_id
    people = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(pk__in=QueueMember.objects.filter(open_channel_id=channel_id).values("operator_id"))
            | Q(supervised_open_channels=channel_id)
            | Q(pk__in=[pk for pk in (conversation.operator_id, conversation.first_operator_id) if pk])
        )
        .select_related("operator_profile")
        .distinct()
    )
    return sorted(
        (user for user in people if access.can_see_conversation(user, conversation)),
        key=lambda user: operator_display_name(user).casefold(),
    )


def _mention_pattern(name: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w@])@" + re.escape(name) + r"(?!\w)", re.IGNORECASE)


def mentioned_users(text: str, candidates: Iterable) -> list:
    """The candidates ``text`` names as ``@display name``; longer names first, so "@Anna Nowak" is Anna Nowak
    and not also a colleague called Anna."""
    found = []
    remaining = text
    for user in sorted(candidates, key=lambda user: -len(operator_display_name(user))):
        pattern = _mention_pattern(operator_display_name(user))
        if pattern.search(remaining):
            found.append(user)
            remaining = pattern.sub(" ", remaining)
    return found


def mention_segments(text: str, names: Iterable[str]) -> list[tuple[str, bool]]:
    """``text`` cut into (piece, is a mention) for pages that highlight the ``@names`` of a note."""
    ordered = sorted({name for name in names if name}, key=len, reverse=True)
    if not ordered:
        return [(text, False)]
    pattern = re.compile("|".join(r"(?<![\w@])@" + re.escape(name) + r"(?!\w)" for name in ordered), re.IGNORECASE)
    segments: list[tuple[str, bool]] = []
    position = 0
    for match in pattern.finditer(text):
        if match.start() > position:
            segments.append((text[position : match.start()], False))
        segments.append((match.group(0), True))
        position = match.end()
    if position < len(text):
        segments.append((text[position:], False))
    return segments
