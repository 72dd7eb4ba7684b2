"""Chatbot writes (B1): a bot's turn on a client message, the bot REST API, and the silent-bot sweep.

One responder at a time: a conversation with status ``bot`` is never routed
(routing takes only ``queued`` ones), and every write here re-checks, under
the conversation's row lock, that the bot still holds it, so an answer that
arrives after the hand-over is dropped. Bot turns of one conversation run one
at a time (a PostgreSQL advisory lock per conversation), so once a turn has
handed over, the turns waiting behind it see the new status and never send
the bot another event.

Lock order: the client's row, then the conversation's, as the inbound service
takes them. A transaction that updates the conversation row twice makes
PostgreSQL re-check its foreign keys, which waits on a client row locked by
an inbound message; taking the client first keeps that from becoming a
deadlock.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import DateTimeField, DurationField, Exists, ExpressionWrapper, F, OuterRef, Value
from django.db.models.functions import Coalesce

from channels_app.bots.base import Bot, BotFailure, BotReply, bot_for
from channels_app.engine import jobs, locks, messages
from channels_app.engine.conversations import conversation_bot_handover
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound, ServiceError
from channels_app.models import MESSAGE_TEXT_MAX_LENGTH, Chatbot, Client, Conversation, ConversationStatus, Message

logger = logging.getLogger("channels_app.bots")

# Key space of the bot-turn advisory locks: pg_advisory_lock(BOT_TURN_LOCK_SPACE, conversation id).
BOT_TURN_LOCK_SPACE = 0x424F54  # "BOT"
MAX_REASON_LENGTH = 100
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,40}$")
SWEEP_BATCH = 500

OUTCOME_ANSWERED = "answered"
OUTCOME_HANDED_OVER = "handed_over"
OUTCOME_AWAITING_BOT = "awaiting_bot"  # the bot took the event and will answer through the REST API
OUTCOME_ALREADY_ANSWERED = "already_answered"
OUTCOME_NOT_WITH_BOT = "not_with_bot"


@dataclass(frozen=True)
class BotTurn:
    outcome: str
    reason: str = ""
    message_ids: tuple[int, ...] = ()


def answer_key(client_message_id: int, index: int = 1) -> str:
    """``system_key`` of the bot's ``index``-th text answering a client message; the first marks the message done."""
    return f"bot:{client_message_id}" if index == 1 else f"bot:{client_message_id}:{index}"


@contextmanager
def bot_turn_lock(conversation_id: int) -> Iterator[None]:
    """Hold the conversation's bot turn: other turns of it wait, nothing else (inbound, routing) is blocked.

    A session-level advisory lock, so it can be held across an HTTP call
    without an open transaction; a worker that dies releases it with its
    connection.
    """
    key = (BOT_TURN_LOCK_SPACE, conversation_id % 2**31)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s::int, %s::int)", key)
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s::int, %s::int)", key)
        except DatabaseError:
            # A kept-alive connection still holding the lock would block this conversation's bot for good:
            # closing it makes the server drop the lock with the session.
            logger.exception(
                "Could not release the bot turn of conversation %s; closing the connection", conversation_id
            )
            if not connection.in_atomic_block:
                connection.close()


def bot_message_answer(*, message_id: int, now: datetime) -> BotTurn:
    """The conversation's bot answers one client message (B1); idempotent per message.

    1. Only a client's message in a conversation the bot holds is answered.
    2. Take the conversation's bot turn, then re-read it: a turn that ran
       meanwhile may have handed over (then the bot hears nothing more), or a
       retried task may find the message answered already (``bot:<id>``).
    3. Find the bot (B2); a missing, switched-off, unsupported or unknown bot
       counts as a failure.
    4. A bot that calls out (HTTP) is asked now, outside the row lock; its
       answer is stamped ``now`` plus the time the call took.
    5. Under the conversation's row lock: re-check that the bot still holds
       it and has not answered this message; ask an in-process bot here;
       store the texts (keys ``bot:<id>``, ``bot:<id>:2``…), count a miss,
       and hand over when the bot asks to or failed.
    """
    message = Message.objects.filter(pk=message_id).only("pk", "conversation_id", "author_kind").first()
    if message is None or message.author_kind != Message.Author.CLIENT:
        return BotTurn(OUTCOME_NOT_WITH_BOT, reason="not a client message")
    with bot_turn_lock(message.conversation_id):
        conversation = locks.get_conversation(message.conversation_id)
        if conversation.status != ConversationStatus.BOT:
            return BotTurn(OUTCOME_NOT_WITH_BOT)
        if _answered(conversation, message):
            return BotTurn(OUTCOME_ALREADY_ANSWERED)
        message = Message.objects.get(pk=message_id)
        try:
            bot = _bot_of(conversation)
        except BotFailure as failure:
            with transaction.atomic():
                _lock_client_and_conversation(conversation.pk)
                return _hand_over_after_failure(conversation, failure, now)

        reply: BotReply | BotFailure | None = None
        if bot.calls_out:
            started = time.monotonic()
            reply = _ask(bot, conversation, message, now)
            now += timedelta(seconds=time.monotonic() - started)

        with transaction.atomic():
            locked = _lock_client_and_conversation(conversation.pk)
            if locked is None or locked.status != ConversationStatus.BOT:
                return BotTurn(OUTCOME_NOT_WITH_BOT, reason="handed over while the bot was answering")
            if _answered(locked, message):
                return BotTurn(OUTCOME_ALREADY_ANSWERED)
            if reply is None:
                reply = _ask(bot, locked, message, now)
            if isinstance(reply, BotFailure):
                return _hand_over_after_failure(locked, reply, now)
            return _store_reply(locked, message, reply, now)


