"""Messenger connectors (S1–S3): one module per source, a registry, the webhook doors, and their processing.

=================  ==============================================================
``base``           what every source provides, and the values crossing its edges
``telegram``,      one :class:`~channels_app.connectors.base.Source` per provider
``meta``, ``zalo``
``zalo_tokens``    refreshing Zalo OA access tokens before (or as) they expire
``registry``       which source serves which connector kind
``webhooks``       the webhook endpoints: verify, store, answer, then process
``processing``     storing updates, turning them into messages, delivering replies
=================  ==============================================================

Celery runs the slow parts through the tasks of :mod:`channels_app.tasks`;
``ChannelsAppConfig.ready`` connects :func:`~.processing.enqueue_outbound_message`
to ``message_created``.
"""

from channels_app.connectors.registry import MESSENGER_KINDS, SOURCES, get_source

__all__ = ["MESSENGER_KINDS", "SOURCES", "get_source"]
