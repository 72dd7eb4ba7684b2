"""CRM reactions to the engine's signals (connected in ``CrmConfig.ready``)."""

from __future__ import annotations

from django.utils import timezone

from channels_app.models import Conversation
from crm import services
from crm.tasks import send_lead_transcript


def create_automatic_lead(sender=None, *, conversation_id: int, **kwargs) -> None:
    """C2: receiver of ``signals.conversation_created``, sent once the new conversation is committed.

    Runs in place rather than through Celery: it is a few queries, and a lost
    task would silently lose the lead.
    """
    services.lead_auto_create_for_conversation(conversation_id=conversation_id, now=timezone.now())


def send_transcript_on_close(sender=None, *, conversation_id: int, **kwargs) -> None:
    """O2, O3: receiver of ``signals.conversation_closed``; sending mail is slow and may fail, so Celery does it."""
    if Conversation.objects.filter(pk=conversation_id, lead__isnull=False).exclude(lead__email="").exists():
        send_lead_transcript.delay(conversation_id)
