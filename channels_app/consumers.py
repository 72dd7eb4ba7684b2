"""Websocket consumers: the operator console (``/ws/console/``) and the live chat (``/ws/livechat/<token>/``).

Both are thin: they parse a frame, check who may do what, call one service,
and answer. Services send their events after commit to the groups
``operator.<user id>`` and ``conversation.<id>``; the consumers forward them.
Nothing depends on the channel layer keeping a frame: after a reconnect the
browser re-syncs from the REST API.

Frames from the browser are JSON objects ``{"action": ..., "ref": ..., ...}``.
``ref`` (optional) is echoed in the answer: ``{"type": "ack", "ref": ...}`` on
success, ``{"type": "error", "ref": ..., "message": ...}`` when refused (the
message is meant for the user). Frames from the server without ``ref`` are
events (``message.created``, ``offer.created``, ``typing``, ``kpi.miss``…).

Console actions: ``heartbeat`` {active}, ``accept`` / ``decline`` {offer_id},
``send`` {conversation_id, text}, ``close`` {conversation_id}, ``transfer``
{conversation_id, to_operator_id | to_open_channel_id}, ``typing``
{conversation_id}, ``watch`` {conversation_id | null}.

Live-chat actions: ``heartbeat``, ``send`` {text, client_id}, ``consent``,
``rate`` {value: like | dislike}, ``typing``.

Origin. The console socket is only accepted from this site's own pages
(``AllowedHostsOriginValidator`` in ``asgi.py``), so another site cannot use
an operator's session cookie over a websocket. The live-chat socket needs no
separate allowance: the snippet loads the chat in an iframe served by this
site (``/livechat/frame/<key>/``), so its Origin is this site whatever page
embeds it, and the visitor token never reaches the embedding page's scripts.
"""

from __future__ import annotations

import json
import logging
import re

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from channels_app import events
from channels_app.api import console_can_see, message_payload
from channels_app.models import ClientRating, Conversation, ConversationStatus, Message
from channels_app.ratelimit import (
    TooManyRequests,
    address_message_limit,
    rate_limit_take,
    visitor_message_limit,
)
from channels_app.services import conversations as conversation_services
from channels_app.services import offers as offer_services
from channels_app.services import operators as operator_services
from channels_app.services.errors import InvalidState, NotFound, ServiceError
from channels_app.services.inbound import message_receive
from channels_app.views import is_operator
from channels_app.widget import (
    MAX_MESSAGE_LENGTH,
    InvalidVisitorToken,
    consent_needed,
    livechat_connector_for_token,
    livechat_consent_record,
    visitor_client,
    visitor_conversation,
    visitor_conversation_payload,
    visitor_message_payload,
    widget_texts,
)

logger = logging.getLogger(__name__)

# Close codes the browser can tell apart from network failures (4000–4999 are the application's).
CLOSE_NOT_ALLOWED = 4403
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
REF_MAX_LENGTH = 64
# A frame carries one message (at most MAX_MESSAGE_LENGTH characters) and a few ids; anything far
# larger is refused before it is parsed.
MAX_FRAME_CHARACTERS = 4 * MAX_MESSAGE_LENGTH + 1024


class BadFrame(ServiceError):
    """A frame the browser should never send: wrong type, missing field."""


def _positive_int(content: dict, name: str) -> int:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadFrame(f"“{name}” must be a positive whole number.")
    return value


def _optional_positive_int(content: dict, name: str) -> int | None:
    return None if content.get(name) is None else _positive_int(content, name)


