"""What the console and the live chat share at their edge: the action websocket consumer and request parameters.

Frames from the browser are JSON objects ``{"action": ..., "ref": ..., ...}``.
``ref`` (optional) is echoed in the answer: ``{"type": "ack", "ref": ...}`` on
success, ``{"type": "error", "ref": ..., "message": ...}`` when refused (the
message is meant for the user; a refusal the user may override adds
``"needs_confirmation": true``, see ``engine.errors.NeedsConfirmation``). Frames from the server without ``ref`` are
events (``message.created``, ``offer.created``, ``typing``, ``kpi.miss``…).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import translation
from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from channels_app.engine import instruments
from channels_app.engine.errors import ServiceError
from channels_app.engine.ratelimit import TooManyRequests
from channels_app.models import TYPED_TEXT_MAX_LENGTH
from contact_center import logs

logger = logging.getLogger(__name__)

# Close codes the browser can tell apart from network failures (4000–4999 are the application's).
CLOSE_NOT_ALLOWED = 4403
REF_MAX_LENGTH = 64
# A frame carries one message (at most TYPED_TEXT_MAX_LENGTH characters) and a few ids; anything far
# larger is refused before it is parsed.
MAX_FRAME_CHARACTERS = 4 * TYPED_TEXT_MAX_LENGTH + 1024
# Deepest nesting of arrays and objects accepted in JSON from outside (webhooks, the REST API, socket frames).
# Provider payloads nest fewer than ten levels. A few thousand make Python's parser raise RecursionError, and a
# few hundred can still raise it later, when the value is stored or serialised deeper in the stack; so a deeper
# body is malformed input like any other: a 400, or an error frame.
MAX_JSON_DEPTH = 64
JSON_TOO_DEEP = f"The JSON is nested too deeply (at most {MAX_JSON_DEPTH} levels of arrays and objects)."


class JSONTooDeep(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH`; a ``ValueError`` like any other malformed JSON."""

    def __init__(self) -> None:
        super().__init__(JSON_TOO_DEEP)


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (a scalar is 0); iterative, so never recursing."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def loads_untrusted_json(data: str | bytes | bytearray, **options: Any) -> Any:
    """``json.loads`` for input from outside: :class:`JSONTooDeep` (a ``ValueError``) past :data:`MAX_JSON_DEPTH`."""
    try:
        value = json.loads(data, **options)
    except RecursionError:
        raise JSONTooDeep from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise JSONTooDeep
    return value


