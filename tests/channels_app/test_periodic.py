"""Q9 and Q10 (issue 16, point 13): the beat schedule runs the SPEC's intervals, read the way beat reads them.

SPEC, "Timings that the system runs": the retry of unassigned conversations
runs every 2 minutes (Q9), the sweep of conversations held by absent operators
every 24 hours (Q10). The values are written here from the SPEC, not from
``periodic.SWEEPS``, so changing the schedule without changing the SPEC fails.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from channels_app import periodic, tasks
from channels_app.engine import jobs, sweeps

pytestmark = pytest.mark.django_db

SPEC_INTERVALS = [
    pytest.param(jobs.SWEEP_UNASSIGNED, timedelta(minutes=2), "conversations_retry_unassigned", id="Q9-retry"),
    pytest.param(jobs.SWEEP_ABSENT_OPERATORS, timedelta(hours=24), "absent_operators_sweep", id="Q10-sweep"),
]


@pytest.mark.parametrize(("task_name", "spec_interval", "service"), SPEC_INTERVALS)
def test_Q9_Q10_beat_runs_each_sweep_at_the_spec_interval(task_name, spec_interval, service, monkeypatch):
    periodic.sync_periodic_tasks()  # what every ``migrate`` runs (a transactional test may have flushed the rows)
    (row,) = PeriodicTask.objects.filter(task=task_name, enabled=True)
    assert row.schedule.run_every == spec_interval  # the celery schedule django-celery-beat's scheduler builds

    # The scheduled name is a registered task that runs the SPEC's sweep.
    calls = []
    monkeypatch.setattr(sweeps, service, lambda *, now: calls.append(now) or 0)
    registered = next(task for task in vars(tasks).values() if getattr(task, "name", None) == task_name)
    registered.apply()
    assert len(calls) == 1


def test_Q9_Q10_sync_corrects_a_schedule_edited_away_from_the_spec():
    periodic.sync_periodic_tasks()
    row = PeriodicTask.objects.get(task=jobs.SWEEP_UNASSIGNED)
    row.interval.every = 600
    row.interval.save()
    periodic.sync_periodic_tasks()
    assert PeriodicTask.objects.get(task=jobs.SWEEP_UNASSIGNED).schedule.run_every == timedelta(minutes=2)
