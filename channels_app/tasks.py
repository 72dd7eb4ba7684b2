"""Celery tasks of the distribution engine: thin wrappers that take ids and call one service.

The six sweeps are scheduled by beat (``channels_app.periodic.SWEEPS``). Every
service they call is idempotent and claims rows with ``skip_locked``, so a
task delivered twice (``acks_late``) or two overlapping beats change nothing
twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from channels_app.services import routing, sweeps

logger = logging.getLogger(__name__)


@shared_task(name="channels_app.tasks.sweep_offer_expiry", acks_late=True, ignore_result=True)
def sweep_offer_expiry() -> int:
    return sweeps.offers_expire(now=timezone.now())


@shared_task(name="channels_app.tasks.sweep_unprocessed", acks_late=True, ignore_result=True)
def sweep_unprocessed() -> int:
    return sweeps.conversations_mark_unprocessed(now=timezone.now())


@shared_task(name="channels_app.tasks.sweep_unassigned", acks_late=True, ignore_result=True)
def sweep_unassigned() -> int:
    return sweeps.conversations_retry_unassigned(now=timezone.now())


@shared_task(name="channels_app.tasks.sweep_presence", acks_late=True, ignore_result=True)
def sweep_presence() -> int:
    return sweeps.presence_sweep(now=timezone.now())


@shared_task(name="channels_app.tasks.sweep_absent_operators", acks_late=True, ignore_result=True)
def sweep_absent_operators() -> int:
    return sweeps.absent_operators_sweep(now=timezone.now())


@shared_task(name="channels_app.tasks.sweep_auto_close", acks_late=True, ignore_result=True)
def sweep_auto_close() -> int:
    return sweeps.conversations_auto_close(now=timezone.now())


@shared_task(name="channels_app.tasks.route_conversation", acks_late=True, ignore_result=True)
def route_conversation(conversation_id: int, trigger: str = "task") -> str | None:
    decision = routing.conversation_route(conversation_id=conversation_id, now=timezone.now(), trigger=trigger)
    return decision.outcome if decision is not None else None


@shared_task(name="channels_app.tasks.redistribute_open_channel", acks_late=True, ignore_result=True)
def redistribute_open_channel(open_channel_id: int, trigger: str = "task") -> int:
    """Q9: route a channel's waiting conversations now (e.g. when working hours begin)."""
    return routing.channel_redistribute(open_channel_id=open_channel_id, now=timezone.now(), trigger=trigger)
