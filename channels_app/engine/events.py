"""Events for the consoles and the widget, built by the services and sent after commit.

Every event is a JSON-ready dict with a ``type`` key:

==========================  ====================================================
``offer.created``           a conversation offered to an operator (Q2)
``offer.withdrawn``         an offer taken back: accepted by someone else,
                            expired, declined, the conversation closed or moved
``conversation.assigned``   an operator now holds the conversation
``conversation.status``     status, holder or unprocessed flag changed
``conversation.closed``     closed by the operator, the client's rating or a sweep
``message.created``         a new message in the conversation
``message.edited``          the client edited a message in the source
``message.deleted``         the client deleted (unsent) a message in the source
``operator.presence``       an operator went online or offline (Q6)
``access.changed``          the operator's channels or status changed: re-check
``note.created``            a private note in a conversation (never to the client)
``conversation.erased``     its messages, files and notes were erased (issue 19): redraw
``notification.created``    a notification kept until read (issue 15), to its recipient
``notification.read``       notifications marked read, for the person's other tabs
``connector.reachability``  a connector's provider stopped or started answering
                            (issue 21), to the open channel's operators
``wallboard.changed``       something a supervisor's wallboard shows changed in an
                            open channel: queue, offers, holders, presence, misses
==========================  ====================================================

They go to the channel-layer groups ``operator.<user id>`` and
``conversation.<conversation id>`` (which the client's widget joins too), private notes to
``conversation-staff.<conversation id>`` (consoles only), and wallboard nudges to
``wallboard.<open channel id>``, as ``{"type": "event.forward", "event": ...}``;
with the Redis layer (:mod:`contact_center.channel_layer`) all groups of one
event in one call, so a socket in two of them receives the event once.

Sending happens once the transaction commits, so a console never sees a state
that was rolled back; all events of one transaction are handed together to a
per-process sender thread, which sends them in order without making the
service wait. A failing channel layer is logged and never breaks the service:
a console that reconnects re-syncs from the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Iterable
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

from channels_app.engine.file_links import attachment_payloads
from channels_app.models import operator_display_name

logger = logging.getLogger(__name__)

FORWARD_HANDLER = "event.forward"


def operator_group(user_id: int) -> str:
    return f"operator.{user_id}"


def conversation_group(conversation_id: int) -> str:
    return f"conversation.{conversation_id}"


def conversation_staff_group(conversation_id: int) -> str:
    """The consoles watching a conversation, without the client's widget: what only staff may read."""
    return f"conversation-staff.{conversation_id}"


def wallboard_group(open_channel_id: int) -> str:
    return f"wallboard.{open_channel_id}"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# --- builders -------------------------------------------------------------------------------------------


def conversation_summary(conversation) -> dict:
    return {
        "id": conversation.pk,
        "open_channel_id": conversation.open_channel_id,
        "connector_id": conversation.connector_id,
        "client_id": conversation.client_id,
        "client_name": str(conversation.client) if conversation.client_id else "",
        "status": conversation.status,
        "operator_id": conversation.operator_id,
        "is_unprocessed": conversation.is_unprocessed,
        "is_offline_request": conversation.is_offline_request,
        "created_at": _iso(conversation.created_at),
        "last_message_at": _iso(conversation.last_message_at),
    }


def offer_created(offer, conversation) -> dict:
    return {
        "type": "offer.created",
        "offer_id": offer.pk,
        "conversation_id": conversation.pk,
        "operator_id": offer.operator_id,
        "expires_at": _iso(offer.expires_at),
        "conversation": conversation_summary(conversation),
    }


def offer_withdrawn(offer, reason: str) -> dict:
    return {
        "type": "offer.withdrawn",
        "offer_id": offer.pk,
        "conversation_id": offer.conversation_id,
        "operator_id": offer.operator_id,
        "status": offer.status,
        "reason": reason,
    }


def conversation_assigned(conversation, reason: str = "") -> dict:
    return {
        "type": "conversation.assigned",
        "conversation_id": conversation.pk,
        "operator_id": conversation.operator_id,
        "reason": reason,
        "conversation": conversation_summary(conversation),
    }


def conversation_status(conversation, previous_operator_id: int | None = None, reason: str = "") -> dict:
    return {
        "type": "conversation.status",
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "operator_id": conversation.operator_id,
        "previous_operator_id": previous_operator_id,
        "is_unprocessed": conversation.is_unprocessed,
        "reason": reason,
    }


def conversation_closed(conversation) -> dict:
    return {
        "type": "conversation.closed",
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "operator_id": conversation.operator_id,
        "closed_by": conversation.closed_by,
        "closed_at": _iso(conversation.closed_at),
        "rating_deadline": _iso(conversation.rating_deadline),
    }


