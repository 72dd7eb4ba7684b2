"""The largest HTTP request body any route receives, enforced before Django reads it.

Django's ASGI handler reads a whole body into a spooled temporary file before
any view runs, and ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not count files: an
upload of several gigabytes would fill the disk before the view could refuse
it. This guard answers 413 at once for a declared ``Content-Length`` over the
limit, and stops reading a chunked body as soon as it passes the limit. The
limit is the largest file anyone may send (``MAX_ATTACHMENT_BYTES``) plus room
for the multipart envelope; an open channel's own, lower limit is checked by
the upload views. Provider webhooks have their own, lower cap in their door.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings

# The shapes of channels_app.connectors.webhooks' door, which this guard wraps.
Scope = dict[str, Any]
Message = Mapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

# A multipart body carries the file plus its boundaries, headers and a few small fields.
MULTIPART_ALLOWANCE_BYTES = 1024 * 1024


def request_body_limit() -> int:
    return max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.MAX_ATTACHMENT_BYTES + MULTIPART_ALLOWANCE_BYTES)


class _BodyTooLarge(Exception):
    pass


def body_limit_guard(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI HTTP application so no request body over :func:`request_body_limit` reaches it."""

    async def guarded(scope: Scope, receive, send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        limit = request_body_limit()
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer_too_large(send, limit)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _answer_too_large(send, limit)

    return guarded


async def _answer_too_large(send, limit: int) -> None:
    body = json.dumps({"detail": f"The request is larger than this server accepts ({_in_words(limit)})."}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _in_words(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size} bytes"
