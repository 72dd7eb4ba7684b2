"""Notifications that stay until read (issue 15): a missed response target (K2), a mention in a private note, a
conversation transferred to me, an operator's message the messenger refused.

:func:`notify` is called by the producing service inside its own transaction (``kpi.services.misses_notify``,
``engine.notes.note_add``, ``engine.conversations`` on a transfer, ``engine.delivery.delivery_failed`` when our
sender gave up or a receipt said so), so a notification exists exactly when what it reports was committed; the
``notification.created`` event goes after commit to the recipient's group ``operator.<user id>``, which every
console tab of theirs joins.

A person only ever reads their own notifications, and only those of conversations they may still read
(:func:`channels_app.engine.access.conversations_seen_by`): one about a conversation of a channel they left is
neither listed nor counted, and marking it read answers 404 like an id that is not theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from channels_app.engine import access, events
from channels_app.engine.errors import NotFound
from channels_app.models import NOTIFICATION_TEXT_MAX_LENGTH, Conversation, Message, Notification

PAGE_SIZE = 30
PAGE_SIZE_MAX = 100

Kind = Notification.Kind


def notify(
    *,
    recipient_ids: Iterable[int | None],
    kind: str,
    conversation_id: int,
    now: datetime,
    text: str = "",
    message_id: int | None = None,
    note_id: int | None = None,
) -> list[Notification]:
    """Store one notification per recipient (``None`` and repeated ids skipped) and tell their consoles after
    commit. Call it inside the producer's transaction."""
    recipients = sorted({pk for pk in recipient_ids if pk is not None})
    if not recipients:
        return []
    if kind not in Kind.values:
        raise ValueError(f"unknown notification kind {kind!r}")
    text = " ".join(text.split())
    if len(text) > NOTIFICATION_TEXT_MAX_LENGTH:
        text = text[: NOTIFICATION_TEXT_MAX_LENGTH - 1] + "…"
    with transaction.atomic():
        conversation = Conversation.objects.select_related("client").get(pk=conversation_id)
        users = get_user_model().objects.filter(pk__in=recipients)
        # Told live only who may read the conversation now (a K2 recipient chosen for a channel they do not
        # work in); the row stays and shows once they may.
        told = {user.pk for user in users if access.can_see_conversation(user, conversation)}
        created = Notification.objects.bulk_create(
            [
                Notification(
                    recipient_id=recipient_id,
                    kind=kind,
                    conversation_id=conversation_id,
                    message_id=message_id,
                    note_id=note_id,
                    text=text,
                    created_at=now,
                )
                for recipient_id in recipients
            ]
        )
        for notification in created:
            if notification.recipient_id not in told:
                continue
            notification.conversation = conversation
            events.publish(
                [events.operator_group(notification.recipient_id)],
                {"type": "notification.created", "notification": notification_payload(notification)},
            )
    return created


def delivery_failed_notify(*, message_id: int, now: datetime) -> list[Notification]:
    """An operator's message ended ``failed``: tell the conversation's holder (or, when nobody holds it, the
    author) that the client did not get it. Messages of bots and the system notify nobody."""
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.author_kind != "operator":
        return []
    recipient = message.conversation.operator_id or message.author_id
    return notify(
        recipient_ids=[recipient],
        kind=Kind.DELIVERY_FAILED,
        conversation_id=message.conversation_id,
        message_id=message.pk,
        text=message.delivery_error or message.text,
        now=now,
    )


# --- reads -----------------------------------------------------------------------------------------------


def visible_notifications(user) -> QuerySet[Notification]:
    """``user``'s own notifications about conversations they may still read, newest first."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(
        recipient_id=user.pk, conversation__in=access.conversations_seen_by(user).values("pk")
    ).order_by("-created_at", "-id")


def unread_count(user) -> int:
    return visible_notifications(user).filter(read_at__isnull=True).count()


@dataclass(frozen=True)
class NotificationPage:
    items: list[Notification]
    unread: int
    next_before: int | None  # the id to ask ``before`` for the next (older) page; None on the last page


def notifications_page(
    user, *, before_id: int | None = None, unread_only: bool = False, limit: int = PAGE_SIZE
) -> NotificationPage:
    """A page of ``user``'s notifications, newest first, older than ``before_id`` when given."""
    limit = max(1, min(limit, PAGE_SIZE_MAX))
    queryset = visible_notifications(user).select_related("conversation__client")
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
    if before_id is not None:
        queryset = queryset.filter(id__lt=before_id)
    items = list(queryset.order_by("-id")[: limit + 1])
    more = len(items) > limit
    items = items[:limit]
    return NotificationPage(items=items, unread=unread_count(user), next_before=items[-1].pk if more else None)


def notification_payload(notification: Notification) -> dict:
    """What the console and the REST API show of one notification (the ``notification.created`` event's)."""
    conversation = notification.conversation
    return {
        "id": notification.pk,
        "kind": str(notification.kind),
        "conversation_id": notification.conversation_id,
        "client_name": str(conversation.client) if conversation.client_id else "",
        "message_id": notification.message_id,
        "note_id": notification.note_id,
        "text": notification.text,
        "created_at": notification.created_at.isoformat(),
        "read_at": notification.read_at.isoformat() if notification.read_at else None,
    }


# --- writes ----------------------------------------------------------------------------------------------


def notification_read(*, user, notification_id: int, now: datetime) -> Notification:
    """Mark one of ``user``'s notifications read (again: unchanged); another person's id is :class:`NotFound`."""
    with transaction.atomic():
        notification = (
            visible_notifications(user)
            .select_for_update(of=("self",))
            .select_related("conversation__client")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            raise NotFound(_("No such notification."))
        if notification.read_at is None:
            notification.read_at = now
            notification.save(update_fields=["read_at"])
            _announce_read(user.pk, [notification.pk])
        return notification


def notifications_read_all(*, user, now: datetime) -> int:
    """Mark every unread notification of ``user`` read; returns how many were."""
    with transaction.atomic():
        ids = list(Notification.objects.filter(recipient_id=user.pk, read_at__isnull=True).values_list("pk", flat=True))
        if ids:
            Notification.objects.filter(pk__in=ids).update(read_at=now)
            _announce_read(user.pk, ids)
        return len(ids)


def _announce_read(user_id: int, ids: list[int]) -> None:
    """Other tabs of the same person drop the read ones from their count."""
    events.publish([events.operator_group(user_id)], {"type": "notification.read", "ids": ids})
