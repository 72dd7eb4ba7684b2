"""GET /healthz: do the database and Redis answer. GET /readyz: that, and are Celery's heartbeats fresh."""

import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
import time_machine
from django.conf import settings

from channels_app.periodic import SWEEPS
from contact_center import heartbeats
from contact_center.celery import WorkerHeartbeat, record_beat_heartbeat
from contact_center.celery import app as celery_app
from tests.environments import run_in_project, with_project_settings


@pytest.mark.django_db
def test_healthz_ok_when_database_and_redis_answer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


@pytest.mark.django_db
def test_healthz_503_names_redis_when_it_does_not_answer(client, settings):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_healthz_503_names_database_when_it_does_not_answer(client):
    with mock.patch("contact_center.health.connection.cursor", side_effect=Exception("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]


# --- GET /readyz: the same, and Celery's heartbeats -------------------------------------------------------

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def no_heartbeats():
    """Neither heartbeat recorded, before and after the test (the keys live in the tests' shared Redis)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [heartbeats.KEY_PREFIX + kind for kind in heartbeats.KINDS]
    client.delete(*keys)
    yield
    client.delete(*keys)
    client.close()


@pytest.mark.django_db
def test_readyz_ok_with_fresh_worker_and_beat_heartbeats(client, no_heartbeats):
    heartbeats.record("worker", NOW - timedelta(seconds=20))
    heartbeats.record("beat", NOW - timedelta(seconds=70))
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "worker": "ok", "beat": "ok"},
        "seconds_since_heartbeat": {"worker": 20, "beat": 70},
        "max_age_seconds": {"worker": 120, "beat": 300},
    }


@pytest.mark.django_db
def test_readyz_503_when_beat_was_last_seen_six_minutes_ago(client, no_heartbeats):
    heartbeats.record("worker", NOW - timedelta(seconds=5))
    heartbeats.record("beat", NOW - timedelta(minutes=6))
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("unavailable", ["beat"])
    assert (body["checks"]["beat"], body["seconds_since_heartbeat"]["beat"]) == ("stale", 360)
    assert body["checks"]["worker"] == "ok"


@pytest.mark.django_db
def test_readyz_503_when_no_heartbeat_was_ever_recorded(client, no_heartbeats):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["worker", "beat"]
    assert body["checks"] == {"database": "ok", "redis": "ok", "worker": "never seen", "beat": "never seen"}
    assert body["seconds_since_heartbeat"] == {"worker": None, "beat": None}


@pytest.mark.django_db
def test_readyz_503_names_redis_and_the_unknown_heartbeats_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis", "worker", "beat"]
    assert response.json()["checks"]["worker"] == "no answer"


@pytest.mark.django_db
def test_readyz_thresholds_come_from_the_settings(client, settings, no_heartbeats):
    settings.READINESS_WORKER_MAX_AGE = 60
    heartbeats.record("worker", NOW - timedelta(seconds=61))
    heartbeats.record("beat", NOW)
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert (response.status_code, response.json()["failing"]) == (503, ["worker"])


@pytest.mark.django_db
def test_healthz_stays_ok_without_any_heartbeat(client, no_heartbeats):
    assert client.get("/healthz").status_code == 200


def test_heartbeats_round_trip_as_aware_utc_and_none_before_the_first(no_heartbeats):
    assert heartbeats.last_seen("beat") is None
    heartbeats.record("beat", NOW)
    assert heartbeats.last_seen("beat") == NOW


def test_beat_s_heartbeat_task_records_the_beat_heartbeat_and_is_scheduled_every_minute(no_heartbeats):
    with time_machine.travel(NOW, tick=False):
        record_beat_heartbeat.apply().get()
    assert heartbeats.last_seen("beat") == NOW
    assert heartbeats.last_seen("worker") is None
    [sweep] = [
        sweep for sweep in SWEEPS if sweep.task == heartbeats.BEAT_TASK == "contact_center.heartbeats.record_beat"
    ]
    assert sweep.every_seconds == 60


def test_a_worker_records_its_heartbeat_when_its_consumer_starts_and_on_its_timer(no_heartbeats):
    """The consumer step runs on the worker's timer; here a timer that runs the repeated call when asked."""

    class Timer:
        def __init__(self):
            self.repeated: list[tuple[float, object]] = []

        def call_repeatedly(self, seconds, function):
            self.repeated.append((seconds, function))
            return mock.Mock()

    consumer = SimpleNamespace(timer=Timer())
    step = WorkerHeartbeat(consumer)
    with time_machine.travel(NOW, tick=False):
        step.start(consumer)
    assert heartbeats.last_seen("worker") == NOW
    [(seconds, function)] = consumer.timer.repeated
    assert seconds == heartbeats.WORKER_INTERVAL_SECONDS
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        function()
    assert heartbeats.last_seen("worker") == NOW + timedelta(seconds=30)
    step.stop(consumer)
    assert step.timer_entry is None
    assert WorkerHeartbeat in celery_app.steps["consumer"]


@pytest.mark.parametrize("variable", [{"READINESS_WORKER_MAX_AGE": "30"}, {"READINESS_BEAT_MAX_AGE": "60"}])
def test_readiness_thresholds_shorter_than_two_heartbeats_are_refused_at_start(variable):
    result = run_in_project([sys.executable, "-c", "import django; django.setup()"], with_project_settings(**variable))
    assert result.returncode != 0
    assert "READINESS_WORKER_MAX_AGE must be at least 60 seconds" in result.stderr
