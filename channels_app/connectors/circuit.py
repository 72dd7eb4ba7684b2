"""Writes of a connector's circuit breaker (issue 21); the rules are :mod:`channels_app.policy.circuit`.

The sender (:func:`channels_app.connectors.processing.message_deliver`) asks
:func:`send_permission` before it calls a provider, and reports what happened
with :func:`transport_failed` or :func:`transport_succeeded`. Every change of
reachability is logged, read at scrape by ``/metrics`` (``contact_center_connector_unreachable``),
and announced after commit to the open channel's operators and wallboard
(``connector.reachability``), so the console can say why replies wait.

Locks: the connector row only, or a message row then its connector (the
sender's claim), never the other way round.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from channels_app.engine import events, jobs
from channels_app.models import Connector, QueueMember, Reachability
from channels_app.policy import circuit as policy

logger = logging.getLogger("channels_app.connectors")

# The longest transport error kept on the connector (a provider's error page is not ours to store whole).
MAX_ERROR_LENGTH = 500


def probe_interval() -> timedelta:
    return timedelta(seconds=settings.CONNECTOR_BREAKER_PROBE_SECONDS)


def send_permission(connector: Connector, *, now: datetime) -> str:
    """``SEND``, ``PROBE`` (this caller now holds the one probe) or ``HOLD`` (wait: do not call the provider).

    A due probe is claimed with one conditional update, so of many senders
    exactly one probes; the others hold until it has answered.
    """
    decision = policy.sender_may(state=connector.reachability, next_probe_at=connector.next_probe_at, now=now)
    if decision != policy.PROBE:
        return decision
    due = Q(next_probe_at__isnull=True) | Q(next_probe_at__lte=now)
    claimed = (
        Connector.objects.filter(due, pk=connector.pk)
        .exclude(reachability=Reachability.REACHABLE)
        .update(reachability=Reachability.PROBING, next_probe_at=now + probe_interval())
    )
    if not claimed:
        return policy.HOLD
    connector.reachability = Reachability.PROBING
    connector.next_probe_at = now + probe_interval()
    logger.info("connector %s: testing whether %s answers again", connector.pk, connector.kind)
    return policy.PROBE


def transport_failed(*, connector_id: int, error: str, now: datetime) -> Connector:
    """One more transport failure of this connector; it becomes unreachable at the threshold. Returns it as saved."""
    with transaction.atomic():
        connector = Connector.objects.select_for_update().get(pk=connector_id)
        was_reachable = not connector.is_unreachable
        after = policy.after_failure(
            state=connector.reachability,
            failures=connector.transport_failures,
            threshold=settings.CONNECTOR_BREAKER_FAILURES,
            probe_interval=probe_interval(),
            now=now,
        )
        connector.reachability = after.state
        connector.transport_failures = after.failures
        connector.next_probe_at = after.next_probe_at
        connector.transport_error = error[:MAX_ERROR_LENGTH]
        fields = ["reachability", "transport_failures", "next_probe_at", "transport_error"]
        if was_reachable and connector.is_unreachable:
            connector.unreachable_since = now
            fields.append("unreachable_since")
            logger.warning(
                "connector %s: %s unreachable after %s failures in a row (%s); replies wait",
                connector.pk,
                connector.kind,
                after.failures,
                connector.transport_error,
            )
            _announce(connector)
        connector.save(update_fields=fields)
    return connector


def transport_succeeded(*, connector: Connector, now: datetime) -> None:
    """A send went through: the provider answers. Closes the breaker, and sends what waited, in order."""
    if connector.reachability == Reachability.REACHABLE and connector.transport_failures == 0:
        return  # the usual case costs no write
    with transaction.atomic():
        current = Connector.objects.select_for_update().get(pk=connector.pk)
        recovered = current.is_unreachable
        current.reachability = Reachability.REACHABLE
        current.transport_failures = 0
        current.next_probe_at = None
        fields = ["reachability", "transport_failures", "next_probe_at"]
        if recovered:
            logger.warning(
                "connector %s: %s answers again after %s; sending the replies that waited",
                current.pk,
                current.kind,
                now - current.unreachable_since if current.unreachable_since else "an outage",
            )
            current.unreachable_since = None
            current.transport_error = ""
            fields += ["unreachable_since", "transport_error"]
            _announce(current)
            transaction.on_commit(lambda: _enqueue_drain(current.pk))
        current.save(update_fields=fields)
    connector.reachability = Reachability.REACHABLE
    connector.transport_failures = 0


def connectors_due_for_probe(*, now: datetime) -> list[int]:
    """Unreachable connectors whose next recovery test is due (beat's ``PROBE_CONNECTORS`` asks every few seconds)."""
    return list(
        Connector.objects.exclude(reachability=Reachability.REACHABLE)
        .filter(Q(next_probe_at__isnull=True) | Q(next_probe_at__lte=now), is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _announce(connector: Connector) -> None:
    """Inside the transaction that changed it: tell the channel's operators and wallboard (after commit)."""
    operator_ids = QueueMember.objects.filter(open_channel_id=connector.open_channel_id).values_list(
        "operator_id", flat=True
    )
    events.publish(
        [events.operator_group(user_id) for user_id in operator_ids], events.connector_reachability(connector)
    )
    events.nudge_wallboards([connector.open_channel_id])


def _enqueue_drain(connector_id: int) -> None:
    try:
        jobs.enqueue(jobs.DRAIN_CONNECTOR, connector_id)
    except Exception:
        # The messages stay queued; the connector sweep re-queues them once the broker is back.
        logger.exception("connector %s: drain not enqueued; the sweep will send the waiting replies", connector_id)