def bot_api_message_send(
    *, chatbot: Chatbot, conversation_id: int, text: str, now: datetime, idempotency_key: str = ""
) -> tuple[Message, bool]:
    """An external bot answers through the REST API (B1); returns the message and whether it is new.

    With an ``idempotency_key`` a repeated request returns the message the
    first one stored (``False``) instead of sending the text twice.
    """
    text = (text or "").strip()
    if not text:
        raise ServiceError("Write a message first.")
    if len(text) > MESSAGE_TEXT_MAX_LENGTH:
        raise ServiceError(f"The message is longer than {MESSAGE_TEXT_MAX_LENGTH} characters.")
    if idempotency_key and not IDEMPOTENCY_KEY.match(idempotency_key):
        raise ServiceError("The idempotency key is 1 to 40 letters, digits or _ . : - characters.")
    with transaction.atomic():
        conversation = _locked_for_bot(chatbot, conversation_id)
        if not idempotency_key:
            _require_with_bot(conversation)
            return messages.create_message(conversation, author_kind=Message.Author.BOT, text=text, now=now), True
        system_key = f"botapi:{idempotency_key}"
        earlier = Message.objects.filter(conversation=conversation, system_key=system_key).first()
        if earlier is not None:
            return earlier, False
        _require_with_bot(conversation)
        message = messages.create_message_once(
            conversation, system_key=system_key, author_kind=Message.Author.BOT, text=text, now=now
        )
        if message is None:
            # Cannot happen: the conversation is locked, and no message with this key was found under the lock.
            raise AssertionError(f"message {system_key!r} of conversation {conversation.pk} stored twice")
        return message, True


def bot_api_handover(*, chatbot: Chatbot, conversation_id: int, now: datetime, reason: str = "") -> Conversation:
    """An external bot hands the conversation over to the operators through the REST API (B1)."""
    reason = (reason or "").strip()[:MAX_REASON_LENGTH]
    with transaction.atomic():
        conversation = _locked_for_bot(chatbot, conversation_id)
        _require_with_bot(conversation)
        return conversation_bot_handover(conversation_id=conversation.pk, now=now, reason=reason or "the bot asked to")


