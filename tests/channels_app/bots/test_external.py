"""The external HTTP bot (B1, B2) against a real local HTTP server: signed events, answers, failures."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from channels_app.bots.external import MAX_ANSWER_BYTES, verify_signature
from channels_app.models import Chatbot, ConversationStatus, Message, Offer, StatusChange
from tests.channels_app.bots.support import (
    HANG,
    FakeBotServer,
    bot_channel,
    bot_texts,
    bot_turns,
    closed_port_url,
    make_chatbot,
    run_turns,
    status_path,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import NOW, make_operator

__all__ = ["bot_turns"]  # the fixture, imported for pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def olga(db):
    return make_operator("olga")


def external_bot(url: str, **fields) -> Chatbot:
    fields.setdefault("timeout_seconds", 5)
    return make_chatbot(Chatbot.Kind.EXTERNAL, name="Helpdesk AI", endpoint_url=url, **fields)


def handover_reason(conversation) -> str:
    return StatusChange.objects.get(conversation=conversation, to_status="queued").reason


def test_B1_external_bot_receives_a_signed_event_and_answers_in_its_response(engine, bot_turns, olga, settings):
    settings.SITE_URL = "https://support.example.com"
    with FakeBotServer(lambda event: (200, {"texts": ["Cześć!", "W czym mogę pomóc?"]})) as server:
        chatbot = external_bot(server.url)
        channel = bot_channel(chatbot, [olga], language="pl")
        conversation = engine.receive(channel, text="Dzień dobry, ile kosztuje dostawa?")
        assert run_turns(engine, bot_turns) == ["answered"]

    [received] = server.received
    expected = "sha256=" + hmac.new(chatbot.signing_secret.encode(), received.body, hashlib.sha256).hexdigest()
    assert received.headers["X-Bot-Signature"] == expected
    assert verify_signature(chatbot.signing_secret, received.body, received.headers["X-Bot-Signature"])
    assert not verify_signature("another secret", received.body, received.headers["X-Bot-Signature"])
    event = received.event
    # The timestamp is inside the signed body too, so it cannot be changed to replay an old event.
    assert received.headers["X-Bot-Timestamp"] == str(event["sent_at"]) == str(int(NOW.timestamp()))
    assert received.headers["X-Bot-Event"] == event["type"] == "message.created"
    message = Message.objects.get(conversation=conversation, author_kind=Message.Author.CLIENT)
    assert event["event_id"] == f"message-{message.pk}"
    assert event["message"]["text"] == "Dzień dobry, ile kosztuje dostawa?"
    assert event["conversation"]["id"] == conversation.pk
    assert event["conversation"]["language"] == "pl"
    assert event["conversation"]["source"] == "livechat"
    assert event["api"] == {
        "reply_url": f"https://support.example.com/api/bots/conversations/{conversation.pk}/messages/",
        "handover_url": f"https://support.example.com/api/bots/conversations/{conversation.pk}/handover/",
    }
    assert bot_texts(conversation) == ["Cześć!", "W czym mogę pomóc?"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT
    assert not Offer.objects.filter(conversation=conversation).exists()


def test_B1_external_bot_hands_over_in_its_response(engine, bot_turns, olga):
    answer = {"texts": ["Przekazuję do konsultanta."], "handover": True, "reason": "asked about a refund"}
    with FakeBotServer(lambda event: (200, answer)) as server:
        channel = bot_channel(external_bot(server.url, handover_text=""), [olga])
        conversation = engine.receive(channel, text="zwrot pieniędzy")
        assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert bot_texts(conversation) == ["Przekazuję do konsultanta."]
    assert handover_reason(conversation) == "chatbot handed over: asked about a refund"
    assert status_path(conversation) == ["bot", "queued", "offered"]


@pytest.mark.parametrize(
    ("status", "answer", "reason"),
    [
        (500, {"error": "boom"}, "the bot answered HTTP 500"),
        (503, None, "the bot answered HTTP 503"),
        (404, None, "the bot answered HTTP 404"),
        (302, None, "the bot answered HTTP 302"),
        (200, b"<html>hi</html>", "the bot's answer is not JSON"),
        (200, b"[1, 2]", "the bot's answer is not a JSON object"),
        (200, {"texts": "hello"}, "“texts” must be a list of non-empty strings"),
        (200, {"texts": ["ok", "  "]}, "“texts” must be a list of non-empty strings"),
        (200, {"texts": ["x"] * 11}, "at most 10 texts per answer"),
        (200, {"handover": "yes"}, "“handover” must be true or false"),
        (200, b"x" * (MAX_ANSWER_BYTES + 1), f"the bot's answer is longer than {MAX_ANSWER_BYTES} bytes"),
        (200, b'{"texts": ' + b"[" * 5000 + b"]" * 5000 + b"}", "the bot's answer is nested too deeply"),
    ],
)
def test_B1_a_failing_external_bot_hands_over(engine, bot_turns, olga, status, answer, reason):
    with FakeBotServer(lambda event: (status, answer)) as server:
        channel = bot_channel(external_bot(server.url), [olga])
        conversation = engine.receive(channel, text="hello")
        assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert handover_reason(conversation) == f"chatbot handed over: failed: {reason}"[:120]
    # Nothing of the broken answer reached the client; the hand-over text did.
    assert bot_texts(conversation) == ["Connecting you to an operator."]


def test_B1_an_external_bot_that_times_out_hands_over(engine, bot_turns, olga):
    with FakeBotServer(lambda event: (200, HANG)) as server:
        channel = bot_channel(external_bot(server.url, timeout_seconds=1), [olga])
        conversation = engine.receive(channel, text="hello")
        assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert handover_reason(conversation) == "chatbot handed over: failed: the bot did not answer within 1 s"


def test_B1_an_unreachable_external_bot_hands_over(engine, bot_turns, olga):
    channel = bot_channel(external_bot(closed_port_url()), [olga])
    conversation = engine.receive(channel, text="hello")
    assert run_turns(engine, bot_turns) == ["handed_over"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert handover_reason(conversation) == "chatbot handed over: failed: could not reach the bot (ConnectError)"


def test_B1_an_empty_answer_means_the_bot_replies_later_through_the_api(engine, bot_turns, olga):
    with FakeBotServer(lambda event: (202, None)) as server:
        channel = bot_channel(external_bot(server.url), [olga])
        conversation = engine.receive(channel, text="hello")
        assert run_turns(engine, bot_turns) == ["awaiting_bot"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.BOT
    assert bot_texts(conversation) == []


def test_B1_after_the_handover_the_external_bot_receives_no_more_events(engine, bot_turns, olga):
    with FakeBotServer(lambda event: (200, {"handover": True})) as server:
        channel = bot_channel(external_bot(server.url), [olga])
        conversation = engine.receive(channel, text="first")
        first_message = Message.objects.get(conversation=conversation).pk
        engine.receive(channel, visitor="visitor-1", text="second, sent before the bot answered")
        assert run_turns(engine, bot_turns) == ["handed_over", "not_with_bot"]
        engine.receive(channel, visitor="visitor-1", text="third, after the hand-over")
        assert run_turns(engine, bot_turns) == []
        assert [event["message"]["text"] for event in server.events] == ["first"]
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert json.loads(server.received[0].body)["event_id"] == f"message-{first_message}"


def test_B2_external_bot_that_does_not_support_open_channels_is_never_called(engine, bot_turns, olga):
    with FakeBotServer(lambda event: (200, {"texts": ["hi"]})) as server:
        chatbot = external_bot(server.url)
        channel = bot_channel(chatbot, [olga])
        conversation = engine.receive(channel, text="hello")
        Chatbot.objects.filter(pk=chatbot.pk).update(supports_open_channels=False)
        assert run_turns(engine, bot_turns) == ["handed_over"]
        assert server.received == []
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
