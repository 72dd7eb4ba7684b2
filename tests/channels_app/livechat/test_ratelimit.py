"""Visitor rate limits: a token bucket in Redis shared by every server process."""

from __future__ import annotations

import hashlib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings as django_settings

from channels_app.engine import ratelimit
from channels_app.engine.ratelimit import (
    RateLimit,
    rate_limit_reset,
    rate_limit_take,
    rate_limits_take,
    visitor_message_limit,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
FIVE_PER_TWO_SECONDS = RateLimit(scope="test", capacity=5, refill_per_second=0.5)


@pytest.fixture(autouse=True)
def own_prefix(settings):
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


def take(identity: str, at: datetime, limit: RateLimit = FIVE_PER_TWO_SECONDS):
    return rate_limit_take(limit=limit, identity=identity, now=at)


def test_a_burst_up_to_the_capacity_then_refusal_with_the_wait():
    assert [take("visitor", NOW).allowed for _ in range(5)] == [True] * 5
    refused = take("visitor", NOW)
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(2.0)


def test_tokens_come_back_with_time_but_never_above_the_capacity():
    for _ in range(5):
        take("visitor", NOW)
    assert not take("visitor", NOW + timedelta(seconds=1)).allowed
    assert take("visitor", NOW + timedelta(seconds=2)).allowed
    idle_for_an_hour = NOW + timedelta(hours=1)
    assert [take("visitor", idle_for_an_hour).allowed for _ in range(6)] == [True] * 5 + [False]


def test_buckets_are_per_identity_and_can_be_reset():
    for _ in range(5):
        take("alice", NOW)
    assert not take("alice", NOW).allowed
    assert take("bob", NOW).allowed
    rate_limit_reset(limit=FIVE_PER_TWO_SECONDS, identity="alice")
    assert take("alice", NOW).allowed


def test_concurrent_requests_never_spend_more_than_the_capacity():
    with ThreadPoolExecutor(max_workers=12) as pool:
        decisions = list(pool.map(lambda _: take("flood", NOW).allowed, range(40)))
    assert decisions.count(True) == 5


def test_idle_buckets_expire_from_redis(settings):
    take("visitor", NOW)
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    key = f"{settings.RATE_LIMIT_KEY_PREFIX}:ratelimit:test:{hashlib.sha256(b'visitor').hexdigest()}"
    assert 0 < client.ttl(key) <= FIVE_PER_TWO_SECONDS.idle_ttl_seconds
    client.close()


def test_bucket_keys_hold_no_addresses(settings):
    """Identities are e-mail and IP addresses too: Redis keeps a hash of them, never the address itself."""
    take("jan.kowalski@example.com", NOW)
    take("203.0.113.7", NOW)
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = [key.decode() for key in client.scan_iter(f"{settings.RATE_LIMIT_KEY_PREFIX}:*")]
    client.close()
    assert len(keys) == 2
    assert not [key for key in keys if "example.com" in key or "203.0.113" in key]


def test_several_buckets_stop_at_the_first_refusal_and_spend_nothing_after_it():
    narrow = RateLimit(scope="narrow", capacity=1, refill_per_second=0.01)
    wide = RateLimit(scope="wide", capacity=2, refill_per_second=0.01)
    buckets = ((narrow, "visitor"), (wide, "address"))
    assert rate_limits_take(buckets=buckets, now=NOW).allowed
    refused = rate_limits_take(buckets=buckets, now=NOW)
    assert not refused.allowed
    assert refused.retry_after_seconds == pytest.approx(100)
    # The refusal took nothing from the wide bucket: it still has its second token.
    assert take("address", NOW, wide).allowed
    assert not take("address", NOW, wide).allowed


def test_limits_can_be_tuned_in_settings(settings):
    settings.RATE_LIMITS = {"livechat_visitor_message": {"capacity": 2, "refill_per_second": 0.1}}
    limit = visitor_message_limit()
    assert (limit.capacity, limit.refill_per_second) == (2, 0.1)


def test_every_limit_is_listed_once_with_a_scope_of_its_own_and_can_be_tuned(settings):
    defined = {
        function
        for name, function in vars(ratelimit).items()
        if name.endswith("_limit") and callable(function) and not name.startswith("_")
    }
    assert set(ratelimit.LIMITS) == defined
    scopes = [limit().scope for limit in ratelimit.LIMITS]
    assert len(set(scopes)) == len(scopes)
    settings.RATE_LIMITS = {scope: {"capacity": 100, "refill_per_second": 50} for scope in scopes}
    assert {(limit().capacity, limit().refill_per_second) for limit in ratelimit.LIMITS} == {(100, 50.0)}


def test_an_unreachable_redis_lets_visitors_through(settings, caplog):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    decision = take("visitor", NOW)
    assert decision.allowed
    assert "not checked" in caplog.text
