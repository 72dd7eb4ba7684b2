"""Helpers shared by the chatbot tests (B1, B2); this module holds no tests.

* :class:`FakeBotServer`: a real HTTP server on 127.0.0.1 playing an external
  bot: it records every event (raw body and headers) and answers what the
  test scripts.
* :func:`make_chatbot` / :func:`bot_channel`: a chatbot and an open channel
  that assigns it, with a queue of operators.
* the ``bot_turns`` fixture: client messages the receiver sends to the bot,
  recorded instead of queued to Celery, so a test runs each turn when it wants.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from channels_app import tasks as bot_tasks
from channels_app.bots import services as bot_services
from channels_app.models import Chatbot, ChatbotRule, Message, StatusChange
from tests.factories import ConnectorFactory, OpenChannelFactory, QueueMemberFactory

HANG = object()  # a scripted answer: keep the request open until the test ends (a bot that times out)


@dataclass
class ReceivedEvent:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class FakeBotServer:
    """An external bot on a real local socket.

    ``respond(event) -> (status, answer)`` scripts the answer: ``answer`` is a
    dict sent as JSON, raw ``bytes``, ``None`` for an empty body, or
    :data:`HANG`.
    """

    def __init__(self, respond: Callable[[dict], tuple[int, object]] | None = None) -> None:
        self.received: list[ReceivedEvent] = []
        self.respond = respond or (lambda event: (200, None))
        self._lock = threading.Lock()
        self._release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with server._lock:
                    server.received.append(ReceivedEvent(headers=dict(self.headers.items()), body=body))
                status, answer = server.respond(json.loads(body))
                if answer is HANG:
                    server._release.wait(timeout=30)
                    answer = None
                payload = (
                    answer if isinstance(answer, bytes) else b"" if answer is None else json.dumps(answer).encode()
                )
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the contact center gave up waiting (timeout test)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeBotServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/bot/events"

    @property
    def events(self) -> list[dict]:
        with self._lock:
            return [received.event for received in self.received]


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/bot"


def make_chatbot(kind: str = Chatbot.Kind.RULES, rules: dict[str, str] | None = None, **fields) -> Chatbot:
    """A chatbot; ``rules`` maps comma-separated keywords to the answer, in order."""
    fields.setdefault("name", f"{kind} bot")
    chatbot = Chatbot.objects.create(kind=kind, **fields)
    for position, (keywords, answer) in enumerate((rules or {}).items()):
        ChatbotRule.objects.create(chatbot=chatbot, position=position, keywords=keywords, answer=answer)
    return chatbot


def bot_channel(chatbot: Chatbot, operators, connector_kind: str = "livechat", **settings):
    """An open channel that assigns ``chatbot`` (B1), with ``operators`` in its queue."""
    channel = OpenChannelFactory(chatbot_enabled=True, chatbot=chatbot, **settings)
    for position, operator in enumerate(operators):
        QueueMemberFactory(open_channel=channel, operator=operator, position=position)
    ConnectorFactory(open_channel=channel, kind=connector_kind)
    return channel


@pytest.fixture
def bot_turns(monkeypatch) -> list[int]:
    """Ids of client messages the receiver sent to the bot, in order (the Celery task is not queued)."""
    queued: list[int] = []

    monkeypatch.setattr(bot_tasks.answer_client_message, "apply_async", lambda args, eta=None: queued.append(args[0]))
    return queued


def run_turns(engine, queued: list[int]) -> list[str]:
    """Run the recorded bot turns as the Celery worker would; returns their outcomes."""
    outcomes = []
    while queued:
        message_id = queued.pop(0)
        outcomes.append(engine.commit(bot_services.bot_message_answer, message_id=message_id).outcome)
    return outcomes


def bot_texts(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, author_kind=Message.Author.BOT)
        .order_by("id")
        .values_list("text", flat=True)
    )


def status_path(conversation) -> list[str]:
    """The conversation's statuses in order, from its status history."""
    changes = StatusChange.objects.filter(conversation=conversation).order_by("id").values_list("to_status", flat=True)
    return list(changes)
