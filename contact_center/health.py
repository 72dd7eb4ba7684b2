"""``GET /healthz``: does the database answer, does Redis answer. ``GET /readyz``: that, and are Celery alive.

``/healthz`` is the liveness probe: cheap, and it says nothing about the
workers, so a web process is never restarted because beat stopped.
``/readyz`` adds the heartbeats of :mod:`contact_center.heartbeats`: a worker
reading each queue (inbound, outbound, sweeps, bulk) seen within
``READINESS_WORKER_MAX_AGE`` seconds, beat's task within
``READINESS_BEAT_MAX_AGE``; and the intake's lag: the oldest webhook delivery
still pending arrived within ``READINESS_INBOUND_MAX_LAG`` seconds. It reports
the tasks waiting in each queue too. Both are public: the bodies name checks,
ages and counts, nothing else.
"""

from __future__ import annotations

import logging
from datetime import datetime

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from channels_app.engine import jobs, selectors
from contact_center import broker, heartbeats

logger = logging.getLogger(__name__)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:  # any failure means "does not answer"
        logger.exception("health check: database does not answer")
        return False


def _redis_ok() -> bool:
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        logger.exception("health check: redis does not answer")
        return False


@require_GET
def healthz(request):
    checks = {"database": _database_ok(), "redis": _redis_ok()}
    failing = [name for name, ok in checks.items() if not ok]
    body: dict[str, object] = {
        "status": "ok" if not failing else "unavailable",
        "checks": {name: "ok" if ok else "no answer" for name, ok in checks.items()},
    }
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=200 if not failing else 503)


def _verdict(seen: datetime | None, max_age: int, now: datetime) -> tuple[str, int | None]:
    """``(verdict, seconds since last seen)``: ``ok``, ``stale`` or ``never seen``."""
    if seen is None:
        return "never seen", None
    age = max(0, int((now - seen).total_seconds()))
    return ("ok" if age <= max_age else "stale"), age


def _heartbeats(now: datetime) -> tuple[dict[str, str], dict[str, int | None], dict[str, int]]:
    """A worker on each queue (decision 0023) and beat: verdicts, ages, max ages; ``no answer`` when Redis fails."""
    max_ages = {heartbeats.queue_key(queue): settings.READINESS_WORKER_MAX_AGE for queue in jobs.QUEUES}
    max_ages["beat"] = settings.READINESS_BEAT_MAX_AGE
    try:
        seen = heartbeats.last_seen_many(list(max_ages))
    except redis.RedisError:
        logger.exception("readiness check: redis does not answer")
        return dict.fromkeys(max_ages, "no answer"), dict.fromkeys(max_ages), max_ages
    verdicts: dict[str, str] = {}
    ages: dict[str, int | None] = {}
    for key, max_age in max_ages.items():
        verdicts[key], ages[key] = _verdict(seen[key], max_age, now)
    return verdicts, ages, max_ages


def _inbound_lag(now: datetime) -> tuple[str, int | None]:
    """How long the oldest webhook delivery has waited unprocessed (one indexed query): ``ok`` or ``behind``."""
    try:
        oldest = selectors.oldest_pending_update_received_at()
    except Exception:
        logger.exception("readiness check: the inbound lag could not be read")
        return "no answer", None
    lag = max(0, int((now - oldest).total_seconds())) if oldest is not None else 0
    return ("ok" if lag <= settings.READINESS_INBOUND_MAX_LAG else "behind"), lag


def _queue_lengths() -> dict[str, int] | None:
    try:
        return broker.queue_lengths()
    except Exception:
        logger.exception("readiness check: the broker's queues could not be read")
        return None


@require_GET
def readyz(request):
    """Ready: the database and Redis answer, a live worker reads each queue, beat schedules, intake keeps up.

    The body names every check, the heartbeats' ages, the tasks waiting per queue and the age of the oldest
    unprocessed webhook delivery (the lag), so an operator sees where work piles up.
    """
    now = timezone.now()
    checks = {
        "database": "ok" if _database_ok() else "no answer",
        "redis": "ok" if _redis_ok() else "no answer",
    }
    verdicts, ages, max_ages = _heartbeats(now)
    checks.update(verdicts)
    checks["inbound_lag"], lag = _inbound_lag(now)
    failing = [name for name, verdict in checks.items() if verdict != "ok"]
    body: dict[str, object] = {
        "status": "ok" if not failing else "unavailable",
        "checks": checks,
        "seconds_since_heartbeat": ages,
        "max_age_seconds": {**max_ages, "inbound_lag": settings.READINESS_INBOUND_MAX_LAG},
        "queue_lengths": _queue_lengths(),
        "oldest_pending_update_seconds": lag,
    }
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=200 if not failing else 503)
