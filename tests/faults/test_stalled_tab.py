"""A console tab stalled for 2 minutes (a frozen background tab, a sleeping laptop) gets every message on resume,
and does not slow anyone else down meanwhile (Q6, O2).

The stalled tab stops reading its socket (the client buffers only a few
frames, so the server's writes back up over TCP) and sends no heartbeat.
Two minutes pass for the beat sweeps (time-machine moves this process's
clock; the sweeps run here as beat would run them): the presence sweep takes
Olga offline. Then the tab wakes as ``static/console/socket.js`` does after
a timer gap: either its socket survived (it reads what was buffered, sends
a heartbeat and re-syncs), or the socket died meanwhile (it reconnects and
re-syncs). Either way it shows every message, once, in order.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from channels_app.engine import events, sweeps
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.models import ConversationStatus, Message, Offer, OperatorProfile
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.faults.conftest import ConsoleClient, session_cookie
from tests.faults.servers import Uvicorn, server_environment, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

STALL = timedelta(minutes=2)
MESSAGES_DURING_STALL = 150
LONG_TEXT = "Order details follow. " * 150  # ~3.3 kB per message: the backlog outgrows the socket buffers


def held_conversation(connector, operator, visitor: str):
    conversation = message_receive(
        connector=connector, external_user_id=visitor, text="Hello", source_message_id=None, now=timezone.now()
    ).conversation
    offer_accept(
        offer_id=Offer.objects.get(conversation=conversation, operator=operator).pk,
        operator=operator,
        now=timezone.now(),
    )
    return conversation


def client_writes(conversation, text: str) -> None:
    message_receive(
        connector=conversation.connector,
        external_user_id=conversation.client.external_id,
        text=text,
        source_message_id=None,
        now=timezone.now(),
    )


def stored_ids(conversation) -> list[int]:
    return list(Message.objects.filter(conversation=conversation).order_by("id").values_list("id", flat=True))


@pytest.mark.parametrize("socket_survives", [True, False], ids=["socket-survived", "socket-died"])
def test_tab_stalled_for_two_minutes_gets_every_message_on_resume(
    socket_survives, private_redis, test_database_url, settings, tmp_path
):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False, distribution_mode="all_at_once")
    olga = OperatorFactory(username="olga")
    piotr = OperatorFactory(username="piotr")
    for position, operator in enumerate((olga, piotr)):
        QueueMemberFactory(open_channel=channel, operator=operator, position=position)
    connector = ConnectorFactory(open_channel=channel, kind="livechat")
    alice = held_conversation(connector, olga, "alice")
    bob = held_conversation(connector, piotr, "bob")

    environment = server_environment(
        database_url=test_database_url, redis_url=private_redis.url, CELERY_TASK_ALWAYS_EAGER="true"
    )
    server = Uvicorn(environment, tmp_path / "uvicorn.log").start()
    # From now on this process publishes to the server's channel layer, as a Celery worker would.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "contact_center.channel_layer.RedisEventsChannelLayer",
            "CONFIG": {"hosts": [{"address": private_redis.url}], "prefix": environment["CHANNEL_LAYER_PREFIX"]},
        }
    }
    stalled = ConsoleClient(server.url, server.ws_url, session_cookie(olga), max_queue=2)
    awake = ConsoleClient(server.url, server.ws_url, session_cookie(piotr))
    try:
        stalled.connect()
        stalled.resync()
        awake.connect()
        client_writes(alice, "First question")
        stalled.wait_for(lambda f: f.get("type") == "message.created", timeout=10, what="a live message")

        # 1. The tab freezes: nothing is read, no heartbeat. Alice keeps writing; Piotr keeps working.
        for number in range(MESSAGES_DURING_STALL):
            client_writes(alice, f"{number}: {LONG_TEXT}")
        client_writes(bob, "Bob needs help too")
        assert events.flush(10)
        awake.wait_for(
            lambda f: f.get("type") == "message.created" and f["message"]["text"] == "Bob needs help too",
            timeout=10,
            what="Piotr's live message while Olga's tab is stalled",
        )

        # 2. Two minutes pass for beat: Olga's console is silent, so the presence sweep takes her offline.
        stall_ended_at = timezone.now() + STALL
        with time_machine.travel(stall_ended_at, tick=False):
            sweeps.presence_sweep(now=timezone.now())
            sweeps.offers_expire(now=timezone.now())
        assert not OperatorProfile.objects.get(user=olga).is_online
        assert events.flush(10)

        # 3. The tab wakes up.
        if socket_survives:
            assert stalled.drain(), "the stalled socket was closed by the server"
            stalled.request("heartbeat", active=True, wait=False)
            stalled.resync()
        else:
            stalled.reconnect()  # the frames still in the network buffers are gone with the socket
        answer = stalled.request("send", conversation_id=alice.pk, text="Sorry, I was away. Reading now.")
        assert answer["type"] == "ack", answer
        # The heartbeat of the woken tab brought her back online (Q6).
        wait_until(lambda: OperatorProfile.objects.get(user=olga).is_online, timeout=10, what="Olga to be online again")
    finally:
        stalled.close()
        awake.close()
        server.stop()

    everything = stored_ids(alice)
    assert len(everything) == MESSAGES_DURING_STALL + 3  # hello, first question, the backlog, Olga's answer
    assert stalled.seen[alice.pk] == everything, "the resumed tab misses, repeats or reorders messages"
    alice.refresh_from_db()
    assert alice.status == ConversationStatus.ACTIVE and alice.operator_id == olga.pk
    assert django_settings.CONSOLE_HEARTBEAT_TIMEOUT < STALL  # the stall really outlasted the heartbeat timeout
