"""Connector log lines as ``LOG_FORMAT=json`` writes them: the ids of the delivery, never a provider's token.

The ids are bound by the webhook door and connector processing (the connector) and the engine's inbound path
(the conversation). httpx, turned up to INFO, logs every provider call with its full URL, which holds Telegram's
bot token and Meta's access token: they are masked (contact_center.logs).
"""

from __future__ import annotations

import json

import pytest

from channels_app.connectors import get_source
from channels_app.models import ConnectorKind, Conversation
from channels_app.tasks import send_message
from tests.channels_app.connectors.test_meta import messenger_event
from tests.channels_app.connectors.test_telegram import queued_reply, text_update
from tests.factories import ConnectorFactory
from tests.logs import json_log_lines


@pytest.fixture
def bot(open_channel):
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="7000001", access_token="7000001:AAbotTOKEN"
    )


@pytest.fixture
def page(open_channel):
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.FACEBOOK, account_id="104857600", access_token="EAAGpageTOKEN"
    )


@pytest.mark.django_db(transaction=True)
async def test_a_webhook_delivery_logs_its_request_conversation_and_connector_ids(asgi_client, bot):
    with json_log_lines() as lines:
        answer = await asgi_client.post(
            f"/webhooks/telegram/{bot.pk}/",
            content=json.dumps(text_update()),
            headers={"X-Telegram-Bot-Api-Secret-Token": bot.webhook_secret, "X-Request-ID": "lb-7f3a.01"},
        )
    assert answer.status_code == 200
    assert answer.headers["X-Request-ID"] == "lb-7f3a.01"
    conversation = await Conversation.objects.aget(connector=bot)
    [started] = [line for line in lines.of("channels_app.engine.inbound") if "new conversation" in line["message"]]
    assert started["request_id"] == "lb-7f3a.01"
    assert (started["conversation_id"], started["connector_id"]) == (conversation.pk, bot.pk)
    assert started["level"] == "INFO"


@pytest.mark.django_db(transaction=True)
async def test_a_refused_webhook_logs_the_connector_it_named_and_a_generated_request_id(asgi_client, bot):
    with json_log_lines() as lines:
        answer = await asgi_client.post(
            f"/webhooks/telegram/{bot.pk}/",
            content=json.dumps(text_update()),
            headers={"X-Telegram-Bot-Api-Secret-Token": "forged", "X-Request-ID": "<script>"},
        )
    assert answer.status_code == 403
    [refusal] = lines.of("channels_app.webhooks")
    assert refusal["connector_id"] == bot.pk
    assert refusal["request_id"] == answer.headers["X-Request-ID"] != "<script>"
    assert "conversation_id" not in refusal


@pytest.mark.django_db
def test_a_reply_sent_to_telegram_is_logged_by_httpx_without_the_bot_token(bot, provider):
    message = queued_reply(bot)
    with json_log_lines(httpx="INFO") as lines:
        assert send_message.apply(args=[message.pk]).get() == "sent"
    assert bot.access_token not in lines.text
    [request] = [line for line in lines.of("httpx") if "sendMessage" in line["message"]]
    assert f"{provider.url}/bot[redacted]/sendMessage" in request["message"]
    assert (request["connector_id"], request["conversation_id"]) == (bot.pk, message.conversation_id)


@pytest.mark.django_db
def test_a_messenger_profile_lookup_is_logged_without_the_page_access_token(page, provider):
    source = get_source(page.kind)
    [parsed] = source.parse(page, {"event": messenger_event("m_1")})
    with json_log_lines(httpx="INFO") as lines:
        source.complete_event(page, parsed, client_is_new=True)
    assert parsed.client_name == "Mai Tran"
    assert page.access_token not in lines.text
    [request] = [line for line in lines.of("httpx") if "/graph/6028351927" in line["message"]]
    assert "access_token=[redacted]" in request["message"]
