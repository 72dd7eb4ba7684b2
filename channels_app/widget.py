"""Website live chat (S1): visitor tokens, the embeddable snippet, and what a visitor may see.

A visitor is identified by a random id that only its browser knows, carried in
a token signed with :mod:`django.core.signing` (its own salt), so a token can
be neither guessed nor forged and a reconnect with the same token continues the
same conversation. The visitor id becomes ``Client.external_id``.

Everything a visitor is sent is built here and nowhere else: operator identity
per Q12, messages without internal fields, and the widget texts in the open
channel's language (O3).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from html import escape

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from channels_app.models import (
    OPEN_STATUSES,
    Client,
    ClientRating,
    Connector,
    ConnectorKind,
    ConsentRecord,
    Conversation,
    ConversationStatus,
    Message,
    OpenChannel,
    OperatorIdentity,
)
from channels_app.services.errors import InvalidState, NotAllowed

VISITOR_TOKEN_SALT = "channels_app.livechat.visitor-token"
# A visitor who comes back within this time continues where they left off.
VISITOR_TOKEN_MAX_AGE_SECONDS = 180 * 24 * 60 * 60
MAX_MESSAGE_LENGTH = 4000


class InvalidVisitorToken(NotAllowed):
    """The token was not issued by this site, was altered, or is too old."""


@dataclass(frozen=True)
class VisitorIdentity:
    connector_id: int
    visitor_id: str


def visitor_token_issue(*, connector: Connector, visitor_id: str | None = None) -> str:
    """A signed token for a new (or the given) visitor of a live-chat connector."""
    visitor_id = visitor_id or secrets.token_urlsafe(16)
    return signing.dumps({"c": connector.pk, "v": visitor_id}, salt=VISITOR_TOKEN_SALT)


def visitor_token_read(token: str) -> VisitorIdentity:
    """The visitor a token stands for; raises :class:`InvalidVisitorToken` for anything else."""
    try:
        payload = signing.loads(token, salt=VISITOR_TOKEN_SALT, max_age=VISITOR_TOKEN_MAX_AGE_SECONDS)
    except signing.BadSignature as error:
        raise InvalidVisitorToken("This chat session is not valid any more. Reload the page to start again.") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("c"), int) or not isinstance(payload.get("v"), str):
        raise InvalidVisitorToken("This chat session is not valid any more. Reload the page to start again.")
    return VisitorIdentity(connector_id=payload["c"], visitor_id=payload["v"])


def livechat_connector_for_token(token: str) -> tuple[Connector, VisitorIdentity]:
    """The active live-chat connector a visitor token belongs to, with the visitor."""
    identity = visitor_token_read(token)
    connector = (
        Connector.objects.select_related("open_channel", "open_channel__consent_form")
        .filter(pk=identity.connector_id, kind=ConnectorKind.LIVECHAT, is_active=True, open_channel__is_active=True)
        .first()
    )
    if connector is None:
        raise InvalidVisitorToken("This chat is not available any more.")
    return connector, identity


def livechat_connector_for_key(public_key: str) -> Connector | None:
    return (
        Connector.objects.select_related("open_channel", "open_channel__consent_form")
        .filter(public_key=public_key, kind=ConnectorKind.LIVECHAT, is_active=True, open_channel__is_active=True)
        .first()
    )


# --- The snippet (S1) ------------------------------------------------------------------


def livechat_snippet(connector: Connector, *, base_url: str | None = None) -> str:
    """The copy-paste ``<script>`` tag that puts this connector's chat on any website.

    ``base_url`` defaults to ``settings.SITE_URL``; the demo page passes the
    address the browser used, so the demo works behind any host name.
    """
    base = (base_url or settings.SITE_URL).rstrip("/")
    return (
        f"<!-- Open Channels live chat: {escape(connector.open_channel.name)} -->\n"
        f'<script async src="{escape(base)}/static/livechat/widget.js" '
        f'data-open-channels-key="{escape(connector.public_key)}"></script>'
    )


# --- Texts in the open channel's language (O3) ----------------------------------------

# Marked with the "live chat" context: the same English word may read differently to a
# website visitor than in the console ("Operator" is "Konsultant" to a Polish client).
WIDGET_TEXTS: dict[str, Promise] = {
    "launcher": pgettext_lazy("live chat", "Chat with us"),
    "minimize": pgettext_lazy("live chat", "Minimise chat"),
    "placeholder": pgettext_lazy("live chat", "Type your message…"),
    "send": pgettext_lazy("live chat", "Send"),
    "consent_title": pgettext_lazy("live chat", "Before we start"),
    "consent_accept": pgettext_lazy("live chat", "I agree"),
    "consent_needed": pgettext_lazy("live chat", "Please accept the notice before writing."),
    "closed_now": pgettext_lazy("live chat", "We are closed right now"),
    "open_now": pgettext_lazy("live chat", "We usually reply within minutes"),
    "connecting": pgettext_lazy("live chat", "Connecting…"),
    "reconnecting": pgettext_lazy("live chat", "Connection lost. Reconnecting…"),
    "typing": pgettext_lazy("live chat", "is typing…"),
    "ended": pgettext_lazy("live chat", "The conversation has ended."),
    "rate_prompt": pgettext_lazy("live chat", "How did we do?"),
    "like": pgettext_lazy("live chat", "Good"),
    "dislike": pgettext_lazy("live chat", "Bad"),
    "rated": pgettext_lazy("live chat", "Thank you for your feedback!"),
    "write_again": pgettext_lazy("live chat", "Write again to start a new conversation."),
    "transcript_button": pgettext_lazy("live chat", "E-mail me the transcript"),
    "transcript_email": pgettext_lazy("live chat", "Your e-mail"),
    "transcript_send": pgettext_lazy("live chat", "Send the transcript"),
    "transcript_sent": pgettext_lazy("live chat", "The transcript is on its way to {email}."),
    "transcript_subject": pgettext_lazy("live chat", "Your conversation with {channel}"),
    "transcript_intro": pgettext_lazy("live chat", "Here is the transcript of your conversation with {channel}."),
    "too_fast": pgettext_lazy("live chat", "You are sending messages too fast. Please wait a moment."),
    "you": pgettext_lazy("live chat", "You"),
    "operator": pgettext_lazy("live chat", "Operator"),
    "sending": pgettext_lazy("live chat", "Sending…"),
    "no_answer": pgettext_lazy("live chat", "The server did not answer in time. Please try again."),
}


def widget_texts(language: str) -> dict[str, str]:
    """O3: the widget's texts in ``language`` (the open channel's), from the gettext catalogs."""
    with translation.override(language):
        return {key: str(text) for key, text in WIDGET_TEXTS.items()}


# --- What the visitor sees -----------------------------------------------------------


def channel_identity(open_channel: OpenChannel) -> dict:
    """O1: the chat header: the open channel's name (or its public display name) and photo."""
    return {
        "name": open_channel.display_name or open_channel.name,
        "photo_url": open_channel.display_photo_url or "",
    }


