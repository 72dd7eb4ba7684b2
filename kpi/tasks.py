"""Celery tasks of the KPI: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from kpi.services import misses_notify, responses_record, responses_record_pending, responses_sweep


@shared_task(acks_late=True, ignore_result=True)
def record_pending_responses() -> int:
    """K1 beat task: record the conversations flagged by new messages, closes and hand-overs since the last run."""
    return responses_record_pending(now=timezone.now())


@shared_task(acks_late=True, ignore_result=True)
def sweep_response_targets() -> dict:
    """K2 beat sweep: pending conversations are recorded, waits unanswered past their target become misses,
    then new misses are notified."""
    now = timezone.now()
    return {"misses": responses_sweep(now=now), "notified": misses_notify(now=now)}


@shared_task(acks_late=True, ignore_result=True)
def record_responses(conversation_id: int) -> int:
    """K1: recompute one conversation's response records (e.g. after importing messages)."""
    return responses_record(conversation_id=conversation_id, now=timezone.now()).records
