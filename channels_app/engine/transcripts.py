"""O2, O3: the transcript of a conversation as the client reads it, for e-mail.

Used by the live-chat visitor's "e-mail me the transcript" and by the CRM,
which sends it to the conversation's lead when the conversation closes.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import pgettext_lazy

from channels_app.engine.client_view import CLIENT_LABEL, author_name_for_client, channel_identity
from channels_app.models import Conversation, Message

SUBJECT = pgettext_lazy("live chat", "Your conversation with {channel}")
INTRO = pgettext_lazy("live chat", "Here is the transcript of your conversation with {channel}.")


def transcript_text(conversation: Conversation) -> tuple[str, str]:
    """Subject and body of the transcript e-mail, in the open channel's language and time zone."""
    open_channel = conversation.open_channel
    channel_name = channel_identity(open_channel)["name"]
    with translation.override(open_channel.language):
        subject, intro, you = str(SUBJECT), str(INTRO), str(CLIENT_LABEL)
        lines = [intro.format(channel=channel_name), ""]
        for message in conversation.messages.select_related("author__operator_profile").order_by("created_at", "id"):
            if message.author_kind == Message.Author.CLIENT:
                who = you
            else:
                who = author_name_for_client(message, open_channel) or channel_name
            local_time = message.created_at.astimezone(open_channel.tz)
            lines.append(f"[{local_time:%Y-%m-%d %H:%M}] {who}: {message.text}")
    return subject.format(channel=channel_name), "\n".join(lines) + "\n"
