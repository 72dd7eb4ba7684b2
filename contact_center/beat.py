"""One Celery beat at a time (issue 21; decision 0023): django-celery-beat's scheduler behind a lock in Redis.

Two beats double every sweep: each offer is forwarded twice as often, each KPI pass runs twice. The sweeps are
idempotent, so that was harmless; now it is impossible. :class:`SingleBeatScheduler` (``CELERY_BEAT_SCHEDULER``)
takes the lock :data:`LOCK_KEY` before it reads the schedule, and renews it at every tick (at least every
:data:`RENEW_EVERY_SECONDS`); it expires :data:`LOCK_SECONDS` after the last renewal, so a beat that was killed
hands over within that. A second beat logs who holds the lock and waits as a standby, trying again every
:data:`RENEW_EVERY_SECONDS`; it starts scheduling when the first stops (at once on a clean stop, which releases
the lock). A beat that finds the lock taken by another (it was paused longer than the expiry) stops at once.

Redis, not the database: the lock must expire by itself when its holder dies, and beat already needs Redis
(the broker). If Redis does not answer, the holder goes on ticking (nothing it sends would reach a worker anyway)
and renews or takes the lock again once it answers.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

LOCK_KEY = "beat:lock"
LOCK_SECONDS = 30
RENEW_EVERY_SECONDS = 5

# Renew our own lock; take it if nobody holds it (Redis restarted empty); refuse if another beat holds it.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] or not holder then
    redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class BeatLock:
    """The lock one beat holds in Redis: a value naming its holder, with an expiry."""

    def __init__(self, client: redis.Redis, *, key: str = LOCK_KEY, seconds: float = LOCK_SECONDS) -> None:
        self.client = client
        self.key = key
        self.milliseconds = int(seconds * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=self.milliseconds))

    def renew(self) -> bool:
        """Extend our hold (taking a lock nobody holds); ``False`` when another beat holds it."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.milliseconds))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        if isinstance(value, bytes):
            return value.decode()
        return value


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


class SingleBeatScheduler(DatabaseScheduler):
    """django-celery-beat's ``DatabaseScheduler`` that schedules only while it holds :class:`BeatLock`."""

    lock: BeatLock

    def setup_schedule(self) -> None:
        self.lock = BeatLock(_redis())
        self._wait_for_lock()
        super().setup_schedule()

    def _wait_for_lock(self) -> None:
        told = False
        while True:
            try:
                if self.lock.acquire():
                    break
                holder = self.lock.holder()
            except redis.RedisError:
                holder = "unknown: Redis does not answer"
            if not told:
                logger.warning(
                    "Another Celery beat holds the lock (%s, held by %s): only one may schedule. Waiting as a "
                    "standby; this beat takes over when that one stops.",
                    LOCK_KEY,
                    holder,
                )
                told = True
            time.sleep(RENEW_EVERY_SECONDS)
        logger.info("Celery beat lock %s taken (%s): this beat schedules.", LOCK_KEY, self.lock.token)

    def tick(self, *args, **kwargs) -> float:
        try:
            still_ours = self.lock.renew()
        except redis.RedisError:
            logger.warning("beat lock not renewed: Redis did not answer", exc_info=True)
            still_ours = True
        if not still_ours:
            logger.error("Another Celery beat took the lock %s (%s): this one stops.", LOCK_KEY, self.lock.holder())
            raise SystemExit(1)
        return min(super().tick(*args, **kwargs), RENEW_EVERY_SECONDS)

    def close(self) -> None:
        try:
            super().close()
        finally:
            lock = getattr(self, "lock", None)
            if lock is not None:
                try:
                    lock.release()
                except redis.RedisError:
                    logger.warning("beat lock not released (it expires by itself)", exc_info=True)
