"""Issue 14: what the server-rendered pages show of a file in place (``{% load files %}``)."""

from __future__ import annotations

import pytest

from channels_app.models import Attachment
from channels_app.templatetags.files import human_size, preview


def attachment(kind: str, mime_type: str, name: str, *, state: str = "ready", thumbnail: str = "") -> Attachment:
    return Attachment(kind=kind, mime_type=mime_type, name=name, state=state, thumbnail=thumbnail)


@pytest.mark.parametrize(
    ("file", "shown"),
    [
        (attachment("image", "image/png", "a.png", thumbnail="thumbnails/x.jpg"), "thumbnail"),
        (attachment("sticker", "image/webp", "s.webp", thumbnail="thumbnails/y.jpg"), "thumbnail"),
        # No thumbnail (too large to make one): the name links to the full image.
        (attachment("image", "image/png", "huge.png"), ""),
        (attachment("voice", "audio/ogg", "voice.ogg"), "audio"),
        (attachment("audio", "audio/mpeg", "song.mp3"), "audio"),
        (attachment("video", "video/mp4", "clip.mp4"), "video"),
        # A type no browser plays in the page is served as a download, so no player is drawn for it.
        (attachment("audio", "audio/x-flac", "song.flac"), ""),
        (attachment("video", "video/quicktime", "clip.mov"), ""),
        (attachment("file", "application/pdf", "invoice.pdf"), ""),
        # Nothing to show before the bytes are here.
        (attachment("image", "image/jpeg", "scan.jpg", state="pending", thumbnail="thumbnails/z.jpg"), ""),
        (attachment("voice", "audio/ogg", "voice.ogg", state="failed"), ""),
    ],
)
def test_preview_shows_in_place_only_what_the_file_view_serves_inline(file, shown):
    assert preview(file) == shown


@pytest.mark.parametrize(
    ("size", "words"), [(None, ""), (820, "820 B"), (12 * 1024, "12 KB"), (3 * 1024 * 1024 // 2, "1.5 MB")]
)
def test_human_size_reads_at_a_glance_and_is_empty_when_unknown(size, words):
    assert human_size(size) == words
