"""Website live-chat visitors (S1): who a visitor is, which chat they are in, what they have agreed to.

A visitor is identified by a random id that only its browser knows, carried in
a token signed with :mod:`django.core.signing` (its own salt), so a token can
be neither guessed nor forged and a reconnect with the same token continues the
same conversation. The visitor id becomes ``Client.external_id``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing

from channels_app.engine import consent, events
from channels_app.engine.errors import NotAllowed
from channels_app.models import (
    OPEN_STATUSES,
    Client,
    Connector,
    ConnectorKind,
    Conversation,
)

VISITOR_TOKEN_SALT = "channels_app.livechat.visitor-token"  # noqa: S105 -- a namespace; the key is SECRET_KEY
# A visitor who comes back within this time continues where they left off.
VISITOR_TOKEN_MAX_AGE_SECONDS = 180 * 24 * 60 * 60


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


def visitor_group(connector_id: int, visitor_id: str) -> str:
    """The channel-layer group of one visitor's widget sockets (all their tabs)."""
    return f"livechat.{connector_id}.{visitor_id}"


# Tells every socket of a visitor to follow a conversation their message started outside a socket (an upload).
VISITOR_FOLLOW_EVENT = "livechat.follow"


def visitor_sockets_follow(connector_id: int, visitor_id: str, conversation_id: int) -> None:
    """After commit, every widget socket of the visitor joins the conversation's group (see the consumer)."""
    events.publish(
        [visitor_group(connector_id, visitor_id)],
        {"type": VISITOR_FOLLOW_EVENT, "conversation_id": conversation_id},
    )


def livechat_connector_for_key(public_key: str) -> Connector | None:
    return (
        Connector.objects.select_related("open_channel", "open_channel__consent_form")
        .filter(public_key=public_key, kind=ConnectorKind.LIVECHAT, is_active=True, open_channel__is_active=True)
        .first()
    )


def visitor_client(connector: Connector, visitor_id: str) -> Client | None:
    return Client.objects.filter(connector=connector, external_id=visitor_id).first()


def visitor_conversation(client: Client | None) -> Conversation | None:
    """The conversation the widget shows: the open one, else the latest (to rate it or get its transcript)."""
    if client is None:
        return None
    conversations = Conversation.objects.filter(client=client).select_related("operator__operator_profile")
    return conversations.filter(status__in=OPEN_STATUSES).first() or conversations.order_by("-created_at").first()


def consent_needed(connector: Connector, client: Client | None) -> bool:
    """A1: the widget asks for the notice before the first message (the engine's rule, as every source)."""
    # The connectors come with ``open_channel__consent_form`` selected, so reading the form costs no query.
    return consent.consent_needed(connector.open_channel, client)
