"""Oversized messages, bodies and attachments: refused with a clear 4xx (or a clear error frame), nothing stored.

Limits (``settings``, each with an environment override in ``.env.example``):

* ``MAX_REQUEST_BODY_BYTES`` → ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB): webhooks
  answer 413 before reading further; the API and forms answer 400;
* ``MAX_ATTACHMENT_BYTES`` (20 MB, and each open channel's own smaller limit):
  a provider file declared above it is never asked for (the message keeps it
  as failed, saying why); the download stops reading as soon as the limit is
  passed, whatever size the provider declared;
* ``WEBSOCKET_MAX_FRAME_BYTES`` (64 kB): uvicorn closes a socket that sends a
  larger frame (checked against a real server in ``tests/faults``);
* message text: 4,000 characters in the console and the widget
  (``widget.TYPED_TEXT_MAX_LENGTH``), 20,000 for the bot API and inbound
  messages (``MAX_TEXT_LENGTH``).
"""

from __future__ import annotations

import json

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client as HttpClient
from django.utils import timezone

from channels_app.connectors import get_source
from channels_app.connectors.base import DownloadError
from channels_app.connectors.processing import inbound_updates_process
from channels_app.models import MESSAGE_TEXT_MAX_LENGTH, TYPED_TEXT_MAX_LENGTH, InboundUpdate, Message
from contact_center.asgi import application
from tests.channels_app.connectors.fake_provider import PNG_BYTES, FakeProvider
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db(transaction=True)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ORIGIN = (b"origin", b"http://testserver")


def telegram_update(update_id: int, text: str) -> dict:
    sender = {"id": 4242, "is_bot": False, "first_name": "Huge"}
    message = {"message_id": update_id, "from": sender, "chat": {**sender, "type": "private"}, "date": 1, "text": text}
    return {"update_id": update_id, "message": message}


async def test_webhook_body_over_the_limit_is_413_through_the_asgi_door(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    body = json.dumps(telegram_update(1, "x" * 60_000)).encode()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(
            f"/webhooks/telegram/{world.telegram.pk}/",
            content=body,
            headers={SECRET_HEADER: world.telegram.webhook_secret, "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json() == {"ok": False, "error": "The body is too large."}
    assert not await InboundUpdate.objects.filter(connector=world.telegram).aexists()


def test_webhook_body_over_the_limit_is_refused_through_the_django_door(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    before = fingerprint()
    response = HttpClient().post(
        f"/webhooks/telegram/{world.telegram.pk}/",
        json.dumps(telegram_update(2, "x" * 60_000)),
        content_type="application/json",
        headers={SECRET_HEADER: world.telegram.webhook_secret},
    )
    assert response.status_code in (400, 413)
    assert fingerprint() == before


def test_api_body_over_the_limit_is_400_and_changes_nothing(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 50_000
    before = fingerprint()
    http = HttpClient()
    http.force_login(world.olga)
    response = http.post(
        "/api/console/status/",
        json.dumps({"action": "clock_out", "padding": "x" * 60_000}),
        content_type="application/json",
    )
    assert response.status_code == 400
    response = HttpClient().post(
        f"/api/livechat/{world.alice_token}/transcript/",
        json.dumps({"email": "a@example.com", "padding": "x" * 60_000}),
        content_type="application/json",
    )
    assert response.status_code == 400
    for form in ("details", "offline"):  # the widget's forms (issue 15)
        response = HttpClient().post(
            f"/api/livechat/{world.alice_token}/{form}/",
            json.dumps({"name": "A", "message": "x" * 60_000}),
            content_type="application/json",
        )
        assert response.status_code == 400, form
    assert fingerprint() == before


def test_bot_api_text_over_the_limit_is_400(world):
    before = fingerprint()
    response = HttpClient().post(
        f"/api/bots/conversations/{world.carol.pk}/messages/",
        json.dumps({"text": "x" * (MESSAGE_TEXT_MAX_LENGTH + 1)}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.helpdesk_bot.api_token}"},
    )
    assert response.status_code == 400
    assert "text" in response.json()
    assert fingerprint() == before


async def test_livechat_message_over_the_limit_gets_an_error_frame_and_is_not_stored(world):
    before = await database_sync_to_async(fingerprint)()
    socket = WebsocketCommunicator(application, f"/ws/livechat/{world.alice_token}/", headers=[ORIGIN])
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["type"] == "hello"
    await socket.send_json_to(
        {"action": "send", "ref": 1, "client_id": "oversized-1", "text": "x" * (TYPED_TEXT_MAX_LENGTH + 1)}
    )
    answer = await socket.receive_json_from(timeout=5)
    assert answer["type"] == "error" and answer["ref"] == 1
    assert str(TYPED_TEXT_MAX_LENGTH) in answer["message"]
    assert await database_sync_to_async(fingerprint)() == before
    await socket.disconnect(timeout=10)


def test_inbound_text_over_the_limit_is_stored_as_a_failed_update_not_a_message(world):
    """A provider cannot shorten a message it already accepted, so the webhook answers 200 (no retry storm);
    the update ends ``failed`` with the reason, and no message is stored."""
    messages_before = Message.objects.count()
    response = HttpClient().post(
        f"/webhooks/telegram/{world.telegram.pk}/",
        json.dumps(telegram_update(3, "x" * 25_000)),
        content_type="application/json",
        headers={SECRET_HEADER: world.telegram.webhook_secret},
    )
    assert response.status_code == 200
    update = InboundUpdate.objects.get(connector=world.telegram)
    inbound_updates_process(connector_id=world.telegram.pk, update_ids=[update.update_id], now=timezone.now())
    update.refresh_from_db()
    assert update.state == "failed" and "20000 characters" in update.error
    assert Message.objects.count() == messages_before


def _document_event(connector, size: int | None):
    update = telegram_update(4, "")
    del update["message"]["text"]
    update["message"]["document"] = {"file_id": "BQAC-big", "file_unique_id": "AgAD-big", "file_name": "big.bin"}
    if size is not None:
        update["message"]["document"]["file_size"] = size
    source = get_source(connector.kind)
    [event] = source.parse(connector, update)
    return source, event


def test_attachment_declared_over_the_limit_is_not_downloaded(world, settings):
    settings.MAX_ATTACHMENT_BYTES = 1_000_000
    with FakeProvider() as provider:
        provider.use_in(settings)
        _, event = _document_event(world.telegram, size=1_000_001)
        assert provider.requests == []
    [attachment] = event.files
    assert attachment.error == "This file is larger than 976 KB, the most this chat accepts."


def test_attachment_larger_than_declared_stops_downloading_at_the_limit(world, settings):
    """The provider declared no size (or lied): the download stops once the limit is passed, for good."""
    settings.MAX_ATTACHMENT_BYTES = len(PNG_BYTES) - 1
    with FakeProvider() as provider:
        provider.use_in(settings)
        provider.telegram_file("BQAC-big", "documents/big.bin", PNG_BYTES)
        world.telegram.access_token = "7000003:token"
        source, event = _document_event(world.telegram, size=None)
        [attachment] = event.files
        assert attachment.error == ""
        with pytest.raises(DownloadError) as refused:
            source.download(
                world.telegram, attachment.source_ref, limit=world.telegram.open_channel.file_limits.max_bytes
            )
    assert refused.value.retryable is False
    assert "is larger than" in str(refused.value)
