"""How a file of a message is shown: its payload for the console and the widget, and the visitor's signed links.

Separate from :mod:`channels_app.engine.attachments` (which stores files and
announces changes through :mod:`~channels_app.engine.events`) because the
events themselves are built from these payloads.
"""

from __future__ import annotations

from django.core import signing

from channels_app.models import Attachment, Message

VISITOR_FILE_SALT = "channels_app.attachments.visitor-file"
# A visitor's file links last as long as a visitor token (the widget gets fresh ones on every load).
VISITOR_FILE_MAX_AGE_SECONDS = 180 * 24 * 60 * 60


def attachments_of(message: Message) -> list[Attachment]:
    """The message's files: from the prefetch cache when there is one (no query), else one query."""
    return list(message.attachments.all())


def attachment_payload(attachment: Attachment, *, visitor_client_id: int | None = None) -> dict:
    """A file as the console and the widget show it; for a visitor the links carry their signature."""
    ready = attachment.state == Attachment.State.READY
    url = attachment.url if ready else ""
    thumbnail_url = attachment.thumbnail_url if ready else ""
    if visitor_client_id is not None and ready:
        query = f"?v={visitor_file_signature(attachment, visitor_client_id)}"
        url += query
        thumbnail_url = thumbnail_url + query if thumbnail_url else ""
    return {
        "id": str(attachment.public_id),
        "kind": attachment.kind,
        "name": attachment.name,
        "mime_type": attachment.mime_type,
        "size": attachment.size,
        "state": attachment.state,
        "error": attachment.error,
        "url": url,
        "thumbnail_url": thumbnail_url,
        "inline": attachment.served_inline,
    }


def attachment_payloads(message: Message, *, visitor_client_id: int | None = None) -> list[dict]:
    return [attachment_payload(a, visitor_client_id=visitor_client_id) for a in attachments_of(message)]


def visitor_file_signature(attachment: Attachment, client_id: int) -> str:
    """A signature binding one file to one live-chat client; only that visitor's widget is given it."""
    return signing.dumps([str(attachment.public_id), client_id], salt=VISITOR_FILE_SALT, compress=True)
