"""Template filters for showing a conversation's files (``{% load files %}``), used by ``includes/attachment.html``.

That one snippet draws a file on every server-rendered page that shows a
conversation (the admin, the KPI transcript, the CRM lead's log), so a file
looks and behaves the same wherever a supervisor or an administrator meets it.
"""

from __future__ import annotations

from django import template

from channels_app.engine.attachments import human_size as size_in_words
from channels_app.models import Attachment, AttachmentKind

register = template.Library()

# What a ready file is drawn as, besides its name, size, type and link.
THUMBNAIL_KINDS: frozenset[str] = frozenset({AttachmentKind.IMAGE, AttachmentKind.STICKER})
PLAYER_KINDS: dict[str, str] = {
    AttachmentKind.AUDIO: "audio",
    AttachmentKind.VOICE: "audio",
    AttachmentKind.VIDEO: "video",
}


@register.filter
def human_size(size: int | None) -> str:
    """``820 B``, ``12 KB``, ``1.5 MB``; empty when the size is not known yet (a file still downloading)."""
    if size is None or size == "":
        return ""
    return size_in_words(int(size))


@register.filter
def preview(attachment: Attachment) -> str:
    """``thumbnail``, ``audio``, ``video`` or ``""``: what the page shows of a ready file in place.

    Media are played in the page only when the file view serves them inline
    (``policy.files.served_inline``); anything else is a download link alone.
    """
    if attachment.state != Attachment.State.READY:
        return ""
    if attachment.kind in THUMBNAIL_KINDS and attachment.thumbnail:
        return "thumbnail"
    if attachment.served_inline:
        return PLAYER_KINDS.get(attachment.kind, "")
    return ""
