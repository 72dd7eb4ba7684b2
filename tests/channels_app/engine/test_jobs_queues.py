"""Issue 21, point 1: every task of ours is on the queue of its kind of work, and serve runs a worker per queue."""

from __future__ import annotations

import pytest

from channels_app.engine import jobs
from channels_app.management.commands.serve import WORKERS
from channels_app.periodic import SWEEPS
from contact_center import heartbeats
from contact_center.celery import app as celery_app

OURS = ("channels_app.", "crm.", "kpi.", "contact_center.")


def our_tasks() -> list[str]:
    celery_app.loader.import_default_modules()  # every app's tasks module, as a worker loads them
    return sorted(name for name in celery_app.tasks if name.startswith(OURS))


def test_every_task_of_ours_has_a_queue_and_every_queue_entry_names_a_task():
    registered = our_tasks()
    assert len(registered) >= 25
    missing = [name for name in registered if name not in jobs.QUEUE_OF]
    assert missing == [], f"add these tasks to channels_app.engine.jobs.QUEUE_OF: {missing}"
    # A name published in jobs.py before its task exists is fine; any other entry is a typo.
    published = {value for value in vars(jobs).values() if isinstance(value, str) and "." in value}
    unknown = [name for name in jobs.QUEUE_OF if name not in registered and name not in published]
    assert unknown == [], f"QUEUE_OF names tasks nobody registers: {unknown}"
    assert set(jobs.QUEUE_OF.values()) == set(jobs.QUEUES)


def test_every_beat_sweep_runs_on_the_sweeps_queue_but_the_one_that_calls_a_provider():
    """Refreshing Zalo's tokens waits on Zalo: in an outage it must not hold up the offers' forwarding."""
    assert {sweep.task: jobs.queue_of(sweep.task) for sweep in SWEEPS} == {
        sweep.task: jobs.OUTBOUND if sweep.task == jobs.REFRESH_ZALO_TOKENS else jobs.SWEEPS for sweep in SWEEPS
    }
    assert jobs.queue_of(heartbeats.BEAT_TASK) == jobs.SWEEPS


@pytest.mark.parametrize(
    ("name", "queue"),
    [
        (jobs.PROCESS_INBOUND_UPDATES, "inbound"),
        (jobs.DOWNLOAD_ATTACHMENT, "inbound"),
        (jobs.ROUTE_CONVERSATION, "inbound"),
        (jobs.ANSWER_CLIENT_MESSAGE, "inbound"),
        (jobs.SEND_MESSAGE, "outbound"),
        (jobs.DRAIN_CONNECTOR, "outbound"),
        (jobs.REGISTER_WEBHOOK, "outbound"),
        (jobs.BUILD_DATA_EXPORT, "bulk"),
        ("crm.tasks.send_lead_transcript", "bulk"),
    ],
)
def test_celery_routes_a_task_to_the_queue_of_its_kind(name, queue):
    assert celery_app.amqp.router.route({}, name)["queue"].name == queue


def test_a_task_missing_from_the_table_still_goes_to_a_served_queue():
    assert celery_app.amqp.router.route({}, "someone.elses.task")["queue"].name == jobs.DEFAULT_QUEUE
    assert jobs.DEFAULT_QUEUE in jobs.QUEUES


def test_serve_starts_one_named_worker_per_queue():
    assert [worker.queue for worker in WORKERS] == list(jobs.QUEUES)
    command = WORKERS[0].command("python")
    assert command[command.index("-Q") + 1] == "inbound"
    assert command[command.index("-n") + 1] == "inbound@%h"
