"""S2: the ASGI door answers, then processes in the web process what needs no provider call; the rest goes to
Celery, as does the overflow beyond ``WEB_INBOUND_CONCURRENCY`` (``channels_app/webhooks.py``)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from asgiref.sync import sync_to_async
from django.db import OperationalError

from channels_app import tasks
from channels_app.connectors import processing, webhooks
from channels_app.models import Client, ConnectorKind, InboundUpdate, Message
from tests.channels_app.connectors.test_meta import messenger_event, page_body
from tests.channels_app.connectors.test_telegram import text_update
from tests.factories import ClientFactory, ConnectorFactory

pytestmark = pytest.mark.django_db(transaction=True)

APP_SECRET = "meta-app-secret-in-web"


@pytest.fixture
def enqueued(monkeypatch):
    """What the web process handed to Celery, as (connector id, update ids)."""
    calls: list[tuple[int, list[str]]] = []
    monkeypatch.setattr(
        tasks.process_inbound_updates, "apply_async", lambda args, eta=None: calls.append((args[0], args[1]))
    )
    return calls


@pytest.fixture
def telegram():
    return ConnectorFactory(kind=ConnectorKind.TELEGRAM, account_id="7000002", access_token="7000002:token")


async def post_telegram(asgi_client, bot, body: dict):
    return await asgi_client.post(
        f"/webhooks/telegram/{bot.pk}/",
        content=json.dumps(body),
        headers={"X-Telegram-Bot-Api-Secret-Token": bot.webhook_secret},
    )


def photo_update(update_id: int) -> dict:
    update = text_update(update_id=update_id, message_id=update_id)
    message = update["message"]
    del message["text"]
    message["caption"] = "This one"
    message["photo"] = [{"file_id": "AgAD2", "file_unique_id": "AQAD2", "width": 1280, "height": 960}]
    return update


async def states(connector) -> dict[str, str]:
    rows = InboundUpdate.objects.filter(connector_id=connector.pk).values_list("update_id", "state")
    return {update_id: state async for update_id, state in rows}


async def test_s2_a_text_message_is_processed_by_the_web_process_without_celery(asgi_client, telegram, enqueued):
    answer = await post_telegram(asgi_client, telegram, text_update(update_id=5001, message_id=1))
    assert (answer.status_code, answer.json()["stored"]) == (200, 1)
    assert await states(telegram) == {"5001": "processed"}
    message = await Message.objects.select_related("conversation").aget(connector_id=telegram.pk, author_kind="client")
    assert (message.text, message.conversation.status) == ("Hello, is the shop open?", "queued")
    assert enqueued == []


async def test_s2_a_photo_is_stored_here_at_once_and_only_its_download_goes_to_celery(
    asgi_client, telegram, enqueued, monkeypatch
):
    downloads: list[int] = []
    monkeypatch.setattr(tasks.download_attachment, "apply_async", lambda args, eta=None: downloads.append(args[0]))
    await post_telegram(asgi_client, telegram, photo_update(5002))
    assert await states(telegram) == {"5002": "processed"}
    assert enqueued == []
    message = await Message.objects.prefetch_related("attachments").aget(connector_id=telegram.pk, author_kind="client")
    [attachment] = message.attachments.all()
    assert (message.text, attachment.state, attachment.source_ref["file_id"]) == ("This one", "pending", "AgAD2")
    assert downloads == [attachment.pk]


async def test_s2_a_messenger_client_s_name_is_asked_for_in_celery_once_then_messages_stay_here(asgi_client, enqueued):
    page = await sync_to_async(ConnectorFactory)(
        kind=ConnectorKind.FACEBOOK, account_id="104857600", access_token="EAAGpage", app_secret=APP_SECRET
    )

    async def post(event: dict):
        raw = json.dumps(page_body([event])).encode()
        signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        return await asgi_client.post(
            f"/webhooks/meta/{page.pk}/", content=raw, headers={"X-Hub-Signature-256": signature}
        )

    await post(messenger_event("m_new", psid="111"))
    assert await states(page) == {"m_new": "pending"}
    assert enqueued == [(page.pk, ["m_new"])]
    # Once Celery has stored the client (with the name from the profile API), the web process goes on alone.
    await sync_to_async(ClientFactory)(connector=page, external_id="111", name="Mai Tran")
    await post(messenger_event("m_known", psid="111"))
    assert (await states(page))["m_known"] == "processed"
    assert enqueued == [(page.pk, ["m_new"])]
    assert await Client.objects.filter(connector=page).acount() == 1


async def test_s2_switched_off_every_update_goes_to_celery(asgi_client, telegram, enqueued, settings):
    settings.WEB_INBOUND_CONCURRENCY = 0
    await post_telegram(asgi_client, telegram, text_update(update_id=5001, message_id=1))
    assert await states(telegram) == {"5001": "pending"}
    assert enqueued == [(telegram.pk, ["5001"])]


async def test_s2_beyond_the_concurrency_the_overflow_goes_to_celery(asgi_client, telegram, enqueued, settings):
    settings.WEB_INBOUND_CONCURRENCY = 2
    assert webhooks.inbound_threads.take(2) and webhooks.inbound_threads.take(2)  # two deliveries being processed
    try:
        await post_telegram(asgi_client, telegram, text_update(update_id=5001, message_id=1))
    finally:
        webhooks.inbound_threads.give()
        webhooks.inbound_threads.give()
    await post_telegram(asgi_client, telegram, text_update(update_id=5002, message_id=2))
    assert await states(telegram) == {"5001": "pending", "5002": "processed"}
    assert enqueued == [(telegram.pk, ["5001"])]
    assert webhooks.inbound_threads.busy == 0


@pytest.mark.parametrize("failure", [OperationalError("the server closed the connection"), RuntimeError("a bug")])
async def test_s2_a_failure_in_the_web_process_leaves_the_update_to_celery(
    asgi_client, telegram, enqueued, monkeypatch, failure
):
    def failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(processing, "_process_pending", failing)
    answer = await post_telegram(asgi_client, telegram, text_update(update_id=5001, message_id=1))
    assert answer.status_code == 200
    assert await states(telegram) == {"5001": "pending"}
    assert enqueued == [(telegram.pk, ["5001"])]


async def test_s2_a_provider_retry_stores_nothing_and_processes_nothing_twice(asgi_client, telegram, enqueued):
    for _ in range(3):
        await post_telegram(asgi_client, telegram, text_update(update_id=5001, message_id=1))
    assert await states(telegram) == {"5001": "processed"}
    assert await Message.objects.filter(connector_id=telegram.pk, author_kind="client").acount() == 1
    assert enqueued == []


def test_s2_which_events_need_a_call_to_their_provider():
    from channels_app.connectors import get_source
    from channels_app.connectors.base import InboundEvent
    from channels_app.connectors.telegram import CALLBACK_PREFIX
    from channels_app.engine.attachments import IncomingFile
    from channels_app.models import Connector

    def incoming(source_ref: dict) -> IncomingFile:
        return IncomingFile(name="photo.jpg", mime_type="image/jpeg", source_ref=source_ref)

    def needs(kind: str, event: InboundEvent, *, token: str = "token", client_is_new: bool = False) -> bool:
        connector = Connector(kind=kind, access_token=token)
        return get_source(kind).needs_provider_call(connector, event, client_is_new=client_is_new)

    text = InboundEvent(kind="message", external_user_id="1", source_message_id="1:2", text="Hi", client_name="Ann")
    pressed = InboundEvent(kind="message", external_user_id="1", source_message_id=f"{CALLBACK_PREFIX}77", text="👍")
    telegram_file = InboundEvent(
        kind="message", external_user_id="1", source_message_id="1:3", files=[incoming({"file_id": "AgAD"})]
    )
    whatsapp_media = InboundEvent(
        kind="message", external_user_id="48", source_message_id="wamid.1", files=[incoming({"media_id": "55"})]
    )
    nameless = InboundEvent(kind="message", external_user_id="9", source_message_id="m1", text="Hi")
    # Files are stored pending and fetched by a worker afterwards: they never hold the message back.
    assert [needs("telegram", event) for event in (text, pressed, telegram_file)] == [False, True, False]
    assert not needs("whatsapp", whatsapp_media)
    assert not needs("whatsapp", text)
    for kind in ("facebook", "zalo"):
        assert needs(kind, nameless, client_is_new=True)
        assert not needs(kind, nameless, client_is_new=False)
        assert not needs(kind, nameless, client_is_new=True, token="")
