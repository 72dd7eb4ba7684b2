"""CRM reactions to channels_app signals."""

from __future__ import annotations

from django.utils import timezone

from crm import services


def create_automatic_lead(sender=None, *, conversation_id: int, **kwargs) -> None:
    """C2: receiver of ``signals.conversation_created``, sent once the new conversation is committed.

    Runs in place rather than through Celery: it is a few queries, and a lost
    task would silently lose the lead.
    """
    services.lead_auto_create_for_conversation(conversation_id=conversation_id, now=timezone.now())
