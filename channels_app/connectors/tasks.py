"""Celery tasks of the connectors; each takes ids and calls one function of :mod:`.processing`."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from channels_app.connectors import processing

logger = logging.getLogger("channels_app.connectors")

# Outbound sends: a provider outage of about an hour is ridden out (5 s, 10 s, 20 s … capped at 10 min).
SEND_MAX_RETRIES = settings.CONNECTOR_SEND_MAX_RETRIES
SEND_BACKOFF_BASE_SECONDS = 5
SEND_BACKOFF_MAX_SECONDS = 600


def send_backoff_seconds(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter, never sooner than the provider asked (Telegram's retry_after)."""
    delay = min(SEND_BACKOFF_MAX_SECONDS, SEND_BACKOFF_BASE_SECONDS * 2**retries)
    delay += random.uniform(0, delay / 4)
    return max(delay, retry_after or 0)


@shared_task(
    name="channels_app.connectors.tasks.process_inbound_updates",
    acks_late=True,
    autoretry_for=processing.TRANSIENT_DB_ERRORS,
    retry_backoff=True,
    max_retries=5,
)
def process_inbound_updates(connector_id: int, update_ids: list[str]) -> int:
    return processing.inbound_updates_process(connector_id=connector_id, update_ids=update_ids, now=timezone.now())


@shared_task(name="channels_app.connectors.tasks.send_message", bind=True, acks_late=True, max_retries=SEND_MAX_RETRIES)
def send_message(self, message_id: int) -> str:
    outcome = processing.message_deliver(
        message_id=message_id, now=timezone.now(), final_attempt=self.request.retries >= self.max_retries
    )
    if outcome.state == "retry":
        raise self.retry(countdown=send_backoff_seconds(self.request.retries, outcome.retry_after))
    return outcome.state


@shared_task(name="channels_app.connectors.tasks.sweep_connectors", acks_late=True)
def sweep_connectors() -> int:
    """Re-enqueue updates and outbound messages whose task was lost (broker down at the wrong moment)."""
    work = processing.connectors_sweep(now=timezone.now())
    for connector_id, update_ids in work.updates.items():
        process_inbound_updates.delay(connector_id, update_ids)
    for message_id in work.messages:
        send_message.delay(message_id)
    return sum(len(ids) for ids in work.updates.values()) + len(work.messages)


def enqueue_outbound_message(sender=None, *, message_id: int, author_kind: str = "", **kwargs) -> None:
    """Receiver of ``signals.message_created``: queue the send of replies on messenger connectors."""
    if author_kind == "client" or not processing.message_needs_delivery(message_id=message_id):
        return
    try:
        send_message.delay(message_id)
    except Exception:
        # The message is committed as queued; the sweep sends it once the broker is back.
        logger.exception("message %s: send not enqueued; the connector sweep will retry", message_id)
