"""A Celery worker keeps its PostgreSQL connection between tasks, and replaces it once it is broken.

Celery's Django fix-up closes every connection around every task unless told
otherwise (``contact_center/celery.py``); a new backend per task cost more CPU
than the task's queries. Sessions are counted by PostgreSQL itself
(``pg_stat_database.sessions``, flushed when a backend exits).
"""

from __future__ import annotations

import psycopg
import pytest

from tests.faults.servers import CeleryWorker, server_environment, wait_until
from tests.faults.servers import publisher as celery_publisher

pytestmark = pytest.mark.django_db(transaction=True)

SWEEP = "channels_app.connectors.tasks.sweep_connectors"
TASKS = 20


def _sessions(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        return connection.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


WORKER_APPLICATION = "faults-worker"


def _worker_backends(database_url: str, *, terminate: bool = False) -> int:
    action = "count(pg_terminate_backend(pid))" if terminate else "count(*)"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_clear_snapshot()")
        return connection.execute(
            f"SELECT {action} FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s",
            [WORKER_APPLICATION],
        ).fetchone()[0]


def test_twenty_tasks_share_one_connection_and_a_killed_one_is_replaced(private_redis, test_database_url, tmp_path):
    separator = "&" if "?" in test_database_url else "?"
    environment = server_environment(
        database_url=f"{test_database_url}{separator}application_name={WORKER_APPLICATION}",
        redis_url=private_redis.url,
    )
    publisher = celery_publisher(private_redis.broker_url)
    before = _sessions(test_database_url)
    worker = CeleryWorker(environment, tmp_path / "worker.log").start()
    try:
        for _ in range(TASKS):
            publisher.send_task(SWEEP)
        wait_until(
            lambda: worker.log_path.read_text().count("succeeded") >= TASKS, timeout=60, what=f"{TASKS} tasks to run"
        )
        # PostgreSQL restarted, or a pooler or a firewall dropped it: the next tasks must not fail for ever.
        assert _worker_backends(test_database_url, terminate=True) >= 1
        for _ in range(3):
            publisher.send_task(SWEEP)
        wait_until(
            lambda: worker.log_path.read_text().count("succeeded") >= TASKS + 2, timeout=60, what="tasks after the kill"
        )
    finally:
        worker.stop()
    wait_until(lambda: _worker_backends(test_database_url) == 0, timeout=10, what="the worker's backends to exit")
    # Besides the worker's, this test opened 3 counted connections. The worker connects at start-up
    # (main process and pool child) and once more after the kill; one connection per task would be 23+.
    sessions = _sessions(test_database_url) - before
    assert sessions <= 10, f"{sessions} PostgreSQL sessions for {TASKS + 3} tasks"
