"""Access that changes while a console is open: it takes effect at once, not at the next reconnect (issue 13).

A dismissed operator's socket is closed; an operator taken out of a queue stops watching that channel's
conversation and its events; a supervisor taken off a channel loses it. Events travel through an in-memory
channel layer, sent after the change commits, as the admin makes them.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from channels_app.engine import access
from channels_app.engine.conversations import message_send_by_operator
from channels_app.models import ConversationStatus, QueueMember
from channels_app.web import CLOSE_NOT_ALLOWED
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)
from tests.sockets import connected_console

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def team(db):
    """Support with Olga and Piotr in its queue; a visitor's conversation that Piotr holds."""
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    piotr = OperatorFactory(username="piotr")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    client = ClientFactory(connector=ConnectorFactory(open_channel=channel), name="Anna")
    held = ConversationFactory(client=client, status=ConversationStatus.ACTIVE, operator=piotr)
    return SimpleNamespace(channel=channel, olga=olga, piotr=piotr, held=held)


async def _frames(communicator: WebsocketCommunicator) -> list[dict]:
    frames = []
    while not await communicator.receive_nothing(timeout=0.5):
        frames.append(await communicator.receive_json_from())
    return frames


async def _watch(communicator: WebsocketCommunicator, conversation_id: int) -> None:
    await communicator.send_json_to({"action": "watch", "conversation_id": conversation_id, "ref": 1})
    frames = await _frames(communicator)
    assert {"type": "ack", "ref": 1, "action": "watch", "conversation_id": conversation_id} in frames


async def test_a_dismissed_operator_s_console_is_closed_at_once(team):
    console = await connected_console(team.olga)

    def dismiss():
        team.olga.is_active = False
        team.olga.save()

    await database_sync_to_async(dismiss)()
    assert await console.receive_output(timeout=5) == {"type": "websocket.close", "code": CLOSE_NOT_ALLOWED}


async def test_an_operator_taken_out_of_the_queue_stops_receiving_the_channel_s_conversation(team):
    console = await connected_console(team.olga)
    await _watch(console, team.held.pk)

    def reply(text: str):
        message_send_by_operator(conversation_id=team.held.pk, operator=team.piotr, text=text, now=timezone.now())

    await database_sync_to_async(reply)("Before the change")
    assert any(frame.get("type") == "message.created" for frame in await _frames(console))

    await database_sync_to_async(QueueMember.objects.filter(operator=team.olga).delete)()
    assert {"type": "access.changed"} in await _frames(console)  # the browser re-syncs its lists from it
    await database_sync_to_async(reply)("After the change")
    assert [frame for frame in await _frames(console) if frame.get("type") == "message.created"] == []
    # Still an operator (she has a profile), so the socket stays open; the conversation is no longer hers to read.
    await console.send_json_to({"action": "watch", "conversation_id": team.held.pk, "ref": 2})
    refused = [frame for frame in await _frames(console) if frame.get("ref") == 2]
    assert refused[0]["type"] == "error" and refused[0]["code"] == 404
    await console.disconnect()


async def test_a_supervisor_taken_off_a_channel_loses_it(team):
    sara = await database_sync_to_async(UserFactory)(username="sara")
    await database_sync_to_async(team.channel.supervisors.add)(sara)
    assert await database_sync_to_async(access.supervises)(sara, team.channel.pk)
    await database_sync_to_async(team.channel.supervisors.remove)(sara)
    assert not await database_sync_to_async(access.supervises)(sara, team.channel.pk)
    assert not await database_sync_to_async(access.can_see_conversation)(sara, team.held)
