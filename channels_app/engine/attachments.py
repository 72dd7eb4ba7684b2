"""Files in conversations: storing them, copying them from messengers, and who may open them.

A file reaches a message in one of two ways:

- **uploaded** (the live-chat widget, the console): :func:`file_store_upload`
  checks it against the open channel's limits, writes it under a random name
  and makes its thumbnail *before* the message's transaction, and the message
  service attaches the stored file (:func:`attachments_add`);
- **copied from a messenger**: the message is stored at once with a
  ``pending`` file that says how to fetch it; after commit a worker downloads
  it (``jobs.DOWNLOAD_ATTACHMENT``, with retries) and calls
  :func:`attachment_store_downloaded` or, after the last try,
  :func:`attachment_download_failed`. Either way the consoles and the widget
  are told (``message.attachments`` event) and redraw the message.

Who may open a file is decided in :mod:`channels_app.engine.access`
(:func:`~channels_app.engine.access.attachment_for_user`,
:func:`~channels_app.engine.access.attachment_for_visitor`).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import IO

from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from channels_app.engine import events, jobs
from channels_app.engine.errors import ServiceError
from channels_app.models import Attachment, Message, OpenChannel
from channels_app.models.attachment import THUMBNAIL_SIZE, random_storage_name, random_thumbnail_name
from channels_app.policy import files

logger = logging.getLogger(__name__)

# At most this many files in one message (a photo album, a few documents).
MAX_FILES_PER_MESSAGE = 10
# Larger images get no thumbnail (the full image still opens); Pillow refuses twice this as a decompression bomb.
THUMBNAIL_MAX_PIXELS = 50_000_000


class FileRefused(ServiceError):
    """The open channel does not accept this file (size, type, or an empty file)."""


class FileTooLarge(FileRefused):
    """Larger than the open channel (or the server) accepts: HTTP's own answer for it."""

    status_code = 413


@dataclass
class IncomingFile:
    """A file for a new message: already stored (an upload), or to be fetched from the source."""

    name: str
    mime_type: str = ""
    size: int | None = None
    # What the source called it ("voice", "sticker"…): changes how it is shown, never how it is served.
    kind_hint: str = ""
    stored_path: str = ""
    thumbnail_path: str = ""
    # How the source fetches it later (Telegram ``file_id``, Graph media id, a CDN URL…); empty for uploads.
    source_ref: dict = field(default_factory=dict)
    # Known already when the message arrives (e.g. larger than the provider lets bots download).
    error: str = ""


def refusal_text(refusal: files.Refusal) -> str:
    if refusal.code == "too_large":
        return _("This file is larger than %(size)s, the most this chat accepts.") % {"size": human_size(refusal.limit)}
    if refusal.code == "empty":
        return _("This file is empty.")
    return _("This chat does not accept files of this type.")


def file_limits_payload(limits: files.FileLimits) -> dict:
    """What an open channel accepts, for a page to check a file before uploading it and to say why not.

    The server checks again (:func:`file_store_upload`); ``accept`` only filters the file picker.
    """
    names = {
        files.IMAGES: _("images"),
        files.DOCUMENTS: _("documents"),
        files.AUDIO: _("audio"),
        files.VIDEO: _("video"),
        files.ARCHIVES: _("archives"),
    }
    return {
        "max_bytes": limits.max_bytes,
        "max_size_text": human_size(limits.max_bytes),
        "groups": list(limits.groups),
        "groups_text": ", ".join(str(names[group]) for group in limits.groups),
        "accept": files.accept_attribute(limits.groups),
    }


def human_size(size: int) -> str:
    """``10 MB``, ``1.5 MB`` (``1,5 MB`` in Polish and Vietnamese: the active language's decimal separator)."""
    if size >= 1024 * 1024:
        megabytes = size / (1024 * 1024)
        return f"{number_format(megabytes, decimal_pos=0 if size % (1024 * 1024) == 0 else 1)} MB"
    if size >= 1024:
        return f"{size // 1024} KB"
    return f"{size} B"


# --- storing ---------------------------------------------------------------------------------------------


def file_store_upload(*, open_channel: OpenChannel, upload: File, name: str, mime_type: str) -> IncomingFile:
    """Check an uploaded file against ``open_channel``'s limits and store it (with its thumbnail).

    Runs before the message's transaction: the bytes are written once and the
    row that points at them is created with the message. Raises
    :class:`FileRefused` with the reason in the user's words.
    """
    name = clean_file_name(name)
    refused = files.refusal(open_channel.file_limits, name=name, mime_type=mime_type, size=upload.size)
    if refused is not None:
        raise (FileTooLarge if refused.code == "too_large" else FileRefused)(refusal_text(refused))
    mime_type = files.normalised_type(mime_type, name)
    upload.seek(0)
    stored_path = default_storage.save(random_storage_name(None, name), upload)  # type: ignore[arg-type]
    upload.seek(0)
    return IncomingFile(
        name=name,
        mime_type=mime_type,
        size=upload.size,
        stored_path=stored_path,
        thumbnail_path=_store_thumbnail(upload, mime_type, name),
    )