def _message_text(content: dict) -> str:
    text = content.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadFrame("Write a message first.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise BadFrame(f"The message is longer than {MAX_MESSAGE_LENGTH} characters.")
    return text


def _typing_event(conversation_id: int, author: str) -> dict:
    return {"type": "typing", "conversation_id": conversation_id, "author": author}


class ActionConsumer(AsyncJsonWebsocketConsumer):
    """Dispatches ``{"action": ...}`` frames to ``action_<name>`` methods and answers with ack / error frames."""

    actions: frozenset[str] = frozenset()

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is not None and len(text_data) > MAX_FRAME_CHARACTERS:
            await self.send_json({"type": "error", "message": "This frame is too large."})
            return
        try:
            content = json.loads(text_data or "")
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
            await self._answer_error(ref, action, BadFrame("Unknown action."))
            return
        try:
            result = await getattr(self, f"action_{action}")(content)
        except ServiceError as error:
            await self._answer_error(ref, action, error)
            return
        except Exception:
            logger.exception("%s action %r failed", type(self).__name__, action)
            await self._answer_error(ref, action, ServiceError("Something went wrong. Please try again."))
            return
        if ref is not None:
            await self.send_json({"type": "ack", "ref": ref, "action": action, **(result or {})})

    async def _answer_error(self, ref, action, error: ServiceError) -> None:
        frame = {"type": "error", "action": action, "message": str(error), "code": error.status_code}
        if isinstance(error, TooManyRequests):
            frame["retry_after"] = error.retry_after_seconds
        if ref is not None:
            frame["ref"] = ref
        await self.send_json(frame)

    async def join(self, group: str) -> None:
        await self.channel_layer.group_add(group, self.channel_name)

    async def leave(self, group: str) -> None:
        await self.channel_layer.group_discard(group, self.channel_name)


# --- operator console -------------------------------------------------------------------------------------


class ConsoleConsumer(ActionConsumer):
    """An operator's console tab.

    Joins ``operator.<id>`` (offers, assignments, messages of held
    conversations, KPI misses) and ``conversation.<id>`` of the conversation
    open on screen (``watch``), so a conversation waiting in the queue also
    shows live. Heartbeats keep the operator online (Q6).
    """

    actions = frozenset({"heartbeat", "accept", "decline", "send", "close", "transfer", "typing", "watch"})

    async def connect(self):
        user = self.scope.get("user")
        self.user = user
        self.watched_conversation_id: int | None = None
        if user is None or not await database_sync_to_async(is_operator)(user):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.operator_group = events.operator_group(user.pk)
        await self.join(self.operator_group)
        await self.accept()
        await database_sync_to_async(operator_services.operator_heartbeat)(
            operator=user, now=timezone.now(), active=True
        )
        await self.send_json({"type": "hello", "operator_id": user.pk, "server_time": timezone.now().isoformat()})

    async def disconnect(self, code):
        if not hasattr(self, "operator_group"):
            return
        await self.leave(self.operator_group)
        if self.watched_conversation_id is not None:
            await self.leave(events.conversation_group(self.watched_conversation_id))
        await database_sync_to_async(operator_services.operator_disconnect)(operator=self.user, now=timezone.now())
        # Another tab of the same operator may still be open: it answers with a heartbeat at once,
        # so closing one tab does not leave the operator offline until that tab's next ping.
        await self.channel_layer.group_send(self.operator_group, {"type": "console.reping"})

    async def console_reping(self, message):
        await database_sync_to_async(operator_services.operator_heartbeat)(
            operator=self.user, now=timezone.now(), active=False
        )

    async def event_forward(self, message):
        await self.send_json(message["event"])

    # --- actions ---

    async def action_heartbeat(self, content):
        await database_sync_to_async(operator_services.operator_heartbeat)(
            operator=self.user, now=timezone.now(), active=bool(content.get("active"))
        )
        await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})

    async def action_accept(self, content):
        offer_id = _positive_int(content, "offer_id")
        conversation = await database_sync_to_async(offer_services.offer_accept)(
            offer_id=offer_id, operator=self.user, now=timezone.now()
        )
        await self._watch(conversation.pk)
        return {"conversation_id": conversation.pk, "status": conversation.status}

    async def action_decline(self, content):
        offer_id = _positive_int(content, "offer_id")
        await database_sync_to_async(offer_services.offer_decline)(
            offer_id=offer_id, operator=self.user, now=timezone.now()
        )
        return {"offer_id": offer_id}

    async def action_send(self, content):
        conversation_id = _positive_int(content, "conversation_id")
        text = _message_text(content)
        return await database_sync_to_async(self._send)(conversation_id, text)

    def _send(self, conversation_id: int, text: str) -> dict:
        self._check_visible(conversation_id)
        message = conversation_services.message_send_by_operator(
            conversation_id=conversation_id, operator=self.user, text=text, now=timezone.now()
        )
        return {"message": message_payload(message)}

    async def action_close(self, content):
        conversation_id = _positive_int(content, "conversation_id")
        return await database_sync_to_async(self._close)(conversation_id)

    def _close(self, conversation_id: int) -> dict:
        self._check_visible(conversation_id)
        conversation = conversation_services.conversation_close_by_operator(
            conversation_id=conversation_id, operator=self.user, now=timezone.now()
        )
        return {"conversation_id": conversation.pk, "status": conversation.status}

    async def action_transfer(self, content):
        conversation_id = _positive_int(content, "conversation_id")
        to_operator_id = _optional_positive_int(content, "to_operator_id")
        to_open_channel_id = _optional_positive_int(content, "to_open_channel_id")
        if (to_operator_id is None) == (to_open_channel_id is None):
            raise BadFrame("Choose either an operator or an open channel to transfer to.")
        return await database_sync_to_async(self._transfer)(conversation_id, to_operator_id, to_open_channel_id)

    def _transfer(self, conversation_id: int, to_operator_id: int | None, to_open_channel_id: int | None) -> dict:
        self._check_visible(conversation_id)
        conversation = conversation_services.conversation_transfer(
            conversation_id=conversation_id,
            operator=self.user,
            now=timezone.now(),
            to_operator_id=to_operator_id,
            to_open_channel_id=to_open_channel_id,
        )
        return {"conversation_id": conversation.pk, "status": conversation.status}

    async def action_typing(self, content):
        conversation_id = _positive_int(content, "conversation_id")
        await database_sync_to_async(self._check_visible)(conversation_id)
        await self.channel_layer.group_send(
            events.conversation_group(conversation_id),
            {"type": events.FORWARD_HANDLER, "event": _typing_event(conversation_id, "operator")},
        )

    async def action_watch(self, content):
        conversation_id = _optional_positive_int(content, "conversation_id")
        if conversation_id is not None:
            await database_sync_to_async(self._check_visible)(conversation_id)
        await self._watch(conversation_id)
        return {"conversation_id": conversation_id}

    async def _watch(self, conversation_id: int | None) -> None:
        if conversation_id == self.watched_conversation_id:
            return
        if self.watched_conversation_id is not None:
            await self.leave(events.conversation_group(self.watched_conversation_id))
        self.watched_conversation_id = conversation_id
        if conversation_id is not None:
            await self.join(events.conversation_group(conversation_id))

    def _check_visible(self, conversation_id: int) -> None:
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        if conversation is None or not console_can_see(self.user, conversation):
            raise NotFound("This conversation does not exist.")


