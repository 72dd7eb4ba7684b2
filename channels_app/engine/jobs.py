"""Background work the engine and the edges ask Celery for, by task name: nothing below the wiring imports a task.

The tasks themselves are thin wrappers in :mod:`channels_app.tasks`, registered
under these names when Django starts (``ChannelsAppConfig.ready`` imports that
module). A name is part of the wire format: queued messages and retries
carry it across a deploy, so it keeps the module path it was first published
under even where the code has moved since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import current_app

SWEEP_OFFER_EXPIRY = "channels_app.tasks.sweep_offer_expiry"
SWEEP_UNPROCESSED = "channels_app.tasks.sweep_unprocessed"
SWEEP_UNASSIGNED = "channels_app.tasks.sweep_unassigned"
SWEEP_PRESENCE = "channels_app.tasks.sweep_presence"
SWEEP_ABSENT_OPERATORS = "channels_app.tasks.sweep_absent_operators"
SWEEP_AUTO_CLOSE = "channels_app.tasks.sweep_auto_close"
SWEEP_RETENTION = "channels_app.tasks.sweep_retention"
PRUNE_INBOUND_UPDATES = "channels_app.tasks.prune_inbound_updates"
ROUTE_CONVERSATION = "channels_app.tasks.route_conversation"
REDISTRIBUTE_OPEN_CHANNEL = "channels_app.tasks.redistribute_open_channel"
PROCESS_INBOUND_UPDATES = "channels_app.connectors.tasks.process_inbound_updates"
SEND_MESSAGE = "channels_app.connectors.tasks.send_message"
DOWNLOAD_ATTACHMENT = "channels_app.connectors.tasks.download_attachment"
SWEEP_CONNECTORS = "channels_app.connectors.tasks.sweep_connectors"
REGISTER_WEBHOOK = "channels_app.connectors.tasks.register_webhook"
REFRESH_ZALO_TOKENS = "channels_app.connectors.tasks.refresh_zalo_tokens"
ANSWER_CLIENT_MESSAGE = "channels_app.bots.tasks.answer_client_message"
SWEEP_SILENT_BOTS = "channels_app.bots.tasks.sweep_silent_bots"
BUILD_DATA_EXPORT = "channels_app.tasks.build_data_export"
SWEEP_DATA_EXPORTS = "channels_app.tasks.sweep_data_exports"
# Issue 21: a connector's circuit breaker (channels_app.connectors.circuit).
DRAIN_CONNECTOR = "channels_app.connectors.tasks.drain_connector"
PROBE_CONNECTORS = "channels_app.connectors.tasks.probe_connectors"


def enqueue(name: str, *args: Any, eta: datetime | None = None) -> None:
    """Queue the task registered as ``name`` with ``args`` (to run at ``eta``).

    Goes through the task object, so ``CELERY_TASK_ALWAYS_EAGER`` runs it in
    place; a broker error is raised for the caller to decide (every caller has
    a sweep that catches up).
    """
    task = current_app.tasks[name]
    # Celery takes a missing eta as "now"; its stubs accept only a datetime there, so leave it out rather than None.
    if eta is None:
        task.apply_async(args=args)
    else:
        task.apply_async(args=args, eta=eta)