# Multipart framing and a short text around the file: a body longer than the file limit by more than this
# cannot hold an acceptable file.
UPLOAD_BODY_SLACK_BYTES = 64 * 1024


def refuse_oversized_upload(declared_length: str | None, limits: files.FileLimits) -> None:
    """Refuse an upload (:class:`FileTooLarge`) whose declared ``Content-Length`` cannot hold a file the open
    channel accepts, before a byte of it is parsed or stored; a length that is not a number is refused too."""
    try:
        declared = int(declared_length or 0)
    except ValueError:
        raise FileRefused(_("The upload's length is not a number.")) from None
    if declared > limits.max_bytes + UPLOAD_BODY_SLACK_BYTES:
        raise FileTooLarge(refusal_text(files.Refusal("too_large", limit=limits.max_bytes)))


def clean_file_name(name: str) -> str:
    """The sender's name, shown as text only: no folders, no control characters, at most 255 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return (base or "file")[-255:]


def forget_stored(incoming: list[IncomingFile]) -> None:
    """Delete the bytes of uploads whose message was refused (their rows were never created)."""
    for item in incoming:
        for path in (item.stored_path, item.thumbnail_path):
            if path:
                default_storage.delete(path)


def attachments_add(message: Message, incoming: list[IncomingFile], now: datetime) -> list[Attachment]:
    """Create the rows of ``message``'s files (inside the message's transaction); see
    :func:`downloads_queue_after_commit` for the pending ones.

    Sets the message's prefetch cache, so announcing it costs no query.
    """
    if len(incoming) > MAX_FILES_PER_MESSAGE:
        raise ServiceError(_("At most %(count)d files per message.") % {"count": MAX_FILES_PER_MESSAGE})
    rows = [
        Attachment(
            message=message,
            kind=files.display_kind(item.mime_type, item.name, hint=item.kind_hint),
            name=clean_file_name(item.name),
            mime_type=files.normalised_type(item.mime_type, item.name)[:120],
            size=item.size,
            file=item.stored_path,
            thumbnail=item.thumbnail_path,
            state=_initial_state(item),
            error=item.error,
            source_ref=item.source_ref,
            created_at=now,
        )
        for item in incoming
    ]
    created = Attachment.objects.bulk_create(rows) if rows else []
    message._prefetched_objects_cache = {"attachments": created}  # type: ignore[attr-defined]
    return created


def downloads_queue_after_commit(attachments: list[Attachment]) -> None:
    """Queue the copy of each pending file once the transaction commits.

    The message service calls this after it has announced the message, so
    the viewers hear of the message (with its files "downloading…") before
    any copy can finish, even when the task runs in place (eager Celery).
    """
    for row in attachments:
        if row.state == Attachment.State.PENDING:
            transaction.on_commit(partial(_enqueue_download, row.pk))


def _initial_state(item: IncomingFile) -> str:
    if item.stored_path:
        return Attachment.State.READY
    if item.error or not item.source_ref:
        return Attachment.State.FAILED
    return Attachment.State.PENDING


def _enqueue_download(attachment_id: int) -> None:
    try:
        jobs.enqueue(jobs.DOWNLOAD_ATTACHMENT, attachment_id)
    except Exception:
        # The row stays pending; the connector sweep queues it again once the broker is back.
        logger.exception("attachment %s: download not enqueued; the connector sweep will retry", attachment_id)


# --- copying from a messenger ----------------------------------------------------------------------------


def attachment_download_claim(*, attachment_id: int) -> Attachment | None:
    """Count one download attempt of a pending file and return it (with its message's connector and channel).

    ``None`` when there is nothing to do (already stored, failed, or deleted with its conversation).
    """
    with transaction.atomic():
        attachment = (
            Attachment.objects.select_for_update(of=("self",))
            .select_related("message__connector__open_channel")
            .filter(pk=attachment_id, state=Attachment.State.PENDING)
            .first()
        )
        if attachment is None:
            return None
        attachment.download_attempts += 1
        attachment.save(update_fields=["download_attempts"])
    return attachment


def attachment_store_downloaded(
    *, attachment_id: int, content: bytes, name: str = "", mime_type: str = "", now: datetime
) -> Attachment | None:
    """Store the bytes a worker fetched, make the thumbnail, mark the file ready and tell the viewers.

    A file the open channel does not accept (checked now that its size and
    type are known) is marked failed instead. Idempotent: a second call for
    a file that is no longer pending stores nothing.
    """
    attachment = (
        Attachment.objects.select_related("message__conversation__open_channel")
        .filter(pk=attachment_id, state=Attachment.State.PENDING)
        .first()
    )
    if attachment is None:
        return None
    name = clean_file_name(name or attachment.name)
    mime_type = files.normalised_type(mime_type or attachment.mime_type, name)
    limits = attachment.message.conversation.open_channel.file_limits
    refused = files.refusal(limits, name=name, mime_type=mime_type, size=len(content))
    if refused is not None:
        return attachment_download_failed(attachment_id=attachment_id, reason=refusal_text(refused), now=now)
    stored_path = default_storage.save(random_storage_name(attachment, name), ContentFile(content))
    thumbnail_path = _store_thumbnail(io.BytesIO(content), mime_type, name)
    with transaction.atomic():
        updated = Attachment.objects.filter(pk=attachment_id, state=Attachment.State.PENDING).update(
            state=Attachment.State.READY,
            file=stored_path,
            thumbnail=thumbnail_path,
            name=name,
            mime_type=mime_type[:120],
            size=len(content),
            kind=files.display_kind(mime_type, name, hint=attachment.kind),
            error="",
        )
        if not updated:  # another worker stored it meanwhile
            stale = [IncomingFile(name, stored_path=stored_path, thumbnail_path=thumbnail_path)]
            transaction.on_commit(lambda: forget_stored(stale))
            return None
        _announce(attachment.message_id)
    return Attachment.objects.get(pk=attachment_id)


def attachment_download_failed(*, attachment_id: int, reason: str, now: datetime) -> Attachment | None:
    """After the last try: the file stays a name with the reason, and the viewers are told."""
    with transaction.atomic():
        updated = Attachment.objects.filter(pk=attachment_id, state=Attachment.State.PENDING).update(
            state=Attachment.State.FAILED, error=reason[:2000]
        )
        if not updated:
            return None
        attachment = Attachment.objects.get(pk=attachment_id)
        _announce(attachment.message_id)
    logger.warning("attachment %s not downloaded: %s", attachment_id, reason)
    return attachment


def _announce(message_id: int) -> None:
    message = (
        Message.objects.select_related("conversation", "author__operator_profile")
        .prefetch_related("attachments")
        .get(pk=message_id)
    )
    events.publish_to_conversation(
        message.conversation,
        events.message_attachments(message),
        operator_ids=[message.conversation.operator_id],
    )


def _store_thumbnail(source: IO[bytes], mime_type: str, name: str) -> str:
    """A JPEG at most ``THUMBNAIL_SIZE`` square for an image ("" for anything else or an unreadable image).

    ``source`` is read from its start, and only for an image: a document is never read into memory here.
    """
    if files.file_group(mime_type, name) != files.IMAGES:
        return ""
    try:
        source.seek(0)
        with Image.open(source) as image:
            if image.width * image.height > THUMBNAIL_MAX_PIXELS:
                return ""
            image.seek(0)  # the first frame of a GIF
            # A JPEG decodes at 1/2, 1/4 or 1/8 scale when that still covers the thumbnail: a 12 MP photo's
            # thumbnail costs a tenth of decoding it whole (bench/files.py).
            image.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            thumbnail = ImageOps.exif_transpose(image) or image
            thumbnail = thumbnail.convert("RGB")
            thumbnail.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
            out = io.BytesIO()
            thumbnail.save(out, format="JPEG", quality=82, optimize=True)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return ""
    return default_storage.save(random_thumbnail_name(None, name), ContentFile(out.getvalue()))  # type: ignore[arg-type]


# --- housekeeping ----------------------------------------------------------------------------------------


def storage_used(open_channel_ids: list[int] | None = None) -> int:
    """Bytes of stored files, in all open channels or in the given ones."""
    rows = Attachment.objects.stored()
    if open_channel_ids is not None:
        rows = rows.filter(message__conversation__open_channel_id__in=open_channel_ids)
    return int(rows.aggregate(total=Sum("size"))["total"] or 0)


def on_attachment_deleted(sender, instance: Attachment, **kwargs) -> None:
    """A deleted row (its conversation deleted, an erasure…) takes its bytes with it, once the delete commits."""
    paths = [name for name in (instance.file.name, instance.thumbnail.name) if name]
    if paths:
        transaction.on_commit(partial(_delete_stored, paths))


def _delete_stored(paths: list[str]) -> None:
    for path in paths:
        default_storage.delete(path)
