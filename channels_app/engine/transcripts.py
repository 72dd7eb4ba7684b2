"""O2, O3: the transcript of a conversation as the client reads it, for e-mail.

Used by the live-chat visitor's "e-mail me the transcript" and by the CRM,
which sends it to the conversation's lead when the conversation closes.

Files are listed under their message by kind, name, type and size, with no
link and never their bytes: the mail may go to an address nobody has
confirmed (anyone can type anybody's), it is forwarded and kept for years,
and a signed link in it would open the conversation's files to whoever holds
it. The visitor downloads files from the chat itself, where they are signed in.
"""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import pgettext_lazy

from channels_app.engine.attachments import human_size
from channels_app.engine.client_view import CLIENT_LABEL, author_name_for_client, channel_identity
from channels_app.engine.file_links import attachments_of
from channels_app.models import Attachment, Conversation, Message

SUBJECT = pgettext_lazy("live chat", "Your conversation with {channel}")
INTRO = pgettext_lazy("live chat", "Here is the transcript of your conversation with {channel}.")
# A file the messenger never let us copy (or not yet, when the mail was sent): the client should not think we have it.
FILE_NOT_RECEIVED = pgettext_lazy("live chat", "not received")
FILE_NOT_RECEIVED_YET = pgettext_lazy("live chat", "not received yet")


def transcript_text(conversation: Conversation) -> tuple[str, str]:
    """Subject and body of the transcript e-mail, in the open channel's language and time zone."""
    open_channel = conversation.open_channel
    channel_name = channel_identity(open_channel)["name"]
    with translation.override(open_channel.language):
        subject, intro, you = str(SUBJECT), str(INTRO), str(CLIENT_LABEL)
        lines = [intro.format(channel=channel_name), ""]
        messages = (
            conversation.messages.filter(deleted_at__isnull=True)  # what the client deleted is not sent back to them
            .select_related("author__operator_profile")
            .prefetch_related("attachments")
            .order_by("created_at", "id")
        )
        for message in messages:
            if message.author_kind == Message.Author.CLIENT:
                who = you
            else:
                who = author_name_for_client(message, open_channel) or channel_name
            local_time = message.created_at.astimezone(open_channel.tz)
            lines.append(f"[{local_time:%Y-%m-%d %H:%M}] {who}: {message.text}")
            lines.extend(f"    {file_line(attachment)}" for attachment in attachments_of(message))
    return subject.format(channel=channel_name), "\n".join(lines) + "\n"


def file_line(attachment: Attachment) -> str:
    """``Voice message: voice.ogg (audio/ogg, 12 KB)``, in the active language; no link (see the module's docstring)."""
    details = [attachment.mime_type, human_size(attachment.size) if attachment.size else ""]
    if attachment.state == Attachment.State.PENDING:
        details.append(str(FILE_NOT_RECEIVED_YET))
    elif attachment.state == Attachment.State.FAILED:
        details.append(str(FILE_NOT_RECEIVED))
    return f"{attachment.get_kind_display()}: {attachment.name} ({', '.join(d for d in details if d)})"
