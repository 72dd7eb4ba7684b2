"""Token-bucket rate limits kept in Redis, shared by every uvicorn process.

A bucket holds up to ``capacity`` tokens and refills at ``refill_per_second``;
each request takes one token and is refused when none is left. The whole
read-refill-take step runs as one Lua script, so two processes taking from the
same bucket at the same instant cannot both spend its last token.

The caller passes ``now`` (like every service) so tests move time with
time-machine instead of sleeping.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import redis
from django.conf import settings

from channels_app.engine.errors import ServiceError

logger = logging.getLogger(__name__)

# KEYS[1]: bucket key. ARGV: capacity, refill per millisecond, now (whole milliseconds), ttl (seconds).
# Returns {allowed (0/1), milliseconds until one token is available}. Time is in whole milliseconds
# because Lua's tostring keeps only 14 digits: an epoch in seconds with a fraction would be rounded.
_BUCKET_TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * refill)
  at = now
end
local allowed = 0
local wait_ms = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(0, tokens - 1)
  allowed = 1
else
  wait_ms = math.ceil((1 - tokens) / refill)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], ttl)
return {allowed, wait_ms}
"""


@dataclass(frozen=True)
class RateLimit:
    """A bucket shape: ``capacity`` requests in a burst, then ``refill_per_second`` on average."""

    scope: str
    capacity: int
    refill_per_second: float

    @property
    def idle_ttl_seconds(self) -> int:
        # A bucket left alone this long is full again, so Redis may forget it.
        return max(1, math.ceil(self.capacity / self.refill_per_second)) + 1


class TooManyRequests(ServiceError):
    """Shown to the visitor as is; ``retry_after_seconds`` says when to try again."""

    status_code = 429

    def __init__(self, retry_after_seconds: float, message: str = "Too many requests. Please wait a moment.") -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: float


def _limit(name: str, capacity: int, per_second: float) -> RateLimit:
    overrides = getattr(settings, "RATE_LIMITS", {}).get(name, {})
    return RateLimit(
        scope=name,
        capacity=int(overrides.get("capacity", capacity)),
        refill_per_second=float(overrides.get("refill_per_second", per_second)),
    )


def visitor_message_limit() -> RateLimit:
    """One live-chat visitor: a burst of 8 messages, then one every 2 seconds."""
    return _limit("livechat_visitor_message", 8, 0.5)


def address_message_limit() -> RateLimit:
    """One IP address: stops a script that opens many visitor tokens from flooding the queue."""
    return _limit("livechat_address_message", 40, 2.0)


def transcript_email_limit() -> RateLimit:
    """O3 transcript e-mails per visitor: 3 at once, then one every 10 minutes (mail is costly and abusable)."""
    return _limit("livechat_transcript_email", 3, 1 / 600)


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _bucket_key(limit: RateLimit, identity: str) -> str:
    prefix = getattr(settings, "RATE_LIMIT_KEY_PREFIX", None) or settings.CACHES["default"].get("KEY_PREFIX", "cc")
    return f"{prefix}:ratelimit:{limit.scope}:{identity}"


def rate_limit_take(*, limit: RateLimit, identity: str, now: datetime) -> RateDecision:
    """Take one token from ``identity``'s bucket; say whether the request may go ahead."""
    client = _redis_client(settings.REDIS_URL)
    try:
        allowed, wait_ms = client.eval(
            _BUCKET_TAKE_SCRIPT,
            1,
            _bucket_key(limit, identity),
            limit.capacity,
            repr(limit.refill_per_second / 1000),
            round(now.timestamp() * 1000),
            limit.idle_ttl_seconds,
        )
    except redis.RedisError:
        # A slow or restarting Redis must not silence every visitor: let the request through and say so.
        logger.warning("rate limit %s not checked: Redis did not answer", limit.scope, exc_info=True)
        return RateDecision(allowed=True, retry_after_seconds=0)
    return RateDecision(allowed=bool(allowed), retry_after_seconds=int(wait_ms) / 1000)


def rate_limit_reset(*, limit: RateLimit, identity: str) -> None:
    """Forget a bucket (tests and support staff unblocking a visitor)."""
    _redis_client(settings.REDIS_URL).delete(_bucket_key(limit, identity))
