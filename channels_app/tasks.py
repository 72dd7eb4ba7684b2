"""Every Celery task of the open channels app: thin wrappers that take ids and call one service.

Wiring, above every layer: nothing else in the app imports this module. The
engine and the edges queue work by name through :mod:`channels_app.engine.jobs`,
whose constants are the names registered here; ``ChannelsAppConfig.ready``
imports this module so every process knows them. The sweeps are scheduled by
beat (:mod:`channels_app.periodic`). Every service called here is idempotent
and claims rows with ``skip_locked``, so a task delivered twice (``acks_late``)
or two overlapping beats change nothing twice.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from channels_app.bots import services as bots
from channels_app.connectors import processing, registration, zalo_tokens
from channels_app.engine import exports, jobs, queue, retention, sweeps

# --- the distribution engine (Q3, Q4, Q6, Q9, Q10, Q11) -------------------------------------------------


@shared_task(name=jobs.SWEEP_OFFER_EXPIRY, acks_late=True, ignore_result=True)
def sweep_offer_expiry() -> int:
    return sweeps.offers_expire(now=timezone.now())


@shared_task(name=jobs.SWEEP_UNPROCESSED, acks_late=True, ignore_result=True)
def sweep_unprocessed() -> int:
    return sweeps.conversations_mark_unprocessed(now=timezone.now())


@shared_task(name=jobs.SWEEP_UNASSIGNED, acks_late=True, ignore_result=True)
def sweep_unassigned() -> int:
    return sweeps.conversations_retry_unassigned(now=timezone.now())


@shared_task(name=jobs.SWEEP_PRESENCE, acks_late=True, ignore_result=True)
def sweep_presence() -> int:
    return sweeps.presence_sweep(now=timezone.now())


@shared_task(name=jobs.SWEEP_ABSENT_OPERATORS, acks_late=True, ignore_result=True)
def sweep_absent_operators() -> int:
    return sweeps.absent_operators_sweep(now=timezone.now())


@shared_task(name=jobs.SWEEP_AUTO_CLOSE, acks_late=True, ignore_result=True)
def sweep_auto_close() -> int:
    return sweeps.conversations_auto_close(now=timezone.now())


@shared_task(name=jobs.SWEEP_RETENTION, acks_late=True, ignore_result=True)
def sweep_retention() -> int:
    return retention.retention_sweep(now=timezone.now())


@shared_task(name=jobs.PRUNE_INBOUND_UPDATES, acks_late=True, ignore_result=True)
def prune_inbound_updates() -> int:
    return retention.inbound_updates_prune(now=timezone.now())


@shared_task(name=jobs.ROUTE_CONVERSATION, acks_late=True, ignore_result=True)
def route_conversation(conversation_id: int, trigger: str = "task") -> str | None:
    decision = queue.conversation_route(conversation_id=conversation_id, now=timezone.now(), trigger=trigger)
    return decision.outcome if decision is not None else None


@shared_task(name=jobs.REDISTRIBUTE_OPEN_CHANNEL, acks_late=True, ignore_result=True)
def redistribute_open_channel(open_channel_id: int, trigger: str = "task") -> int:
    """Q9: route a channel's waiting conversations now (e.g. when working hours begin)."""
    return queue.channel_redistribute(open_channel_id=open_channel_id, now=timezone.now(), trigger=trigger)


# --- connectors (S2) --------------------------------------------------------------------------------------


