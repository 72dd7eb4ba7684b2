"""Files in conversations: what kind a file is, whether an open channel accepts it, how it may be shown.

Pure rules (no Django, no I/O). A file is described by the name its sender
gave it, the MIME type the sender or the provider declared, and its size.
Nothing here trusts the declared type for safety: :func:`served_inline` and
:func:`served_content_type` decide how our own server hands the bytes out, and
they never let a browser render markup (HTML, SVG, XML) from a file a client
or an operator uploaded.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

# The groups an administrator allows or forbids per open channel.
IMAGES = "images"
DOCUMENTS = "documents"
AUDIO = "audio"
VIDEO = "video"
ARCHIVES = "archives"
FILE_GROUPS = (IMAGES, DOCUMENTS, AUDIO, VIDEO, ARCHIVES)
DEFAULT_FILE_GROUPS = (IMAGES, DOCUMENTS, AUDIO, VIDEO)

# How a file is shown: a thumbnail, a player, or a name with a download link.
IMAGE = "image"
STICKER = "sticker"
AUDIO_CLIP = "audio"
VOICE = "voice"
VIDEO_CLIP = "video"
FILE = "file"
DISPLAY_KINDS = (IMAGE, STICKER, AUDIO_CLIP, VOICE, VIDEO_CLIP, FILE)

# Per group: the extensions and MIME types that belong to it. A file belongs to a group when either matches.
_GROUP_EXTENSIONS: dict[str, frozenset[str]] = {
    IMAGES: frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "bmp", "tif", "tiff"}),
    DOCUMENTS: frozenset(
        {"pdf", "txt", "csv", "rtf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "pages"}
    ),
    AUDIO: frozenset({"mp3", "m4a", "aac", "ogg", "oga", "opus", "wav", "amr", "weba"}),
    VIDEO: frozenset({"mp4", "m4v", "mov", "webm", "3gp", "mkv", "avi"}),
    ARCHIVES: frozenset({"zip", "rar", "7z", "gz", "tar"}),
}
_GROUP_MIME_PREFIXES: dict[str, tuple[str, ...]] = {
    IMAGES: ("image/",),
    AUDIO: ("audio/",),
    VIDEO: ("video/",),
    DOCUMENTS: (
        "application/pdf",
        "text/plain",
        "text/csv",
        "application/rtf",
        "application/msword",
        "application/vnd.ms-",
        "application/vnd.openxmlformats-officedocument.",
        "application/vnd.oasis.opendocument.",
    ),
    ARCHIVES: ("application/zip", "application/x-7z", "application/x-rar", "application/gzip", "application/x-tar"),
}
# Never shown in the page, whatever group they claim: a browser would run their scripts on our origin.
_MARKUP_MIME_TYPES = frozenset(
    {"image/svg+xml", "text/html", "application/xhtml+xml", "text/xml", "application/xml", "text/javascript"}
)
_MARKUP_EXTENSIONS = frozenset({"svg", "svgz", "html", "htm", "xhtml", "xml", "js", "mjs"})
# Formats every current browser shows in <img>, <audio> and <video>; anything else is offered as a download.
_INLINE_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_INLINE_AUDIO_TYPES = frozenset({"audio/mpeg", "audio/ogg", "audio/wav", "audio/webm", "audio/aac", "audio/mp4"})
_INLINE_VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/ogg"})
# Mostly for what providers send without a type.
_TYPES_BY_EXTENSION = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "webm": "video/webm",
}
OCTET_STREAM = "application/octet-stream"


def extension(name: str) -> str:
    """The lower-case extension of a file name, without the dot ("" when there is none)."""
    return posixpath.splitext(name.strip().lower())[1].lstrip(".")


def normalised_type(mime_type: str, name: str) -> str:
    """The declared MIME type without parameters, or one guessed from the extension, or ``OCTET_STREAM``."""
    declared = mime_type.split(";", 1)[0].strip().lower()
    if declared and "/" in declared and declared != OCTET_STREAM:
        return declared
    return _TYPES_BY_EXTENSION.get(extension(name), OCTET_STREAM)


def is_markup(mime_type: str, name: str) -> bool:
    return normalised_type(mime_type, name) in _MARKUP_MIME_TYPES or extension(name) in _MARKUP_EXTENSIONS


def file_group(mime_type: str, name: str) -> str | None:
    """The group (``IMAGES``…) a file belongs to, by its extension first, then its type; ``None`` if none."""
    if is_markup(mime_type, name):
        return None  # an SVG is an image to a designer and a script to a browser: no group accepts it
    ext = extension(name)
    for group in FILE_GROUPS:
        if ext and ext in _GROUP_EXTENSIONS[group]:
            return group
    kind = normalised_type(mime_type, name)
    for group in FILE_GROUPS:
        if kind.startswith(_GROUP_MIME_PREFIXES[group]):
            return group
    return None


def display_kind(mime_type: str, name: str, *, hint: str = "") -> str:
    """How a file is shown. ``hint`` is what the source said it is ("voice", "sticker"…), trusted only
    where it changes the presentation, never the safety."""
    if hint in (VOICE, STICKER) and not is_markup(mime_type, name):
        return hint
    group = file_group(mime_type, name)
    if group == IMAGES:
        return IMAGE
    if group == AUDIO:
        return AUDIO_CLIP
    if group == VIDEO:
        return VIDEO_CLIP
    return FILE


@dataclass(frozen=True)
class FileLimits:
    """What one open channel accepts: a size in bytes and the allowed groups."""

    max_bytes: int
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Refusal:
    """Why a file is not accepted; ``code`` is stable, the edges word it for people."""

    code: str  # "too_large", "type_not_allowed", "empty"
    limit: int = 0


def refusal(limits: FileLimits, *, name: str, mime_type: str, size: int | None) -> Refusal | None:
    """``None`` when the channel accepts the file, else why not. An unknown size is checked when known."""
    if size is not None and size <= 0:
        return Refusal("empty")
    if size is not None and size > limits.max_bytes:
        return Refusal("too_large", limit=limits.max_bytes)
    group = file_group(mime_type, name)
    if group is None or group not in limits.groups:
        return Refusal("type_not_allowed")
    return None


def served_inline(mime_type: str, name: str) -> bool:
    """Whether our file view lets the browser show the file in the page rather than download it."""
    if is_markup(mime_type, name):
        return False
    kind = normalised_type(mime_type, name)
    return kind in _INLINE_IMAGE_TYPES or kind in _INLINE_AUDIO_TYPES or kind in _INLINE_VIDEO_TYPES


def served_content_type(mime_type: str, name: str) -> str:
    """The Content-Type our file view answers with: the real type for inline media, a download otherwise."""
    return normalised_type(mime_type, name) if served_inline(mime_type, name) else OCTET_STREAM


def accept_attribute(groups: tuple[str, ...]) -> str:
    """The ``accept`` attribute of a file input for these groups (a hint to the picker; the server checks)."""
    extensions = sorted(ext for group in groups for ext in _GROUP_EXTENSIONS.get(group, ()))
    return ",".join(f".{ext}" for ext in extensions)
