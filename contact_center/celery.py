"""The Celery application; tasks live in each app's ``tasks.py``.

Database connections in the worker: Celery's Django fix-up closes every
connection before and after every task unless ``CELERY_DB_REUSE_MAX`` is set,
so each task paid for a new PostgreSQL backend (a fork and an authentication,
several times the CPU of a message's queries). Settings set that knob out of
reach, and the handlers below do for a task what Django does for a request:
a connection is closed only when it is broken, left inside a transaction, or
older than ``CONN_MAX_AGE``, which worker processes take from
``WORKER_DB_CONN_MAX_AGE`` (without the web processes' pool, ``DB_POOL_MAX_SIZE``).

Readiness (``GET /readyz``): every worker records its heartbeat from a timer
(:class:`WorkerHeartbeat`), and beat's heartbeat task is defined here
(:func:`record_beat_heartbeat`); see :mod:`contact_center.heartbeats`. Log
lines of a task carry its task id as their request id (:mod:`contact_center.logs`).
"""

import contextvars
import logging
import os
from typing import Any

from celery import Celery, bootsteps
from celery.signals import import_modules, task_postrun, task_prerun, worker_process_init
from kombu import Queue

from channels_app.engine import jobs
from contact_center import heartbeats, logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "contact_center.settings")

app = Celery("contact_center")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def route_by_kind_of_work(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **kw: Any) -> dict:
    """Celery's router: every task goes to the queue of its kind of work (``jobs.QUEUE_OF``, decision 0023)."""
    return {"queue": jobs.queue_of(name)}


# The four queues (declared, so /metrics counts each one) and the routing table: in code, not in settings, as
# the table names tasks (settings import no app).
app.conf.task_queues = [Queue(name, routing_key=name) for name in jobs.QUEUES]
app.conf.task_default_queue = jobs.DEFAULT_QUEUE
app.conf.task_routes = (route_by_kind_of_work,)

logger = logging.getLogger(__name__)


@import_modules.connect(sender=app)
def start_embedded_servers(**kwargs) -> None:
    """Worker and beat: start the embedded servers settings point at before the first task or schedule needs them.

    ``import_modules`` is the first signal both programs send (before beat
    reads its schedule from the database); it is not sent again in a worker's
    child processes.
    """
    from contact_center import embedded

    embedded.start()


@worker_process_init.connect
def keep_database_connections_between_tasks(**kwargs) -> None:
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        # One task at a time per process: a kept connection beats a pool (which persistent connections exclude).
        connections[alias].settings_dict["OPTIONS"].pop("pool", None)
        connections[alias].settings_dict["CONN_MAX_AGE"] = settings.WORKER_DB_CONN_MAX_AGE


@task_prerun.connect
@task_postrun.connect
def close_unusable_database_connections(sender=None, **kwargs) -> None:
    # An eager task (tests, CELERY_TASK_ALWAYS_EAGER) runs inside its caller's transaction: leave it alone.
    if sender is not None and getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


# --- Log context: a task's log lines carry its task id as their request id ----------------------------------

# Task id → what to restore when the task ends (one task at a time per worker process, but keyed all the same).
_log_context_tokens: dict[str, contextvars.Token[dict[str, Any]]] = {}


@task_prerun.connect
def bind_task_log_context(sender=None, task_id=None, **kwargs) -> None:
    # An eager task runs inside its caller (a request, a test): its lines keep the caller's request id.
    if task_id is None or (sender is not None and getattr(sender.request, "is_eager", False)):
        return
    _log_context_tokens[task_id] = logs.start(request_id=task_id)


@task_postrun.connect
def unbind_task_log_context(task_id=None, **kwargs) -> None:
    token = _log_context_tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        logs.end(token)


# --- Heartbeats for the readiness check ---------------------------------------------------------------------


def _record_worker_heartbeat(queues: tuple[str, ...] = ()) -> None:
    from django.utils import timezone

    try:
        heartbeats.record_worker(timezone.now(), queues=queues)
    except Exception:
        # Redis is down: /readyz says so itself; the worker goes on.
        logger.warning("worker heartbeat not recorded: Redis did not answer", exc_info=True)


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Records the ``worker`` heartbeat (and one per queue it reads) now and every ``WORKER_INTERVAL_SECONDS``
    while the worker is consuming.

    A step of the consumer, on its timer in the worker's main process: it
    starts once the worker is connected to the broker and stops when the
    connection is lost (the consumer restarts its steps on reconnecting), so a
    fresh heartbeat means a worker able to receive tasks, whatever beat does.
    One Redis write per interval and worker: cheap.
    """

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent, **kwargs) -> None:
        super().__init__(parent, **kwargs)
        self.timer_entry = None

    def start(self, parent) -> None:
        # The queues this worker reads (``-Q``): /readyz wants a live worker on each of jobs.QUEUES.
        queues = tuple(sorted(parent.app.amqp.queues.consume_from))
        _record_worker_heartbeat(queues)
        self.timer_entry = parent.timer.call_repeatedly(
            heartbeats.WORKER_INTERVAL_SECONDS, _record_worker_heartbeat, args=(queues,)
        )

    def stop(self, parent) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    shutdown = stop


app.steps["consumer"].add(WorkerHeartbeat)


@app.task(name=heartbeats.BEAT_TASK, ignore_result=True)
def record_beat_heartbeat() -> None:
    """Scheduled by beat every ``BEAT_INTERVAL_SECONDS`` (``channels_app.periodic``): beat is scheduling."""
    from django.utils import timezone

    heartbeats.record("beat", timezone.now())
