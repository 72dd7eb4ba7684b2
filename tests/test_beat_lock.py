"""Issue 21, point 5: one Celery beat at a time (contact_center.beat; two real beats: tests/faults), and the
settings of issue 21 refused out of range."""

from __future__ import annotations

import sys
import time
import uuid

import pytest
import redis
from django.conf import settings

from contact_center.beat import BeatLock, SingleBeatScheduler
from tests.environments import run_in_project, with_project_settings


@pytest.fixture
def client():
    connection = redis.Redis.from_url(settings.REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture
def key(client):
    name = f"test:beat:lock:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


def test_issue21_a_second_beat_cannot_take_a_held_lock_until_it_is_released(client, key):
    first, second = BeatLock(client, key=key), BeatLock(client, key=key)
    assert first.acquire()
    assert not second.acquire()
    assert not second.renew(), "renewing is not a way in"
    assert second.holder() == first.token
    second.release()  # not its lock: nothing happens
    assert first.renew()
    first.release()
    assert second.acquire()


def test_issue21_the_lock_expires_when_its_holder_stops_renewing(client, key):
    first, second = BeatLock(client, key=key, seconds=0.1), BeatLock(client, key=key)
    assert first.acquire()
    time.sleep(0.2)  # the holder was killed: nobody renews
    assert second.acquire()
    assert not first.renew(), "the old holder learns it lost the lock"


def test_issue21_the_holder_takes_the_lock_again_after_redis_restarted_empty(client, key):
    lock = BeatLock(client, key=key)
    assert lock.acquire()
    client.delete(key)
    assert lock.renew()
    assert lock.holder() == lock.token
    assert 0 < client.pttl(key) <= 30_000


def test_issue21_a_beat_whose_lock_was_taken_stops(client, key):
    scheduler = SingleBeatScheduler.__new__(SingleBeatScheduler)  # without a database schedule: only the lock
    scheduler.lock = BeatLock(client, key=key)
    assert BeatLock(client, key=key).acquire()
    with pytest.raises(SystemExit):
        scheduler.tick()


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ({"SHUTDOWN_GRACE_SECONDS": "0"}, "SHUTDOWN_GRACE_SECONDS must be at least 1 second"),
        ({"INBOUND_QUEUE_LIMIT": "-1"}, "INBOUND_QUEUE_LIMIT must be 0 (no limit) or more"),
        ({"READINESS_INBOUND_MAX_LAG": "0"}, "READINESS_INBOUND_MAX_LAG must be at least 1 second"),
        ({"CONNECTOR_SEND_RETRY_HOURS": "0"}, "CONNECTOR_SEND_RETRY_HOURS must be more than 0 hours"),
        ({"CONNECTOR_BREAKER_FAILURES": "0"}, "CONNECTOR_BREAKER_FAILURES must be at least 1 failure"),
        ({"CONNECTOR_BREAKER_PROBE_SECONDS": "0"}, "CONNECTOR_BREAKER_PROBE_SECONDS must be at least 1 second"),
        ({"CONNECTOR_HTTP_TIMEOUT_SECONDS": "0"}, "CONNECTOR_HTTP_TIMEOUT_SECONDS must be more than 0 seconds"),
    ],
)
def test_issue21_settings_out_of_range_are_refused_at_start(variable, message):
    result = run_in_project([sys.executable, "-c", "import django; django.setup()"], with_project_settings(**variable))
    assert result.returncode != 0
    assert message in result.stderr
