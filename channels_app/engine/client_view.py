"""What a client is shown: the chat's name, who answers (Q12), and who wrote each message.

One place for every surface a client reads: the live-chat widget, the
transcript e-mails, and (through the connectors) the messengers.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

from channels_app.models import Message, OpenChannel, OperatorIdentity, operator_display_name

# Marked with the "live chat" context: the same English word may read differently to a client
# than in the console ("Operator" is "Konsultant" to a Polish client).
OPERATOR_LABEL: Promise = pgettext_lazy("live chat", "Operator")
CLIENT_LABEL: Promise = pgettext_lazy("live chat", "You")
# Q12 in a messenger: the first line of an operator's reply names who answers (some languages space the colon).
NAME_LINE: Promise = pgettext_lazy("messenger name line", "%(name)s:")


def channel_identity(open_channel: OpenChannel) -> dict[str, str]:
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
        return channel_identity(open_channel)
    profile = getattr(operator, "operator_profile", None)
    return {"name": operator_display_name(operator), "photo_url": profile.photo_url if profile is not None else ""}


def author_name_for_client(message: Message, open_channel: OpenChannel) -> str:
    """Who wrote ``message``, as the client reads it: per Q12 for an operator, the channel for a bot."""
    if message.author_kind == Message.Author.OPERATOR:
        identity = operator_identity_for_client(open_channel, message.author)
        if identity is not None:
            return identity["name"]
        with translation.override(open_channel.language):
            return str(OPERATOR_LABEL)
    if message.author_kind == Message.Author.BOT:
        return channel_identity(open_channel)["name"]
    return ""


def name_line_for_client(message: Message, open_channel: OpenChannel) -> str:
    """Q12 in a messenger: the line that goes before an operator's reply ("Olga:"), or "" when none does.

    Messengers show every message as the bot's or the page's, so the name rides in the text itself: the
    operator's name or the open channel's, per its setting; nothing when the setting hides who answers
    (unlike the widget, which then says "Operator", a messenger already shows the sender as the business).
    """
    if message.author_kind != Message.Author.OPERATOR:
        return ""
    identity = operator_identity_for_client(open_channel, message.author)
    if identity is None or not identity["name"].strip():
        return ""
    with translation.override(open_channel.language):
        return str(NAME_LINE) % {"name": identity["name"].strip()}
