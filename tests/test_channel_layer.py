"""``RedisEventsChannelLayer.group_send_many`` on the real Redis: same delivery as channels_redis, fewer trips."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from django.conf import settings

from contact_center.channel_layer import RedisEventsChannelLayer


def _layer(prefix: str, **config) -> RedisEventsChannelLayer:
    return RedisEventsChannelLayer(hosts=[{"address": settings.REDIS_URL}], prefix=prefix, **config)


@pytest.fixture
def prefix():
    return f"test-layer-{uuid.uuid4().hex[:12]}"


async def _received(layer, channel: str, timeout: float = 2.0) -> list[dict]:
    """Every message waiting on ``channel`` (stops at the first read that waits ``timeout``)."""
    messages = []
    while True:
        try:
            messages.append(await asyncio.wait_for(layer.receive(channel), timeout))
        except TimeoutError:
            return messages


def test_a_channel_in_several_of_the_groups_receives_the_message_once(prefix):
    async def scenario():
        layer = _layer(prefix)
        try:
            both = await layer.new_channel()
            only_operator = await layer.new_channel()
            only_conversation = await layer.new_channel()
            elsewhere = await layer.new_channel()
            await layer.group_add("operator.1", both)
            await layer.group_add("conversation.9", both)
            await layer.group_add("operator.1", only_operator)
            await layer.group_add("conversation.9", only_conversation)
            await layer.group_add("operator.2", elsewhere)
            message = {"type": "event.forward", "event": {"type": "message.created", "conversation_id": 9}}
            await layer.group_send_many(["conversation.9", "operator.1"], message)
            return {
                name: await _received(layer, channel, timeout=0.5)
                for name, channel in {
                    "both": both,
                    "only_operator": only_operator,
                    "only_conversation": only_conversation,
                    "elsewhere": elsewhere,
                }.items()
            }
        finally:
            await layer.flush()

    received = asyncio.run(scenario())
    expected = [{"type": "event.forward", "event": {"type": "message.created", "conversation_id": 9}}]
    assert received == {"both": expected, "only_operator": expected, "only_conversation": expected, "elsewhere": []}


def test_sockets_of_two_processes_receive_it_like_a_plain_group_send(prefix):
    """Channels of one process share a Redis queue; each process's channels get their own copy."""

    async def scenario():
        web_one, web_two, worker = _layer(prefix), _layer(prefix), _layer(prefix)
        try:
            first = [await web_one.new_channel() for _ in range(2)]
            second = await web_two.new_channel()
            for channel in (*first, second):
                await web_one.group_add("conversation.4", channel)
            await worker.group_send_many(["conversation.4", "operator.5"], {"type": "event.forward", "n": 1})
            await worker.group_send("conversation.4", {"type": "event.forward", "n": 2})
            return [await _received(web_one, channel, 0.5) for channel in first] + [
                await _received(web_two, second, 0.5)
            ]
        finally:
            await worker.flush()
            for layer in (web_one, web_two, worker):
                await layer.close_pools()

    received = asyncio.run(scenario())
    assert received == [[{"type": "event.forward", "n": 1}, {"type": "event.forward", "n": 2}]] * 3


def test_a_full_queue_drops_the_message_for_that_process_only(prefix):
    """Capacity is per Redis queue, i.e. per web process (its sockets share one queue)."""

    async def scenario():
        busy_process, idle_process = _layer(prefix, capacity=2), _layer(prefix, capacity=2)
        try:
            full = await busy_process.new_channel()
            free = await idle_process.new_channel()
            for channel in (full, free):
                await busy_process.group_add("operator.3", channel)
            await busy_process.send(full, {"type": "event.forward", "n": 0})
            await busy_process.send(full, {"type": "event.forward", "n": 0})
            await busy_process.group_send_many(["operator.3"], {"type": "event.forward", "n": 1})
            return await _received(busy_process, full, 0.5), await _received(idle_process, free, 0.5)
        finally:
            await busy_process.flush()
            for layer in (busy_process, idle_process):
                await layer.close_pools()

    full_received, free_received = asyncio.run(scenario())
    assert [message["n"] for message in full_received] == [0, 0]
    assert [message["n"] for message in free_received] == [1]


def test_members_past_the_group_expiry_are_dropped_and_receive_nothing(prefix):
    async def scenario():
        layer = _layer(prefix, group_expiry=60)
        try:
            stale = await layer.new_channel()
            fresh = await layer.new_channel()
            await layer.group_add("operator.8", fresh)
            # As if this socket joined two minutes ago and its process died without leaving the group.
            connection = layer.connection(layer.consistent_hash("operator.8"))
            await connection.zadd(layer._group_key("operator.8"), {stale: time.time() - 120})
            await layer.group_send_many(["operator.8"], {"type": "event.forward"})
            members = await connection.zrange(layer._group_key("operator.8"), 0, -1)
            return await _received(layer, stale, 0.5), await _received(layer, fresh, 0.5), members, fresh
        finally:
            await layer.flush()

    stale_received, fresh_received, members, fresh = asyncio.run(scenario())
    assert stale_received == []
    assert fresh_received == [{"type": "event.forward"}]
    assert [member.decode() for member in members] == [fresh]


def test_no_group_has_members_sends_nothing_and_a_bad_group_name_is_refused(prefix):
    async def scenario():
        layer = _layer(prefix)
        try:
            await layer.group_send_many(["operator.404"], {"type": "event.forward"})
            with pytest.raises(Exception, match="Group name"):
                await layer.group_send_many(["bad group name!"], {"type": "event.forward"})
        finally:
            await layer.flush()

    asyncio.run(scenario())
