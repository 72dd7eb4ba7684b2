"""The Redis channel layer with one extra operation: send one message to several groups at once.

Most events go to two groups (the conversation's and its operator's), and
channels_redis's ``group_send`` costs four Redis round trips per group: prune
the group, read it, prune every member's queue, then a Lua script that
enqueues. :meth:`RedisEventsChannelLayer.group_send_many` reads every group in
one pipelined round trip per Redis host and enqueues with one script per host
that also prunes the queues it writes to, so an event costs two round trips
whatever the number of groups. A socket that belongs to several of the groups
(an operator watching the conversation they hold) gets the event once.

The queues, capacities, expiry and message format are exactly channels_redis's,
so its consumers read these messages unchanged.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable

from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

# KEYS: the members' queues. ARGV: one message per key, then one capacity per key, then now and expiry.
# A queue already holding ``capacity`` messages drops this one, as channels_redis's own group_send does.
_ENQUEUE_LUA = """
local over_capacity = 0
local current_time = tonumber(ARGV[#ARGV - 1])
local expiry = tonumber(ARGV[#ARGV])
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, math.floor(current_time) - expiry)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class RedisEventsChannelLayer(RedisChannelLayer):
    async def group_send_many(self, groups: Iterable[str], message: dict) -> None:
        """Send ``message`` to every channel of ``groups``; each channel receives it once.

        1. Per Redis host, one pipeline prunes expired members and reads the
           members of that host's groups.
        2. The union of the members is mapped to queues (channels of one
           process share a queue) as channels_redis does.
        3. Per Redis host, one script prunes expired messages from those
           queues and enqueues the message where there is capacity.
        """
        groups = list(dict.fromkeys(groups))
        for group in groups:
            self.require_valid_group_name(group)  # raises TypeError naming the bad group
        members = await self._members(groups)
        if not members:
            return
        keys_by_host, message_by_key, capacity_by_key = self._map_channel_keys_to_connection(members, message)
        for index, keys in keys_by_host.items():
            arguments = [message_by_key[key] for key in keys]
            arguments += [capacity_by_key[key] for key in keys]
            arguments += [time.time(), int(self.expiry)]
            over_capacity = await self.connection(index).eval(_ENQUEUE_LUA, len(keys), *keys, *arguments)
            if over_capacity > 0:
                logger.info("%s of %s channels over capacity in groups %s", over_capacity, len(members), groups)

    async def _members(self, groups: list[str]) -> list[str]:
        groups_by_host: dict[int, list[str]] = defaultdict(list)
        for group in groups:
            groups_by_host[self.consistent_hash(group)].append(group)
        oldest_kept = int(time.time()) - self.group_expiry
        members: dict[str, None] = {}
        for index, host_groups in groups_by_host.items():
            pipeline = self.connection(index).pipeline(transaction=False)
            for group in host_groups:
                key = self._group_key(group)
                pipeline.zremrangebyscore(key, min=0, max=oldest_kept)
                pipeline.zrange(key, 0, -1)
            results = await pipeline.execute()
            for names in results[1::2]:
                members.update((name.decode("utf8"), None) for name in names)
        return list(members)