def operator_identity_for_client(open_channel: OpenChannel, operator) -> dict | None:
    """Q12: who the client is told they talk to: the operator, the open channel, or nobody."""
    mode = open_channel.operator_identity
    if mode == OperatorIdentity.HIDDEN or (operator is None and mode == OperatorIdentity.OPERATOR_PROFILE):
        return None
    if mode == OperatorIdentity.CHANNEL:
        return {"name": open_channel.display_name or open_channel.name, "photo_url": open_channel.display_photo_url}
    profile = getattr(operator, "operator_profile", None)
    if profile is None:
        return {"name": operator.get_full_name() or operator.get_username(), "photo_url": ""}
    return {"name": profile.public_name, "photo_url": profile.photo_url}


def visitor_message_payload(message: Message, open_channel: OpenChannel) -> dict:
    """A message as the visitor's browser receives it: no operator ids, no delivery state."""
    author_name = ""
    if message.author_kind == Message.Author.OPERATOR:
        identity = operator_identity_for_client(open_channel, message.author)
        author_name = identity["name"] if identity else widget_texts(open_channel.language)["operator"]
    elif message.author_kind == Message.Author.BOT:
        author_name = open_channel.display_name or open_channel.name
    return {
        "id": message.pk,
        "author": message.author_kind,
        "author_name": author_name,
        "text": message.text,
        "attachments": message.attachments or [],
        "created_at": message.created_at.isoformat(),
    }


def visitor_client(connector: Connector, visitor_id: str) -> Client | None:
    return Client.objects.filter(connector=connector, external_id=visitor_id).first()


