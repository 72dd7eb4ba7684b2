"""``manage.py web``: the production web process, uvicorn as the settings describe it.

The command replaces itself with ``uvicorn contact_center.asgi:application`` carrying:

- the websocket frame limit (``WEBSOCKET_MAX_FRAME_BYTES``): larger frames are refused before a consumer reads
  them;
- the reverse proxies whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed (``TRUSTED_PROXIES``), and
  nobody else's: the client address that rate limits and sign-in throttling count by is then the real one
  (``scope["client"]`` for sockets, ``REMOTE_ADDR`` for Django);
- the number of worker processes (``WEB_WORKERS``) and a database pool per process (``DB_POOL_MAX_SIZE``);
- a bounded stop (``SHUTDOWN_GRACE_SECONDS``, decision 0023): on SIGTERM uvicorn stops listening, closes its
  sockets and waits for in-flight work at most this long, then cancels what is left and exits. Without the bound
  it waited forever for a consumer whose socket never finished closing.

``manage.py serve`` (``make run``) starts its web child with :func:`web_process` as well, so what runs in
development and in production cannot drift apart.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


def web_process(*, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The uvicorn command line and environment of a web process listening on ``host:port``."""
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "contact_center.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--ws-max-size",
        str(settings.WEBSOCKET_MAX_FRAME_BYTES),
        "--workers",
        str(settings.WEB_WORKERS),
        "--timeout-graceful-shutdown",
        str(settings.SHUTDOWN_GRACE_SECONDS),
    ]
    if settings.TRUSTED_PROXIES:
        command += ["--proxy-headers", "--forwarded-allow-ips", ",".join(settings.TRUSTED_PROXIES)]
    else:
        # Left to itself uvicorn believes 127.0.0.1 (or $FORWARDED_ALLOW_IPS): any local process could name its
        # own client address. No trusted proxy means no proxy headers at all.
        command.append("--no-proxy-headers")
    # A connection pool per web process: console calls and REST requests reuse connections (settings explain why).
    environment = {**os.environ, "DB_POOL_MAX_SIZE": os.environ.get("DB_POOL_MAX_SIZE", "20")}
    return command, environment


class Command(BaseCommand):
    help = (
        "Run the web process (uvicorn) as in production: websocket frame limit, trusted proxies and worker "
        "count come from the settings (WEBSOCKET_MAX_FRAME_BYTES, TRUSTED_PROXIES, WEB_WORKERS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host: str, port: int, **options):
        command, environment = web_process(host=host, port=port)
        self.stdout.write(" ".join(command[1:]))
        self.stdout.flush()
        sys.stderr.flush()
        # uvicorn takes this process's place: signals from a process manager reach it directly.
        os.execve(command[0], command, environment)  # noqa: S606 -- our own fixed command
