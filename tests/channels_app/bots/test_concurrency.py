"""One responder at a time (B1) under concurrent client messages, on the real PostgreSQL with threads.

Every thread delivers one message of the same client through the inbound
service, exactly as a webhook worker does; Celery runs eagerly, so each
message's bot turn runs in its thread right after the message commits, as a
worker would run it in parallel with the others.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.utils import timezone

from channels_app.connectors.processing import TRANSIENT_DB_ERRORS
from channels_app.engine import inbound
from channels_app.models import Chatbot, Conversation, ConversationStatus, Message, Offer, StatusChange
from contact_center.celery import app as celery_app
from tests.channels_app.bots.support import FakeBotServer, bot_channel, make_chatbot, status_path
from tests.factories import OperatorFactory

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 8
DELIVERY_ATTEMPTS = 3


@pytest.fixture(autouse=True)
def eager_celery_and_local_events(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


def send_together(channel, texts: list[str], visitor: str = "visitor-1") -> list[BaseException]:
    """Deliver ``texts`` from one client at the same instant, one thread each; returns the threads' errors.

    A delivery that PostgreSQL aborts as a deadlock victim is delivered again,
    as the webhook task does (``autoretry_for=TRANSIENT_DB_ERRORS``); the
    source message id makes the retry safe.
    """
    connector = channel.connectors.get()
    start = threading.Barrier(len(texts))
    errors: list[BaseException] = []

    def deliver(index: int, text: str) -> None:
        try:
            start.wait()
            for attempt in range(DELIVERY_ATTEMPTS):
                try:
                    inbound.message_receive(
                        connector=connector,
                        external_user_id=visitor,
                        text=text,
                        source_message_id=f"{visitor}-{index}",
                        now=timezone.now(),
                    )
                    return
                except TRANSIENT_DB_ERRORS:
                    if attempt == DELIVERY_ATTEMPTS - 1:
                        raise
        except BaseException as error:  # reported to the test, never swallowed
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(index, text)) for index, text in enumerate(texts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a delivery is stuck"
    return errors


def assert_one_responder(conversation: Conversation) -> None:
    """Exactly one hand-over, the bot silent after it, and no operator offer before it."""
    conversation.refresh_from_db()
    handovers = StatusChange.objects.filter(conversation=conversation, from_status="bot")
    assert handovers.count() == 1
    assert handovers.get().to_status == "queued"
    assert status_path(conversation)[:3] == ["bot", "queued", "offered"]
    bot_messages = list(
        Message.objects.filter(conversation=conversation, author_kind=Message.Author.BOT).order_by("id")
    )
    assert bot_messages[-1].system_key == "bot_handover"  # nothing from the bot after the hand-over
    assert conversation.bot_handed_over_at is not None
    assert not Offer.objects.filter(conversation=conversation, created_at__lt=conversation.bot_handed_over_at).exists()
    assert Offer.objects.filter(conversation=conversation).count() == 1


def test_B1_rule_bot_one_responder_under_concurrent_messages():
    olga = OperatorFactory(username="olga")
    chatbot = make_chatbot(greeting="Cześć! Jestem botem.", max_unmatched=3, rules={"cena": "Kosztuje 10 zł."})
    channel = bot_channel(chatbot, [olga], language="pl")

    errors = send_together(channel, [f"pytanie numer {index}" for index in range(MESSAGES)])
    assert errors == []

    conversation = Conversation.objects.get()
    assert Message.objects.filter(conversation=conversation, author_kind=Message.Author.CLIENT).count() == MESSAGES
    assert_one_responder(conversation)
    # One greeting, two misses answered, the third miss hands over: every turn counted exactly once.
    assert conversation.bot_unmatched_count == 3
    bot_keys = list(
        Message.objects.filter(conversation=conversation, author_kind=Message.Author.BOT)
        .order_by("id")
        .values_list("system_key", flat=True)
    )
    assert len(bot_keys) == 4
    assert Message.objects.filter(conversation=conversation, text="Cześć! Jestem botem.").count() == 1
    assert conversation.status == ConversationStatus.OFFERED
    assert Offer.objects.get(conversation=conversation).operator == olga


def test_B1_external_bot_one_responder_under_concurrent_messages():
    olga = OperatorFactory(username="olga")
    answered = []
    lock = threading.Lock()

    def respond(event: dict) -> tuple[int, dict]:
        with lock:
            answered.append(event["message"]["id"])
            hand_over = len(answered) == 2
        return 200, {"texts": [f"echo: {event['message']['text']}"], "handover": hand_over}

    with FakeBotServer(respond) as server:
        chatbot = make_chatbot(Chatbot.Kind.EXTERNAL, endpoint_url=server.url, timeout_seconds=10)
        channel = bot_channel(chatbot, [olga])
        errors = send_together(channel, [f"question {index}" for index in range(MESSAGES)])
        events = server.events
    assert errors == []

    conversation = Conversation.objects.get()
    assert_one_responder(conversation)
    # Turns of one conversation run one at a time: after the hand-over the bot got no further event.
    assert len(events) == 2
    assert len({event["message"]["id"] for event in events}) == 2
    bot_texts = list(
        Message.objects.filter(conversation=conversation, author_kind=Message.Author.BOT)
        .order_by("id")
        .values_list("text", flat=True)
    )
    assert bot_texts == [
        f"echo: {events[0]['message']['text']}",
        f"echo: {events[1]['message']['text']}",
        "Connecting you to an operator.",
    ]


def test_B1_an_answer_that_arrives_after_the_bot_handed_over_through_the_api_is_dropped():
    olga = OperatorFactory(username="olga")
    api_answers = []

    def respond(event: dict) -> tuple[int, dict]:
        # The bot hands over through the REST API while it is still answering the event.
        try:
            http = HttpClient(HTTP_AUTHORIZATION=f"Bearer {chatbot.api_token}")
            response = http.post(event["api"]["handover_url"].removeprefix("http://127.0.0.1:8000"), {})
            api_answers.append(response.status_code)
        finally:
            connection.close()
        return 200, {"texts": ["too late"]}

    with FakeBotServer(respond) as server:
        chatbot = make_chatbot(Chatbot.Kind.EXTERNAL, endpoint_url=server.url)
        channel = bot_channel(chatbot, [olga])
        errors = send_together(channel, ["hello"])
    assert errors == []
    assert api_answers == [200]

    conversation = Conversation.objects.get()
    assert_one_responder(conversation)
    assert not Message.objects.filter(conversation=conversation, text="too late").exists()
