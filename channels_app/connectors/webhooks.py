"""Provider webhooks: verify, store, answer; then process, in this process or in Celery.

Answers (never a 500, never a half-written conversation):

- 403: no active connector of that kind has this id, or the secret / signature
  (Meta's verify token) is missing or forged: one answer, body included, for
  both, so that nobody can tell which connector ids exist (issue 13);
- 400: the body is not a JSON object (or nests deeper than
  ``channels_app.web.MAX_JSON_DEPTH``), or not shaped as the provider documents;
- 413: the body is larger than Django accepts (``DATA_UPLOAD_MAX_MEMORY_SIZE``);
- 503: the database did not answer, or the connector's app secret decrypts with no configured key (a key
  rotation gone wrong, logged with the connector's id): the provider retries later, after the fix;
- 200: stored (or already stored: a provider's retry is a no-op), or an
  update kind we do not handle, ignored with a log line.

:func:`handle_webhook` holds the logic and knows nothing of the web framework.
Two doors lead to it: the Django views (``channels_app/urls.py``), and
:func:`webhook_asgi_app`, which ``contact_center.asgi`` puts in front of
Django for ``/webhooks/`` paths. Under ASGI every Django request crosses a
dozen sync middleware, each a thread hop, which costs several times the
webhook's own work; providers need fast answers, so the ASGI door runs the
handler with one hop and keeps its database connections open between
deliveries.

What happens to the stored updates depends on the door. The Django door
enqueues them for Celery before answering. The ASGI door answers first, then
processes at once the updates that need no call to the provider, which is
almost every text message: no broker round trip and no second process stand
between the client and the operator. At most ``WEB_INBOUND_CONCURRENCY``
deliveries per process are processed this way at a time; beyond that, and
for updates that need a provider call (a client's name, a button press to
answer) or were left
by a database error, Celery does it, so a busy web process hands the
overflow to the workers. An update stays ``pending`` until
processed, so if this process dies in between, the connector sweep hands it
to Celery (``PENDING_UPDATE_GRACE``).

Backpressure (decision 0023): when more than ``INBOUND_QUEUE_LIMIT`` tasks
wait in Celery's ``inbound`` queue (``processing.intake_paused``), both doors still
store and answer every delivery, but hand none to processing: the rows stay
``pending`` and the connector sweep hands them to Celery in the order they
arrived once the queue is shorter. A provider is never refused or slowed, so
it never retries into a storm.

Both doors count every answer they give for ``/metrics`` (:func:`count_answer`: requests by provider and
status, and the time to answer).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError, connection, connections
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils import timezone
from django.utils.datastructures import CaseInsensitiveMapping
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app.connectors.base import MalformedUpdate
from channels_app.connectors.meta import MetaSource
from channels_app.connectors.processing import (
    inbound_updates_process_without_provider_calls,
    inbound_updates_store,
    intake_paused,
)
from channels_app.connectors.registry import source_for
from channels_app.engine import instruments, intake, jobs
from channels_app.models import Connector, ConnectorKind
from channels_app.models.encryption import UndecryptableSecret
from channels_app.web import loads_untrusted_json
from contact_center import logs

logger = logging.getLogger("channels_app.webhooks")

META_KINDS = (ConnectorKind.FACEBOOK, ConnectorKind.WHATSAPP)
KINDS_BY_PROVIDER: dict[str, tuple[str, ...]] = {
    "telegram": (ConnectorKind.TELEGRAM,),
    "meta": META_KINDS,
    "zalo": (ConnectorKind.ZALO,),
}
PROVIDER_BY_KIND: dict[str, str] = {kind: provider for provider, kinds in KINDS_BY_PROVIDER.items() for kind in kinds}
METHODS_BY_PROVIDER = {"telegram": ("POST",), "meta": ("GET", "POST"), "zalo": ("POST",)}
WEBHOOK_PATH = re.compile(rf"/webhooks/(?P<provider>{'|'.join(KINDS_BY_PROVIDER)})/(?P<connector_id>[0-9]{{1,18}})/")
DATABASE_DOWN = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: bytes
    content_type: str = "application/json"
    # Connector id → ids of the updates this delivery stored; the door that answered has them processed.
    stored: Mapping[int, list[str]] = field(default_factory=dict)
    connector: Connector | None = None  # the one addressed, loaded with its open channel


def _json_answer(status: int, data: dict) -> WebhookAnswer:
    return WebhookAnswer(status=status, body=json.dumps(data).encode())


def _error(status: int, message: str) -> WebhookAnswer:
    return _json_answer(status, {"ok": False, "error": message})


def _refused() -> WebhookAnswer:
    """The one answer to an unknown or inactive connector id and to a wrong secret or signature."""
    return _error(403, "Unknown connector, or a missing or invalid signature.")


@logs.scoped
def handle_webhook(
    *, provider: str, connector_id: int, method: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
) -> WebhookAnswer:
    """One webhook delivery, from any door; ``headers`` must be case-insensitive."""
    logs.bind(connector_id=connector_id)
    kinds = KINDS_BY_PROVIDER[provider]
    try:
        if method == "GET" and provider == "meta":
            return _meta_subscription_check(connector_id, query)
        return _receive(connector_id, kinds, headers, body)
    except DATABASE_DOWN:
        logger.exception("%s webhook for connector %s: database unavailable", provider, connector_id)
        return _error(503, "Temporarily unavailable; please retry.")
    except UndecryptableSecret as error:
        # A configuration fault, not the sender's: the provider retries, and the message says what to fix.
        logger.error("%s webhook for connector %s: answered 503: %s", provider, connector_id, error)
        return _error(503, "Temporarily unavailable; please retry.")


def _connector(connector_id: int, kinds: tuple[str, ...]) -> Connector | None:
    # With its open channel (processing right after the answer needs both), without the access token (raw SQL:
    # engine.intake).
    return intake.connector_for_webhook(connector_id, kinds)


def _meta_subscription_check(connector_id: int, query: Mapping[str, str]) -> WebhookAnswer:
    connector = _connector(connector_id, META_KINDS)
    if connector is None:
        logger.warning("meta subscription check for unknown or inactive connector %s", connector_id)
        return _refused()
    source = cast(MetaSource, source_for(connector.kind))  # META_KINDS only: a MetaSource
    challenge = source.subscription_challenge(connector, query)
    if challenge is None:
        logger.warning("%s connector %s: subscription check with a wrong verify token", connector.kind, connector.pk)
        return _refused()
    return WebhookAnswer(status=200, body=challenge.encode(), content_type="text/plain; charset=utf-8")


def _receive(connector_id: int, kinds: tuple[str, ...], headers: Mapping[str, str], body: bytes) -> WebhookAnswer:
    """1. Find the connector; 2. verify; 3. parse the JSON; 4. split into updates; 5. store; 6. say what is new."""
    connector = _connector(connector_id, kinds)
    if connector is None:
        logger.warning("webhook for unknown or inactive connector %s", connector_id)
        return _refused()
    source = source_for(connector.kind)
    if not source.verify(connector, headers, body):
        logger.warning("%s connector %s: webhook with a missing or wrong signature", connector.kind, connector.pk)
        return _refused()
    payload = _json_object(body)
    if payload is None:
        logger.info("%s connector %s: webhook body is not a JSON object", connector.kind, connector.pk)
        return _error(400, "The body must be a JSON object.")
    try:
        updates = source.extract_updates(connector, payload)
    except MalformedUpdate as exc:
        logger.info("%s connector %s: malformed update: %s", connector.kind, connector.pk, exc)
        return _error(400, str(exc))
    if not updates:
        logger.info("%s connector %s: update of a kind we do not handle; ignored", connector.kind, connector.pk)
        return _json_answer(200, {"ok": True, "stored": 0, "ignored": True})
    try:
        stored = inbound_updates_store(connector=connector, updates=updates, now=timezone.now())
    except DataError as exc:
        logger.info("%s connector %s: update not storable: %s", connector.kind, connector.pk, exc)
        return _error(400, "The update could not be stored.")
    new_count = sum(len(ids) for ids in stored.values())
    answer = _json_answer(200, {"ok": True, "stored": new_count, "duplicates": len(updates) - new_count})
    return replace(answer, stored=stored, connector=connector)


def count_answer(provider: str, status: int, started: float) -> None:
    """Count a delivery answered by either door, and how long the answer took (``started``: ``perf_counter``)."""
    requests, duration = _webhook_instruments(provider, status)
    requests.inc()
    duration.observe(time.perf_counter() - started)


@functools.cache
def _webhook_instruments(provider: str, status: int) -> tuple[Any, Any]:
    # prometheus_client's labels() costs several times the increment itself (bench/metrics_overhead.py); the
    # providers and statuses are a handful, so each pair is looked up once per process.
    return (
        instruments.webhook_requests.labels(provider=provider, status=str(status)),
        instruments.webhook_duration_seconds.labels(provider=provider),
    )


def enqueue_processing(stored: Mapping[int, list[str]]) -> None:
    """Hand stored updates to Celery; if the broker is down, the connector sweep enqueues them later."""
    for connector_id, update_ids in stored.items():
        try:
            jobs.enqueue(jobs.PROCESS_INBOUND_UPDATES, connector_id, list(update_ids))
        except Exception:
            # Stored rows are safe: the connector sweep enqueues them once the broker answers again.
            logger.exception("connector %s: processing not enqueued; the sweep will retry", connector_id)


def _json_object(body: bytes) -> dict | None:
    try:
        data = loads_untrusted_json(body, parse_constant=_reject_constant)
    except ValueError:  # not JSON, or nested too deeply
        return None
    return data if isinstance(data, dict) else None


def _reject_constant(name: str) -> None:
    # NaN and Infinity are not JSON; PostgreSQL's jsonb would refuse them later.
    raise ValueError(f"{name} is not valid JSON")


# --- Door 1: Django views ---------------------------------------------------------------------------


def django_view(provider: str) -> Callable[[HttpRequest, int], HttpResponse]:
    """The Django view of one provider's webhook; `urls.py` makes one URL per provider of :data:`KINDS_BY_PROVIDER`."""

    @csrf_exempt
    @require_http_methods(list(METHODS_BY_PROVIDER[provider]))
    def webhook(request: HttpRequest, connector_id: int) -> HttpResponse:
        started = time.perf_counter()
        answer = handle_webhook(
            provider=provider,
            connector_id=connector_id,
            method=request.method or "",
            headers=request.headers,
            query=request.GET,
            body=request.body,
        )
        if answer.stored and not intake_paused():
            enqueue_processing(answer.stored)
        count_answer(provider, answer.status, started)
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)

    webhook.__name__ = f"{provider}_webhook"
    return webhook


