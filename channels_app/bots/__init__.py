"""Chatbots (B1, B2): the bot interface, the built-in rule bot, the external HTTP bot, their services and API.

=============  =================================================================
``base``       the :class:`Bot` interface and the registry of bot kinds
``rules``      the built-in rule bot (keywords → answers)
``external``   a bot of your own over HTTP: signed events out, answers back
``outbound``   where its events may go: public addresses only, checked and pinned
``services``   a bot's turn, the REST API's writes, the silent-bot sweep
``api``        the REST endpoints an external bot calls (``/api/bots/...``)
=============  =================================================================

Importing the package registers the built-in kinds. The Celery tasks are in
:mod:`channels_app.tasks`; ``ChannelsAppConfig.ready`` connects
:func:`~.services.enqueue_bot_turn` to ``message_created``.
"""

from channels_app.bots import external, rules
from channels_app.bots.base import BOT_KINDS, Bot, BotFailure, BotReply, bot_for, register

__all__ = ["BOT_KINDS", "Bot", "BotFailure", "BotReply", "bot_for", "external", "register", "rules"]