# --- website live chat ------------------------------------------------------------------------------------


class LivechatConsumer(ActionConsumer):
    """One visitor's widget (S1); the signed token in the URL says which visitor of which connector.

    Joins ``livechat.<connector>.<visitor>`` (the visitor's other tabs) and the
    group of the visitor's current conversation. Events are rebuilt for the
    visitor: operator identity per Q12, no internal ids or fields.
    """

    actions = frozenset({"heartbeat", "send", "consent", "rate", "typing"})

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        self.conversation_id: int | None = None
        try:
            self.connector, identity = await database_sync_to_async(livechat_connector_for_token)(token)
        except InvalidVisitorToken:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.visitor_id = identity.visitor_id
        self.visitor_group = f"livechat.{self.connector.pk}.{self.visitor_id}"
        self.texts = widget_texts(self.connector.open_channel.language)
        conversation = await database_sync_to_async(self._current_conversation)()
        await self.join(self.visitor_group)
        if conversation is not None:
            await self._follow(conversation.pk)
        await self.accept()
        await self.send_json({"type": "hello", "server_time": timezone.now().isoformat()})

    async def disconnect(self, code):
        if hasattr(self, "visitor_group"):
            await self.leave(self.visitor_group)
        if self.conversation_id is not None:
            await self.leave(events.conversation_group(self.conversation_id))

    def _current_conversation(self) -> Conversation | None:
        return visitor_conversation(visitor_client(self.connector, self.visitor_id))

    async def _follow(self, conversation_id: int) -> None:
        if conversation_id == self.conversation_id:
            return
        if self.conversation_id is not None:
            await self.leave(events.conversation_group(self.conversation_id))
        self.conversation_id = conversation_id
        await self.join(events.conversation_group(conversation_id))

    # --- events, rebuilt for the visitor ---

    async def event_forward(self, message):
        event = message["event"]
        kind = event.get("type")
        if event.get("conversation_id") != self.conversation_id:
            return  # a late event of a group this socket has left
        if kind == "message.created":
            payload = await database_sync_to_async(self._visitor_message)(event["message"]["id"])
            if payload is not None:
                await self.send_json({"type": "message", "message": payload})
        elif kind in ("conversation.assigned", "conversation.status", "conversation.closed"):
            await self.send_json({"type": "conversation", "conversation": await self._conversation_payload()})
        elif kind == "typing" and event.get("author") == "operator":
            await self.send_json({"type": "typing"})

    async def livechat_conversation(self, message):
        """Another tab of this visitor started a conversation: follow it too."""
        await self._follow(message["conversation_id"])
        await self.send_json({"type": "conversation", "conversation": await self._conversation_payload()})

    def _visitor_message(self, message_id: int) -> dict | None:
        message = (
            Message.objects.select_related("author__operator_profile", "conversation__open_channel")
            .filter(pk=message_id, conversation_id=self.conversation_id)
            .first()
        )
        return visitor_message_payload(message, message.conversation.open_channel) if message else None

    async def _conversation_payload(self) -> dict | None:
        def build():
            conversation = (
                Conversation.objects.select_related("open_channel", "operator__operator_profile")
                .filter(pk=self.conversation_id)
                .first()
            )
            return visitor_conversation_payload(conversation)

        return await database_sync_to_async(build)()

    # --- actions ---

    async def action_heartbeat(self, content):
        await self.send_json({"type": "pong", "server_time": timezone.now().isoformat()})

    async def action_send(self, content):
        text = _message_text(content)
        client_id = content.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID_PATTERN.match(client_id):
            raise BadFrame("“client_id” must be 8 to 64 letters, digits, “-” or “_”.")
        result = await database_sync_to_async(self._send)(text, client_id)
        conversation_id = result["conversation"]["id"]
        if conversation_id != self.conversation_id:
            await self._follow(conversation_id)
            await self.channel_layer.group_send(
                self.visitor_group, {"type": "livechat.conversation", "conversation_id": conversation_id}
            )
            # Messages the new conversation got before this socket joined its group (the M1 welcome,
            # the H2 or Q9 notices) were published to nobody: send them now. The widget dedupes by id.
            for payload in await database_sync_to_async(self._visitor_messages_after)(result["message"]["id"]):
                await self.send_json({"type": "message", "message": payload})
        return result

    def _visitor_messages_after(self, message_id: int) -> list[dict]:
        messages = (
            Message.objects.select_related("author__operator_profile", "conversation__open_channel")
            .filter(conversation_id=self.conversation_id, pk__gt=message_id)
            .order_by("pk")
        )
        return [visitor_message_payload(message, message.conversation.open_channel) for message in messages]

    def _send(self, text: str, client_id: str) -> dict:
        """Store the visitor's message; a resend after a reconnect (same ``client_id``) stores nothing twice.

        1. A1: refuse until the consent notice was accepted.
        2. Rate limits: per visitor, and per address so a script cannot open
           new visitor tokens to get round the first.
        3. ``message_receive`` with ``source_message_id`` built from the visitor
           and the browser's ``client_id``: the same message sent twice is one.
        """
        now = timezone.now()
        if consent_needed(self.connector, visitor_client(self.connector, self.visitor_id)):
            raise InvalidState(self.texts["consent_needed"])
        address = (self.scope.get("client") or ("unknown", 0))[0]
        for limit, identity in ((visitor_message_limit(), self.visitor_id), (address_message_limit(), address)):
            decision = rate_limit_take(limit=limit, identity=identity, now=now)
            if not decision.allowed:
                raise TooManyRequests(decision.retry_after_seconds, self.texts["too_fast"])
        result = message_receive(
            connector=self.connector,
            external_user_id=self.visitor_id,
            text=text,
            source_message_id=f"livechat:{self.visitor_id}:{client_id}",
            now=now,
        )
        conversation = (
            Conversation.objects.select_related("open_channel", "operator__operator_profile")
            .filter(pk=result.conversation.pk)
            .get()
        )
        return {
            "client_id": client_id,
            "message": visitor_message_payload(result.message, conversation.open_channel),
            "conversation": visitor_conversation_payload(conversation),
        }

    async def action_consent(self, content):
        def record():
            livechat_consent_record(connector=self.connector, visitor_id=self.visitor_id, now=timezone.now())

        await database_sync_to_async(record)()
        return {"consent_needed": False}

    async def action_rate(self, content):
        value = content.get("value")
        if value not in ClientRating.Value.values:
            raise BadFrame("A rating is “like” or “dislike”.")

        def rate():
            conversation = self._current_conversation()
            if conversation is None or conversation.status != ConversationStatus.CLOSED_PENDING_RATING:
                raise InvalidState("This conversation is not waiting for a rating.")
            conversation_services.conversation_rate_by_client(
                conversation_id=conversation.pk, value=value, now=timezone.now()
            )
            return visitor_conversation_payload(self._current_conversation())

        return {"conversation": await database_sync_to_async(rate)()}

    async def action_typing(self, content):
        if self.conversation_id is None:
            return
        await self.channel_layer.group_send(
            events.conversation_group(self.conversation_id),
            {"type": events.FORWARD_HANDLER, "event": _typing_event(self.conversation_id, "client")},
        )
