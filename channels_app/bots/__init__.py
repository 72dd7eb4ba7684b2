"""Chatbots (B1, B2): the bot interface, the built-in rule bot, the external HTTP bot, and their dispatch.

Importing this package (``ChannelsAppConfig.ready`` does) registers the bot
kinds and the Celery tasks, and connects the receiver that gives every client
message of a conversation the bot holds to the bot, in web processes and
workers alike.
"""

from channels_app.bots import external, rules, tasks
from channels_app.bots.base import BOT_KINDS, Bot, BotFailure, BotReply, bot_for, register
from channels_app.signals import message_created

message_created.connect(tasks.enqueue_bot_turn, dispatch_uid="channels_app.bots.turns")

__all__ = ["BOT_KINDS", "Bot", "BotFailure", "BotReply", "bot_for", "external", "register", "rules", "tasks"]
