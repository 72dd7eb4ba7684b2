"""The bot interface (B1, B2) and the registry of bot kinds.

A bot reads one client message of a conversation it holds and answers with a
:class:`BotReply`: texts to send, and whether to hand the conversation over
to the operators. Bots never write: :mod:`channels_app.bots.services` stores
the reply under the conversation's row lock, so a reply that comes too late
(the conversation was handed over meanwhile) is dropped.

A bot kind is registered under the value of ``Chatbot.kind`` it serves; a
chatbot whose kind has no registered class fails, and a failing bot hands
over (B1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from channels_app.models import Chatbot, Conversation, Message


@dataclass(frozen=True)
class BotReply:
    """What a bot answers to one client message.

    ``unmatched`` tells the rule bot's "no match" count to go up by one;
    ``reason`` says why the bot hands over (kept in the status history).
    """

    texts: tuple[str, ...] = ()
    handover: bool = False
    reason: str = ""
    unmatched: bool = False


class BotFailure(Exception):
    """The bot could not answer (unreachable, timed out, invalid answer); the conversation is handed over."""


class Bot:
    """One configured chatbot, ready to answer.

    ``calls_out`` is True for bots that wait on the network: they are asked
    outside the conversation's row lock so a slow bot never blocks the
    client's next message; in-process bots are asked under the lock, so they
    read state (such as the unmatched count) no other bot turn is changing.
    """

    kind: ClassVar[str]
    calls_out: ClassVar[bool] = False

    def __init__(self, chatbot: Chatbot) -> None:
        self.chatbot = chatbot

    def handle(self, conversation: Conversation, message: Message, *, now: datetime) -> BotReply:
        """Answer ``message``; raise :class:`BotFailure` when the bot cannot."""
        raise NotImplementedError


BOT_KINDS: dict[str, type[Bot]] = {}


def register(bot_class: type[Bot]) -> type[Bot]:
    """Class decorator: make ``bot_class`` serve chatbots of its ``kind`` (B2: bots are pluggable)."""
    BOT_KINDS[bot_class.kind] = bot_class
    return bot_class


def bot_for(chatbot: Chatbot) -> Bot:
    """The bot that serves ``chatbot``; :class:`BotFailure` when it cannot serve an open channel now (B2)."""
    if not chatbot.is_active:
        raise BotFailure("the chatbot is switched off")
    if not chatbot.supports_open_channels:
        raise BotFailure("the chatbot does not support open channels (B2)")
    bot_class = BOT_KINDS.get(chatbot.kind)
    if bot_class is None:
        raise BotFailure(f"no bot of kind “{chatbot.kind}” is installed")
    return bot_class(chatbot)
