"""``GET /healthz``: does the database answer, does Redis answer. ``GET /readyz``: that, and are Celery alive.

``/healthz`` is the liveness probe: cheap, and it says nothing about the
workers, so a web process is never restarted because beat stopped.
``/readyz`` adds the heartbeats of :mod:`contact_center.heartbeats`: a worker
seen within ``READINESS_WORKER_MAX_AGE`` seconds, beat's task within
``READINESS_BEAT_MAX_AGE``. Both are public: the bodies name checks and ages,
nothing else.
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

from contact_center import heartbeats

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


def _heartbeat(kind: heartbeats.Kind, max_age: int, now: datetime) -> tuple[str, int | None]:
    """``(verdict, seconds since last seen)``: ``ok``, ``stale``, ``never seen`` or ``no answer`` (Redis)."""
    try:
        seen = heartbeats.last_seen(kind)
    except redis.RedisError:
        logger.exception("readiness check: redis does not answer")
        return "no answer", None
    if seen is None:
        return "never seen", None
    age = max(0, int((now - seen).total_seconds()))
    return ("ok" if age <= max_age else "stale"), age


@require_GET
def readyz(request):
    now = timezone.now()
    checks = {
        "database": "ok" if _database_ok() else "no answer",
        "redis": "ok" if _redis_ok() else "no answer",
    }
    max_ages: dict[heartbeats.Kind, int] = {
        "worker": settings.READINESS_WORKER_MAX_AGE,
        "beat": settings.READINESS_BEAT_MAX_AGE,
    }
    ages: dict[str, int | None] = {}
    for kind, max_age in max_ages.items():
        checks[kind], ages[kind] = _heartbeat(kind, max_age, now)
    failing = [name for name, verdict in checks.items() if verdict != "ok"]
    body: dict[str, object] = {
        "status": "ok" if not failing else "unavailable",
        "checks": checks,
        "seconds_since_heartbeat": ages,
        "max_age_seconds": max_ages,
    }
    if failing:
        body["failing"] = failing
    return JsonResponse(body, status=200 if not failing else 503)
