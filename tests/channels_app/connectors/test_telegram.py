"""Telegram connector (S2): webhook verification, parsing, replays, outbound sends and setWebhook.

Payloads are shaped as in the Bot API documentation (Update, Message,
PhotoSize, Document) and go through the real URL.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.connectors import get_source, processing
from channels_app.connectors.base import DownloadError
from channels_app.connectors.processing import send_backoff_seconds
from channels_app.engine.attachments import IncomingFile
from channels_app.models import ConnectorKind, InboundUpdate, Message
from channels_app.tasks import send_message
from tests.channels_app.connectors.fake_provider import PNG_BYTES
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory

SECRET_HEADER = "HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"


@pytest.fixture
def bot(open_channel):
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="7000001", access_token="7000001:AAbotTOKEN"
    )


def text_update(update_id: int = 900001, message_id: int = 11, text: str = "Hello, is the shop open?") -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "from": {
                "id": 424242,
                "is_bot": False,
                "first_name": "Anna",
                "last_name": "Kowalska",
                "username": "anna_k",
                "language_code": "pl",
            },
            "chat": {
                "id": 424242,
                "first_name": "Anna",
                "last_name": "Kowalska",
                "username": "anna_k",
                "type": "private",
            },
            "date": 1767225600,
            "text": text,
        },
    }


def post(client, bot, body, *, secret: str | None = "use-bot"):
    headers = {}
    if secret == "use-bot":
        headers[SECRET_HEADER] = bot.webhook_secret
    elif secret is not None:
        headers[SECRET_HEADER] = secret
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/webhooks/telegram/{bot.pk}/", data=data, content_type="application/json", **headers)


# --- verification -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_webhook_with_the_secret_token_is_stored_and_acknowledged(client, bot):
    response = post(client, bot, text_update())
    assert response.status_code == 200
    assert response.json() == {"ok": True, "stored": 1, "duplicates": 0}
    update = InboundUpdate.objects.get(connector=bot)
    assert update.update_id == "900001"
    assert update.payload["message"]["text"] == "Hello, is the shop open?"


@pytest.mark.django_db
@pytest.mark.parametrize("secret", [None, "", "forged-secret"])
def test_s2_webhook_without_the_right_secret_token_is_refused_with_403(client, bot, secret):
    response = post(client, bot, text_update(), secret=secret)
    assert response.status_code == 403
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_webhook_for_an_unknown_or_inactive_connector_is_answered_like_a_wrong_secret(client, bot):
    """Issue 13: the answer does not tell which connector ids exist."""
    assert post(client, bot, text_update()).status_code == 200
    wrong_secret = post(client, bot, text_update(900002), secret="forged")
    bot.is_active = False
    bot.save()
    inactive = post(client, bot, text_update(900002))
    unknown = client.post("/webhooks/telegram/999999/", data="{}", content_type="application/json")
    for response in (inactive, unknown):
        assert (response.status_code, response.content) == (wrong_secret.status_code, wrong_secret.content)
    assert wrong_secret.status_code == 403
    assert InboundUpdate.objects.count() == 1


@pytest.mark.django_db
def test_s2_telegram_url_does_not_accept_a_meta_connector(client, open_channel):
    page = ConnectorFactory(open_channel=open_channel, kind=ConnectorKind.FACEBOOK, account_id="page-1")
    response = client.post(f"/webhooks/telegram/{page.pk}/", data="{}", content_type="application/json")
    assert response.status_code == 403


@pytest.mark.django_db
def test_s2_get_on_the_telegram_webhook_is_405(client, bot):
    assert client.get(f"/webhooks/telegram/{bot.pk}/").status_code == 405


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"update_id": NaN}', b"", json.dumps({"message": {}})],
    ids=["broken", "array", "string", "not-utf8", "nan", "empty", "no-update-id"],
)
def test_s2_malformed_body_is_400_and_stores_nothing(client, bot, body):
    response = post(client, bot, body)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_unknown_update_kind_is_acknowledged_ignored_and_logged(client, bot, caplog):
    callback = {"update_id": 900010, "my_chat_member": {"chat": {"id": 424242}, "from": {"id": 424242}, "date": 1}}
    with caplog.at_level(logging.INFO, logger="channels_app.webhooks"):
        response = post(client, bot, callback)
    assert response.status_code == 200
    assert response.json()["ignored"] is True
    assert not InboundUpdate.objects.exists()
    assert "do not handle" in caplog.text


@pytest.mark.django_db
def test_s2_the_same_update_delivered_three_times_is_stored_once(client, bot):
    answers = [post(client, bot, text_update()).json() for _ in range(3)]
    assert answers[0]["stored"] == 1
    assert answers[1] == answers[2] == {"ok": True, "stored": 0, "duplicates": 1}
    assert InboundUpdate.objects.filter(connector=bot).count() == 1


@pytest.mark.django_db
def test_s2_nul_characters_are_dropped_rather_than_failing_postgres(client, bot):
    response = post(client, bot, text_update(text="bad\x00byte \ud800 here"))
    assert response.status_code == 200
    assert InboundUpdate.objects.get().payload["message"]["text"] == "badbyte ? here"


# --- parsing ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_text_message_becomes_a_client_message_keyed_by_chat_and_message_id(bot):
    [event] = get_source(bot.kind).parse(bot, text_update())
    assert event.kind == "message"
    assert event.external_user_id == "424242"
    assert event.source_message_id == "424242:11"
    assert event.text == "Hello, is the shop open?"
    assert event.client_name == "Anna Kowalska"
    assert event.client_username == "anna_k"


@pytest.mark.django_db
def test_s2_photo_with_caption_keeps_the_largest_size_as_an_attachment(bot):
    update = text_update()
    message = update["message"]
    del message["text"]
    message["caption"] = "My broken kettle"
    message["photo"] = [
        {"file_id": "AgAD-small", "file_unique_id": "AQAD1", "file_size": 1200, "width": 90, "height": 67},
        {"file_id": "AgAD-large", "file_unique_id": "AQAD2", "file_size": 51200, "width": 1280, "height": 960},
    ]
    [event] = get_source(bot.kind).parse(bot, update)
    assert event.text == "My broken kettle"
    assert event.files == [
        IncomingFile(
            name="photo_AQAD2.jpg",
            mime_type="image/jpeg",
            size=51200,
            source_ref={"file_id": "AgAD-large", "file_unique_id": "AQAD2"},
        )
    ]


@pytest.mark.django_db
def test_s2_document_is_kept_as_an_attachment_with_its_name(bot):
    update = text_update()
    del update["message"]["text"]
    update["message"]["document"] = {
        "file_name": "invoice.pdf",
        "mime_type": "application/pdf",
        "file_id": "BQACAgIAAxkBAAIB",
        "file_unique_id": "AgADxw",
        "file_size": 30210,
    }
    [event] = get_source(bot.kind).parse(bot, update)
    assert event.text == ""
    [document] = event.files
    assert (document.name, document.mime_type, document.size) == ("invoice.pdf", "application/pdf", 30210)
    assert document.source_ref["file_id"] == "BQACAgIAAxkBAAIB"


@pytest.mark.django_db
def test_s2_edited_message_becomes_an_edit_of_the_same_source_message(bot):
    update = text_update(update_id=900002)
    update["edited_message"] = update.pop("message")
    update["edited_message"]["text"] = "Hello, is the shop open today?"
    update["edited_message"]["edit_date"] = 1767225700
    [event] = get_source(bot.kind).parse(bot, update)
    assert (event.kind, event.source_message_id, event.text) == ("edit", "424242:11", "Hello, is the shop open today?")


@pytest.mark.django_db
def test_s2_group_chats_and_bots_are_not_clients(bot):
    group = text_update()
    group["message"]["chat"] = {"id": -100123, "title": "Friends", "type": "group"}
    from_bot = text_update()
    from_bot["message"]["from"]["is_bot"] = True
    source = get_source(bot.kind)
    assert source.parse(bot, group) == []
    assert source.parse(bot, from_bot) == []


@pytest.mark.django_db
def test_c1_shared_own_contact_gives_the_client_phone(bot):
    update = text_update()
    del update["message"]["text"]
    update["message"]["contact"] = {"phone_number": "+48600100200", "first_name": "Anna", "user_id": 424242}
    [event] = get_source(bot.kind).parse(bot, update)
    assert event.client_phone == "+48600100200"
    assert "+48600100200" in event.text


@pytest.mark.django_db
def test_s2_a_file_is_fetched_through_get_file_and_the_file_endpoint(bot, provider):
    provider.telegram_file("AgAD-large", "photos/file_7.jpg", PNG_BYTES)
    downloaded = get_source(bot.kind).download(bot, {"file_id": "AgAD-large"}, limit=1_000_000)
    assert downloaded.content == PNG_BYTES
    [get_file] = provider.calls("/getFile")
    assert get_file.path == f"/bot{bot.access_token}/getFile"
    assert get_file.json == {"file_id": "AgAD-large"}
    assert provider.calls("/file/bot")[0].path == f"/file/bot{bot.access_token}/photos/file_7.jpg"


@pytest.mark.django_db
def test_s2_a_file_telegram_refuses_fails_for_good_with_its_reason(bot, provider):
    provider.fail("/getFile", 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"})
    with pytest.raises(DownloadError) as refused:
        get_source(bot.kind).download(bot, {"file_id": "BQAC"}, limit=1_000_000)
    assert refused.value.retryable is False
    assert "invalid file_id" in str(refused.value)


# --- outbound -----------------------------------------------------------------------------------


def queued_reply(bot, text: str = "Yes, we are open until 18:00.") -> Message:
    conversation = ConversationFactory(client=ClientFactory(connector=bot, external_id="424242"))
    return Message.objects.create(
        conversation=conversation,
        connector=bot,
        author_kind=Message.Author.OPERATOR,
        text=text,
        created_at=timezone.now(),
        delivery=Message.Delivery.QUEUED,
    )


@pytest.mark.django_db
def test_s2_outbound_reply_is_sent_with_sendmessage_and_marked_sent(bot, provider):
    message = queued_reply(bot)
    assert send_message.apply(args=[message.pk]).get() == "sent"
    message.refresh_from_db()
    assert (message.delivery, message.delivery_attempts, message.delivery_error) == ("sent", 1, "")
    [call] = provider.calls("/sendMessage")
    assert call.path == f"/bot{bot.access_token}/sendMessage"
    assert call.json == {"chat_id": "424242", "text": "Yes, we are open until 18:00."}
    assert message.source_message_id.startswith("424242:")


@pytest.mark.django_db
def test_s2_provider_error_is_retried_then_sent(bot, provider):
    provider.fail("/sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    message = queued_reply(bot)
    assert send_message.apply(args=[message.pk]).get() == "sent"
    message.refresh_from_db()
    assert (message.delivery, message.delivery_attempts, message.delivery_error) == ("sent", 2, "")
    assert len(provider.calls("/sendMessage")) == 2


@pytest.mark.django_db
def test_s2_message_is_retried_until_its_deadline_then_failed_with_the_provider_error(bot, provider, settings):
    settings.CONNECTOR_SEND_RETRY_HOURS = 24
    too_many = {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 3}}
    provider.fail("/sendMessage", 429, too_many, times=3)
    message = queued_reply(bot)
    start = timezone.now()

    first = processing.message_deliver(message_id=message.pk, now=start)
    second = processing.message_deliver(message_id=message.pk, now=start + timedelta(hours=23))
    message.refresh_from_db()
    assert (first.state, second.state) == ("retry", "retry")
    assert first.retry_after >= 3  # never sooner than Telegram asked
    assert message.delivery_delayed and message.delivery_deadline == start + timedelta(hours=24)

    last = processing.message_deliver(message_id=message.pk, now=start + timedelta(hours=24))
    message.refresh_from_db()
    assert last.state == "failed"
    assert message.delivery == "failed"
    assert message.delivery_attempts == 2  # the deadline passed: not tried a third time
    assert "Telegram sendMessage failed (429): Too Many Requests" in message.delivery_error
    assert len(provider.calls("/sendMessage")) == 2
    bot.refresh_from_db()
    assert not bot.is_unreachable  # a rate limit is an answer: the provider is reachable


@pytest.mark.django_db
def test_s2_permanent_provider_error_fails_at_once(bot, provider):
    provider.fail(
        "/sendMessage", 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
    )
    message = queued_reply(bot)
    assert send_message.apply(args=[message.pk]).get() == "failed"
    message.refresh_from_db()
    assert message.delivery_attempts == 1
    assert "bot was blocked by the user" in message.delivery_error


@pytest.mark.django_db
def test_s2_provider_down_makes_the_connector_unreachable_and_the_reply_waits(bot, settings):
    settings.TELEGRAM_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.CONNECTOR_BREAKER_FAILURES = 3
    message = queued_reply(bot)
    outcome = send_message.apply(args=[message.pk]).get()
    message.refresh_from_db()
    bot.refresh_from_db()
    assert outcome == "held"  # no more tries: the probe and the drain send it once Telegram answers
    assert message.delivery == "queued" and message.delivery_delayed
    assert message.delivery_attempts == 3
    assert "ConnectError" in message.delivery_error
    assert bot.is_unreachable and "ConnectError" in bot.transport_error
    assert message.next_attempt_at == bot.next_probe_at


@pytest.mark.django_db
def test_s2_a_sent_message_is_not_sent_again(bot, provider):
    message = queued_reply(bot)
    send_message.apply(args=[message.pk])
    assert send_message.apply(args=[message.pk]).get() == "skipped"
    assert len(provider.calls("/sendMessage")) == 1


@pytest.mark.django_db
def test_s2_long_text_is_sent_in_parts_within_telegram_limit(bot, provider):
    message = queued_reply(bot, text=("word " * 1000).strip())
    send_message.apply(args=[message.pk])
    parts = [call.json["text"] for call in provider.calls("/sendMessage")]
    assert len(parts) == 2
    assert all(len(part) <= 4096 for part in parts)
    assert " ".join(parts) == message.text


def test_s2_backoff_grows_exponentially_and_honours_retry_after():
    assert 5 <= send_backoff_seconds(0) <= 6.25
    assert 40 <= send_backoff_seconds(3) <= 50
    assert send_backoff_seconds(20) <= 750
    assert send_backoff_seconds(0, retry_after=30) == 30


# --- registration -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_o5_set_webhook_sends_the_url_and_secret_token(bot, provider):
    result = get_source(bot.kind).register_webhook(bot, "https://cc.example.com/webhooks/telegram/1/")
    assert result.ok and result.automatic
    [call] = provider.calls("/setWebhook")
    assert call.json == {
        "url": "https://cc.example.com/webhooks/telegram/1/",
        "secret_token": bot.webhook_secret,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }


@pytest.mark.django_db
def test_s2_reply_on_a_switched_off_connector_fails_without_calling_the_provider(bot, provider):
    message = queued_reply(bot)
    bot.is_active = False
    bot.save()
    assert send_message.apply(args=[message.pk]).get() == "failed"
    message.refresh_from_db()
    assert message.delivery_error == "The connector is switched off; the message was not sent."
    assert provider.calls("/sendMessage") == []


@pytest.mark.django_db
def test_s2_client_messages_are_never_sent_back(bot, provider):
    message = queued_reply(bot)
    Message.objects.filter(pk=message.pk).update(author_kind=Message.Author.CLIENT)
    assert send_message.apply(args=[message.pk]).get() == "skipped"
    assert provider.calls("/sendMessage") == []


@pytest.mark.django_db
def test_s2_connector_id_beyond_the_database_range_is_refused_like_any_unknown_id(client):
    response = client.post(
        "/webhooks/telegram/123456789012345678901234567890/", data="{}", content_type="application/json"
    )
    assert response.status_code == 403
