"""Meta connectors (S2): Facebook Messenger and WhatsApp Cloud API webhooks, signatures, batches, sends.

Payloads are shaped as in Meta's Messenger Platform and WhatsApp Cloud API
webhook references and go through the real URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.utils import timezone

from channels_app.connectors import get_source
from channels_app.engine.attachments import IncomingFile
from channels_app.models import ConnectorKind, InboundUpdate, Message
from channels_app.tasks import send_message
from tests.channels_app.connectors.fake_provider import PNG_BYTES
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory, OpenChannelFactory

APP_SECRET = "meta-app-secret-0123456789"


@pytest.fixture
def page(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.FACEBOOK,
        account_id="104857600",
        access_token="EAAGpageTOKEN",
        app_secret=APP_SECRET,
        verify_token="let-me-in",
    )


@pytest.fixture
def whatsapp(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.WHATSAPP,
        account_id="106540352242922",
        access_token="EAAGwaTOKEN",
        app_secret=APP_SECRET,
    )


def messenger_event(mid: str, text: str = "Do you ship to Gdańsk?", psid: str = "6028351927", page_id="104857600"):
    return {
        "sender": {"id": psid},
        "recipient": {"id": page_id},
        "timestamp": 1767225600123,
        "message": {"mid": mid, "text": text},
    }


def page_body(*entries: list[dict], page_id: str = "104857600") -> dict:
    return {
        "object": "page",
        "entry": [{"id": page_id, "time": 1767225600456, "messaging": events} for events in entries],
    }


def whatsapp_body(*messages: dict, phone_number_id: str = "106540352242922") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
                            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"}],
                            "messages": list(messages),
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def wa_text(wamid: str, body: str = "Is my order on its way?") -> dict:
    return {"from": "16315551181", "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": body}}


def signed_post(client, connector, body, *, secret: str | None = APP_SECRET, signature: str | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {}
    if signature is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    elif secret is not None:
        headers["HTTP_X_HUB_SIGNATURE_256"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post(f"/webhooks/meta/{connector.pk}/", data=raw, content_type="application/json", **headers)


# --- subscription check (GET) -----------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_meta_subscription_check_echoes_the_challenge(client, page):
    response = client.get(
        f"/webhooks/meta/{page.pk}/",
        {"hub.mode": "subscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
    ids=["wrong-token", "wrong-mode", "nothing"],
)
def test_s2_meta_subscription_check_without_mode_and_token_is_403(client, page, params):
    assert client.get(f"/webhooks/meta/{page.pk}/", params).status_code == 403


# --- signatures -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_signed_messenger_delivery_is_stored_by_message_id(client, page):
    response = signed_post(client, page, page_body([messenger_event("m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM")]))
    assert response.status_code == 200
    update = InboundUpdate.objects.get(connector=page)
    assert update.update_id == "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM"
    assert update.payload["event"]["message"]["text"] == "Do you ship to Gdańsk?"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    ["", "sha256=", "sha256=" + "0" * 64, "sha1=abcdef", "forged"],
    ids=["empty", "no-digest", "zeros", "sha1", "no-prefix"],
)
def test_s2_forged_or_missing_signature_is_403(client, page, signature):
    response = signed_post(client, page, page_body([messenger_event("m_1")]), signature=signature)
    assert response.status_code == 403
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_body_signed_with_another_secret_is_403(client, page):
    response = signed_post(client, page, page_body([messenger_event("m_1")]), secret="someone-elses-secret")
    assert response.status_code == 403


@pytest.mark.django_db
def test_s2_connector_without_app_secret_refuses_everything(client, page):
    page.app_secret = ""
    page.save()
    assert signed_post(client, page, page_body([messenger_event("m_1")]), secret="").status_code == 403


@pytest.mark.django_db
def test_s2_signature_covers_the_raw_body_not_its_json_meaning(client, page):
    raw = json.dumps(page_body([messenger_event("m_1")]), indent=2).encode()
    assert signed_post(client, page, raw).status_code == 200


# --- bodies, batches and replays ---------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_batched_entries_become_one_update_per_message(client, page):
    body = page_body(
        [messenger_event("m_A1"), messenger_event("m_A2", psid="111")],
        [messenger_event("m_B1", psid="222")],
    )
    assert signed_post(client, page, body).json() == {"ok": True, "stored": 3, "duplicates": 0}
    assert set(InboundUpdate.objects.values_list("update_id", flat=True)) == {"m_A1", "m_A2", "m_B1"}


@pytest.mark.django_db
def test_s2_the_same_batch_delivered_three_times_is_stored_once(client, page):
    body = page_body([messenger_event("m_A1"), messenger_event("m_A2")])
    answers = [signed_post(client, page, body).json() for _ in range(3)]
    assert [a["stored"] for a in answers] == [2, 0, 0]
    assert InboundUpdate.objects.count() == 2


@pytest.mark.django_db
def test_s2_echoes_are_acknowledged_and_ignored_deliveries_and_reads_stored_as_receipts(client, page):
    echo = messenger_event("m_ECHO")
    echo["message"]["is_echo"] = True
    response = signed_post(client, page, page_body([echo]))
    assert response.status_code == 200
    assert response.json()["ignored"] is True
    delivery = {"sender": {"id": "1"}, "recipient": {"id": "104857600"}, "delivery": {"mids": ["m_1"], "watermark": 1}}
    read = {"sender": {"id": "1"}, "recipient": {"id": "104857600"}, "read": {"watermark": 1}}
    assert signed_post(client, page, page_body([echo, delivery, read])).json()["stored"] == 2
    assert set(InboundUpdate.objects.values_list("update_id", flat=True)) == {"delivery:1:1", "read:1:1"}


@pytest.mark.django_db
def test_s2_other_object_types_are_ignored(client, page):
    response = signed_post(client, page, {"object": "instagram", "entry": []})
    assert (response.status_code, response.json()["ignored"]) == (200, True)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"{oops",
        b"[]",
        json.dumps({"object": "page", "entry": "nope"}).encode(),
        json.dumps({"object": "page"}).encode(),
    ],
    ids=["broken", "array", "entry-not-list", "no-entry"],
)
def test_s2_malformed_meta_body_is_400(client, page, body):
    assert signed_post(client, page, body).status_code == 400
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_malformed_events_inside_a_batch_are_skipped(client, page):
    body = page_body([messenger_event("m_GOOD"), "not an event", {"message": {"mid": ["m_X"]}}, {"message": "text"}])
    assert signed_post(client, page, body).json()["stored"] == 1


@pytest.mark.django_db
def test_s2_a_batch_for_another_page_of_the_same_app_goes_to_that_pages_connector(client, page):
    other = ConnectorFactory(
        open_channel=OpenChannelFactory(), kind=ConnectorKind.FACEBOOK, account_id="555", app_secret=APP_SECRET
    )
    body = page_body([messenger_event("m_MINE")], [messenger_event("m_THEIRS", page_id="555")])
    body["entry"][1]["id"] = "555"
    body["entry"].append({"id": "777", "messaging": [messenger_event("m_NOBODY", page_id="777")]})
    assert signed_post(client, page, body).json()["stored"] == 2
    assert InboundUpdate.objects.get(update_id="m_MINE").connector == page
    assert InboundUpdate.objects.get(update_id="m_THEIRS").connector == other
    assert not InboundUpdate.objects.filter(update_id="m_NOBODY").exists()


@pytest.mark.django_db
def test_s2_whatsapp_messages_are_stored_by_wamid_and_statuses_by_wamid_and_state(client, whatsapp):
    body = whatsapp_body(wa_text("wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTdG"))
    body["entry"][0]["changes"][0]["value"]["statuses"] = [{"id": "wamid.OUT1", "status": "delivered"}]
    assert signed_post(client, whatsapp, body).json()["stored"] == 2
    statuses_only = whatsapp_body()
    statuses_only["entry"][0]["changes"][0]["value"]["statuses"] = [{"id": "wamid.OUT1", "status": "sent"}]
    assert signed_post(client, whatsapp, statuses_only).json()["ignored"] is True
    assert set(InboundUpdate.objects.values_list("update_id", flat=True)) == {
        "wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQTdG",
        "status:wamid.OUT1:delivered",
    }


@pytest.mark.django_db
def test_s2_very_long_provider_ids_are_hashed_to_fit(client, page):
    long_mid = "m_" + "x" * 300
    assert signed_post(client, page, page_body([messenger_event(long_mid)])).json()["stored"] == 1
    assert signed_post(client, page, page_body([messenger_event(long_mid)])).json()["stored"] == 0
    assert InboundUpdate.objects.get().update_id.startswith("sha256:")


# --- parsing ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_s2_messenger_text_and_attachments_parse(page):
    event = messenger_event("m_1", text="")
    del event["message"]["text"]
    event["message"]["attachments"] = [{"type": "image", "payload": {"url": "https://cdn.example/p/kettle.jpg?x=1"}}]
    [parsed] = get_source(page.kind).parse(page, {"event": event})
    assert parsed.external_user_id == "6028351927"
    assert parsed.source_message_id == "m_1"
    assert parsed.files == [IncomingFile(name="kettle.jpg", source_ref={"url": "https://cdn.example/p/kettle.jpg?x=1"})]


@pytest.mark.django_db
def test_s2_messenger_message_edit_parses_as_an_edit(page):
    event = {
        "sender": {"id": "6028351927"},
        "recipient": {"id": "104857600"},
        "timestamp": 1767225700000,
        "message_edit": {"mid": "m_1", "text": "Do you ship to Gdynia?", "num_edit": 1},
    }
    [parsed] = get_source(page.kind).parse(page, {"event": event})
    assert (parsed.kind, parsed.source_message_id, parsed.text) == ("edit", "m_1", "Do you ship to Gdynia?")


@pytest.mark.django_db
def test_s2_messenger_profile_gives_a_new_clients_name(page, provider):
    source = get_source(page.kind)
    [parsed] = source.parse(page, {"event": messenger_event("m_1")})
    source.complete_event(page, parsed, client_is_new=True)
    assert parsed.client_name == "Mai Tran"
    [call] = provider.calls("/graph/6028351927")
    assert call.query["access_token"] == ["EAAGpageTOKEN"]


@pytest.mark.django_db
def test_c1_whatsapp_sender_gives_name_and_international_phone(whatsapp):
    body = whatsapp_body(wa_text("wamid.1"))
    value = body["entry"][0]["changes"][0]["value"]
    payload = {"message": value["messages"][0], "contacts": value["contacts"], "metadata": value["metadata"]}
    [parsed] = get_source(whatsapp.kind).parse(whatsapp, payload)
    assert parsed.client_name == "Kerry Fisher"
    assert parsed.client_phone == "+16315551181"
    assert parsed.text == "Is my order on its way?"


@pytest.mark.django_db
def test_s2_whatsapp_image_is_fetched_through_the_media_api(whatsapp, provider):
    message = {
        "from": "16315551181",
        "id": "wamid.IMG",
        "timestamp": "1767225600",
        "type": "image",
        "image": {"caption": "Receipt", "mime_type": "image/jpeg", "sha256": "abc", "id": "media-1481"},
    }
    source = get_source(whatsapp.kind)
    [parsed] = source.parse(whatsapp, {"message": message, "contacts": []})
    assert parsed.text == "Receipt"
    [media] = parsed.files
    assert (media.mime_type, media.source_ref) == ("image/jpeg", {"media_id": "media-1481"})
    downloaded = source.download(whatsapp, media.source_ref, limit=1_000_000)
    assert (downloaded.content, downloaded.mime_type) == (PNG_BYTES, "image/jpeg")
    assert provider.calls("/graph/media-1481")[0].headers["authorization"] == "Bearer EAAGwaTOKEN"
    assert provider.calls("/graph/media-bytes/")[0].headers["authorization"] == "Bearer EAAGwaTOKEN"


@pytest.mark.django_db
def test_s2_whatsapp_reactions_and_unknown_types_give_no_message(whatsapp):
    reaction = {"from": "1", "id": "wamid.R", "type": "reaction", "reaction": {"message_id": "x", "emoji": "👍"}}
    assert get_source(whatsapp.kind).parse(whatsapp, {"message": reaction}) == []


# --- outbound ---------------------------------------------------------------------------------------


def queued_reply(connector, external_id: str, text: str = "Yes, we ship there.") -> Message:
    conversation = ConversationFactory(client=ClientFactory(connector=connector, external_id=external_id))
    return Message.objects.create(
        conversation=conversation,
        connector=connector,
        author_kind=Message.Author.OPERATOR,
        text=text,
        created_at=timezone.now(),
        delivery=Message.Delivery.QUEUED,
    )


@pytest.mark.django_db
def test_s2_messenger_reply_goes_through_the_send_api(page, provider):
    message = queued_reply(page, "6028351927")
    assert send_message.apply(args=[message.pk]).get() == "sent"
    [call] = provider.calls("/graph/104857600/messages")
    assert call.query["access_token"] == ["EAAGpageTOKEN"]
    assert call.json == {
        "recipient": {"id": "6028351927"},
        "messaging_type": "RESPONSE",
        "message": {"text": "Yes, we ship there."},
    }
    message.refresh_from_db()
    assert message.delivery == "sent"
    assert message.source_message_id.startswith("m_OUT")


@pytest.mark.django_db
def test_s2_whatsapp_reply_goes_through_the_messages_api(whatsapp, provider):
    message = queued_reply(whatsapp, "16315551181")
    assert send_message.apply(args=[message.pk]).get() == "sent"
    [call] = provider.calls("/graph/106540352242922/messages")
    assert call.headers["authorization"] == "Bearer EAAGwaTOKEN"
    assert call.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16315551181",
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, we ship there."},
    }


@pytest.mark.django_db
def test_s2_graph_rate_limit_is_retried_then_sent(whatsapp, provider):
    provider.fail(
        "/messages", 400, {"error": {"message": "Rate limit hit", "type": "OAuthException", "code": 130429}}, times=2
    )
    message = queued_reply(whatsapp, "16315551181")
    assert send_message.apply(args=[message.pk]).get() == "sent"
    message.refresh_from_db()
    assert (message.delivery, message.delivery_attempts) == ("sent", 3)


@pytest.mark.django_db
def test_s2_expired_page_token_fails_at_once_with_the_graph_error(page, provider):
    error = {"message": "Error validating access token", "type": "OAuthException", "code": 190, "fbtrace_id": "A1"}
    provider.fail("/messages", 400, {"error": error})
    message = queued_reply(page, "6028351927")
    assert send_message.apply(args=[message.pk]).get() == "failed"
    message.refresh_from_db()
    assert (message.delivery, message.delivery_attempts) == ("failed", 1)
    assert message.delivery_error == "Graph API error 190: Error validating access token"


@pytest.mark.django_db
def test_o5_messenger_registration_subscribes_the_page(page, provider):
    result = get_source(page.kind).register_webhook(page, "https://cc.example.com/webhooks/meta/1/")
    assert result.ok and result.automatic
    [call] = provider.calls("/graph/104857600/subscribed_apps")
    assert call.query["subscribed_fields"] == [
        "messages,message_edits,messaging_postbacks,message_deliveries,message_reads"
    ]
