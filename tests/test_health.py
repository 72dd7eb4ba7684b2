"""GET /healthz: do the database and Redis answer. GET /readyz: that, and are Celery's heartbeats fresh."""

import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
import time_machine
from django.conf import settings

from channels_app.engine import jobs
from channels_app.models import ConnectorKind, InboundUpdate
from channels_app.periodic import SWEEPS
from contact_center import heartbeats
from contact_center.celery import WorkerHeartbeat, record_beat_heartbeat
from contact_center.celery import app as celery_app
from tests.environments import run_in_project, with_project_settings
from tests.factories import ConnectorFactory


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


QUEUE_CHECKS = ["worker:inbound", "worker:outbound", "worker:sweeps", "worker:bulk"]


@pytest.fixture
def no_heartbeats():
    """No heartbeat recorded, before and after the test (the keys live in the tests' shared Redis)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [heartbeats.KEY_PREFIX + kind for kind in (*heartbeats.KINDS, *QUEUE_CHECKS)]
    client.delete(*keys)
    yield
    client.delete(*keys)
    client.close()


def every_worker_seen(at: datetime) -> None:
    heartbeats.record_worker(at, queues=jobs.QUEUES)


@pytest.mark.django_db
def test_readyz_ok_with_fresh_worker_and_beat_heartbeats(client, no_heartbeats):
    every_worker_seen(NOW - timedelta(seconds=20))
    heartbeats.record("beat", NOW - timedelta(seconds=70))
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {
        "database": "ok",
        "redis": "ok",
        **dict.fromkeys(QUEUE_CHECKS, "ok"),
        "beat": "ok",
        "inbound_lag": "ok",
    }
    assert body["seconds_since_heartbeat"] == {**dict.fromkeys(QUEUE_CHECKS, 20), "beat": 70}
    assert body["max_age_seconds"] == {**dict.fromkeys(QUEUE_CHECKS, 120), "beat": 300, "inbound_lag": 300}
    assert set(body["queue_lengths"]) == {"inbound", "outbound", "sweeps", "bulk"}
    assert body["oldest_pending_update_seconds"] == 0


@pytest.mark.django_db
def test_issue21_readyz_503_names_the_queue_no_live_worker_reads(client, no_heartbeats):
    heartbeats.record_worker(NOW - timedelta(seconds=5), queues=("inbound", "sweeps", "bulk"))
    heartbeats.record("beat", NOW)
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker:outbound"]
    assert response.json()["checks"]["worker:outbound"] == "never seen"


@pytest.mark.django_db
def test_issue21_readyz_reports_the_inbound_lag_and_is_503_past_its_limit(client, no_heartbeats, settings):
    every_worker_seen(NOW)
    heartbeats.record("beat", NOW)
    bot = ConnectorFactory(kind=ConnectorKind.TELEGRAM, account_id="7000021", access_token="7000021:token")
    for update_id, age in (("1", 400), ("2", 30)):
        InboundUpdate.objects.create(
            connector=bot, update_id=update_id, payload={}, received_at=NOW - timedelta(seconds=age)
        )
    InboundUpdate.objects.create(
        connector=bot, update_id="0", payload={}, received_at=NOW - timedelta(hours=1), state="processed"
    )
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["failing"], body["checks"]["inbound_lag"], body["oldest_pending_update_seconds"]) == (
        ["inbound_lag"],
        "behind",
        400,
    )
    settings.READINESS_INBOUND_MAX_LAG = 600
    with time_machine.travel(NOW, tick=False):
        assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_issue21_readyz_reports_the_tasks_waiting_in_each_queue(client, no_heartbeats, tasks_waiting):
    tasks_waiting("bulk", 7)
    tasks_waiting("inbound", 0)
    body = client.get("/readyz").json()
    assert (body["queue_lengths"]["bulk"], body["queue_lengths"]["inbound"]) == (7, 0)


@pytest.mark.django_db
def test_readyz_503_when_beat_was_last_seen_six_minutes_ago(client, no_heartbeats):
    every_worker_seen(NOW - timedelta(seconds=5))
    heartbeats.record("beat", NOW - timedelta(minutes=6))
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failing"]) == ("unavailable", ["beat"])
    assert (body["checks"]["beat"], body["seconds_since_heartbeat"]["beat"]) == ("stale", 360)
    assert body["checks"]["worker:inbound"] == "ok"


@pytest.mark.django_db
def test_readyz_503_when_no_heartbeat_was_ever_recorded(client, no_heartbeats):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == [*QUEUE_CHECKS, "beat"]
    assert body["checks"] == {
        "database": "ok",
        "redis": "ok",
        **dict.fromkeys(QUEUE_CHECKS, "never seen"),
        "beat": "never seen",
        "inbound_lag": "ok",
    }
    assert body["seconds_since_heartbeat"] == dict.fromkeys([*QUEUE_CHECKS, "beat"])


@pytest.mark.django_db
def test_readyz_503_names_redis_and_the_unknown_heartbeats_when_redis_does_not_answer(client, settings):
    settings.REDIS_URL = "unix:///nonexistent/redis.sock"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis", *QUEUE_CHECKS, "beat"]
    assert response.json()["checks"]["worker:inbound"] == "no answer"


@pytest.mark.django_db
def test_readyz_thresholds_come_from_the_settings(client, settings, no_heartbeats):
    settings.READINESS_WORKER_MAX_AGE = 60
    every_worker_seen(NOW - timedelta(seconds=61))
    heartbeats.record("beat", NOW)
    with time_machine.travel(NOW, tick=False):
        response = client.get("/readyz")
    assert (response.status_code, response.json()["failing"]) == (503, QUEUE_CHECKS)


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

        def call_repeatedly(self, seconds, function, args=()):
            self.repeated.append((seconds, function, args))
            return mock.Mock()

    # A worker started with -Q outbound: it consumes that queue only.
    amqp = SimpleNamespace(queues=SimpleNamespace(consume_from={"outbound": object()}))
    consumer = SimpleNamespace(timer=Timer(), app=SimpleNamespace(amqp=amqp))
    step = WorkerHeartbeat(consumer)
    with time_machine.travel(NOW, tick=False):
        step.start(consumer)
    assert heartbeats.last_seen("worker") == heartbeats.last_seen("worker:outbound") == NOW
    assert heartbeats.last_seen("worker:inbound") is None
    [(seconds, function, args)] = consumer.timer.repeated
    assert seconds == heartbeats.WORKER_INTERVAL_SECONDS
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        function(*args)
    assert heartbeats.last_seen("worker:outbound") == NOW + timedelta(seconds=30)
    step.stop(consumer)
    assert step.timer_entry is None
    assert WorkerHeartbeat in celery_app.steps["consumer"]


@pytest.mark.parametrize("variable", [{"READINESS_WORKER_MAX_AGE": "30"}, {"READINESS_BEAT_MAX_AGE": "60"}])
def test_readiness_thresholds_shorter_than_two_heartbeats_are_refused_at_start(variable):
    result = run_in_project([sys.executable, "-c", "import django; django.setup()"], with_project_settings(**variable))
    assert result.returncode != 0
    assert "READINESS_WORKER_MAX_AGE must be at least 60 seconds" in result.stderr
