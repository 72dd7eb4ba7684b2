"""Token-bucket rate limits kept in Redis, shared by every uvicorn process.

A bucket holds up to ``capacity`` tokens and refills at ``refill_per_second``;
each request takes one token and is refused when none is left. The whole
read-refill-take step runs as one Lua script, so two processes taking from the
same bucket at the same instant cannot both spend its last token.

The caller passes ``now`` (like every service) so tests move time with
time-machine instead of sleeping.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable
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


def transcript_recipient_limit() -> RateLimit:
    """Transcript e-mails to one address, whoever asks: 3 at once, then one an hour.

    The visitor's own bucket cannot protect a recipient: a script with many
    visitor tokens would get a fresh one each time and mail a stranger's inbox.
    """
    return _limit("livechat_transcript_recipient", 3, 1 / 3600)


def transcript_address_limit() -> RateLimit:
    """Transcript e-mails asked from one IP address, to any recipients: stops one script mailing many inboxes."""
    return _limit("livechat_transcript_address", 10, 1 / 60)


def visitor_typing_limit() -> RateLimit:
    """Widget ``typing`` frames per visitor: the widget sends one every 3 seconds while typing; a burst covers tabs."""
    return _limit("livechat_visitor_typing", 5, 0.5)


def address_typing_limit() -> RateLimit:
    """``typing`` frames per IP address: room for many visitors typing behind one office gateway, not for a flood."""
    return _limit("livechat_address_typing", 60, 5.0)


def visitor_read_limit() -> RateLimit:
    """Widget ``read`` frames per visitor: one per operator message seen at most; a burst covers several tabs."""
    return _limit("livechat_visitor_read", 10, 1.0)


def address_read_limit() -> RateLimit:
    """``read`` frames per IP address: many visitors reading behind one gateway, not a flood of writes."""
    return _limit("livechat_address_read", 120, 10.0)


def visitor_consent_limit() -> RateLimit:
    """Widget ``consent`` frames per visitor: accepted once per notice version, so a few retries are plenty."""
    return _limit("livechat_visitor_consent", 5, 0.1)


def address_consent_limit() -> RateLimit:
    """``consent`` frames per IP address: each one writes to the database, so a script must not loop on it."""
    return _limit("livechat_address_consent", 30, 1.0)


# Every limit above, so tooling and tests can list them; ``settings.RATE_LIMITS`` tunes each by its scope.
LIMITS: tuple[Callable[[], RateLimit], ...] = (
    visitor_message_limit,
    address_message_limit,
    transcript_email_limit,
    transcript_recipient_limit,
    transcript_address_limit,
    visitor_typing_limit,
    address_typing_limit,
    visitor_consent_limit,
    address_consent_limit,
)


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def _bucket_key(limit: RateLimit, identity: str) -> str:
    prefix = getattr(settings, "RATE_LIMIT_KEY_PREFIX", None) or settings.CACHES["default"].get("KEY_PREFIX", "cc")
    # Identities are e-mail and IP addresses too: hashed, Redis holds no personal data and keys stay short.
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return f"{prefix}:ratelimit:{limit.scope}:{digest}"


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


def rate_limits_take(*, buckets: Iterable[tuple[RateLimit, str]], now: datetime) -> RateDecision:
    """Take one token from each ``(limit, identity)`` bucket in turn; the first refusal stops and is returned.

    Callers list the narrowest bucket first (the visitor, then the address,
    then a shared target), so a refused request spends nothing from the wider
    buckets that other people share.
    """
    for limit, identity in buckets:
        decision = rate_limit_take(limit=limit, identity=identity, now=now)
        if not decision.allowed:
            return decision
    return RateDecision(allowed=True, retry_after_seconds=0)


def rate_limit_reset(*, limit: RateLimit, identity: str) -> None:
    """Forget a bucket (tests and support staff unblocking a visitor)."""
    _redis_client(settings.REDIS_URL).delete(_bucket_key(limit, identity))