@shared_task(
    name=jobs.PROCESS_INBOUND_UPDATES,
    acks_late=True,
    autoretry_for=processing.TRANSIENT_DB_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def process_inbound_updates(connector_id: int, update_ids: list[str]) -> int:
    return processing.inbound_updates_process(connector_id=connector_id, update_ids=update_ids, now=timezone.now())


# Bounded by each message's delivery deadline, not by a count (issue 21): the sender fails it once that passes.
@shared_task(name=jobs.SEND_MESSAGE, bind=True, acks_late=True, max_retries=None)
def send_message(self, message_id: int) -> str:
    outcome = processing.message_deliver(message_id=message_id, now=timezone.now())
    if outcome.state == "retry":
        raise self.retry(countdown=outcome.retry_after)
    return outcome.state


@shared_task(name=jobs.DRAIN_CONNECTOR, acks_late=True, ignore_result=True)
def drain_connector(connector_id: int) -> int:
    """A connector's provider answers again: send what waited, each conversation in order."""
    return processing.connector_drain(connector_id=connector_id)


@shared_task(name=jobs.PROBE_CONNECTORS, acks_late=True, ignore_result=True)
def probe_connectors() -> int:
    """Test unreachable connectors whose recovery test is due, and fail replies past their deadline."""
    return processing.connectors_probe(now=timezone.now())


@shared_task(name=jobs.DOWNLOAD_ATTACHMENT, bind=True, acks_late=True, max_retries=processing.DOWNLOAD_MAX_RETRIES)
def download_attachment(self, attachment_id: int) -> str:
    outcome = processing.attachment_download(
        attachment_id=attachment_id, now=timezone.now(), final_attempt=self.request.retries >= self.max_retries
    )
    if outcome.state == "retry":
        raise self.retry(countdown=processing.send_backoff_seconds(self.request.retries))
    return outcome.state


@shared_task(name=jobs.SWEEP_CONNECTORS, acks_late=True)
def sweep_connectors() -> int:
    """Re-enqueue updates and outbound messages whose task was lost (broker down at the wrong moment)."""
    work = processing.connectors_sweep(now=timezone.now())
    for connector_id, update_ids in work.updates.items():
        process_inbound_updates.delay(connector_id, update_ids)
    for message_id in work.messages:
        send_message.delay(message_id)
    for attachment_id in work.attachments:
        download_attachment.delay(attachment_id)
    return sum(len(ids) for ids in work.updates.values()) + len(work.messages) + len(work.attachments)


@shared_task(name=jobs.REGISTER_WEBHOOK, acks_late=True, ignore_result=True)
def register_webhook(connector_id: int, site_url: str | None = None) -> str:
    """O5: bind a connector saved in the admin to this site (the address of the admin page that saved it, when
    given); the outcome is stored on the connector."""
    return registration.connector_webhook_register_by_id(
        connector_id=connector_id, now=timezone.now(), site_url=site_url
    )


@shared_task(name=jobs.REFRESH_ZALO_TOKENS, acks_late=True, ignore_result=True)
def refresh_zalo_tokens() -> int:
    """S2: refresh the Zalo OA access tokens that expire within the hour (a connector at a time, locked)."""
    return zalo_tokens.zalo_tokens_refresh_expiring(now=timezone.now())


# --- chatbots (B1) ----------------------------------------------------------------------------------------


@shared_task(
    name=jobs.ANSWER_CLIENT_MESSAGE,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=3,
)
def answer_client_message(message_id: int) -> str:
    return bots.bot_message_answer(message_id=message_id, now=timezone.now()).outcome


@shared_task(name=jobs.SWEEP_SILENT_BOTS, acks_late=True)
def sweep_silent_bots() -> int:
    return bots.bot_silence_sweep(now=timezone.now())


# --- privacy (issue 19) -----------------------------------------------------------------------------------


@shared_task(name=jobs.BUILD_DATA_EXPORT, acks_late=True, ignore_result=True)
def build_data_export(export_id: int) -> str | None:
    """Write and store one client's or contact's data archive (a finished export is left alone)."""
    export = exports.export_build(export_id=export_id, now=timezone.now())
    return export.status if export is not None else None


@shared_task(name=jobs.SWEEP_DATA_EXPORTS, acks_late=True, ignore_result=True)
def sweep_data_exports() -> int:
    return exports.export_sweep(now=timezone.now())
