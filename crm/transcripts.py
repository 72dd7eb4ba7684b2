"""O2, O3: the transcript of a conversation e-mailed to its CRM lead when the conversation closes.

A lead holds the address the client left to be contacted again (C2), so a
closed conversation's log goes there, in the open channel's language and time
zone, through Django's e-mail backend (``EMAIL_URL``). The live-chat visitor's
own request ("E-mail me the transcript") is ``channels_app.livechat.services.livechat_transcript_send``;
both use :func:`channels_app.engine.transcripts.transcript_text`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from channels_app.engine.transcripts import transcript_text
from channels_app.models import Conversation, ConversationStatus

logger = logging.getLogger("crm.transcripts")


def lead_transcript_send(*, conversation_id: int) -> list[str]:
    """E-mail the transcript of a closed conversation to its lead; return the recipients (none when not applicable)."""
    conversation = (
        Conversation.objects.select_related("lead", "open_channel", "connector")
        .filter(pk=conversation_id, status=ConversationStatus.CLOSED)
        .first()
    )
    if conversation is None or conversation.lead is None or not conversation.lead.email.strip():
        return []
    recipients = [conversation.lead.email.strip()]
    subject, body = transcript_text(conversation)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    logger.info("transcript of conversation %s e-mailed to lead %s", conversation.pk, conversation.lead_id)
    return recipients
