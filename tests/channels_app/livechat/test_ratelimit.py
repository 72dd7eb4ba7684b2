"""Visitor rate limits: a token bucket in Redis shared by every server process."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.conf import settings as django_settings

from channels_app.engine.ratelimit import RateLimit, rate_limit_reset, rate_limit_take, visitor_message_limit

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
    key = f"{settings.RATE_LIMIT_KEY_PREFIX}:ratelimit:test:visitor"
    assert 0 < client.ttl(key) <= FIVE_PER_TWO_SECONDS.idle_ttl_seconds
    client.close()


def test_limits_can_be_tuned_in_settings(settings):
    settings.RATE_LIMITS = {"livechat_visitor_message": {"capacity": 2, "refill_per_second": 0.1}}
    limit = visitor_message_limit()
    assert (limit.capacity, limit.refill_per_second) == (2, 0.1)


def test_an_unreachable_redis_lets_visitors_through(settings, caplog):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    decision = take("visitor", NOW)
    assert decision.allowed
    assert "not checked" in caplog.text
