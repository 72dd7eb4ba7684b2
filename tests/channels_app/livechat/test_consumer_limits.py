"""The widget's ``typing`` and ``consent`` frames are throttled like its messages (issue 13, point 7).

Every limit is keyed on the visitor and on the client address (``scope["client"]``,
which uvicorn corrects from a trusted proxy's headers): visitor tokens cost
nothing to make, so a script must not get round the limit with many of them.
The buckets live in the real Redis; the channel layer is in memory, so what
reaches an operator's socket can be counted exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from channels_app.engine import events
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import ConsentForm, ConsentRecord, OpenChannel
from contact_center.asgi import application
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.sockets import ORIGIN, ask, connected_console

pytestmark = pytest.mark.django_db(transaction=True)

OFFICE = "203.0.113.5"  # one office gateway, many visitors behind it
ELSEWHERE = "198.51.100.7"


@pytest.fixture(autouse=True)
def in_memory_layer_and_own_buckets(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def support(db):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    return SimpleNamespace(channel=channel, connector=ConnectorFactory(open_channel=channel), olga=olga)


def _db(func, *args, **kwargs):
    return database_sync_to_async(func)(*args, **kwargs)


def from_address(address: str):
    """The application as uvicorn runs it, with ``scope["client"]`` set to ``address`` (after proxy headers)."""

    async def app(scope, receive, send):
        return await application({**scope, "client": (address, 51000)}, receive, send)

    return app


async def visitor_socket(connector, address: str = OFFICE) -> WebsocketCommunicator:
    token = await _db(visitor_token_issue, connector=connector)
    communicator = WebsocketCommunicator(from_address(address), f"/ws/livechat/{token}/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=15)
    assert connected
    assert (await communicator.receive_json_from(timeout=15))["type"] == "hello"
    return communicator


async def frames_until(communicator: WebsocketCommunicator, predicate) -> list[dict]:
    """Every frame up to and including the first for which ``predicate`` holds."""
    frames = []
    while not frames or not predicate(frames[-1]):
        frames.append(await communicator.receive_json_from(timeout=15))
    return frames


async def start_conversation(visitor: WebsocketCommunicator) -> int:
    answer = await ask(visitor, "send", text="Hello", client_id=uuid.uuid4().hex)
    assert answer["type"] == "ack", answer
    return answer["conversation"]["id"]


async def typing_events_heard(conversation_ids: list[int], send_typing) -> int:
    """How many typing events reach the conversations' groups (where the operators' consoles listen)."""
    layer = get_channel_layer()
    listener = await layer.new_channel()
    for conversation_id in conversation_ids:
        await layer.group_add(events.conversation_group(conversation_id), listener)
    await send_typing()
    heard = 0
    while True:
        try:
            message = await asyncio.wait_for(layer.receive(listener), timeout=0.5)
        except TimeoutError:
            return heard
        heard += message.get("event", {}).get("type") == "typing"


# --- typing ------------------------------------------------------------------------------------------------


async def test_a_typing_flood_reaches_the_operator_at_a_modest_rate_and_is_dropped_silently(support, settings):
    settings.RATE_LIMITS = {"livechat_visitor_typing": {"capacity": 3, "refill_per_second": 0.5}}
    console = await connected_console(support.olga)
    visitor = await visitor_socket(support.connector)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        await start_conversation(visitor)
        offer = (await frames_until(console, lambda frame: frame.get("type") == "offer.created"))[-1]
        assert (await ask(console, "accept", offer_id=offer["offer_id"]))["type"] == "ack"

        for _ in range(25):
            await visitor.send_json_to({"action": "typing"})
        await visitor.send_json_to({"action": "send", "ref": "after", "text": "Done", "client_id": uuid.uuid4().hex})
        heard = await frames_until(console, lambda frame: frame.get("type") == "message.created")
        assert [frame["type"] for frame in heard].count("typing") == 3
        answered = await frames_until(visitor, lambda frame: frame.get("ref") == "after")
        assert not [frame for frame in answered if frame["type"] == "error"], "typing is dropped without a word"

        traveller.shift(timedelta(seconds=2))  # one token back
        await visitor.send_json_to({"action": "typing"})
        assert (await frames_until(console, lambda frame: frame.get("type") == "typing"))[-1]["author"] == "client"
    await console.disconnect()
    await visitor.disconnect()


async def test_typing_is_limited_per_address_across_visitor_tokens(support, settings):
    settings.RATE_LIMITS = {"livechat_address_typing": {"capacity": 4, "refill_per_second": 0.01}}
    with time_machine.travel(timezone.now(), tick=False):
        office = [await visitor_socket(support.connector, OFFICE) for _ in range(3)]
        home = await visitor_socket(support.connector, ELSEWHERE)
        office_conversations = [await start_conversation(visitor) for visitor in office]
        home_conversation = await start_conversation(home)

        async def each_office_visitor_types_twice():
            for visitor in office + office:
                assert (await ask(visitor, "typing"))["type"] == "ack"

        async def the_home_visitor_types_twice():
            for _ in range(2):
                assert (await ask(home, "typing"))["type"] == "ack"

        assert await typing_events_heard(office_conversations, each_office_visitor_types_twice) == 4
        assert await typing_events_heard([home_conversation], the_home_visitor_types_twice) == 2
    for visitor in [*office, home]:
        await visitor.disconnect()


# --- consent -----------------------------------------------------------------------------------------------


@pytest.fixture
def consent_asked(support):
    form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages for a year.")
    OpenChannel.objects.filter(pk=support.channel.pk).update(consent_required=True, consent_form=form)
    return support


async def test_consent_frames_past_the_visitors_limit_get_a_429_error_frame(consent_asked, settings):
    settings.RATE_LIMITS = {"livechat_visitor_consent": {"capacity": 2, "refill_per_second": 0.1}}
    visitor = await visitor_socket(consent_asked.connector)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        assert [(await ask(visitor, "consent"))["type"] for _ in range(2)] == ["ack", "ack"]
        refused = await ask(visitor, "consent")
        assert refused["type"] == "error"
        assert refused["code"] == 429
        assert refused["message"] == widget_texts("en")["too_many_attempts"]
        assert refused["retry_after"] == pytest.approx(10, abs=0.01)
        traveller.shift(timedelta(seconds=10))
        assert (await ask(visitor, "consent"))["type"] == "ack"
    assert await _db(ConsentRecord.objects.count) == 1
    await visitor.disconnect()


async def test_consent_frames_are_limited_per_address_across_visitor_tokens(consent_asked, settings):
    settings.RATE_LIMITS = {"livechat_address_consent": {"capacity": 3, "refill_per_second": 0.01}}
    with time_machine.travel(timezone.now(), tick=False):
        office = [await visitor_socket(consent_asked.connector, OFFICE) for _ in range(4)]
        answers = [await ask(visitor, "consent") for visitor in office]
        assert [answer.get("code", "ack") for answer in answers] == ["ack", "ack", "ack", 429]
        home = await visitor_socket(consent_asked.connector, ELSEWHERE)
        assert (await ask(home, "consent"))["type"] == "ack"
    assert await _db(ConsentRecord.objects.count) == 4
    for visitor in [*office, home]:
        await visitor.disconnect()
