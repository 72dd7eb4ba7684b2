"""Issue 15, point 7: a client's edit and deletion in the messenger reach the operator's console live.

What the sources report: Telegram sends ``edited_message`` (bots are told of no deletion), Messenger
``message_edit`` and, in Meta's unsend shape, a ``message`` with ``is_deleted``; WhatsApp and Zalo report
neither here. Deliveries go through the real webhook doors; the console listens on its real socket.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from django.test import Client as HttpClient
from django.utils import timezone

from channels_app.connectors import get_source
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.engine.transcripts import transcript_text
from channels_app.livechat.payloads import visitor_message_payload
from channels_app.models import ConnectorKind, InboundUpdate, Message, Offer
from tests.channels_app.connectors import test_webhooks
from tests.channels_app.connectors.test_meta import messenger_event, page_body
from tests.channels_app.connectors.test_telegram import text_update
from tests.channels_app.connectors.test_webhooks import APP_SECRET, meta_post, telegram_post
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.sockets import ask, connected_console

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


eager_celery = test_webhooks.eager_celery  # the sync webhook door hands processing to Celery: run it in place


@pytest.fixture
def team(db, provider, eager_celery):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    bot = ConnectorFactory(
        open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id="7000001", access_token="7000001:AAbotTOKEN"
    )
    page = ConnectorFactory(
        open_channel=channel,
        kind=ConnectorKind.FACEBOOK,
        account_id="104857600",
        access_token="EAAGpageTOKEN",
        app_secret=APP_SECRET,
    )
    return SimpleNamespace(channel=channel, olga=olga, bot=bot, page=page)


def _held_messenger_message(team, mid: str, text: str) -> Message:
    """A Messenger client's message (a known client: no profile call) in a conversation Olga holds."""
    result = message_receive(
        connector=team.page,
        external_user_id="6028351927",
        text=text,
        source_message_id=mid,
        now=timezone.now(),
        client_name="Mai Tran",
    )
    offer = Offer.objects.get(conversation=result.conversation, status=Offer.Status.PENDING)
    offer_accept(offer_id=offer.pk, operator=team.olga, now=timezone.now())
    return result.message


def _unsend(mid: str) -> dict:
    event = messenger_event(mid)
    event["message"] = {"mid": mid, "is_deleted": True}
    return page_body([event])


async def _event(console, frame_type: str) -> dict:
    while True:
        frame = await console.receive_json_from(timeout=15)
        if frame.get("type") == frame_type:
            return frame


async def test_a_messenger_edit_and_unsend_reach_the_watching_console(team):
    message = await database_sync_to_async(_held_messenger_message)(team, "m_42", "I want 2 kettles")
    console = await connected_console(team.olga)
    assert (await ask(console, "watch", conversation_id=message.conversation_id))["type"] == "ack"
    http = HttpClient()

    edit = messenger_event("m_42")
    del edit["message"]
    edit["message_edit"] = {"mid": "m_42", "text": "I want 3 kettles", "num_edit": 1}
    response = await database_sync_to_async(meta_post)(http, team.page, page_body([edit]))
    assert response.status_code == 200
    edited = await _event(console, "message.edited")
    assert edited["message"]["id"] == message.pk
    assert edited["message"]["text"] == "I want 3 kettles"
    assert edited["message"]["earlier_texts"] == ["I want 2 kettles"]
    assert edited["message"]["edited_at"] and not edited["message"]["deleted_at"]

    response = await database_sync_to_async(meta_post)(http, team.page, _unsend("m_42"))
    assert response.status_code == 200
    deleted = await _event(console, "message.deleted")
    assert deleted["message"]["id"] == message.pk
    assert deleted["message"]["deleted_at"]
    assert deleted["message"]["text"] == "I want 3 kettles", "staff still read what the client deleted"
    await console.disconnect()


async def test_a_telegram_edit_reaches_the_console(team):
    def receive_and_accept():
        assert telegram_post(HttpClient(), team.bot, text_update()).status_code == 200
        message = Message.objects.get(connector=team.bot, author_kind="client")
        offer = Offer.objects.get(conversation=message.conversation, status=Offer.Status.PENDING)
        offer_accept(offer_id=offer.pk, operator=team.olga, now=timezone.now())
        return message

    message = await database_sync_to_async(receive_and_accept)()
    console = await connected_console(team.olga)  # not watching: the holder hears it on their own group
    update = text_update(update_id=900002)
    update["edited_message"] = update.pop("message")
    update["edited_message"]["text"] = "Hello, is the shop open on Sunday?"
    assert (await database_sync_to_async(telegram_post)(HttpClient(), team.bot, update)).status_code == 200
    edited = await _event(console, "message.edited")
    assert (edited["message"]["id"], edited["message"]["text"]) == (message.pk, "Hello, is the shop open on Sunday?")
    await console.disconnect()


def test_a_deletion_is_kept_for_staff_and_hidden_from_the_client(team):
    message = _held_messenger_message(team, "m_7", "My card number is 4111…")
    http = HttpClient()
    assert meta_post(http, team.page, _unsend("m_7")).status_code == 200
    assert meta_post(http, team.page, _unsend("m_7")).status_code == 200  # a replay is one deletion
    message.refresh_from_db()
    first_deleted_at = message.deleted_at
    assert first_deleted_at is not None and message.text == "My card number is 4111…"
    assert InboundUpdate.objects.filter(connector=team.page, update_id="delete:m_7").count() == 1

    seen_by_client = visitor_message_payload(message, team.channel)
    assert (seen_by_client["text"], seen_by_client["attachments"], seen_by_client["deleted"]) == ("", [], True)
    _subject, body = transcript_text(message.conversation)
    assert "4111" not in body


def test_an_unsend_of_an_unknown_message_changes_nothing(team):
    assert meta_post(HttpClient(), team.page, _unsend("m_never")).status_code == 200
    assert not Message.objects.filter(deleted_at__isnull=False).exists()
    [parsed] = get_source(team.page.kind).parse(team.page, {"event": _unsend("m_never")["entry"][0]["messaging"][0]})
    assert (parsed.kind, parsed.source_message_id) == ("delete", "m_never")
