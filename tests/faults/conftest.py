"""Fixtures of the fault tests: private servers, and a console client that behaves like ``static/console/socket.js``.

The seeded rows are committed (``transaction=True``) in pytest-django's test
database, which the web processes and workers started here use too.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from django.db import connection
from django.test import Client as HttpClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.e2e.harness import database_url
from tests.faults.servers import RedisServer


@pytest.fixture
def private_redis():
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def test_database_url(transactional_db) -> str:
    return database_url(connection.settings_dict)


@pytest.fixture(autouse=True)
def events_stay_in_this_process(settings):
    # Services the test calls to seed rows must not publish to a development server's consoles.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def session_cookie(user) -> str:
    http = HttpClient()
    http.force_login(user)
    return http.cookies["sessionid"].value


@dataclass
class ConsoleClient:
    """An operator's console tab, speaking the protocol of ``static/console/socket.js`` and ``console.js``:
    events over the socket; after every (re)connect a re-sync from the REST API (lists, and the messages
    after the last id seen). ``seen`` holds every message id this tab has shown, from either path."""

    base_url: str
    ws_url: str
    session: str
    socket: ClientConnection | None = None
    frames: list[dict] = field(default_factory=list)
    seen: dict[int, list[int]] = field(default_factory=dict)  # conversation id → message ids in order shown
    refs: itertools.count = field(default_factory=lambda: itertools.count(1))
    reconnects: int = 0
    # Frames buffered before the client stops reading the network (None: unbounded); a small value
    # makes an unread socket push back on the server over TCP, as a frozen tab does.
    max_queue: int | None = None

    @property
    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, cookies={"sessionid": self.session}, timeout=10)

    def connect(self) -> ConsoleClient:
        self.socket = connect(
            f"{self.ws_url}/ws/console/",
            additional_headers={"Cookie": f"sessionid={self.session}", "Origin": self.base_url},
            open_timeout=10,
            max_queue=self.max_queue,
            legacy=True,  # a tab lives across calls, not inside one with-block
        )
        hello = json.loads(self.socket.recv(timeout=10))
        assert hello["type"] == "hello", hello
        self.request("heartbeat", active=True, wait=False)
        return self

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()

    def send(self, frame: dict) -> None:
        self.socket.send(json.dumps(frame))

    def request(self, action: str, *, wait: bool = True, timeout: float = 15, **payload) -> dict | None:
        ref = next(self.refs)
        self.send({"action": action, "ref": ref, **payload})
        if not wait:
            return None
        return self.wait_for(lambda frame: frame.get("ref") == ref, timeout=timeout, what=f"answer to {action}")

    def _take(self, frame: dict) -> None:
        self.frames.append(frame)
        # An operator's own message is shown from the ack of "send"; everyone else's from message.created.
        if frame.get("type") in ("message.created", "ack") and isinstance(frame.get("message"), dict):
            message = frame["message"]
            self._show(message["conversation_id"], message["id"])

    def _show(self, conversation_id: int, message_id: int) -> None:
        shown = self.seen.setdefault(conversation_id, [])
        if message_id not in shown:
            shown.append(message_id)

    def poll(self, timeout: float) -> bool:
        """Read one frame if one arrives within ``timeout``; False when the socket is closed."""
        try:
            raw = self.socket.recv(timeout=timeout)
        except TimeoutError:
            return True
        except ConnectionClosed:
            return False
        self._take(json.loads(raw))
        return True

    def drain(self, quiet: float = 0.5) -> bool:
        """Read everything the server has sent until it is ``quiet`` for a while; False when the socket closed."""
        while True:
            try:
                raw = self.socket.recv(timeout=quiet)
            except TimeoutError:
                return True
            except ConnectionClosed:
                return False
            self._take(json.loads(raw))

    def wait_for(self, predicate: Callable[[dict], bool], *, timeout: float, what: str) -> dict:
        for frame in self.frames:
            if predicate(frame):
                return frame
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            start = len(self.frames)
            if not self.poll(0.2):
                raise ConnectionClosed(None, None)
            for frame in self.frames[start:]:
                if predicate(frame):
                    return frame
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; frames: {self.frames[-5:]}")

    def is_closed(self) -> bool:
        try:
            self.socket.ping().wait(2)
        except (ConnectionClosed, TimeoutError):
            return True
        return False

    def reconnect(self, timeout: float = 30) -> None:
        """What LiveSocket does when its socket closes: reconnect with backoff, then re-sync."""
        self.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect()
                break
            except (OSError, ConnectionClosed, TimeoutError, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.reconnects += 1
        self.resync()

    def resync(self) -> None:
        """``console.js`` resync(): the lists, then the messages after the last id shown, per conversation."""
        with self.http as http:
            lists = http.get("/api/console/conversations/").raise_for_status().json()
            conversation_ids = {row["id"] for key in ("offered", "mine", "queued") for row in lists[key]}
            for conversation_id in sorted(conversation_ids | set(self.seen)):
                shown = self.seen.get(conversation_id)
                query = f"?after={shown[-1]}" if shown else ""
                answer = http.get(f"/api/conversations/{conversation_id}/messages/{query}")
                if answer.status_code == 404:
                    continue
                for message in answer.raise_for_status().json()["messages"]:
                    self._show(conversation_id, message["id"])
