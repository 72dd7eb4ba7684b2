"""A conversation's files of every kind, stored the way the engine stores them, and what every page must show of them.

Used by the tests of each server-rendered surface that shows a conversation
(the admin, the KPI transcript, the CRM lead's log) and of the transcript
e-mail. Bytes go to a temporary ``MEDIA_ROOT`` (the ``media_root`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

from django.core.files.base import ContentFile
from PIL import Image

from channels_app.engine.attachments import IncomingFile, attachments_add, file_store_upload
from channels_app.models import Attachment, Message

# A name a client chose to break the page: shown as text, never markup ("/" would be cut as a folder).
HOSTILE_PDF_NAME = "<script>alert(1)<script>invoice.pdf"
FAILURE_REASON = "The file is larger than 20 MB, the most Telegram lets bots download."


@dataclass
class FilesOfEveryKind:
    image: Attachment  # ready, with a thumbnail
    voice: Attachment
    pdf: Attachment  # named HOSTILE_PDF_NAME
    pending: Attachment
    failed: Attachment

    @property
    def all(self) -> list[Attachment]:
        return [self.image, self.voice, self.pdf, self.pending, self.failed]


def png_bytes(width: int = 800, height: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="PNG")
    return out.getvalue()


def attach_files_of_every_kind(message: Message, now: datetime) -> FilesOfEveryKind:
    """Give ``message`` an uploaded photo, a voice note, a PDF, a file still downloading and one that failed."""
    channel = message.conversation.open_channel
    photo = file_store_upload(
        open_channel=channel, upload=ContentFile(png_bytes()), name="kettle.png", mime_type="image/png"
    )
    voice = file_store_upload(
        open_channel=channel, upload=ContentFile(b"OggS" + b"\0" * 400), name="voice.ogg", mime_type="audio/ogg"
    )
    voice.kind_hint = "voice"
    pdf = file_store_upload(
        open_channel=channel,
        upload=ContentFile(b"%PDF-1.4\n" + b"x" * (3 * 1024 - 9)),  # 3 KB
        name=HOSTILE_PDF_NAME,
        mime_type="application/pdf",
    )
    pending = IncomingFile(name="scan.jpg", mime_type="image/jpeg", source_ref={"file_id": "AgAD-scan"})
    failed = IncomingFile(name="holiday.mp4", mime_type="video/mp4", error=FAILURE_REASON)
    rows = attachments_add(message, [photo, voice, pdf, pending, failed], now)
    return FilesOfEveryKind(*rows)


def assert_files_shown(page: str, files: FilesOfEveryKind) -> None:
    """What a person expects of each file: a thumbnail opening the image, a player, a download link, the states."""
    image, voice, pdf = files.image, files.voice, files.pdf
    assert image.thumbnail and image.kind == "image" and voice.kind == "voice"
    assert f'<a class="attachment-thumbnail" href="{image.url}"' in page
    assert f'<img src="{image.thumbnail_url}" alt="kettle.png"' in page
    assert f'<audio class="attachment-player" controls preload="none" src="{voice.url}"' in page
    assert f'<a class="attachment-link" href="{pdf.url}" download>' in page
    assert "application/pdf" in page and "3 KB" in page  # its type and size
    assert "scan.jpg" in page and "downloading…" in page
    assert "holiday.mp4" in page and f"could not download: {FAILURE_REASON}" in page
    assert files.pending.url not in page and files.failed.url not in page  # nothing to open yet
    # The client's name for a file is text, never markup.
    assert "&lt;script&gt;alert(1)&lt;script&gt;invoice.pdf" in page
    assert "<script>alert(1)" not in page
