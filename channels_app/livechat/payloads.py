"""Everything a visitor's browser is sent is built here: messages without internal fields, who answers (Q12)."""

from __future__ import annotations

from channels_app.engine import selectors
from channels_app.engine.client_view import author_name_for_client, operator_identity_for_client
from channels_app.engine.file_links import attachment_payloads
from channels_app.engine.inbound import InboundResult
from channels_app.models import ClientRating, Conversation, ConversationStatus, Message, OpenChannel
from channels_app.policy.files import FileLimits, accept_attribute

# The system notices the widget draws its own way (issue 20): the rating request becomes the prompt above its
# buttons, not a line of the thread as well; the thanks stays in the thread as the one thank-you. Messengers get
# both as messages (the request with buttons where the source has them, see connectors/processing.py).
WIDGET_NOTICES = frozenset({"rating_request", "rating_thanks"})


def visitor_message_payload(message: Message, open_channel: OpenChannel) -> dict:
    """A message as the visitor's browser receives it: no operator ids, no delivery state, no earlier wordings;
    a message the client deleted without its text and files (decision 0018)."""
    deleted = message.deleted_at is not None
    return {
        "id": message.pk,
        "author": message.author_kind,
        "author_name": author_name_for_client(message, open_channel),
        "text": "" if deleted else message.text,
        # Links signed for this conversation's client: the widget's only way to open a file (no session there).
        "attachments": []
        if deleted
        else attachment_payloads(message, visitor_client_id=message.conversation.client_id),
        "created_at": message.created_at.isoformat(),
        "edited": message.edited_at is not None,
        "deleted": deleted,
        "notice": message.system_key
        if message.author_kind == Message.Author.SYSTEM and message.system_key in WIDGET_NOTICES
        else "",
    }


def visitor_messages(
    conversation: Conversation | None, *, after_id: int | None = None, before_id: int | None = None
) -> tuple[list[dict], bool]:
    """A page of the visitor's conversation (:func:`~channels_app.engine.selectors.conversation_messages`: the
    latest, the one before ``before_id`` as the visitor scrolls up, or what follows ``after_id`` on a re-sync),
    oldest first, and whether older messages exist."""
    if conversation is None:
        return [], False
    page = selectors.conversation_messages(conversation.pk, after_id=after_id, before_id=before_id)
    open_channel = conversation.open_channel
    for message in page.messages:
        message.conversation = conversation  # the payload reads its client: no query per message
    return [visitor_message_payload(message, open_channel) for message in page.messages], page.has_older


def visitor_conversation_payload(conversation: Conversation | None) -> dict | None:
    if conversation is None:
        return None
    open_channel = conversation.open_channel
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "is_open": conversation.is_open,
        "awaiting_rating": conversation.status == ConversationStatus.CLOSED_PENDING_RATING
        and open_channel.rating_enabled
        and not ClientRating.objects.filter(conversation=conversation).exists(),
        "operator": operator_identity_for_client(open_channel, conversation.operator)
        if conversation.status == ConversationStatus.ACTIVE
        else None,
    }


def visitor_send_answer(result: InboundResult, client_message_id: str | None) -> dict:
    """What the widget is answered when its message (with or without a file) is stored: the message and the
    conversation it joined (perhaps a new one), and the id the widget gave it, to take it out of its outbox."""
    conversation = (
        Conversation.objects.select_related("open_channel", "operator__operator_profile")
        .filter(pk=result.conversation.pk)
        .get()
    )
    return {
        "client_id": client_message_id,
        "message": visitor_message_payload(result.message, conversation.open_channel),
        "conversation": visitor_conversation_payload(conversation),
    }


def visitor_file_limits(limits: FileLimits, description: str) -> dict:
    """What the widget checks before an upload (the server checks again): the size, the file picker's filter,
    and the limits in the visitor's words (``livechat.texts.file_limits_text``)."""
    return {"max_bytes": limits.max_bytes, "accept": accept_attribute(limits.groups), "description": description}
