"""CRM reads: the conversation logs a lead shows (O2)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch

from channels_app.models import Conversation, Message
from crm.models import Lead


@dataclass(frozen=True)
class ConversationLog:
    conversation: Conversation
    messages: list[Message]


def lead_conversation_logs(lead: Lead) -> list[ConversationLog]:
    """Every conversation of the lead, oldest first, each with its messages in order (three queries)."""
    conversations = (
        Conversation.objects.filter(lead=lead)
        .select_related("client", "connector", "operator", "open_channel")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.select_related("author__operator_profile")
                .prefetch_related("attachments")
                .order_by("created_at", "id"),
            )
        )
        .order_by("created_at", "id")
    )
    return [ConversationLog(conversation=c, messages=list(c.messages.all())) for c in conversations]
