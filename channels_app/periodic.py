"""Celery beat sweeps, declared in code and synced to django-celery-beat on migrate.

Schedules are UTC intervals (no crontab DST traps). ``sync_periodic_tasks``
runs after every ``migrate``: it creates or updates these rows and leaves any
other periodic task an administrator added alone. Every sweep is idempotent
and claims rows with ``skip_locked``, so two overlapping runs do nothing twice.
Intervals taken from settings (``KPI_RECORD_INTERVAL_SECONDS``) are whole
seconds, read at start-up and written to the schedule by the next ``migrate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from channels_app.engine import jobs
from contact_center import heartbeats


@dataclass(frozen=True)
class Sweep:
    name: str
    task: str
    every_seconds: int
    description: str


SWEEPS: tuple[Sweep, ...] = (
    Sweep(
        "Offer expiry and forwarding (Q3)",
        jobs.SWEEP_OFFER_EXPIRY,
        15,
        "Forward offers not taken in time.",
    ),
    Sweep(
        "Unprocessed conversations (Q4, M2)",
        jobs.SWEEP_UNPROCESSED,
        30,
        "Flag unanswered conversations.",
    ),
    Sweep(
        "Unassigned retry (Q9, H2)",
        jobs.SWEEP_UNASSIGNED,
        120,
        "Retry routing of waiting conversations.",
    ),
    Sweep("Operator presence (Q6)", jobs.SWEEP_PRESENCE, 60, "Mark inactive operators offline."),
    Sweep(
        "Absent operators (Q10)",
        jobs.SWEEP_ABSENT_OPERATORS,
        24 * 60 * 60,
        "Requeue chats of absent operators.",
    ),
    Sweep(
        "Auto-close and rating timeout (Q11, R1)",
        jobs.SWEEP_AUTO_CLOSE,
        300,
        "Close inactive conversations.",
    ),
    Sweep(
        "Retention (privacy)",
        jobs.SWEEP_RETENTION,
        60 * 60,
        "Erase conversations closed longer ago than their open channel keeps them.",
    ),
    Sweep(
        "Providers' raw deliveries (privacy)",
        jobs.PRUNE_INBOUND_UPDATES,
        60 * 60,
        "Delete providers' handled deliveries older than INBOUND_UPDATES_KEEP_DAYS.",
    ),
    Sweep(
        "Unreachable connectors (issue 21)",
        jobs.PROBE_CONNECTORS,
        10,
        "Test whether unreachable providers answer again; fail replies past their deadline.",
    ),
    Sweep(
        "Connector retries (S2)",
        jobs.SWEEP_CONNECTORS,
        60,
        "Re-enqueue lost connector tasks.",
    ),
    Sweep(
        "Zalo access tokens (S2)",
        jobs.REFRESH_ZALO_TOKENS,
        10 * 60,
        "Refresh Zalo OA access tokens that expire within the hour.",
    ),
    Sweep(
        "Response-time recording (K1)",
        "kpi.tasks.record_pending_responses",
        settings.KPI_RECORD_INTERVAL_SECONDS,
        "Record response times of conversations with new messages.",
    ),
    Sweep("Response-time targets (K2)", "kpi.tasks.sweep_response_targets", 30, "Record and notify missed targets."),
    Sweep("Silent chatbots (B1)", jobs.SWEEP_SILENT_BOTS, 60, "Hand over when the bot is silent."),
    Sweep(
        "Expired data exports (privacy)",
        jobs.SWEEP_DATA_EXPORTS,
        60 * 60,
        "Delete data export archives whose download link has expired.",
    ),
    Sweep(
        "Beat heartbeat (readiness)",
        heartbeats.BEAT_TASK,
        heartbeats.BEAT_INTERVAL_SECONDS,
        "Proves beat is scheduling; GET /readyz fails when it is older than READINESS_BEAT_MAX_AGE.",
    ),
)


def sync_periodic_tasks(**kwargs) -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for sweep in SWEEPS:
        # Not get_or_create: beat's admin lets anyone edit an interval into a duplicate of another, and the
        # sync that ``migrate`` runs must not fail on that (MultipleObjectsReturned); any equal row will do.
        same = {"every": sweep.every_seconds, "period": IntervalSchedule.SECONDS}
        interval = IntervalSchedule.objects.filter(**same).order_by("pk").first() or IntervalSchedule.objects.create(
            **same
        )
        PeriodicTask.objects.update_or_create(
            name=sweep.name,
            defaults={"task": sweep.task, "interval": interval, "description": sweep.description},
        )
