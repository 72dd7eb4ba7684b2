"""Error answers that stay clear under faults and hostile input.

* A database that does not answer (restart, failover, connection limit) is a
  503 with ``Retry-After``, never a 500: the request changed nothing, and the
  console and providers retry. :class:`DatabaseUnavailableMiddleware` turns
  the error a view raised into that answer in every mode; :func:`server_error`
  (Django's ``handler500``, used when ``DEBUG`` is off) does the same for an
  error raised outside a view.
* Under ``/api/`` and ``/webhooks/`` errors are JSON ``{"detail": ...}`` like
  every other answer of the API (a path that does not match, e.g. a negative
  id, is a JSON 404, not an HTML page).
* A service's refusal (:class:`~channels_app.engine.errors.ServiceError`) in a
  REST view is its 4xx with the message for the user:
  :func:`api_exception_handler` is DRF's ``EXCEPTION_HANDLER``.
"""

from __future__ import annotations

import logging
import math
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework.response import Response
from rest_framework.views import exception_handler

from channels_app.engine.errors import ServiceError
from channels_app.engine.ratelimit import TooManyRequests

logger = logging.getLogger("contact_center.errors")

DATABASE_DOWN = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5
JSON_PREFIXES = ("/api/", "/webhooks/")
UNAVAILABLE = "The service is temporarily unavailable; please retry in a few seconds."


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PREFIXES)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        response: HttpResponse = JsonResponse({"detail": UNAVAILABLE}, status=503)
    else:
        response = HttpResponse(UNAVAILABLE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A view that lost the database answers 503 (the transaction was rolled back: nothing half-written)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_DOWN):
            logger.warning("%s %s: database unavailable (%s)", request.method, request.path, exception)
            return database_unavailable(request)
        return None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus: a service's refusal is its status code with ``{"detail": <message for the user>}``."""
    if isinstance(exc, ServiceError):
        response = Response({"detail": str(exc), **exc.details()}, status=exc.status_code)
        if isinstance(exc, TooManyRequests):
            response["Retry-After"] = str(max(1, math.ceil(exc.retry_after_seconds)))
        return response
    return exception_handler(exc, context)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    error = sys.exc_info()[1]
    if isinstance(error, DATABASE_DOWN):
        return database_unavailable(request)
    if _wants_json(request):
        return JsonResponse({"detail": "Something went wrong on our side; it has been logged."}, status=500)
    return defaults.server_error(request)


def websocket_database_guard(app):
    """ASGI wrapper for the websocket stack: a database that does not answer (while the session user is
    loaded, or in a consumer) refuses the handshake with a 503 instead of uvicorn's 500, or, on an open
    socket, closes it with 1013 "try again later" so the tab reconnects (and re-syncs) with backoff."""

    async def guarded(scope, receive, send) -> None:
        accepted = False

        async def send_tracking_accept(message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.accept":
                accepted = True
            await send(message)

        try:
            await app(scope, receive, send_tracking_accept)
        except DATABASE_DOWN as error:
            logger.warning("websocket %s: database unavailable (%s)", scope.get("path"), error)
            if accepted or "websocket.http.response" not in scope.get("extensions", {}):
                await send({"type": "websocket.close", "code": 1013})
                return
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
            ]
            await send({"type": "websocket.http.response.start", "status": 503, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": UNAVAILABLE.encode()})

    return guarded
