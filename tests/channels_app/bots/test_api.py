"""The REST API external bots use to reply and hand over (B1): auth, ownership, state, idempotency, schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from channels_app.models import Chatbot, ConversationStatus, Message, Offer
from tests.channels_app.bots.support import bot_channel, bot_texts, bot_turns, make_chatbot
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator

__all__ = ["bot_turns"]  # the fixture, imported for pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(db):
    return make_operator("olga")


@pytest.fixture
def chatbot(db):
    return make_chatbot(Chatbot.Kind.EXTERNAL, name="Helpdesk AI", endpoint_url="http://127.0.0.1:9/bot")


@pytest.fixture
def conversation(engine, bot_turns, olga, chatbot):
    """A conversation the external bot holds; its first message waits for the bot's answer."""
    return engine.receive(bot_channel(chatbot, [olga]), text="Hello, bot")


def api(token: str | None) -> APIClient:
    client = APIClient()
    if token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def reply_url(conversation_id: int) -> str:
    return f"/api/bots/conversations/{conversation_id}/messages/"


def handover_url(conversation_id: int) -> str:
    return f"/api/bots/conversations/{conversation_id}/handover/"


# --- replying -------------------------------------------------------------------------------------------------


def test_B1_bot_replies_through_the_api(engine, chatbot, conversation):
    response = api(chatbot.api_token).post(reply_url(conversation.pk), {"text": " Xin chào! "}, format="json")
    assert response.status_code == 201, response.content
    message = Message.objects.get(conversation=conversation, author_kind=Message.Author.BOT)
    assert response.json() == {
        "id": message.pk,
        "conversation_id": conversation.pk,
        "text": "Xin chào!",
        "created_at": response.json()["created_at"],
    }
    assert message.text == "Xin chào!"
    assert message.created_at == engine.clock.now()


def test_B1_bot_reply_with_an_idempotency_key_is_sent_once(chatbot, conversation):
    client = api(chatbot.api_token)
    body = {"text": "One answer", "idempotency_key": "evt-42:1"}
    first = client.post(reply_url(conversation.pk), body, format="json")
    again = client.post(reply_url(conversation.pk), body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert bot_texts(conversation) == ["One answer"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": ""}, "text"),
        ({}, "text"),
        ({"text": "x" * 20_001}, "text"),
        ({"text": "ok", "idempotency_key": "has spaces"}, "detail"),
        ({"text": "ok", "idempotency_key": "k" * 41}, "idempotency_key"),
    ],
)
def test_B1_bot_reply_with_bad_input_is_refused_and_stores_nothing(chatbot, conversation, body, field):
    response = api(chatbot.api_token).post(reply_url(conversation.pk), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert bot_texts(conversation) == []


def test_B1_bot_api_refuses_malformed_json(chatbot, conversation):
    response = api(chatbot.api_token).post(reply_url(conversation.pk), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert bot_texts(conversation) == []


# --- authentication and ownership ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer not-a-token", 401),
        ("Bearer", 401),
        ("Bearer two words", 401),
        ("Token whatever", 401),
    ],
)
def test_B1_bot_api_needs_a_valid_token(conversation, authorization, status):
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.post(reply_url(conversation.pk), {"text": "hi"}, format="json")
    assert response.status_code == status
    assert response["WWW-Authenticate"] == 'Bearer realm="chatbots"'
    assert response.json()["detail"]
    assert bot_texts(conversation) == []