class UntrustedJSONParser(JSONParser):
    """DRF's JSON parser (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``) with the nesting limit: a 400, not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(JSON_TOO_DEEP) from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise ParseError(JSON_TOO_DEEP)
        return data


class BadFrame(ServiceError):
    """A frame the browser should never send: wrong type, missing field."""


def positive_int(content: dict, name: str) -> int:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadFrame(_("“%(name)s” must be a positive whole number.") % {"name": name})
    return value


def optional_positive_int(content: dict, name: str) -> int | None:
    return None if content.get(name) is None else positive_int(content, name)


def optional_flag(content: dict, name: str) -> bool:
    """A yes/no field that is false when left out."""
    value = content.get(name, False)
    if not isinstance(value, bool):
        raise BadFrame(_("“%(name)s” must be true or false.") % {"name": name})
    return value


def typed_text(content: dict) -> str:
    text = content.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadFrame(_("Write a message first."))
    if len(text) > TYPED_TEXT_MAX_LENGTH:
        raise BadFrame(_("The message is longer than %(limit)d characters.") % {"limit": TYPED_TEXT_MAX_LENGTH})
    return text


def uploaded_file_and_text(request) -> tuple[Any, str]:
    """The ``file`` and optional ``text`` of a multipart upload (the console's and the widget's file views)."""
    upload = request.FILES.get("file")
    if upload is None:
        raise ServiceError(_("Choose a file to send."))
    text = request.POST.get("text", "")
    if len(text) > TYPED_TEXT_MAX_LENGTH:
        raise ServiceError(_("The message is longer than %(limit)d characters.") % {"limit": TYPED_TEXT_MAX_LENGTH})
    return upload, text


def short_texts(content: dict, name: str, *, max_items: int = 20) -> list[str]:
    """A list of texts (a template's parameters), each at most ``TYPED_TEXT_MAX_LENGTH``; left out is empty."""
    value = content.get(name, [])
    if not isinstance(value, list) or len(value) > max_items or not all(isinstance(item, str) for item in value):
        raise BadFrame(_("“%(name)s” must be a list of at most %(count)d texts.") % {"name": name, "count": max_items})
    if any(len(item) > TYPED_TEXT_MAX_LENGTH for item in value):
        raise BadFrame(
            _("A text of “%(name)s” is longer than %(limit)d characters.")
            % {"name": name, "limit": TYPED_TEXT_MAX_LENGTH}
        )
    return value


def typing_event(conversation_id: int, author: str) -> dict:
    return {"type": "typing", "conversation_id": conversation_id, "author": author}


def optional_query_int(value: str | None, name: str) -> int | None:
    """A whole-number query parameter (``?after=``); absent or empty is ``None``, anything else invalid is a 400."""
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceError(_("“%(name)s” must be a whole number.") % {"name": name}) from None
    if number < 0:
        raise ServiceError(_("“%(name)s” must not be negative.") % {"name": name})
    return number


class ActionConsumer(AsyncJsonWebsocketConsumer):
    """Dispatches ``{"action": ...}`` frames to ``action_<name>`` methods and answers with ack / error frames.

    A socket counts in ``contact_center_websockets_connected{kind=socket_kind}`` from its acceptance to its
    disconnection; one refused at connect never counted.
    """

    actions: frozenset[str] = frozenset()
    # The language refusals are worded in (the operator's, the open channel's), set at connect; None: Django's own.
    language: str | None = None
    socket_kind: str = ""  # the metric's label: "console" or "livechat"
    _counted = False

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        if not self._counted:
            self._counted = True
            instruments.websockets_connected.labels(kind=self.socket_kind).inc()

    async def websocket_disconnect(self, message):
        if self._counted:
            self._counted = False
            instruments.websockets_connected.labels(kind=self.socket_kind).dec()
        await super().websocket_disconnect(message)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is not None and len(text_data) > MAX_FRAME_CHARACTERS:
            await self.send_json({"type": "error", "message": "This frame is too large."})
            return
        try:
            content = loads_untrusted_json(text_data or "")
        except JSONTooDeep as error:
            await self.send_json({"type": "error", "message": str(error)})
            return
        except ValueError:
            await self.send_json({"type": "error", "message": "Frames must be JSON objects."})
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "message": "Frames must be JSON objects."})
            return
        action = content.get("action")
        if not isinstance(action, str):
            action = None
        ref = content.get("ref")
        if not isinstance(ref, int | str) or isinstance(ref, bool) or len(str(ref)) > REF_MAX_LENGTH:
            ref = None
        if action not in self.actions:
            with translation.override(self.language):
                await self._answer_error(ref, action, BadFrame(_("Unknown action.")))
            return
        # The conversation an action names goes on its log lines (its id is checked by the action itself).
        conversation_id = content.get("conversation_id")
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
            conversation_id = None
        with translation.override(self.language):
            try:
                with logs.scope(conversation_id=conversation_id):
                    result = await getattr(self, f"action_{action}")(content)
            except ServiceError as error:
                await self._answer_error(ref, action, error)
                return
            except Exception:
                logger.exception("%s action %r failed", type(self).__name__, action)
                await self._answer_error(ref, action, ServiceError(_("Something went wrong. Please try again.")))
                return
        if ref is not None:
            await self.send_json({"type": "ack", "ref": ref, "action": action, **(result or {})})

    async def _answer_error(self, ref, action, error: ServiceError) -> None:
        frame = {"type": "error", "action": action, "message": str(error), "code": error.status_code, **error.details()}
        if isinstance(error, TooManyRequests):
            frame["retry_after"] = error.retry_after_seconds
        if ref is not None:
            frame["ref"] = ref
        await self.send_json(frame)

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)

    async def leave(self, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)
