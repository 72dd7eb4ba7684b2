"""The operator console's websocket (``/ws/console/``): thin, it parses a frame, checks access, calls one service.

Services send their events after commit to the groups ``operator.<user id>``
and ``conversation.<id>``; the consumer forwards them. Nothing depends on the
channel layer keeping a frame: after a reconnect the browser re-syncs from the
REST API. Frames and answers: :mod:`channels_app.web`.

Actions: ``heartbeat`` {active, visible}, ``accept`` / ``decline`` {offer_id},
``take`` {conversation_id} (a conversation waiting in the queue of one's open channel),
``send`` {conversation_id, text}, ``send_template`` {conversation_id,
template_id, parameters: [texts]} (S2: a WhatsApp template after the
24-hour window), ``close`` {conversation_id}, ``transfer``
{conversation_id, to_operator_id | to_open_channel_id, confirm?} (a refusal
with ``needs_confirmation`` is repeated with ``confirm: true`` once the
operator agrees), ``typing``
{conversation_id}, ``watch`` {conversation_id | null}, ``retry`` {message_id} (send a failed reply again).

Origin: the socket is only accepted from this site's own pages
(``AllowedHostsOriginValidator`` in ``contact_center/asgi.py``), so another
site cannot use an operator's session cookie over a websocket.
"""

from __future__ import annotations

import asyncio
import weakref
from datetime import datetime

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels_app.console.access import console_can_see, uses_console
from channels_app.console.api import message_payload
from channels_app.console.i18n import operator_language
from channels_app.engine import conversations as conversation_services
from channels_app.engine import delivery as delivery_services
from channels_app.engine import events
from channels_app.engine import offers as offer_services
from channels_app.engine import operators as operator_services
from channels_app.engine.errors import NotFound
from channels_app.models import Conversation
from channels_app.policy.presence import (
    HEARTBEAT_BATCH,
    HEARTBEAT_WRITE,
    StoredPresence,
    counts_as_activity,
    heartbeat_action,
)
from channels_app.web import (
    CLOSE_NOT_ALLOWED,
    ActionConsumer,
    BadFrame,
    optional_flag,
    optional_positive_int,
    positive_int,
    short_texts,
    typed_text,
    typing_event,
)