def test_B1_a_switched_off_bot_cannot_act(chatbot, conversation):
    Chatbot.objects.filter(pk=chatbot.pk).update(is_active=False)
    response = api(chatbot.api_token).post(reply_url(conversation.pk), {"text": "hi"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "This chatbot is switched off."}


def test_B1_a_bot_cannot_act_on_another_bots_conversation(chatbot, conversation):
    intruder = make_chatbot(Chatbot.Kind.EXTERNAL, name="Other bot", endpoint_url="http://127.0.0.1:9/other")
    client = api(intruder.api_token)
    for url, body in ((reply_url(conversation.pk), {"text": "hi"}), (handover_url(conversation.pk), {})):
        response = client.post(url, body, format="json")
        assert response.status_code == 403
        assert response.json() == {
            "detail": "This conversation belongs to an open channel that does not use this chatbot."
        }
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT
    assert bot_texts(conversation) == []


def test_B1_a_bot_cannot_act_on_a_conversation_without_a_bot(engine, chatbot, olga):
    plain = engine.receive(make_channel([olga]), text="hello")
    response = api(chatbot.api_token).post(reply_url(plain.pk), {"text": "hi"}, format="json")
    assert response.status_code == 403


def test_B1_a_conversation_that_never_went_to_the_bot_is_409(engine, chatbot, olga):
    channel = bot_channel(chatbot, [olga])
    channel.chatbot_enabled = False  # assigned, but switched off
    channel.save(update_fields=["chatbot_enabled"])
    queued = engine.receive(channel, text="hello")
    response = api(chatbot.api_token).post(reply_url(queued.pk), {"text": "hi"}, format="json")
    assert (response.status_code, response.json()) == (409, {"detail": "This conversation is not with the chatbot."})


@pytest.mark.parametrize("conversation_id", [999_999, 10**20])
def test_B1_unknown_conversation_is_404(chatbot, conversation, conversation_id):
    response = api(chatbot.api_token).post(reply_url(conversation_id), {"text": "hi"}, format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "This conversation does not exist."}


# --- hand-over ------------------------------------------------------------------------------------------------


def test_B1_bot_hands_over_through_the_api_then_can_no_longer_act(
    chatbot, conversation, olga, django_capture_on_commit_callbacks
):
    client = api(chatbot.api_token)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(handover_url(conversation.pk), {"reason": "billing question"}, format="json")
    assert response.status_code == 200
    # Routing runs after the hand-over commits: the answer says "queued", the offer follows at once.
    assert response.json() == {"conversation_id": conversation.pk, "status": "queued"}
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert Offer.objects.get(conversation=conversation).operator == olga
    assert conversation.status_changes.get(to_status="queued").reason == "chatbot handed over: billing question"

    again = client.post(handover_url(conversation.pk), {}, format="json")
    late = client.post(reply_url(conversation.pk), {"text": "one more thing"}, format="json")
    handed_over = "This conversation was handed over to the operators; the chatbot can no longer act on it."
    assert (again.status_code, again.json()) == (409, {"detail": handed_over})
    assert (late.status_code, late.json()) == (409, {"detail": handed_over})
    assert bot_texts(conversation) == ["Connecting you to an operator."]


def test_B1_a_repeated_reply_after_the_handover_still_returns_the_first_message(
    chatbot, conversation, django_capture_on_commit_callbacks
):
    client = api(chatbot.api_token)
    body = {"text": "Done", "idempotency_key": "evt-7"}
    first = client.post(reply_url(conversation.pk), body, format="json")
    client.post(handover_url(conversation.pk), {}, format="json")
    retry = client.post(reply_url(conversation.pk), body, format="json")
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["id"] == first.json()["id"]


def test_B1_handover_reason_is_checked(chatbot, conversation):
    response = api(chatbot.api_token).post(handover_url(conversation.pk), {"reason": "r" * 101}, format="json")
    assert response.status_code == 400
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT


# --- OpenAPI ----------------------------------------------------------------------------------------------------


def test_B1_bot_api_is_in_the_openapi_schema_with_bearer_auth(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for action in ("messages", "handover"):
        operation = schema["paths"][f"/api/bots/conversations/{{conversation_id}}/{action}/"]["post"]
        assert operation["security"] == [{"chatbotToken": []}]
        assert {"200", "401", "403", "409"} <= set(operation["responses"])
    assert schema["components"]["securitySchemes"]["chatbotToken"]["scheme"] == "bearer"
    reply = schema["paths"]["/api/bots/conversations/{conversation_id}/messages/"]["post"]
    assert "201" in reply["responses"]
    assert "X-Bot-Signature" in reply["description"]
