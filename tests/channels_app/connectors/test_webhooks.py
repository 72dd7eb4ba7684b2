"""Webhooks end to end (S2, O5): provider-shaped deliveries through the real URLs, Celery run eagerly,
the distribution engine's inbound services, and replies back through the local fake provider.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from channels_app.connectors.processing import inbound_updates_process
from channels_app.models import Client, Connector, ConnectorKind, Conversation, InboundUpdate, Message
from channels_app.tasks import sweep_connectors
from contact_center.celery import app as celery_app
from tests.channels_app.connectors.fake_provider import PNG_BYTES
from tests.channels_app.connectors.test_meta import messenger_event, page_body, wa_text, whatsapp_body
from tests.channels_app.connectors.test_telegram import text_update
from tests.channels_app.connectors.test_zalo import signed as zalo_signed
from tests.channels_app.connectors.test_zalo import zalo_text_event
from tests.factories import ConnectorFactory

APP_SECRET = "meta-app-secret-0123456789"


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    # Retries must run in place (eager apply re-applies them) instead of surfacing as exceptions.
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def bot(open_channel):
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="7000001", access_token="7000001:AAbotTOKEN"
    )


@pytest.fixture
def page(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.FACEBOOK,
        account_id="104857600",
        access_token="EAAGpageTOKEN",
        app_secret=APP_SECRET,
    )


def telegram_post(client, bot, body):
    return client.post(
        f"/webhooks/telegram/{bot.pk}/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=bot.webhook_secret,
    )


def meta_post(client, connector, body):
    raw = json.dumps(body).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(
        f"/webhooks/meta/{connector.pk}/", data=raw, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=signature
    )


# --- inbound ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_telegram_message_lands_in_a_queued_conversation(client, bot, eager_celery, provider):
    assert telegram_post(client, bot, text_update()).status_code == 200
    message = Message.objects.get(connector=bot, author_kind="client")
    assert message.text == "Hello, is the shop open?"
    assert message.source_message_id == "424242:11"
    assert message.conversation.client.name == "Anna Kowalska"
    assert message.conversation.client.username == "anna_k"
    assert InboundUpdate.objects.get().state == "processed"


@pytest.mark.django_db
def test_s2_the_same_telegram_update_three_times_gives_one_message(client, bot, eager_celery, provider):
    for _ in range(3):
        assert telegram_post(client, bot, text_update()).status_code == 200
    assert Message.objects.filter(connector=bot, author_kind="client").count() == 1
    assert Conversation.objects.filter(connector=bot).count() == 1


@pytest.mark.django_db
def test_s2_a_replay_with_a_new_update_id_is_still_one_message(client, bot, eager_celery, provider):
    """Message dedupe is by source message id too, not only by the update id."""
    telegram_post(client, bot, text_update(update_id=1))
    telegram_post(client, bot, text_update(update_id=2))
    assert Message.objects.filter(connector=bot, author_kind="client").count() == 1
    assert set(InboundUpdate.objects.values_list("state", flat=True)) == {"processed"}


@pytest.mark.django_db
def test_s2_telegram_edit_changes_the_stored_text(client, bot, eager_celery, provider):
    telegram_post(client, bot, text_update())
    edit = text_update(update_id=900002)
    edit["edited_message"] = edit.pop("message")
    edit["edited_message"]["text"] = "Hello, is the shop open on Sunday?"
    assert telegram_post(client, bot, edit).status_code == 200
    message = Message.objects.get(connector=bot, author_kind="client")
    assert message.text == "Hello, is the shop open on Sunday?"
    assert message.edited_at is not None


@pytest.mark.django_db
def test_s2_telegram_photo_is_stored_with_the_message_and_copied_after(
    client, bot, eager_celery, provider, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path
    provider.telegram_file("AgAD", "photos/file_1.jpg", PNG_BYTES)
    update = text_update()
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "AgAD", "file_unique_id": "AQAD", "width": 9, "height": 9}]
    with django_capture_on_commit_callbacks(execute=True):
        telegram_post(client, bot, update)
    [attachment] = Message.objects.get(connector=bot, author_kind="client").attachments.all()
    assert (attachment.kind, attachment.state, attachment.name) == ("image", "ready", "photo_AQAD.jpg")
    assert attachment.file.read() == PNG_BYTES


@pytest.mark.django_db
def test_s2_messenger_batch_gives_one_conversation_per_sender(client, page, eager_celery, provider):
    body = page_body([messenger_event("m_1", psid="111"), messenger_event("m_2", psid="222", text="Price list?")])
    assert meta_post(client, page, body).json()["stored"] == 2
    assert Conversation.objects.filter(connector=page).count() == 2
    assert Client.objects.get(connector=page, external_id="111").name == "Mai Tran"  # from the profile API
    for _ in range(2):
        meta_post(client, page, body)
    assert Message.objects.filter(connector=page, author_kind="client").count() == 2


@pytest.mark.django_db
def test_c1_whatsapp_client_keeps_name_and_phone(client, open_channel, eager_celery, provider):
    wa = ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.WHATSAPP, account_id="106540352242922", app_secret=APP_SECRET
    )
    meta_post(client, wa, whatsapp_body(wa_text("wamid.1")))
    wa_client = Client.objects.get(connector=wa)
    assert (wa_client.name, wa_client.phone) == ("Kerry Fisher", "+16315551181")


@pytest.mark.django_db
def test_s2_zalo_text_lands_in_a_conversation(client, open_channel, eager_celery, provider):
    oa = ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.ZALO,
        account_id="388613280878808645",
        app_secret="oa-secret",
        access_token="zalo-oa-access-token",
    )
    raw, signature = zalo_signed(zalo_text_event("a1b2c3"), "oa-secret")
    response = client.post(
        f"/webhooks/zalo/{oa.pk}/", data=raw, content_type="application/json", HTTP_X_ZEVENT_SIGNATURE=signature
    )
    assert response.status_code == 200
    message = Message.objects.get(connector=oa, author_kind="client")
    assert message.text == "Xin chào, shop còn hàng không?"
    assert message.conversation.client.name == "Lan Nguyen"


@pytest.mark.django_db
def test_s2_refused_update_leaves_no_half_written_conversation(bot, provider):
    """An update the inbound service refuses is recorded as failed; no client, conversation or message remains."""
    update = InboundUpdate.objects.create(
        connector=bot, update_id="5", payload=text_update(text="x" * 20_001), received_at="2026-01-01T00:00:00Z"
    )
    assert inbound_updates_process(connector_id=bot.pk, update_ids=["5"], now=update.received_at) == 0
    update.refresh_from_db()
    assert update.state == "failed"
    assert "longer than" in update.error
    assert not Client.objects.filter(connector=bot).exists()
    assert not Conversation.objects.filter(connector=bot).exists()


@pytest.mark.django_db
def test_s2_update_without_content_is_ignored_with_its_reason(bot):
    update = text_update()
    update["message"]["text"] = ""
    row = InboundUpdate.objects.create(connector=bot, update_id="6", payload=update, received_at="2026-01-01T00:00:00Z")
    inbound_updates_process(connector_id=bot.pk, update_ids=["6"], now=row.received_at)
    row.refresh_from_db()
    assert row.state == "ignored"
    assert row.error


@pytest.mark.django_db
def test_s2_sweep_processes_updates_whose_task_was_lost(bot, eager_celery, provider):
    InboundUpdate.objects.create(
        connector=bot, update_id="7", payload=text_update(update_id=7), received_at="2026-01-01T00:00:00Z"
    )
    assert sweep_connectors.apply().get() == 1
    assert InboundUpdate.objects.get().state == "processed"
    assert Message.objects.filter(connector=bot, author_kind="client").count() == 1


# --- outbound round trip ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_welcome_reply_goes_back_through_telegram(
    client, bot, eager_celery, provider, django_capture_on_commit_callbacks
):
    """M1 over a messenger: the engine queues the welcome, the receiver enqueues the send, sendMessage delivers."""
    with django_capture_on_commit_callbacks(execute=True):
        telegram_post(client, bot, text_update())
    welcome = Message.objects.get(connector=bot, system_key="welcome")
    assert welcome.delivery == "sent"
    assert welcome.delivery_attempts == 1
    [call] = provider.calls("/sendMessage")
    assert call.json == {"chat_id": "424242", "text": bot.open_channel.welcome_text}


@pytest.mark.django_db
def test_s2_welcome_reply_shows_delayed_when_telegram_keeps_failing(
    client, bot, eager_celery, provider, django_capture_on_commit_callbacks
):
    provider.fail(
        "/sendMessage", 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}, times=20
    )
    with django_capture_on_commit_callbacks(execute=True):
        telegram_post(client, bot, text_update())
    welcome = Message.objects.get(connector=bot, system_key="welcome")
    # Retried until Telegram counts as unreachable, then it waits for the recovery (issue 21), visibly.
    assert welcome.delivery == "queued" and welcome.delivery_delayed
    assert "Internal Server Error" in welcome.delivery_error
    bot.refresh_from_db()
    assert bot.is_unreachable
    # The client's own message is safe whatever happens to the reply.
    assert Message.objects.get(connector=bot, author_kind="client").delivery == "received"


# --- register_webhooks (O5) ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_o5_register_webhooks_binds_every_connector_to_site_url(bot, page, provider, settings):
    settings.SITE_URL = "https://support.example.com"
    out = StringIO()
    call_command("register_webhooks", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert f"registered  Telegram #{bot.pk}" in lines[0]
    assert f"https://support.example.com/webhooks/telegram/{bot.pk}/" in lines[0]
    assert f"registered  Facebook Messenger #{page.pk}" in lines[1]
    assert f"the verify token {page.verify_token}" in lines[1]
    assert provider.calls("/setWebhook")[0].json["url"] == f"https://support.example.com/webhooks/telegram/{bot.pk}/"
    bot.refresh_from_db()
    assert bot.webhook_url == f"https://support.example.com/webhooks/telegram/{bot.pk}/"
    assert bot.webhook_registered_at is not None
    assert (bot.registration_state, bot.registration_detail) == ("registered", "Webhook was set")


@pytest.mark.django_db
def test_o5_register_webhooks_reports_and_stores_a_provider_refusal(bot, provider):
    provider.fail(
        "/setWebhook",
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: bad webhook: HTTPS url must be provided"},
    )
    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1"):
        call_command("register_webhooks", "--site-url", "http://127.0.0.1:8000", stdout=out)
    assert "FAILED" in out.getvalue()
    bot.refresh_from_db()
    assert bot.registration_state == "failed"
    assert "HTTPS url must be provided" in bot.registration_detail
    assert bot.webhook_registered_at is None


@pytest.mark.django_db
def test_o5_register_webhooks_skips_live_chat_and_inactive_connectors(open_channel, provider):
    ConnectorFactory(kind=ConnectorKind.TELEGRAM, account_id="1", access_token="1:x", is_active=False)
    out = StringIO()
    call_command("register_webhooks", stdout=out)
    assert out.getvalue().strip() == "No active messenger connectors to register."
    assert Connector.objects.filter(kind=ConnectorKind.LIVECHAT).get().webhook_url == ""


@pytest.mark.django_db
def test_s2_only_replies_on_messenger_connectors_are_sent(bot, open_channel, eager_celery, provider):
    """The message_created receiver: operator / bot / system messages on messenger connectors, nothing else."""
    from django.utils import timezone

    from channels_app.engine.signals import message_created
    from tests.factories import ClientFactory, ConversationFactory

    def message(connector, author_kind, delivery):
        conversation = ConversationFactory(client=ClientFactory(connector=connector))
        return Message.objects.create(
            conversation=conversation,
            connector=connector,
            author_kind=author_kind,
            text="Thanks!",
            created_at=timezone.now(),
            delivery=delivery,
        )

    livechat = open_channel.connectors.get(kind=ConnectorKind.LIVECHAT)
    reply = message(bot, "operator", "queued")
    client_text = message(bot, "client", "received")
    widget_reply = message(livechat, "operator", "sent")
    for item in (reply, client_text, widget_reply):
        message_created.send(
            sender=Message, message_id=item.pk, conversation_id=item.conversation_id, author_kind=item.author_kind
        )
    assert [call.json["chat_id"] for call in provider.calls("/sendMessage")] == [reply.conversation.client.external_id]
    reply.refresh_from_db()
    assert reply.delivery == "sent"


# --- the ASGI fast path -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_s2_asgi_fast_path_stores_verifies_and_refuses_like_the_views(asgi_client):
    from asgiref.sync import sync_to_async

    bot = await sync_to_async(ConnectorFactory)(kind=ConnectorKind.TELEGRAM, account_id="fast", access_token="1:x")
    url = f"/webhooks/telegram/{bot.pk}/"
    secret = {"X-Telegram-Bot-Api-Secret-Token": bot.webhook_secret}
    body = json.dumps(text_update())

    first = await asgi_client.post(url, content=body, headers=secret)
    again = await asgi_client.post(url, content=body, headers=secret)
    assert (first.status_code, first.json()["stored"]) == (200, 1)
    assert (again.status_code, again.json()["duplicates"]) == (200, 1)
    assert await InboundUpdate.objects.filter(connector_id=bot.pk).acount() == 1

    forged = await asgi_client.post(url, content=body, headers={"X-Telegram-Bot-Api-Secret-Token": "forged"})
    assert forged.status_code == 403
    assert (await asgi_client.post(url, content=b"{oops", headers=secret)).status_code == 400
    assert (await asgi_client.get(url)).status_code == 405
    unknown = await asgi_client.post("/webhooks/telegram/99999999/", content=body, headers=secret)
    assert (unknown.status_code, unknown.content) == (403, forged.content)
    too_big = b'{"update_id": 1, "pad": "' + b"x" * 3_000_000 + b'"}'
    assert (await asgi_client.post(url, content=too_big, headers=secret)).status_code == 413


@pytest.mark.django_db(transaction=True)
async def test_s2_asgi_fast_path_answers_the_meta_challenge_and_leaves_other_paths_to_django(asgi_client):
    from asgiref.sync import sync_to_async

    page = await sync_to_async(ConnectorFactory)(kind=ConnectorKind.FACEBOOK, account_id="p", verify_token="vt")
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt", "hub.challenge": "31337"}
    answer = await asgi_client.get(f"/webhooks/meta/{page.pk}/", params=params)
    assert (answer.status_code, answer.text) == (200, "31337")
    assert (await asgi_client.get("/healthz")).json()["status"] == "ok"
