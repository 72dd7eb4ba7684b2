"""Issue 21, point 5: processes that stop when told (real processes, real signals, no mocks).

- SIGTERM to the web process alone (``manage.py web``, uvicorn with two workers) with an operator's socket open:
  it exits within ``SHUTDOWN_GRACE_SECONDS`` (it used to wait forever for background tasks);
- SIGKILL to uvicorn's supervisor: its worker processes go too (their parent-death signal);
- two Celery beats: the second waits as a standby while the first holds the lock, and takes over when it stops.

``manage.py serve`` stopped by SIGINT, SIGTERM and SIGKILL is in tests/test_serve.py.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.factories import OperatorFactory
from tests.faults.conftest import ConsoleClient, session_cookie
from tests.faults.servers import BASE_DIR, server_environment, wait_until
from tests.net import free_port

pytestmark = pytest.mark.django_db(transaction=True)

GRACE = 2


def start(command: list[str], environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    log = open(log_path, "a")  # noqa: SIM115 - the child writes to it for its whole life
    return subprocess.Popen(
        command, cwd=BASE_DIR, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_group(process: subprocess.Popen) -> None:
    """Whatever the test left running (its own process group only)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def silent_socket(url: str, session: str) -> socket.socket:
    """A console websocket opened by hand, then never read nor answered (a frozen tab, a lost network)."""
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    connection.sendall(
        (
            f"GET /ws/console/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {url}\r\n"
            f"Cookie: sessionid={session}\r\n\r\n"
        ).encode()
    )
    assert connection.recv(4096).startswith(b"HTTP/1.1 101"), "the socket was not accepted"
    return connection


@pytest.fixture
def web(private_redis, test_database_url, tmp_path):
    """``manage.py web`` with two uvicorn workers; yields (process, base url, its worker processes)."""
    port = free_port()
    environment = server_environment(
        database_url=test_database_url,
        redis_url=private_redis.url,
        SHUTDOWN_GRACE_SECONDS=str(GRACE),
        WEB_WORKERS="2",
        PORT=str(port),
    )
    log_path = tmp_path / "web.log"
    process = start([sys.executable, "manage.py", "web"], environment, log_path)
    url = f"http://127.0.0.1:{port}"

    def workers_answer():
        assert process.poll() is None, log_path.read_text()
        try:
            httpx.get(f"{url}/healthz", timeout=2)
        except httpx.TransportError:
            return None
        # uvicorn's worker processes (multiprocessing's resource tracker beside them goes with them too)
        children = psutil.Process(process.pid).children()
        workers = [child for child in children if "spawn_main" in " ".join(child.cmdline())]
        return children if len(workers) == 2 else None

    try:
        workers = wait_until(workers_answer, timeout=90, interval=0.2, what=f"the web process (log: {log_path})")
        yield process, url, workers
    finally:
        stop_group(process)


def test_issue21_sigterm_to_the_web_process_alone_stops_it_within_its_grace_even_with_a_socket_open(web):
    process, url, workers = web
    olga = OperatorFactory(username="olga")
    session = session_cookie(olga)
    tab = ConsoleClient(base_url=url, ws_url=url.replace("http", "ws"), session=session).connect()
    silent = silent_socket(url, session)  # a frozen tab: it never answers the server's closing handshake
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=GRACE + 8)
        took = time.monotonic() - started
    finally:
        tab.close()
        silent.close()
    assert took < GRACE + 5, f"the web process took {took:.1f}s to stop"
    # Its workers and multiprocessing's resource tracker leave with it (the tracker a moment after).
    wait_until(lambda: alive(workers) == [], timeout=3, what="the web workers to be gone")


def test_issue21_the_web_workers_die_with_a_killed_supervisor(web):
    process, _, workers = web
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=5)
    wait_until(lambda: alive(workers) == [], timeout=GRACE + 5, what="the orphaned uvicorn workers to stop")


def test_issue21_a_second_beat_waits_as_a_standby_until_the_first_stops(private_redis, test_database_url, tmp_path):
    environment = server_environment(database_url=test_database_url, redis_url=private_redis.url, LOG_LEVEL="INFO")
    beat = [sys.executable, "-m", "celery", "-A", "contact_center", "beat", "-l", "info", "-s", str(tmp_path / "s")]
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start(beat, environment, first_log)
    second = None
    try:
        wait_until(lambda: "lock beat:lock taken" in first_log.read_text(), timeout=60, what="the first beat to start")
        second = start(beat, environment, second_log)
        wait_until(
            lambda: "Another Celery beat holds the lock" in second_log.read_text(),
            timeout=60,
            what=f"the second beat to wait (log: {second_log})",
        )
        time.sleep(6)  # longer than a standby's retry: it is still waiting
        assert "lock beat:lock taken" not in second_log.read_text()
        assert second.poll() is None

        first.send_signal(signal.SIGTERM)  # a clean stop releases the lock
        first.wait(timeout=15)
        wait_until(
            lambda: "lock beat:lock taken" in second_log.read_text(), timeout=15, what="the standby to take over"
        )
    finally:
        stop_group(first)
        if second is not None:
            stop_group(second)