def message_created(message) -> dict:
    author_name = operator_display_name(message.author) if message.author_id is not None else ""
    return {
        "type": "message.created",
        "conversation_id": message.conversation_id,
        "message": {
            "id": message.pk,
            "conversation_id": message.conversation_id,
            "author_kind": message.author_kind,
            "author_id": message.author_id,
            "author_name": author_name,
            "text": message.text,
            "attachments": attachment_payloads(message),
            "delivery": message.delivery,
            "delivery_error": message.delivery_error,
            # Issue 21: queued after a failure that may pass; the sender keeps trying until ``delivery_retry_until``.
            "delivery_delayed": message.delivery_delayed,
            "delivery_retry_until": _iso(message.delivery_deadline),
            "system_key": message.system_key,
            "created_at": _iso(message.created_at),
            "button": message.button,
            # The client's own changes in the messenger: staff see the earlier wording and a deleted text.
            "edited_at": _iso(message.edited_at),
            "earlier_texts": list(message.earlier_texts or []),
            "deleted_at": _iso(message.deleted_at),
        },
    }


def message_edited(message) -> dict:
    """The client edited a message in the messenger: viewers redraw it with its new text, marked edited."""
    event = message_created(message)
    event["type"] = "message.edited"
    return event


def message_deleted(message) -> dict:
    """The client deleted a message in the messenger: consoles redraw it marked deleted; the widget hides it."""
    event = message_created(message)
    event["type"] = "message.deleted"
    return event


def message_attachments(message) -> dict:
    """A message whose files changed (copied from the messenger, or the copy failed): viewers redraw it."""
    event = message_created(message)
    event["type"] = "message.attachments"
    return event


def message_delivery(message) -> dict:
    """An outbound message's delivery changed (sent, or failed with the provider's reason): consoles redraw it."""
    event = message_created(message)
    event["type"] = "message.delivery"
    return event


def conversation_erased(conversation_id: int) -> dict:
    """Issue 19: the conversation's content was erased; whoever shows it reloads it."""
    return {"type": "conversation.erased", "conversation_id": conversation_id}


def connector_reachability(connector) -> dict:
    """Issue 21: whether replies through this connector go out now, or wait for its provider to answer again."""
    return {
        "type": "connector.reachability",
        "connector_id": connector.pk,
        "open_channel_id": connector.open_channel_id,
        "kind": connector.kind,
        "unreachable": connector.is_unreachable,
        "unreachable_since": _iso(connector.unreachable_since),
        "error": connector.transport_error,
    }


def operator_presence(user_id: int, online: bool) -> dict:
    return {"type": "operator.presence", "operator_id": user_id, "online": online}


def note_created(note) -> dict:
    return {
        "type": "note.created",
        "conversation_id": note.conversation_id,
        "note": {
            "id": note.pk,
            "conversation_id": note.conversation_id,
            "author_id": note.author_id,
            "author_name": note.author_name,
            "text": note.text,
            # Whom its @names mention, for the console to highlight them (resolved by the server).
            "mentions": [{"id": user.pk, "name": operator_display_name(user)} for user in note.mentioned.all()],
            "created_at": _iso(note.created_at),
        },
    }


def wallboard_changed(open_channel_id: int) -> dict:
    """A nudge without content: the wallboard reads what it shows from the database (it may not see the rest)."""
    return {"type": "wallboard.changed", "open_channel_id": open_channel_id}


def access_changed() -> dict:
    """What the person may see changed (dismissed, moved out of a queue, no longer a supervisor): a console that
    receives it checks again at once, closes if its user is no longer an operator, and re-syncs."""
    return {"type": "access.changed"}


# --- sending after commit -------------------------------------------------------------------------------


