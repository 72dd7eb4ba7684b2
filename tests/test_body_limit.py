"""No request body larger than the largest file (plus its multipart envelope) reaches Django: 413 at once."""

from __future__ import annotations

import pytest

from contact_center.body_limit import MULTIPART_ALLOWANCE_BYTES, body_limit_guard, request_body_limit


class Recorder:
    def __init__(self, chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.scope = {"type": "http", "method": "POST", "path": "/api/upload/", "headers": headers or []}
        self._chunks = list(chunks)
        self.sent: list[dict] = []
        self.reads = 0

    async def receive(self) -> dict:
        self.reads += 1
        chunk = self._chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(self._chunks)}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")


async def reads_the_whole_body(scope, receive, send) -> None:
    """Like Django's ASGI handler: read everything, then answer."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_the_limit_is_the_largest_file_plus_its_envelope(settings):
    settings.MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
    assert request_body_limit() == 20 * 1024 * 1024 + MULTIPART_ALLOWANCE_BYTES


@pytest.mark.asyncio
async def test_a_declared_length_over_the_limit_is_refused_before_reading(settings):
    settings.MAX_ATTACHMENT_BYTES = 1000
    too_long = str(request_body_limit() + 1).encode()
    request = Recorder([b"x"], headers=[(b"content-length", too_long)])
    await body_limit_guard(reads_the_whole_body)(request.scope, request.receive, request.send)
    assert request.status == 413 and request.reads == 0
    assert b"larger than" in request.sent[1]["body"]


@pytest.mark.asyncio
async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(settings):
    settings.MAX_ATTACHMENT_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    limit = request_body_limit()
    request = Recorder([b"x" * (limit // 2)] * 10)
    await body_limit_guard(reads_the_whole_body)(request.scope, request.receive, request.send)
    assert request.status == 413
    assert request.reads == 3  # not the ten chunks


@pytest.mark.asyncio
async def test_a_body_within_the_limit_passes_untouched(settings):
    request = Recorder([b"a" * 100, b"b" * 100], headers=[(b"content-length", b"200")])
    await body_limit_guard(reads_the_whole_body)(request.scope, request.receive, request.send)
    assert request.status == 200 and request.sent[1]["body"] == b"200"


@pytest.mark.asyncio
async def test_the_application_answers_413_for_an_oversized_upload(settings):
    from contact_center.asgi import application

    huge = str(request_body_limit() + 1).encode()
    request = Recorder([b""], headers=[(b"content-length", huge), (b"host", b"testserver")])
    request.scope.update({"path": "/api/conversations/1/messages/", "query_string": b"", "root_path": ""})
    await application(request.scope, request.receive, request.send)
    assert request.status == 413
