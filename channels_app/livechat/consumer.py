"""The live-chat widget's websocket (``/ws/livechat/<token>/``): thin, like the console's.

Actions: ``heartbeat``, ``send`` {text, client_id}, ``consent``,
``rate`` {value: like | dislike}, ``typing``, ``read`` {message_id} (the
visitor saw the operator's messages up to this one: they show "read" in the
console; idempotent, and past its rate limit dropped silently like ``typing``). Frames and answers:
:mod:`channels_app.web`. Files go up over HTTP (``api/livechat/<token>/files/``, the
browser reports the upload's progress there); the message then comes back here like any other, and so
does every later change to its files (``message.attachments``: downloaded, or failed).

Rate limits (:mod:`channels_app.engine.ratelimit`): ``send``, ``consent`` and
``typing`` each take a token from the visitor's bucket and from the client
address's, since a script can make visitor tokens at will. ``send`` and
``consent`` past a limit get a 429 error frame; ``typing`` is dropped silently.

Origin: the socket needs no separate allowance. The snippet loads the chat in
an iframe served by this site (``/livechat/frame/<key>/``), so its Origin is
this site whatever page embeds it, and the visitor token never reaches the
embedding page's scripts.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.utils import timezone

from channels_app.engine import conversations as conversation_services
from channels_app.engine import delivery as delivery_services
from channels_app.engine import events
from channels_app.engine.errors import InvalidState
from channels_app.engine.ratelimit import (
    RateDecision,
    RateLimit,
    TooManyRequests,
    address_consent_limit,
    address_read_limit,
    address_typing_limit,
    rate_limits_take,
    visitor_consent_limit,
    visitor_read_limit,
    visitor_typing_limit,
)
from channels_app.livechat.payloads import visitor_conversation_payload, visitor_message_payload, visitor_send_answer
from channels_app.livechat.services import CLIENT_MESSAGE_ID_PATTERN, livechat_consent_record, livechat_message_send
from channels_app.livechat.texts import widget_texts
from channels_app.livechat.visitors import (
    VISITOR_FOLLOW_EVENT,
    InvalidVisitorToken,
    livechat_connector_for_token,
    visitor_client,
    visitor_conversation,
    visitor_group,
)
from channels_app.models import ClientRating, Conversation, ConversationStatus, Message
from channels_app.web import CLOSE_NOT_ALLOWED, ActionConsumer, BadFrame, positive_int, typed_text, typing_event


class LivechatConsumer(ActionConsumer):
    """One visitor's widget (S1); the signed token in the URL says which visitor of which connector.

    Joins ``livechat.<connector>.<visitor>`` (the visitor's other tabs) and the
    group of the visitor's current conversation. Events are rebuilt for the
    visitor: operator identity per Q12, no internal ids or fields.
    """

    socket_kind = "livechat"
    actions = frozenset({"heartbeat", "send", "consent", "rate", "typing", "read"})

    async def connect(self):
        token = self.scope["url_route"]["kwargs"]["token"]
        self.conversation_id: int | None = None
        try:
            self.connector, identity = await database_sync_to_async(livechat_connector_for_token)(token)
        except InvalidVisitorToken:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.visitor_id = identity.visitor_id
        # The client's IP address as the server sees it (uvicorn replaces the proxy's with the forwarded one
        # when the proxy is trusted): the second key of every limit, since visitor tokens cost nothing to make.
        self.address = (self.scope.get("client") or ("unknown", 0))[0]
        self.visitor_group = visitor_group(self.connector.pk, self.visitor_id)
        self.texts = widget_texts(self.connector.open_channel.language)
        self.language = self.connector.open_channel.language  # refusals in the open channel's language
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
        if kind == VISITOR_FOLLOW_EVENT:
            await self.livechat_conversation(event)
            return
        if event.get("conversation_id") != self.conversation_id:
            return  # a late event of a group this socket has left
        if kind in ("message.created", "message.attachments", "message.edited", "message.deleted"):
            # A new message, or one whose files, text or deletion changed: the widget replaces it by id.
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
        if self.conversation_id is None:
            return None  # no conversation followed yet: no message is this visitor's
        message = (
            Message.objects.select_related("author__operator_profile", "conversation__open_channel")
            .prefetch_related("attachments")
            .filter(pk=message_id, conversation_id=self.conversation_id)
            .first()
        )
        return visitor_message_payload(message, message.conversation.open_channel) if message else None

    async def _conversation_payload(self) -> dict | None:
        def build():
            if self.conversation_id is None:
                return None  # the visitor has no conversation yet
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
        text = typed_text(content)
        client_id = content.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_MESSAGE_ID_PATTERN.match(client_id):
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
        if self.conversation_id is None:
            return []
        messages = (
            Message.objects.select_related("author__operator_profile", "conversation__open_channel")
            .prefetch_related("attachments")
            .filter(conversation_id=self.conversation_id, pk__gt=message_id)
            .order_by("pk")
        )
        return [visitor_message_payload(message, message.conversation.open_channel) for message in messages]

    def _send(self, text: str, client_id: str) -> dict:
        """Store the visitor's message (:func:`~channels_app.livechat.services.livechat_message_send`: consent,
        rate limits, and a resend after a reconnect, same ``client_id``, stores nothing twice)."""
        result = livechat_message_send(
            connector=self.connector,
            visitor_id=self.visitor_id,
            client_address=self.address,
            text=text,
            client_message_id=client_id,
            now=timezone.now(),
        )
        return visitor_send_answer(result, client_id)

    def _rate_take(self, visitor_limit: RateLimit, address_limit: RateLimit, now) -> RateDecision:
        """One token from this visitor's bucket, then from their address's (blocking Redis: call it off the loop)."""
        return rate_limits_take(
            buckets=((visitor_limit, self.visitor_id), (address_limit, self.address)),
            now=now,
        )

    async def action_consent(self, content):
        def record():
            now = timezone.now()
            # Every consent frame writes to the database: a script looping on it is refused like a message flood.
            decision = self._rate_take(visitor_consent_limit(), address_consent_limit(), now)
            if not decision.allowed:
                raise TooManyRequests(decision.retry_after_seconds, self.texts["too_many_attempts"])
            livechat_consent_record(connector=self.connector, visitor_id=self.visitor_id, now=now)

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
        """Tell the operators the visitor is typing; past the limits the frame is dropped without a word.

        Typing is a hint: a lost one costs nothing, and an error frame would only
        show a flooding script where the limit is. Redis is asked on a worker
        thread of its own so the check never waits behind database work.
        """
        if self.conversation_id is None:
            return
        decision = await sync_to_async(self._rate_take, thread_sensitive=False)(
            visitor_typing_limit(), address_typing_limit(), timezone.now()
        )
        if not decision.allowed:
            return
        await self.channel_layer.group_send(
            events.conversation_group(self.conversation_id),
            {"type": events.FORWARD_HANDLER, "event": typing_event(self.conversation_id, "client")},
        )

    async def action_read(self, content):
        """The visitor saw the operator's messages up to ``message_id`` of the conversation this socket follows
        (never another's); only messages that went out move to read, once (``engine.delivery``)."""
        message_id = positive_int(content, "message_id")
        conversation_id = self.conversation_id
        if conversation_id is None:
            return {"read": 0}
        now = timezone.now()
        decision = await sync_to_async(self._rate_take, thread_sensitive=False)(
            visitor_read_limit(), address_read_limit(), now
        )
        if not decision.allowed:
            return {"read": 0}
        changed = await database_sync_to_async(delivery_services.messages_delivery_up_to)(
            state="read", now=now, conversation_id=conversation_id, up_to_message_id=message_id
        )
        return {"read": len(changed)}
