"""How many tasks wait in each Celery queue of the Redis broker: ``/metrics``, ``/readyz`` and the webhook door's
backpressure (decision 0023) read it here.

kombu's own count of a Redis queue: its list plus the lists of its priority steps. There is no public call for it
(``queue_declare(passive=True)`` refuses a queue whose lists are all empty). Short timeouts: a probe or a webhook
must not hang on a broker that does not answer (the error is raised for the caller to decide).
"""

from __future__ import annotations

import threading
import time
from typing import cast

from celery import current_app
from kombu.transport.virtual import Channel as VirtualChannel


def declared_queues() -> list[str]:
    """The queues Celery knows: the declared ones (the kinds of work) and the default one."""
    conf = current_app.conf
    return sorted({conf.task_default_queue, *(queue.name for queue in conf.task_queues or ())})


def queue_lengths(queues: list[str] | None = None) -> dict[str, int]:
    """Tasks waiting (not yet taken by a worker) in each of ``queues`` (default: :func:`declared_queues`)."""
    names = declared_queues() if queues is None else queues
    with current_app.connection_for_read(
        connect_timeout=2, transport_options={"socket_timeout": 2, "socket_connect_timeout": 2}
    ) as connection:
        # Redis is a virtual transport in kombu; another broker fails here (AttributeError), for the caller to log.
        channel = cast(VirtualChannel, connection.default_channel)
        return {name: int(channel._size(name)) for name in names}


class CachedLength:
    """One queue's length, read at most once per ``max_age`` seconds in this process (a webhook asks per delivery)."""

    def __init__(self, queue: str, max_age: float = 1.0) -> None:
        self.queue = queue
        self.max_age = max_age
        self._lock = threading.Lock()
        self._value = 0
        self._read_at = -float("inf")

    def get(self) -> int:
        with self._lock:
            if time.monotonic() - self._read_at < self.max_age:
                return self._value
            # Read under the lock: the threads of a burst wait for one read instead of each making its own.
            self._value = queue_lengths([self.queue])[self.queue]
            self._read_at = time.monotonic()
            return self._value

    def forget(self) -> None:
        """Read afresh next time (tests)."""
        with self._lock:
            self._read_at = -float("inf")
