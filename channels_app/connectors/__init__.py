"""Messenger connectors (S1–S3): one module per source, a registry, and their Celery tasks.

Importing this package (``ChannelsAppConfig.ready`` does) registers the tasks
with Celery and connects the outbound receiver to ``signals.message_created``,
in web processes and workers alike.
"""

from channels_app.connectors import tasks
from channels_app.connectors.registry import MESSENGER_KINDS, SOURCES, get_source
from channels_app.signals import message_created

message_created.connect(tasks.enqueue_outbound_message, dispatch_uid="channels_app.connectors.outbound")

__all__ = ["MESSENGER_KINDS", "SOURCES", "get_source", "tasks"]
