"""A real server for browser tests: uvicorn with websockets, in its own process, on a free port.

The server uses the same PostgreSQL database as the test that seeds it (the
test database pytest-django created, or one made by the screenshot script),
the embedded Redis with a channel-layer and cache prefix of its own, and runs
Celery tasks inline, so nothing it enqueues reaches a development worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from urllib.error import URLError
from urllib.parse import quote
from urllib.request import urlopen

from tests.net import free_port

BASE_DIR = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--headless=new",
    # Offer sounds play without a user gesture, as they do for an operator who has clicked once.
    "--autoplay-policy=no-user-gesture-required",
]


def chromium_executable() -> str:
    """Debian's chromium; its absence fails the browser tests (`make test` installs it when it can)."""
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("Debian's chromium is required for the browser tests: apt-get install -y chromium")
    return executable


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database described by Django ``settings_dict`` (unix socket or TCP)."""
    host = settings_dict.get("HOST") or settings_dict.get("OPTIONS", {}).get("host", "")
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    if str(host).startswith("/"):
        return f"postgresql://{user}{password}@/{settings_dict['NAME']}?host={host}"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgresql://{user}{password}@{host}{port}/{settings_dict['NAME']}"


class LiveServer:
    """``uvicorn contact_center.asgi:application`` in a child process."""

    def __init__(
        self, *, database: str, redis_url: str, log_path: Path, environment: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        # E-mails the server sends land here as files, one per message, for the tests to read.
        self.mail_dir = log_path.parent / "mail"
        # Conversation files: the server and the test process (which seeds files) share this directory.
        self.media_root = log_path.parent / "media"
        run_id = uuid.uuid4().hex[:10]
        self.environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "contact_center.settings",
            "DATABASE_URL": database,
            "REDIS_URL": redis_url,
            "CHANNEL_LAYER_PREFIX": f"e2e-{run_id}",
            "CACHE_KEY_PREFIX": f"e2e-{run_id}",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "EMAIL_URL": f"filemail:///{quote(str(self.mail_dir), safe='')}",
            "SITE_URL": self.url,
            "MEDIA_ROOT": str(self.media_root),
            **(environment or {}),
            "DEBUG": "true",
            "LOG_LEVEL": "WARNING",
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> LiveServer:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "w")  # noqa: SIM115 - stays open for the child's lifetime
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "contact_center.asgi:application",
                "--host", "127.0.0.1", "--port", str(self.port), "--no-access-log",
            ],
            cwd=BASE_DIR,
            env=self.environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except (URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"uvicorn did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def sent_mails(self) -> list[EmailMessage]:
        """Every e-mail the server sent, parsed (Django's file backend separates them with a line of dashes)."""
        if not self.mail_dir.exists():
            return []
        mails = []
        for path in sorted(self.mail_dir.iterdir()):
            for raw in path.read_bytes().split(b"\n" + b"-" * 79 + b"\n"):
                if raw.strip():
                    mails.append(message_from_bytes(raw, policy=email_policy.default))
        return mails

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def publish_to_server(settings, server: LiveServer) -> None:
    """What the services a test calls itself publish must reach the server's sockets: its Redis channel layer."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "contact_center.channel_layer.RedisEventsChannelLayer",
            "CONFIG": {
                "hosts": [{"address": settings.REDIS_URL}],
                "prefix": server.environment["CHANNEL_LAYER_PREFIX"],
            },
        }
    }


def in_worker(function):
    """Run ``function`` (a service a test seeds with) in a worker thread and wait until its events were sent.

    Playwright's sync API runs an event loop in the test's thread, where Django refuses database calls
    meant for plain synchronous code; the worker thread is plain, and closes its connection when done.
    """

    def run():
        from django.db import connection

        from channels_app.engine import events

        try:
            return function()
        finally:
            events.flush()
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def wait_for(predicate, timeout: float = 10.0):
    """Poll ``predicate`` until it returns something truthy (what the live server wrote), and return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"the server did not get there within {timeout} s")
