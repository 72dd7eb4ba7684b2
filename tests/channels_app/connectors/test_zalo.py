"""Zalo Official Account connector (S2): X-ZEvent-Signature, events, replays and the send API.

Event bodies are shaped as in the Zalo OA webhook documentation
(``user_send_text``, ``user_send_image``, ``follow``).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.utils import timezone

from channels_app.connectors import get_source
from channels_app.models import ConnectorKind, InboundUpdate, Message
from channels_app.tasks import send_message
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory

OA_SECRET = "oa-secret-key-xyz"
APP_ID = "360846524940903967"


@pytest.fixture
def oa(open_channel):
    return ConnectorFactory(
        open_channel=open_channel,
        kind=ConnectorKind.ZALO,
        account_id="388613280878808645",
        access_token="zalo-oa-access-token",
        app_secret=OA_SECRET,
    )


def zalo_text_event(msg_id: str, text: str = "Xin chào, shop còn hàng không?") -> dict:
    return {
        "app_id": APP_ID,
        "sender": {"id": "246845883529197922"},
        "user_id_by_app": "552177279717587730",
        "recipient": {"id": "388613280878808645"},
        "event_name": "user_send_text",
        "message": {"text": text, "msg_id": msg_id},
        "timestamp": "1767225600000",
    }


def signed(event: dict, secret: str = OA_SECRET) -> tuple[bytes, str]:
    raw = json.dumps(event, ensure_ascii=False).encode()
    mac = hashlib.sha256(event["app_id"].encode() + raw + event["timestamp"].encode() + secret.encode()).hexdigest()
    return raw, f"mac={mac}"


def post(client, oa, raw: bytes, signature: str | None):
    headers = {"HTTP_X_ZEVENT_SIGNATURE": signature} if signature is not None else {}
    return client.post(f"/webhooks/zalo/{oa.pk}/", data=raw, content_type="application/json", **headers)


@pytest.mark.django_db
def test_s2_zalo_event_with_a_valid_mac_is_stored_by_msg_id(client, oa):
    raw, signature = signed(zalo_text_event("96d3cdf3af150460909"))
    response = post(client, oa, raw, signature)
    assert response.status_code == 200
    assert InboundUpdate.objects.get(connector=oa).update_id == "96d3cdf3af150460909"


@pytest.mark.django_db
def test_s2_zalo_mac_without_its_prefix_is_accepted(client, oa):
    raw, signature = signed(zalo_text_event("m1"))
    assert post(client, oa, raw, signature.removeprefix("mac=")).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["missing", "empty", "other-secret", "tampered-body"])
def test_s2_zalo_missing_or_forged_mac_is_403(client, oa, kind):
    event = zalo_text_event("m1")
    raw, signature = signed(event, "someone-else" if kind == "other-secret" else OA_SECRET)
    if kind == "tampered-body":
        raw = raw.replace("còn hàng".encode(), b"free stuff")
    signature = {"missing": None, "empty": ""}.get(kind, signature)
    assert post(client, oa, raw, signature).status_code == 403
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_zalo_without_oa_secret_refuses_everything(client, oa):
    oa.app_secret = ""
    oa.save()
    raw, signature = signed(zalo_text_event("m1"), "")
    assert post(client, oa, raw, signature).status_code == 403


@pytest.mark.django_db
def test_s2_zalo_malformed_body_is_400(client, oa):
    # Not JSON, so no app_id or timestamp: signed over the body and the secret alone, or else refused (issue 13).
    not_json = b"{not json"
    assert post(client, oa, not_json, "mac=abc").status_code == 403
    mac = hashlib.sha256(not_json + OA_SECRET.encode()).hexdigest()
    assert post(client, oa, not_json, f"mac={mac}").status_code == 400
    event = zalo_text_event("m1")
    del event["message"]["msg_id"]
    raw, signature = signed(event)
    assert post(client, oa, raw, signature).status_code == 400
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_zalo_follow_and_oa_echo_events_are_ignored(client, oa):
    follow = {
        "app_id": APP_ID,
        "oa_id": "388613280878808645",
        "follower": {"id": "246845883529197922"},
        "event_name": "follow",
        "source": "testing_webhook",
        "timestamp": "1767225600000",
    }
    echo = zalo_text_event("m2") | {"event_name": "oa_send_text"}
    for event in (follow, echo):
        raw, signature = signed(event)
        response = post(client, oa, raw, signature)
        assert (response.status_code, response.json()["ignored"]) == (200, True)
    assert not InboundUpdate.objects.exists()


@pytest.mark.django_db
def test_s2_zalo_same_event_three_times_is_stored_once(client, oa):
    raw, signature = signed(zalo_text_event("m1"))
    stored = [post(client, oa, raw, signature).json()["stored"] for _ in range(3)]
    assert stored == [1, 0, 0]


@pytest.mark.django_db
def test_s2_zalo_image_event_parses_to_an_attachment(oa):
    event = zalo_text_event("m3", text="")
    event["event_name"] = "user_send_image"
    event["message"]["attachments"] = [
        {"type": "image", "payload": {"thumbnail": "https://z.example/t.jpg", "url": "https://z.example/full.jpg"}}
    ]
    [parsed] = get_source(oa.kind).parse(oa, event)
    assert parsed.external_user_id == "246845883529197922"
    [image] = parsed.files
    assert (image.name, image.source_ref) == ("image_m3_0.jpg", {"url": "https://z.example/full.jpg"})


def queued_reply(oa) -> Message:
    conversation = ConversationFactory(client=ClientFactory(connector=oa, external_id="246845883529197922"))
    return Message.objects.create(
        conversation=conversation,
        connector=oa,
        author_kind=Message.Author.OPERATOR,
        text="Dạ còn hàng ạ.",
        created_at=timezone.now(),
        delivery=Message.Delivery.QUEUED,
    )


@pytest.mark.django_db
def test_s2_zalo_reply_goes_through_the_customer_service_api(oa, provider):
    message = queued_reply(oa)
    assert send_message.apply(args=[message.pk]).get() == "sent"
    [call] = provider.calls("/zalo/v3.0/oa/message/cs")
    assert call.headers["access_token"] == "zalo-oa-access-token"
    assert call.json == {"recipient": {"user_id": "246845883529197922"}, "message": {"text": "Dạ còn hàng ạ."}}
    message.refresh_from_db()
    assert message.source_message_id.startswith("zmsg")


@pytest.mark.django_db
def test_s2_zalo_refusal_in_a_200_answer_fails_the_message(oa, provider):
    provider.fail("/oa/message/cs", 200, {"error": -216, "message": "Access token is invalid"})
    message = queued_reply(oa)
    assert send_message.apply(args=[message.pk]).get() == "failed"
    message.refresh_from_db()
    assert message.delivery_error == "Zalo error -216: Access token is invalid"


@pytest.mark.django_db
def test_s2_zalo_server_error_is_retried(oa, provider):
    provider.fail("/oa/message/cs", 503, b"<html>busy</html>")
    message = queued_reply(oa)
    assert send_message.apply(args=[message.pk]).get() == "sent"
    message.refresh_from_db()
    assert message.delivery_attempts == 2
