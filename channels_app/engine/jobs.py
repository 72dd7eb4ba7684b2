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
# Beat's own heartbeat (contact_center.heartbeats, for /readyz). Named here, not imported from there: importing
# the contact_center package starts the Celery app, whose routing reads this module.
RECORD_BEAT_HEARTBEAT = "contact_center.heartbeats.record_beat"
PROBE_CONNECTORS = "channels_app.connectors.tasks.probe_connectors"

# --- Queues by kind of work (issue 21; docs/decisions/0023) ----------------------------------------------
# Each kind has its own queue and its own worker pool (``manage.py serve``, the README's process table), so a
# provider outage that fills ``outbound`` with retries never delays a client's message (``inbound``).
INBOUND = "inbound"  # a client's message on its way to an operator
OUTBOUND = "outbound"  # calls to a provider's send API: waits on the network, may pile up in an outage
SWEEPS = "sweeps"  # beat's time-driven work: short, frequent, must not wait behind either of the above
BULK = "bulk"  # slow work nobody waits on by the second: data exports, e-mails
QUEUES: tuple[str, ...] = (INBOUND, OUTBOUND, SWEEPS, BULK)

# Every task of the project → its queue. One table, by name, like the names themselves: a task missing here
# fails tests/channels_app/engine/test_jobs_queues.py. The KPI's and the CRM's tasks are named as
# channels_app.periodic names them (strings: channels_app knows nothing of kpi).
QUEUE_OF: dict[str, str] = {
    PROCESS_INBOUND_UPDATES: INBOUND,
    DOWNLOAD_ATTACHMENT: INBOUND,
    ROUTE_CONVERSATION: INBOUND,
    REDISTRIBUTE_OPEN_CHANNEL: INBOUND,
    ANSWER_CLIENT_MESSAGE: INBOUND,
    SEND_MESSAGE: OUTBOUND,
    DRAIN_CONNECTOR: OUTBOUND,
    REGISTER_WEBHOOK: OUTBOUND,
    REFRESH_ZALO_TOKENS: OUTBOUND,
    SWEEP_OFFER_EXPIRY: SWEEPS,
    SWEEP_UNPROCESSED: SWEEPS,
    SWEEP_UNASSIGNED: SWEEPS,
    SWEEP_PRESENCE: SWEEPS,
    SWEEP_ABSENT_OPERATORS: SWEEPS,
    SWEEP_AUTO_CLOSE: SWEEPS,
    SWEEP_RETENTION: SWEEPS,
    PRUNE_INBOUND_UPDATES: SWEEPS,
    SWEEP_CONNECTORS: SWEEPS,
    SWEEP_SILENT_BOTS: SWEEPS,
    SWEEP_DATA_EXPORTS: SWEEPS,
    PROBE_CONNECTORS: SWEEPS,
    RECORD_BEAT_HEARTBEAT: SWEEPS,
    "kpi.tasks.record_pending_responses": SWEEPS,
    "kpi.tasks.sweep_response_targets": SWEEPS,
    "kpi.tasks.record_responses": BULK,
    BUILD_DATA_EXPORT: BULK,
    "crm.tasks.send_lead_transcript": BULK,
}
# Where a task missing from QUEUE_OF goes (Celery's default queue): served, never stranded on a queue no worker
# reads, and slow enough there to be noticed; the test above is what catches it.
DEFAULT_QUEUE = BULK


def queue_of(name: str) -> str:
    """The queue of the task registered as ``name`` (:data:`DEFAULT_QUEUE` for a name missing from the table)."""
    return QUEUE_OF.get(name, DEFAULT_QUEUE)


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
