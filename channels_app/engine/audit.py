"""Writing the audit log of access to personal data (issue 19; :mod:`channels_app.models.audit`).

:func:`audit_record` is called by the service doing what it records, inside that service's transaction, so an
event exists exactly when what it reports was committed (an export that failed to be queued leaves no trace, an
erasure rolled back is not logged). ``actor`` is ``None`` for the system (a retention sweep run by beat)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from channels_app.models import AuditAction, AuditEvent


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