def bot_silence_sweep(*, now: datetime) -> int:
    """B1 "or fails": hand over conversations whose bot has not answered the client's last message in time.

    Covers a bot turn lost on the way (broker down) and an external bot that
    promised to answer through the REST API and never did. "In time" is the
    bot's timeout plus ``CHATBOT_SILENCE_SECONDS`` (default 120 s). Returns
    how many conversations were handed over.
    """
    grace = timedelta(seconds=settings.CHATBOT_SILENCE_SECONDS)
    bot_timeout = ExpressionWrapper(
        Coalesce(F("open_channel__chatbot__timeout_seconds"), Value(0)) * Value(timedelta(seconds=1)),
        output_field=DurationField(),
    )
    answer_deadline = ExpressionWrapper(
        F("last_client_message_at") + bot_timeout + Value(grace), output_field=DateTimeField()
    )
    silent_ids = list(
        Conversation.objects.filter(status=ConversationStatus.BOT, last_client_message_at__isnull=False)
        .annotate(answer_deadline=answer_deadline)
        .filter(answer_deadline__lte=now)
        .exclude(Exists(_bot_answers_since_last_client_message()))
        .order_by("last_client_message_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    handed_over = 0
    for conversation_id in silent_ids:
        with transaction.atomic():
            conversation = _lock_client_and_conversation(conversation_id, skip_locked=True)
            if conversation is None or conversation.status != ConversationStatus.BOT:
                continue
            answered_meanwhile = (
                Conversation.objects.filter(pk=conversation_id).filter(Exists(_bot_answers_since_last_client_message()))
            ).exists()
            if answered_meanwhile:
                continue
            conversation_bot_handover(conversation_id=conversation_id, now=now, reason="the bot did not answer")
            handed_over += 1
    return handed_over


# --- helpers ----------------------------------------------------------------------------------------------


def _bot_answers_since_last_client_message():
    return Message.objects.filter(
        conversation=OuterRef("pk"),
        author_kind=Message.Author.BOT,
        created_at__gte=OuterRef("last_client_message_at"),
    )


def _answered(conversation: Conversation, message: Message) -> bool:
    return Message.objects.filter(conversation=conversation, system_key=answer_key(message.pk)).exists()


def _bot_of(conversation: Conversation) -> Bot:
    chatbot = conversation.open_channel.chatbot
    if chatbot is None:
        raise BotFailure("the open channel has no chatbot")
    return bot_for(chatbot)


def _ask(bot: Bot, conversation: Conversation, message: Message, now: datetime) -> BotReply | BotFailure:
    """The bot's reply, or the failure to hand over on; a bot's own bug is a failure too, never a lost turn."""
    try:
        return bot.handle(conversation, message, now=now)
    except BotFailure as failure:
        return failure
    except Exception as error:
        logger.exception("Chatbot %s crashed on message %s", bot.chatbot.pk, message.pk)
        return BotFailure(f"the bot crashed ({error.__class__.__name__})")


def _hand_over_after_failure(conversation: Conversation, failure: BotFailure, now: datetime) -> BotTurn:
    logger.warning("Chatbot of conversation %s failed, handing over: %s", conversation.pk, failure)
    reason = f"failed: {failure}"[:MAX_REASON_LENGTH]
    conversation_bot_handover(conversation_id=conversation.pk, now=now, reason=reason)
    return BotTurn(OUTCOME_HANDED_OVER, reason=reason)


def _store_reply(conversation: Conversation, message: Message, reply: BotReply, now: datetime) -> BotTurn:
    stored = []
    for index, text in enumerate(reply.texts, start=1):
        answer = messages.create_message_once(
            conversation,
            system_key=answer_key(message.pk, index),
            author_kind=Message.Author.BOT,
            text=text[:MESSAGE_TEXT_MAX_LENGTH],
            now=now,
        )
        if answer is not None:
            stored.append(answer.pk)
    if reply.unmatched:
        conversation.bot_unmatched_count += 1
        conversation.save(update_fields=["bot_unmatched_count"])
    if reply.handover:
        conversation_bot_handover(conversation_id=conversation.pk, now=now, reason=reply.reason[:MAX_REASON_LENGTH])
        return BotTurn(OUTCOME_HANDED_OVER, reason=reply.reason, message_ids=tuple(stored))
    if not stored:
        return BotTurn(OUTCOME_AWAITING_BOT)
    return BotTurn(OUTCOME_ANSWERED, message_ids=tuple(stored))


def _lock_client_and_conversation(conversation_id: int, *, skip_locked: bool = False) -> Conversation | None:
    """Lock the conversation's client row, then the conversation (the inbound service's order).

    ``FOR NO KEY UPDATE`` on the client: it waits for an inbound message of
    the same client, yet never blocks another transaction's foreign-key check.
    ``None`` when the conversation is gone or, with ``skip_locked``, busy.
    """
    client_id = Conversation.objects.filter(pk=conversation_id).values_list("client_id", flat=True).first()
    if client_id is None:
        return None
    client = Client.objects.select_for_update(no_key=True, skip_locked=skip_locked).filter(pk=client_id).first()
    if client is None:
        return None
    return locks.lock_conversation(conversation_id, skip_locked=skip_locked)


def _locked_for_bot(chatbot: Chatbot, conversation_id: int) -> Conversation:
    if not chatbot.is_active:
        raise NotAllowed("This chatbot is switched off.")
    conversation = _lock_client_and_conversation(conversation_id)
    if conversation is None:
        raise NotFound("This conversation does not exist.")
    if conversation.open_channel.chatbot_id != chatbot.pk:
        raise NotAllowed("This conversation belongs to an open channel that does not use this chatbot.")
    return conversation


def _require_with_bot(conversation: Conversation) -> None:
    if conversation.status == ConversationStatus.BOT:
        return
    if conversation.bot_handed_over_at is not None:
        raise InvalidState("This conversation was handed over to the operators; the chatbot can no longer act on it.")
    raise InvalidState("This conversation is not with the chatbot.")


def enqueue_bot_turn(
    sender=None,
    *,
    message_id: int,
    conversation_id: int,
    author_kind: str = "",
    conversation_status: str | None = None,
    **kwargs,
) -> None:
    """Receiver of ``signals.message_created``: a client message in a conversation the bot holds goes to the bot.

    The status the message was stored in answers "does the bot hold it" without a query; the bot's
    task checks again under the conversation's lock.
    """
    if author_kind != Message.Author.CLIENT:
        return
    if conversation_status is None:
        held_by_bot = Conversation.objects.filter(pk=conversation_id, status=ConversationStatus.BOT).exists()
    else:
        held_by_bot = conversation_status == ConversationStatus.BOT
    if not held_by_bot:
        return
    try:
        jobs.enqueue(jobs.ANSWER_CLIENT_MESSAGE, message_id)
    except Exception:
        # The message is committed; the silent-bot sweep hands the conversation over if nobody answers it.
        logger.exception("message %s: bot turn not enqueued; the silent-bot sweep will hand over", message_id)