def visitor_conversation(client: Client | None) -> Conversation | None:
    """The conversation the widget shows: the open one, else the latest (to rate it or get its transcript)."""
    if client is None:
        return None
    conversations = Conversation.objects.filter(client=client).select_related("operator__operator_profile")
    return conversations.filter(status__in=OPEN_STATUSES).first() or conversations.order_by("-created_at").first()


def visitor_messages(conversation: Conversation | None, *, after_id: int | None = None, limit: int = 200) -> list[dict]:
    if conversation is None:
        return []
    messages = conversation.messages.select_related("author__operator_profile").order_by("created_at", "id")
    if after_id is not None:
        messages = messages.filter(id__gt=after_id)
    open_channel = conversation.open_channel
    # The newest ``limit`` messages, oldest first, so a long conversation loads fast.
    newest = list(messages.reverse()[:limit])
    return [visitor_message_payload(message, open_channel) for message in reversed(newest)]


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


def consent_needed(connector: Connector, client: Client | None) -> bool:
    """A1: the notice must be accepted before the first message, again after its text changes."""
    open_channel = connector.open_channel
    if not open_channel.consent_required or open_channel.consent_form_id is None:
        return False
    if client is None:
        return True
    version = open_channel.consent_form.current_version
    return not ConsentRecord.objects.filter(client=client, form_version=version).exists()


# --- Visitor writes that no other service covers -------------------------------------------


def livechat_consent_record(*, connector: Connector, visitor_id: str, now: datetime) -> ConsentRecord:
    """A1: record that the visitor accepted the current version of the channel's consent form.

    Idempotent: accepting the same version twice returns the first record. The
    client row is created here when consent comes before the first message.
    """
    with transaction.atomic():
        open_channel = OpenChannel.objects.select_related("consent_form").get(pk=connector.open_channel_id)
        if not open_channel.consent_required or open_channel.consent_form is None:
            raise InvalidState("This chat does not ask for consent.")
        client, _ = Client.objects.get_or_create(connector=connector, external_id=visitor_id)
        version = open_channel.consent_form.current_version
        existing = ConsentRecord.objects.filter(client=client, form_version=version).first()
        if existing is not None:
            return existing
        open_conversation = Conversation.objects.filter(client=client, status__in=OPEN_STATUSES).first()
        return ConsentRecord.objects.create(
            client=client,
            form_version=version,
            conversation=open_conversation,
            source=ConnectorKind.LIVECHAT,
            accepted_at=now,
        )


def transcript_text(conversation: Conversation) -> tuple[str, str]:
    """O3: subject and body of the transcript e-mail, in the open channel's language and time zone."""
    open_channel = conversation.open_channel
    texts = widget_texts(open_channel.language)
    channel_name = channel_identity(open_channel)["name"]
    lines = [texts["transcript_intro"].format(channel=channel_name), ""]
    for message in conversation.messages.select_related("author__operator_profile").order_by("created_at", "id"):
        payload = visitor_message_payload(message, open_channel)
        who = texts["you"] if message.author_kind == Message.Author.CLIENT else payload["author_name"] or channel_name
        local_time = message.created_at.astimezone(open_channel.tz)
        lines.append(f"[{local_time:%Y-%m-%d %H:%M}] {who}: {message.text}")
    return texts["transcript_subject"].format(channel=channel_name), "\n".join(lines) + "\n"


def livechat_transcript_send(*, connector: Connector, visitor_id: str, email: str) -> Conversation:
    """O3: e-mail the visitor the log of their conversation, in the open channel's language.

    1. Validate the address; a visitor with no conversation has nothing to send.
    2. Keep the address on the client when it had none: a visitor who left an
       e-mail can be contacted again (C2).
    3. Send the mail after the client row is saved, so a mail failure leaves
       nothing half done (the address is still worth keeping).
    """
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as error:
        raise InvalidState("Enter a valid e-mail address.") from error
    client = visitor_client(connector, visitor_id)
    conversation = visitor_conversation(client)
    if client is None or conversation is None:
        raise InvalidState("There is no conversation to send yet.")
    with transaction.atomic():
        Client.objects.filter(pk=client.pk, email="").update(email=email)
    subject, body = transcript_text(conversation)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [email])
    return conversation
