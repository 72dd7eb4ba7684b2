"""Celery tasks of the chatbots; each takes ids and calls one service of :mod:`channels_app.bots.services`."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from channels_app.bots import services
from channels_app.models import Conversation, ConversationStatus, Message

logger = logging.getLogger("channels_app.bots")


@shared_task(
    name="channels_app.bots.tasks.answer_client_message",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
)
def answer_client_message(message_id: int) -> str:
    return services.bot_message_answer(message_id=message_id, now=timezone.now()).outcome


@shared_task(name="channels_app.bots.tasks.sweep_silent_bots", acks_late=True)
def sweep_silent_bots() -> int:
    return services.bot_silence_sweep(now=timezone.now())


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
        answer_client_message.delay(message_id)
    except Exception:
        # The message is committed; the silent-bot sweep hands the conversation over if nobody answers it.
        logger.exception("message %s: bot turn not enqueued; the silent-bot sweep will hand over", message_id)