class ConsoleConsumer(ActionConsumer):
    """An operator's console tab.

    Joins ``operator.<id>`` (offers, assignments, messages of held
    conversations, KPI misses, notes left in them, the person's notifications) and ``conversation.<id>``
    with ``conversation-staff.<id>`` of the conversation open on screen
    (``watch``), so a conversation waiting in the queue also shows live, with
    its private notes. Heartbeats keep the operator online (Q6); one that would store nothing new is answered
    without leaving the event loop (decision 0031).
    """

    socket_kind = "console"
    actions = frozenset(
        {
            "heartbeat",
            "accept",
            "decline",
            "take",
            "send",
            "send_template",
            "close",
            "transfer",
            "typing",
            "watch",
            "retry",
        }
    )

    async def dispatch(self, message):
        # Decision 0031: Channels closes the database thread's stale connections before every message, a hop to
        # that thread (the largest cost of a ping answered in memory). Every database call of this consumer goes
        # through database_sync_to_async, which closes them before and after anyway, so a frame from the
        # browser skips the extra hop; the channel layer's events keep Channels' own dispatch.
        if message["type"] == "websocket.receive":
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    async def connect(self):
        user = self.scope.get("user")
        self.user = user
        self.watched_conversation_id: int | None = None
        # Decision 0031: what the last heartbeat stored, and activity seen since that is not stored yet.
        self.stored_presence: StoredPresence | None = None
        self.unstored_activity_at: datetime | None = None
        if user is None or not await database_sync_to_async(uses_console)(user):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.language = await database_sync_to_async(operator_language)(user)  # refusals in the console's language
        self.operator_group = events.operator_group(user.pk)
        await self.join(self.operator_group)
        await self.accept()
        await self._store_heartbeat(timezone.now(), active=True)
        await self.send_json({"type": "hello", "operator_id": user.pk, "server_time": timezone.now().isoformat()})

    async def disconnect(self, code):
        if not hasattr(self, "operator_group"):
            return
        await self.leave(self.operator_group)
        if self.watched_conversation_id is not None:
            await self._watch(None)
        await database_sync_to_async(operator_services.operator_disconnect)(operator=self.user, now=timezone.now())
        # Another tab of the same operator may still be open: it answers with a heartbeat at once,
        # so closing one tab does not leave the operator offline until that tab's next ping.
        await self.channel_layer.group_send(self.operator_group, {"type": "console.reping"})

    async def console_reping(self, message):
        await self._store_heartbeat(timezone.now(), active=False)

    async def event_forward(self, message):
        event = message["event"]
        if event.get("type") == "access.changed" and not await self._still_allowed():
            return
        if event.get("type") == "operator.presence" and not event.get("online"):
            # Someone else took the operator offline (the presence sweep, another tab closing): what this socket
            # last stored no longer holds, so the tab's next ping is written (decision 0031). Only a ping proves
            # the tab alive: this socket's consumer may run while the tab is frozen.
            self.stored_presence = None
        await self.send_json(event)

    async def _still_allowed(self) -> bool:
        """After an ``access.changed`` event: close the socket of someone who is no longer an operator, and stop
        watching a conversation they may no longer read (the browser re-syncs its lists from the event)."""
        user, watched_visible = await database_sync_to_async(self._reload_access)()
        if user is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return False
        self.user = user
        if not watched_visible:
            await self._watch(None)
        return True

    def _reload_access(self) -> tuple[object | None, bool]:
        user = get_user_model().objects.filter(pk=self.user.pk).first()
        if user is None or not uses_console(user):
            return None, False
        watched = self.watched_conversation_id
        conversation = Conversation.objects.filter(pk=watched).first() if watched is not None else None
        return user, conversation is None or console_can_see(user, conversation)

    # --- actions ---

    async def action_heartbeat(self, content):
        # ``active``: the operator used the tab since the last ping; ``visible``: the tab is on screen (Q6).
        # The pings of an idle console are answered here while nothing needs storing (decision 0031).
        now = timezone.now()
        input_seen = bool(content.get("active"))
        if counts_as_activity(input_seen=input_seen, tab_visible=bool(content.get("visible"))):
            self.unstored_activity_at = now
        action = heartbeat_action(
            self.stored_presence,
            now=now,
            input_seen=input_seen,
            active_at=self.unstored_activity_at,
            heartbeat_timeout=settings.CONSOLE_HEARTBEAT_TIMEOUT,
        )
        if action == HEARTBEAT_WRITE:
            await self._store_heartbeat(now, active=False)
        elif action == HEARTBEAT_BATCH:
            await self._refresh_heartbeat()
        await self.send_json({"type": "pong", "server_time": now.isoformat()})

    async def _refresh_heartbeat(self) -> None:
        """Decision 0031: an online operator's heartbeat that is merely due is written with the other consoles'
        of this web process, a moment later, in one statement; the locked path if they are no longer online."""
        stored = await heartbeat_batch().refresh(self.user.pk, self.unstored_activity_at)
        if stored is None:
            await self._store_heartbeat(timezone.now(), active=False)
        else:
            self.stored_presence, self.unstored_activity_at = stored, None

    async def _store_heartbeat(self, now, *, active: bool) -> None:
        """Q6 through the service, with the activity earlier pings left unstored; keeps what is stored now."""
        self.stored_presence = await database_sync_to_async(operator_services.operator_heartbeat)(
            operator=self.user, now=now, active=active, active_at=self.unstored_activity_at
        )
        self.unstored_activity_at = None

    async def action_accept(self, content):
        offer_id = positive_int(content, "offer_id")
        conversation = await database_sync_to_async(offer_services.offer_accept)(
            offer_id=offer_id, operator=self.user, now=timezone.now()
        )
        await self._watch(conversation.pk)
        return {"conversation_id": conversation.pk, "status": conversation.status}

    async def action_decline(self, content):
        offer_id = positive_int(content, "offer_id")
        await database_sync_to_async(offer_services.offer_decline)(
            offer_id=offer_id, operator=self.user, now=timezone.now()
        )
        return {"offer_id": offer_id}

    async def action_take(self, content):
        conversation_id = positive_int(content, "conversation_id")
        conversation = await database_sync_to_async(self._take)(conversation_id)
        await self._watch(conversation.pk)
        return {"conversation_id": conversation.pk, "status": conversation.status}

    def _take(self, conversation_id: int) -> Conversation:
        self._check_visible(conversation_id)
        return offer_services.conversation_take(conversation_id=conversation_id, operator=self.user, now=timezone.now())

    async def action_send(self, content):
        conversation_id = positive_int(content, "conversation_id")
        text = typed_text(content)
        return await database_sync_to_async(self._send)(conversation_id, text)

    def _send(self, conversation_id: int, text: str) -> dict:
        self._check_visible(conversation_id)
        message = conversation_services.message_send_by_operator(
            conversation_id=conversation_id, operator=self.user, text=text, now=timezone.now()
        )
        return {"message": message_payload(message)}

    async def action_send_template(self, content):
        conversation_id = positive_int(content, "conversation_id")
        template_id = positive_int(content, "template_id")
        parameters = short_texts(content, "parameters")
        return await database_sync_to_async(self._send_template)(conversation_id, template_id, parameters)

    def _send_template(self, conversation_id: int, template_id: int, parameters: list[str]) -> dict:
        self._check_visible(conversation_id)
        message = conversation_services.message_send_template(
            conversation_id=conversation_id,
            operator=self.user,
            template_id=template_id,
            parameters=parameters,
            now=timezone.now(),
        )
        return {"message": message_payload(message)}

    async def action_close(self, content):
        conversation_id = positive_int(content, "conversation_id")
        return await database_sync_to_async(self._close)(conversation_id)

    def _close(self, conversation_id: int) -> dict:
        self._check_visible(conversation_id)
        conversation = conversation_services.conversation_close_by_operator(
            conversation_id=conversation_id, operator=self.user, now=timezone.now()
        )
        return {"conversation_id": conversation.pk, "status": conversation.status}

    async def action_transfer(self, content):
        conversation_id = positive_int(content, "conversation_id")
        to_operator_id = optional_positive_int(content, "to_operator_id")
        to_open_channel_id = optional_positive_int(content, "to_open_channel_id")
        if (to_operator_id is None) == (to_open_channel_id is None):
            raise BadFrame("Choose either an operator or an open channel to transfer to.")
        confirm = optional_flag(content, "confirm")
        return await database_sync_to_async(self._transfer)(
            conversation_id, to_operator_id, to_open_channel_id, confirm
        )

    def _transfer(
        self, conversation_id: int, to_operator_id: int | None, to_open_channel_id: int | None, confirm: bool
    ) -> dict:
        self._check_visible(conversation_id)
        conversation = conversation_services.conversation_transfer(
            conversation_id=conversation_id,
            operator=self.user,
            now=timezone.now(),
            to_operator_id=to_operator_id,
            to_open_channel_id=to_open_channel_id,
            confirmed=confirm,
        )
        return {"conversation_id": conversation.pk, "status": conversation.status}

    async def action_retry(self, content):
        message_id = positive_int(content, "message_id")
        return await database_sync_to_async(self._retry)(message_id)

    def _retry(self, message_id: int) -> dict:
        # The service checks who may (the holder of a conversation they may see); the answer is the message.
        message = delivery_services.message_delivery_retry(message_id=message_id, user=self.user, now=timezone.now())
        return {"message": message_payload(message)}

    async def action_typing(self, content):
        conversation_id = positive_int(content, "conversation_id")
        await database_sync_to_async(self._check_visible)(conversation_id)
        await self.channel_layer.group_send(
            events.conversation_group(conversation_id),
            {"type": events.FORWARD_HANDLER, "event": typing_event(conversation_id, "operator")},
        )

    async def action_watch(self, content):
        conversation_id = optional_positive_int(content, "conversation_id")
        if conversation_id is not None:
            await database_sync_to_async(self._check_visible)(conversation_id)
        await self._watch(conversation_id)
        return {"conversation_id": conversation_id}

    async def _watch(self, conversation_id: int | None) -> None:
        if conversation_id == self.watched_conversation_id:
            return
        if self.watched_conversation_id is not None:
            await self.leave(events.conversation_group(self.watched_conversation_id))
            await self.leave(events.conversation_staff_group(self.watched_conversation_id))
        self.watched_conversation_id = conversation_id
        if conversation_id is not None:
            await self.join(events.conversation_group(conversation_id))
            # Private notes travel apart from the client's widget (engine.notes).
            await self.join(events.conversation_staff_group(conversation_id))

    def _check_visible(self, conversation_id: int) -> None:
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        if conversation is None or not console_can_see(self.user, conversation):
            raise NotFound("This conversation does not exist.")


