"""Files in conversations: one row per file of a message, from whichever side it came.

The bytes live in Django's default storage (local disk, or any S3-compatible
store through django-storages) under a random name: the sender's file name is
kept only as data, so nothing a client chooses ever becomes a path or a URL.
A file copied from a messenger starts ``pending`` (its ``source_ref`` says how
to fetch it) and becomes ``ready`` or ``failed`` once a worker has tried.
Every file is served by one view that checks the viewer
(``channels_app.console.files``), never straight from the storage.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.models.conversation import Message
from channels_app.policy import files

# Thumbnails fit in this square (pixels); the console shows them at half size on high-density screens.
THUMBNAIL_SIZE = 480


def random_storage_name(instance: Attachment, filename: str) -> str:
    """``files/2026/12/<32 hex>``: no part of the sender's name, nothing to guess, spread over folders."""
    now = timezone.now()
    return f"files/{now:%Y}/{now:%m}/{uuid.uuid4().hex}"


def random_thumbnail_name(instance: Attachment, filename: str) -> str:
    now = timezone.now()
    return f"thumbnails/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.jpg"


class AttachmentKind(models.TextChoices):
    """How a file is shown (``policy.files.display_kind``)."""

    IMAGE = files.IMAGE, _("Image")
    STICKER = files.STICKER, _("Sticker")
    AUDIO = files.AUDIO_CLIP, _("Audio")
    VOICE = files.VOICE, _("Voice message")
    VIDEO = files.VIDEO_CLIP, _("Video")
    FILE = files.FILE, _("File")


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def stored(self) -> AttachmentQuerySet:
        """Files whose bytes are in our storage."""
        return self.filter(state=Attachment.State.READY)


class Attachment(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Downloading")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Could not download")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    message = models.ForeignKey(Message, related_name="attachments", on_delete=models.CASCADE)
    kind = models.CharField(_("kind"), max_length=10, choices=AttachmentKind.choices, default=AttachmentKind.FILE)
    # The sender's name for the file: shown and offered as the download name, never used as a path.
    name = models.CharField(_("file name"), max_length=255)
    mime_type = models.CharField(_("type"), max_length=120, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    file = models.FileField(upload_to=random_storage_name, max_length=255, blank=True)
    thumbnail = models.FileField(upload_to=random_thumbnail_name, max_length=255, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.READY, db_index=True)
    # Why a copy failed, in the words shown to the operator.
    error = models.TextField(blank=True)
    download_attempts = models.PositiveIntegerField(default=0)
    # What the source needs to fetch the file (Telegram file_id, a Graph media id, a CDN URL…).
    source_ref = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("file")
        verbose_name_plural = _("files")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        """Where a signed-in viewer opens the file (the view checks who asks)."""
        return reverse("attachment-file", args=[self.public_id])

    @property
    def thumbnail_url(self) -> str:
        return reverse("attachment-thumbnail", args=[self.public_id]) if self.thumbnail else ""

    @property
    def served_inline(self) -> bool:
        """Shown in the page (image, audio, video) rather than downloaded."""
        return files.served_inline(self.mime_type, self.name)
