"""Writing the audit log of access to personal data (issue 19; :mod:`channels_app.models.audit`).

:func:`audit_record` is called by the service doing what it records, inside that service's transaction, so an
event exists exactly when what it reports was committed (an export that failed to be queued leaves no trace, an
erasure rolled back is not logged). ``actor`` is ``None`` for the system (a retention sweep run by beat)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

from channels_app.engine.access import is_own_work
from channels_app.models import AuditAction, AuditEvent, Conversation

# Paging through a long transcript, reloading it, opening it from two tabs: one event per person and conversation
# in this time.
TRANSCRIPT_OPENED_QUIET = timedelta(hours=1)


def audit_record(
    *,
    actor: Any | None,
    action: str,
    now: datetime,
    open_channel_id: int | None = None,
    client_id: int | None = None,
    contact_id: int | None = None,
    conversation_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Store one audit event; ``detail`` holds plain facts (ids, counts, settings), never a name or a text."""
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    return AuditEvent.objects.create(
        at=now,
        actor=actor if actor is not None and actor.pk else None,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        open_channel_id=open_channel_id,
        client_id_ref=client_id,
        contact_id_ref=contact_id,
        conversation_id_ref=conversation_id,
        detail=detail or {},
    )


def transcript_opened(*, user: Any, conversation: Conversation, now: datetime) -> bool:
    """Record that ``user`` read ``conversation``'s transcript, when that is not their own work
    (:func:`~channels_app.engine.access.is_own_work`: a supervisor's or an administrator's look), at most once per
    person and conversation within :data:`TRANSCRIPT_OPENED_QUIET`. Called by every page that shows a transcript
    after it checked the reader may see it: the KPI transcript, the admin's conversation and lead pages, the
    console's messages. Whether an event was written."""
    if is_own_work(user, conversation):
        return False
    with transaction.atomic():
        # Two pages of one transcript asked at once: the second waits here, then finds the first one's event.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"transcript-opened:{user.pk}:{conversation.pk}"]
            )
        recent = AuditEvent.objects.filter(
            action=AuditAction.TRANSCRIPT_OPENED,
            actor_id=user.pk,
            conversation_id_ref=conversation.pk,
            at__gt=now - TRANSCRIPT_OPENED_QUIET,
        )
        if recent.exists():
            return False
        audit_record(
            actor=user,
            action=AuditAction.TRANSCRIPT_OPENED,
            now=now,
            open_channel_id=conversation.open_channel_id,
            client_id=conversation.client_id,
            conversation_id=conversation.pk,
        )
    return True