# How long a web process gathers its consoles' due heartbeats before writing them in one statement.
HEARTBEAT_BATCH_SECONDS = 0.5


class HeartbeatBatch:
    """Decision 0031: the heartbeats this web process's consoles owe PostgreSQL (online operators whose stored
    heartbeat is half the timeout old), written every :data:`HEARTBEAT_BATCH_SECONDS` in one statement
    (:func:`~channels_app.engine.operators.operators_heartbeat_while_online`) rather than one each."""

    def __init__(self) -> None:
        self.due: dict[int, tuple[datetime | None, list[asyncio.Future]]] = {}
        self.writer: asyncio.Task | None = None

    async def refresh(self, user_id: int, activity_at: datetime | None) -> StoredPresence | None:
        """What is stored for the operator once the batch is written; None when they are no longer online."""
        future = asyncio.get_running_loop().create_future()
        earlier, waiting = self.due.get(user_id, (None, []))
        latest = max((moment for moment in (earlier, activity_at) if moment is not None), default=None)
        self.due[user_id] = (latest, [*waiting, future])
        if self.writer is None or self.writer.done():
            self.writer = asyncio.get_running_loop().create_task(self._write_soon())
        return await future

    async def _write_soon(self) -> None:
        await asyncio.sleep(HEARTBEAT_BATCH_SECONDS)
        due, self.due = self.due, {}
        # A ping arriving while this batch is written starts the next batch, not a wait on this finished one.
        self.writer = None
        try:
            stored = await database_sync_to_async(operator_services.operators_heartbeat_while_online)(
                activity={user_id: activity_at for user_id, (activity_at, _) in due.items()}, now=timezone.now()
            )
        except Exception as error:  # every console waiting on it hears of it, as from its own write
            for _, waiting in due.values():
                for future in waiting:
                    if not future.done():
                        future.set_exception(error)
            return
        for user_id, (_, waiting) in due.items():
            for future in waiting:
                if not future.done():
                    future.set_result(stored.get(user_id))


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, HeartbeatBatch] = weakref.WeakKeyDictionary()


def heartbeat_batch() -> HeartbeatBatch:
    """This event loop's (this web process's) batch."""
    loop = asyncio.get_running_loop()
    batch = _batches.get(loop)
    if batch is None:
        batch = _batches[loop] = HeartbeatBatch()
    return batch