# --- Door 2: the ASGI fast path ------------------------------------------------------------------------

# ASGI's (scope, receive, send) as Django's ASGIHandler takes them: the events are read, never changed.
AsgiReceive = Callable[[], Awaitable[Mapping[str, Any]]]
AsgiSend = Callable[[Mapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[dict[str, Any], AsgiReceive, AsgiSend], Awaitable[None]]


def webhook_asgi_app(fallback: AsgiApp) -> AsgiApp:
    """An ASGI app answering ``/webhooks/<provider>/<id>/`` itself and passing everything else to ``fallback``."""

    async def app(scope, receive, send) -> None:
        match = WEBHOOK_PATH.fullmatch(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await fallback(scope, receive, send)
            return
        started = time.perf_counter()
        provider = match["provider"]
        method = scope["method"]
        if method not in METHODS_BY_PROVIDER[provider]:
            await _send(send, _error(405, "Method not allowed."))
            count_answer(provider, 405, started)
            return
        body = await _read_body(receive, limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        if body is None:
            await _send(send, _error(413, "The body is too large."))
            count_answer(provider, 413, started)
            return
        headers = CaseInsensitiveMapping(
            {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers", [])}
        )
        query = QueryDict(scope.get("query_string", b"").decode("latin-1"))
        answer = await sync_to_async(_handle_on_pool_thread, thread_sensitive=False)(
            provider=provider,
            connector_id=int(match["connector_id"]),
            method=method,
            headers=headers,
            query=query,
            body=body,
        )
        await _send(send, answer)
        count_answer(provider, answer.status, started)
        if answer.stored:
            # Still inside the request, so a graceful shutdown waits for it.
            await _process_stored(answer.stored, answer.connector)

    return app


def _handle_on_pool_thread(**kwargs) -> WebhookAnswer:
    # Each executor thread keeps its own connection between deliveries (the pool bounds how many exist);
    # one that failed is closed so the next delivery on this thread reconnects.
    try:
        return handle_webhook(**kwargs)
    finally:
        _close_failed_connection()


class _InboundThreads:
    """The threads that process deliveries in this process: ``WEB_INBOUND_CONCURRENCY`` of them, apart from the
    threads that answer webhooks, so an answer never waits behind processing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.busy = 0
        self._executor: ThreadPoolExecutor | None = None

    def take(self, limit: int) -> ThreadPoolExecutor | None:
        """A thread pool with a free thread, or ``None`` when ``limit`` deliveries are being processed."""
        with self._lock:
            if self.busy >= limit:
                return None
            self.busy += 1
            if self._executor is None or self._executor._max_workers < limit:
                self._executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="inbound")
            return self._executor

    def give(self) -> None:
        with self._lock:
            self.busy -= 1

    def close(self) -> None:
        """Close every thread's database connection and stop the threads (tests; a new pool starts on demand)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is None:
            return
        # One task per thread, held at a barrier so that each lands on a different thread.
        barrier = threading.Barrier(executor._max_workers)

        def close_connection() -> None:
            barrier.wait(timeout=10)
            connections.close_all()

        for future in [executor.submit(close_connection) for _ in range(executor._max_workers)]:
            future.result()
        executor.shutdown()


inbound_threads = _InboundThreads()


async def _process_stored(stored: Mapping[int, list[str]], connector: Connector | None) -> None:
    if await sync_to_async(intake_paused, thread_sensitive=False)():
        return  # left pending: the connector sweep hands them over in order once the queue is shorter
    executor = inbound_threads.take(settings.WEB_INBOUND_CONCURRENCY)
    if executor is None:
        # This process is busy (or processes nothing itself): the workers take it.
        await sync_to_async(enqueue_processing, thread_sensitive=False)(stored)
        return
    try:
        # run_in_executor, unlike sync_to_async, leaves the context behind: the request id goes along explicitly.
        process = functools.partial(contextvars.copy_context().run, _process_here, stored, connector)
        await asyncio.get_running_loop().run_in_executor(executor, process)
    finally:
        inbound_threads.give()


def _process_here(stored: Mapping[int, list[str]], connector: Connector | None) -> None:
    """Process what needs no provider call here and now; the rest, and anything after a failure, to Celery."""
    left: dict[int, list[str]] = {}
    try:
        for connector_id, update_ids in stored.items():
            try:
                deferred = inbound_updates_process_without_provider_calls(
                    connector_id=connector_id, update_ids=list(update_ids), now=timezone.now(), connector=connector
                )
            except Exception:
                # Celery runs them again: a processed update is skipped, a pending one gets its retries.
                logger.exception("connector %s: processing in the web process failed; left to Celery", connector_id)
                deferred = list(update_ids)
            if deferred:
                left[connector_id] = deferred
        enqueue_processing(left)
    finally:
        _close_failed_connection()


def _close_failed_connection() -> None:
    if connection.connection is not None and (connection.errors_occurred or not connection.get_autocommit()):
        connection.close()


async def _read_body(receive, *, limit: int | None) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send, answer: WebhookAnswer) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": answer.status,
            "headers": [
                (b"content-type", answer.content_type.encode()),
                (b"content-length", str(len(answer.body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.body})
