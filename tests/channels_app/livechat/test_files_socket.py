"""What the widget's socket says about files (issue 14): every socket of the visitor follows the conversation a
file uploaded over HTTP started, and a file's later change (``message.attachments``: copied
from a messenger, or failed) is forwarded as the message again, with the visitor's signed links."""

from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from channels_app.engine.attachments import attachment_download_failed
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import Attachment, Message
from contact_center.asgi import application
from tests.factories import ConnectorFactory, OpenChannelFactory
from tests.sockets import ORIGIN

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer_own_media_and_buckets(settings, tmp_path):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.MEDIA_ROOT = tmp_path
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


async def frame_of_type(communicator: WebsocketCommunicator, kind: str, predicate=lambda frame: True) -> dict:
    while True:
        frame = await communicator.receive_json_from(timeout=15)
        if frame.get("type") == kind and predicate(frame):
            return frame


async def test_an_upload_reaches_the_visitors_socket_and_a_failed_copy_is_forwarded():
    connector = await database_sync_to_async(ConnectorFactory)(
        open_channel=await database_sync_to_async(OpenChannelFactory)(welcome_enabled=False)
    )
    token = await database_sync_to_async(visitor_token_issue)(connector=connector, visitor_id="visitor-sock")
    socket = WebsocketCommunicator(application, f"/ws/livechat/{token}/", headers=[ORIGIN])
    assert (await socket.connect(timeout=15))[0]
    assert (await socket.receive_json_from(timeout=15))["type"] == "hello"

    def upload() -> dict:
        response = HttpClient().post(
            reverse("api-livechat-files", args=[token]),
            {"file": SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt", "application/pdf")},
        )
        assert response.status_code == 201, response.content
        return response.json()

    answer = await database_sync_to_async(upload)()
    # This socket had no conversation: it is told to follow the new one (the widget then reads its messages;
    # the uploading tab has its message in the answer, with the visitor's signed link).
    conversation = await frame_of_type(socket, "conversation")
    assert conversation["conversation"]["id"] == answer["conversation"]["id"]
    assert "?v=" in answer["message"]["attachments"][0]["url"]

    def pending_copy_fails() -> int:
        stored = Message.objects.get(pk=answer["message"]["id"])
        pending = Attachment.objects.create(
            message=stored,
            kind="file",
            name="scan.pdf",
            mime_type="application/pdf",
            state=Attachment.State.PENDING,
            source_ref={"file_id": "remote-1"},
            created_at=timezone.now(),
        )
        attachment_download_failed(attachment_id=pending.pk, reason="The provider refused.", now=timezone.now())
        return stored.pk

    message_id = await database_sync_to_async(pending_copy_fails)()
    updated = await frame_of_type(socket, "message", lambda frame: len(frame["message"]["attachments"]) == 2)
    assert updated["message"]["id"] == message_id
    failed = next(file for file in updated["message"]["attachments"] if file["name"] == "scan.pdf")
    assert (failed["state"], failed["error"], failed["url"]) == ("failed", "The provider refused.", "")
    await socket.disconnect()
