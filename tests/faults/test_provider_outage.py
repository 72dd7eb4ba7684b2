"""A messenger's API unreachable for a while (issue 21): intake goes on, replies wait, then go out once, in order.

Real processes: uvicorn, a Celery worker, Redis, PostgreSQL; the providers
are local fakes. Telegram's "outage" is its fake refusing every connection
(nothing listens on its address); Meta's fake stays up. The operator is a
console client speaking the console's protocol over the real socket.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest
from django.utils import timezone

from channels_app.engine import jobs
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.models import Connector, ConnectorKind, Message, Offer
from tests.channels_app.connectors.fake_provider import FakeProvider
from tests.channels_app.connectors.test_meta import messenger_event, page_body
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.faults.conftest import ConsoleClient, session_cookie
from tests.faults.servers import CeleryWorker, Uvicorn, server_environment, wait_until
from tests.faults.servers import publisher as celery_publisher

pytestmark = pytest.mark.django_db(transaction=True)

APP_SECRET = "meta-app-secret-outage"
# What "usual latency" means here: webhook in, operator's socket out, on a shared 2-core machine.
USUAL_LATENCY_SECONDS = 3.0


@pytest.fixture
def providers():
    with FakeProvider() as telegram_api, FakeProvider() as meta_api:
        yield telegram_api, meta_api


@pytest.fixture
def support(transactional_db):
    """Olga holds three Telegram conversations in “Support”, which also has a Messenger page."""
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    bot = ConnectorFactory(
        open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id="7000041", access_token="7000041:TOKEN"
    )
    page = ConnectorFactory(
        open_channel=channel,
        kind=ConnectorKind.FACEBOOK,
        account_id="104857600",
        access_token="EAAGpage",
        app_secret=APP_SECRET,
    )
    held = []
    for chat_id in ("9101", "9102", "9103"):
        conversation = message_receive(
            connector=bot, external_user_id=chat_id, text="Hello", source_message_id=f"m{chat_id}", now=timezone.now()
        ).conversation
        offer_accept(offer_id=Offer.objects.get(conversation=conversation).pk, operator=olga, now=timezone.now())
        held.append(conversation)
    return olga, bot, page, held


@pytest.fixture
def running(support, providers, private_redis, test_database_url, tmp_path):
    olga, _bot, _page, _held = support
    telegram_api, meta_api = providers
    environment = server_environment(
        database_url=test_database_url,
        redis_url=private_redis.url,
        TELEGRAM_API_BASE=telegram_api.url,
        META_GRAPH_API_BASE=meta_api.url + "/graph",
        CONNECTOR_BREAKER_FAILURES="2",
        CONNECTOR_BREAKER_PROBE_SECONDS="2",
        CONNECTOR_HTTP_TIMEOUT_SECONDS="1",
    )
    server = Uvicorn(environment, tmp_path / "uvicorn.log").start()
    worker = CeleryWorker(environment, tmp_path / "worker.log", concurrency=2).start()
    console = ConsoleClient(server.url, server.ws_url, session_cookie(olga))
    # Beat's part, played by hand: the recovery probe every few seconds.
    beat = celery_publisher(private_redis.broker_url)
    try:
        console.connect()
        console.resync()
        yield server, worker, console, beat
    finally:
        console.close()
        worker.stop()
        server.stop()


def telegram_text(update_id: int, *, chat_id: int, text: str) -> dict:
    sender = {"id": chat_id, "is_bot": False, "first_name": "Zofia"}
    chat = {"id": chat_id, "first_name": "Zofia", "type": "private"}
    message = {"message_id": update_id, "from": sender, "chat": chat, "date": int(time.time()), "text": text}
    return {"update_id": update_id, "message": message}


def post_telegram(server: Uvicorn, bot: Connector, update: dict) -> float:
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/webhooks/telegram/{bot.pk}/",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": bot.webhook_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return started


def post_messenger(server: Uvicorn, page: Connector, event: dict) -> float:
    raw = json.dumps(page_body([event])).encode()
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    started = time.monotonic()
    response = httpx.post(
        f"{server.url}/webhooks/meta/{page.pk}/",
        content=raw,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return started


def reached_olga(console: ConsoleClient, started: float, predicate, what: str) -> float:
    console.wait_for(predicate, timeout=30, what=what)
    return time.monotonic() - started


def test_an_outage_of_one_provider_stops_neither_intake_nor_replies_which_go_out_once_in_order(
    support, providers, running
):
    _olga, bot, page, held = support
    telegram_api, _meta_api = providers
    server, worker, console, beat = running

    # 1. Telegram stops answering; Olga answers her three clients twice each.
    telegram_api.refuse_connections()
    for round_ in (1, 2):
        for conversation in held:
            answer = console.request("send", conversation_id=conversation.pk, text=f"{conversation.pk}: reply {round_}")
            assert answer["type"] == "ack", answer
    frame = console.wait_for(
        lambda f: f.get("type") == "connector.reachability" and f["connector_id"] == bot.pk,
        timeout=30,
        what="the console to hear Telegram is unreachable",
    )
    assert frame["unreachable"] is True
    wait_until(
        lambda: not Message.objects.filter(connector=bot, author_kind="operator", delivery_error="").exists(),
        timeout=30,
        what="every reply to be shown delayed",
    )
    bot.refresh_from_db()
    assert bot.is_unreachable and "ConnectError" in bot.transport_error
    assert set(Message.objects.filter(connector=bot, author_kind="operator").values_list("delivery", flat=True)) == {
        "queued"
    }

    # 2. Intake goes on at its usual pace: the same source, and another one that needs the worker (a new
    #    Messenger client, whose name Celery asks Meta for).
    same_source = reached_olga(
        console,
        post_telegram(server, bot, telegram_text(990001, chat_id=9101, text="Are you there?")),
        lambda f: f.get("type") == "message.created" and f["message"]["text"] == "Are you there?",
        "the Telegram client's message during the outage",
    )
    other_source = reached_olga(
        console,
        post_messenger(server, page, messenger_event("m_outage", text="Do you ship to Gdańsk?", psid="6028351927")),
        lambda f: f.get("type") == "offer.created",
        "the new Messenger client's offer during the outage",
    )
    assert same_source < USUAL_LATENCY_SECONDS, f"same source took {same_source:.2f}s"
    assert other_source < USUAL_LATENCY_SECONDS, f"another source took {other_source:.2f}s"

    # 3. Telegram answers again; the next probe sends the oldest reply, then the rest follow.
    telegram_api.accept_connections()

    def all_sent() -> bool:
        beat.send_task(jobs.PROBE_CONNECTORS)
        replies = Message.objects.filter(connector=bot, author_kind="operator")
        return set(replies.values_list("delivery", flat=True)) == {"sent"}

    wait_until(all_sent, timeout=60, interval=1, what=f"every reply to go out after the outage:\n{worker.log_tail()}")
    frame = console.wait_for(
        lambda f: f.get("type") == "connector.reachability" and f["unreachable"] is False,
        timeout=15,
        what="the console to hear Telegram answers again",
    )
    for conversation in held:
        chat_id = conversation.client.external_id
        # Each reply starts with the operator's name line ("Olga:").
        texts = [
            c.json["text"].splitlines()[-1]
            for c in telegram_api.calls("/sendMessage")
            if str(c.json["chat_id"]) == chat_id
        ]
        assert texts == [f"{conversation.pk}: reply 1", f"{conversation.pk}: reply 2"], "each once, in order"
    bot.refresh_from_db()
    assert not bot.is_unreachable


def test_a_provider_answering_after_the_timeout_then_taking_the_retry_gives_one_delivery(support, providers, running):
    _olga, _bot, _page, held = support
    telegram_api, _meta_api = providers
    _server, worker, console, beat = running
    # The first send is answered 3 s late: our client (1 s timeout) has given up by then.
    telegram_api.slow("/sendMessage", 3.0)

    answer = console.request("send", conversation_id=held[0].pk, text="Your parcel is on its way.")
    message_id = answer["message"]["id"]
    wait_until(
        lambda: Message.objects.get(pk=message_id).delivery_attempts >= 1 and telegram_api.calls("/sendMessage"),
        timeout=15,
        what="the first attempt",
    )
    # Duplicates of every kind arrive meanwhile: a redelivered task, another, and the sweep.
    for _ in range(2):
        beat.send_task(jobs.SEND_MESSAGE, args=[message_id])
    beat.send_task(jobs.SWEEP_CONNECTORS)

    wait_until(
        lambda: Message.objects.get(pk=message_id).delivery == "sent",
        timeout=60,
        interval=0.5,
        what=f"the retry to go out:\n{worker.log_tail()}",
    )
    time.sleep(3)  # let every duplicate run out, and the late answer arrive
    message = Message.objects.get(pk=message_id)
    assert message.delivery == "sent" and message.delivery_attempts == 2
    assert message.source_message_id  # the id of the answer that came in time
    # The provider saw the late try and the retry; nothing else went out.
    assert len(telegram_api.calls("/sendMessage")) == 2
    console.drain()
    sent_events = [
        f
        for f in console.frames
        if f.get("type") == "message.delivery"
        and f["message"]["id"] == message_id
        and f["message"]["delivery"] == "sent"
    ]
    assert len(sent_events) == 1
