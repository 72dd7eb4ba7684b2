"""When a Celery worker and Celery beat were last seen alive: unix timestamps in Redis.

- ``worker``: every worker records it every :data:`WORKER_INTERVAL_SECONDS` from
  a timer in its main process (``contact_center.celery.WorkerHeartbeat``), as
  long as it is connected to the broker, even when beat is down; and with it
  ``worker:<queue>`` for each queue it reads (``-Q``), so /readyz can say which
  kind of work has no live worker (decision 0023).
- ``beat``: beat schedules the task :data:`BEAT_TASK` every
  :data:`BEAT_INTERVAL_SECONDS` (``channels_app.periodic``) and a worker
  running it records it, so it proves beat is scheduling (and fails too when
  no worker takes tasks).

``GET /readyz`` (``contact_center.health``) compares them with
``READINESS_WORKER_MAX_AGE`` / ``READINESS_BEAT_MAX_AGE``. Redis, not the
database: a heartbeat is a single overwritten value, lost harmlessly with
Redis, and the readiness check already needs Redis to answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import redis
from django.conf import settings

from channels_app.engine import jobs

Kind = Literal["worker", "beat"]
KINDS: tuple[Kind, ...] = ("worker", "beat")
KEY_PREFIX = "health:heartbeat:"
WORKER_INTERVAL_SECONDS = 30
BEAT_INTERVAL_SECONDS = 60
# A task name is part of the wire format and of beat's schedule rows: it never changes (docs/decisions/0006).
BEAT_TASK = jobs.RECORD_BEAT_HEARTBEAT


def _redis() -> redis.Redis:
    # Short timeouts: a readiness probe or a worker's timer must not hang on a Redis that does not answer.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def record(kind: Kind, now: datetime) -> None:
    """Remember that ``kind`` was alive at ``now`` (raises ``redis.RedisError`` when Redis does not answer)."""
    client = _redis()
    try:
        client.set(KEY_PREFIX + kind, f"{now.timestamp():.3f}")
    finally:
        client.close()


def record_worker(now: datetime, *, queues: tuple[str, ...]) -> None:
    """A worker reading ``queues`` is alive at ``now``: ``worker`` and ``worker:<queue>`` of each, in one round trip."""
    value = f"{now.timestamp():.3f}"
    client = _redis()
    try:
        client.mset({KEY_PREFIX + key: value for key in ("worker", *(queue_key(queue) for queue in queues))})
    finally:
        client.close()


def queue_key(queue: str) -> str:
    """The heartbeat of the workers reading ``queue``."""
    return f"worker:{queue}"


def last_seen(kind: str) -> datetime | None:
    """When ``kind`` (or a :func:`queue_key`) was last recorded (aware UTC), ``None`` if never (raises RedisError)."""
    return last_seen_many([kind])[kind]


def last_seen_many(keys: list[str]) -> dict[str, datetime | None]:
    """:func:`last_seen` of several heartbeats in one round trip."""
    client = _redis()
    try:
        values = client.mget([KEY_PREFIX + key for key in keys])
    finally:
        client.close()
    return {
        key: datetime.fromtimestamp(float(value), tz=UTC) if value is not None else None
        for key, value in zip(keys, values, strict=True)
    }