class _Outbox:
    """The events of one transaction, sent in one go by its on-commit callback."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []
        self.nudged: set[int] = set()

    def __call__(self) -> None:
        items, self.items = self.items, []
        self.nudged = set()
        if items:
            deliver(items)


_local = threading.local()


def _current_outbox() -> _Outbox:
    # Reuse the outbox registered at this same savepoint depth: after a commit or
    # a rollback its callback is gone from the connection and a new one starts, and
    # events raised inside a savepoint that is rolled back are dropped with it.
    connection = transaction.get_connection()
    outbox = getattr(_local, "outbox", None)
    if outbox is None or not connection.in_atomic_block or not _registered(connection, outbox):
        outbox = _Outbox()
        _local.outbox = outbox
        transaction.on_commit(outbox, robust=True)
    return outbox


def _registered(connection, outbox: _Outbox) -> bool:
    current = set(connection.savepoint_ids)
    return any(callback is outbox and sids == current for sids, callback, _robust in connection.run_on_commit)


def publish(groups: Iterable[str], event: dict) -> None:
    """Send ``event`` to ``groups`` once the current transaction commits (at once outside a transaction)."""
    groups = list(dict.fromkeys(groups))
    if not groups:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        deliver([(group, event) for group in groups])
        return
    outbox = _current_outbox()
    outbox.items.extend((group, event) for group in groups)


def nudge_wallboards(open_channel_ids: Iterable[int]) -> None:
    """Tell the wallboards of these open channels to re-read, once per channel per transaction."""
    ids = sorted(set(open_channel_ids))
    if not ids:
        return
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        deliver([(wallboard_group(pk), wallboard_changed(pk)) for pk in ids])
        return
    outbox = _current_outbox()
    for pk in ids:
        if pk not in outbox.nudged:
            outbox.nudged.add(pk)
            outbox.items.append((wallboard_group(pk), wallboard_changed(pk)))


def publish_to_conversation(conversation, event: dict, *, operator_ids: Iterable[int | None] = ()) -> None:
    """Send to the conversation's group and to the given operators' groups (``None`` entries are skipped)."""
    groups = [conversation_group(conversation.pk)]
    groups.extend(operator_group(user_id) for user_id in operator_ids if user_id is not None)
    publish(groups, event)


def deliver(items: list[tuple[str, dict]]) -> None:
    """Send the events: hand them to this process's sender thread and return at once.

    The service that committed does not wait for the channel layer (a Redis
    round trip, and a new connection per call with ``async_to_sync``). One
    long-lived event loop per process sends them in order over pooled
    connections; a failing channel layer is logged, never raised. The
    in-memory layer (tests, single-process development) belongs to the event
    loop of its consumers, so it is sent to from the caller, on that loop.
    """
    try:
        layer = get_channel_layer()
    except Exception:
        logger.exception("No channel layer: %d event(s) not sent", len(items))
        return
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        try:
            async_to_sync(_send_all)(layer, items)
        except Exception:
            logger.exception("Could not send %d event(s) to the channel layer", len(items))
        return
    _sender().submit(items)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every event handed over so far was sent (tests and benchmarks); False on timeout."""
    return _sender().flush(timeout)


# What the sender thread receives: the (group, event) pairs of one commit, and the event to set once they are sent.
_Batch = tuple[list[tuple[str, dict]], threading.Event | None]


class _Sender:
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self.queue: asyncio.Queue[_Batch] | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="channel-layer-events", daemon=True)
        self.thread.start()
        self.ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        queue: asyncio.Queue[_Batch] = asyncio.Queue()
        self.queue = queue
        self.ready.set()
        self.loop.run_until_complete(self._drain(queue))

    async def _drain(self, queue: asyncio.Queue[_Batch]) -> None:
        while True:
            items, done = await queue.get()
            if items:
                try:
                    layer = get_channel_layer()
                    if layer is not None:
                        await _send_all(layer, items)
                except Exception:
                    logger.exception("Could not send %d event(s) to the channel layer", len(items))
            if done is not None:
                done.set()

    def submit(self, items: list[tuple[str, dict]], done: threading.Event | None = None) -> None:
        if self.queue is None:
            # Cannot happen once __init__ returned: it waits until the thread has made the queue.
            raise RuntimeError("the event sender thread has not made its queue")
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (items, done))

    def flush(self, timeout: float) -> bool:
        done = threading.Event()
        self.submit([], done)
        return done.wait(timeout)


_sender_lock = threading.Lock()
_sender_instance: _Sender | None = None


def _sender() -> _Sender:
    global _sender_instance
    with _sender_lock:
        # A forked process (Celery prefork, the benchmark) starts its own thread.
        if _sender_instance is None or _sender_instance.pid != os.getpid() or not _sender_instance.thread.is_alive():
            _sender_instance = _Sender()
        return _sender_instance


async def _send_all(layer, items: list[tuple[str, dict]]) -> None:
    # The groups of one publish() share their event object: with the Redis layer they go in one
    # group_send_many (two round trips, each socket once) instead of one group_send each.
    send_many = getattr(layer, "group_send_many", None)
    for event, groups in _groups_per_event(items):
        message = {"type": FORWARD_HANDLER, "event": event}
        if send_many is not None:
            try:
                await send_many(groups, message)
            except Exception:
                logger.exception("Could not send %s to %s", event.get("type"), groups)
            continue
        for group in groups:
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.exception("Could not send %s to %s", event.get("type"), group)


def _groups_per_event(items: list[tuple[str, dict]]) -> list[tuple[dict, list[str]]]:
    """Consecutive items carrying the same event object become one (event, groups) pair, order kept."""
    batches: list[tuple[dict, list[str]]] = []
    for group, event in items:
        if batches and batches[-1][0] is event:
            batches[-1][1].append(group)
        else:
            batches.append((event, [group]))
    return batches
