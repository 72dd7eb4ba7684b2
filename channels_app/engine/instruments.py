"""Prometheus instruments the engine and the edges count with; ``GET /metrics`` (``contact_center.metrics``) shows them.

They live here, in the engine, because the lowest code that counts is the
engine (routing decisions, expired offers, waits); the edges above (the
webhook doors, deliveries, the socket consumers) count with the same module.
What is read from the database or Redis at scrape time (queues, processing
lag, broker queue length) is not here: ``contact_center.metrics`` computes it
for each scrape.

Several processes (uvicorn workers, Celery workers): when
``PROMETHEUS_MULTIPROC_DIR`` is set before ``prometheus_client`` is first
imported, every process writes its values to files there and a scrape of any
web process adds them up (decision 0011). ``manage.py serve`` sets it.

Counts that follow a write are made after the transaction commits
(:func:`count_after_commit`): a rolled-back routing attempt or sweep counts
nothing.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from channels_app.engine.signals import after_commit

# Seconds a client waits for an operator: from seconds (an instant offer) to hours (a queue left overnight).
WAIT_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
# Seconds a webhook door takes to answer a provider: milliseconds normally, a few seconds means trouble.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

routing_decisions = Counter(
    "contact_center_routing_decisions",
    "Routing decisions recorded (RoutingDecision rows), by outcome: offered, nobody_eligible, out_of_hours, "
    "never_opens.",
    ["outcome"],
)
offers_expired = Counter(
    "contact_center_offers_expired",
    "Offers an operator did not take within the open channel's offer timeout (Q3), expired by the sweep.",
)
conversation_wait_seconds = Histogram(
    "contact_center_conversation_wait_seconds",
    "Seconds a conversation waited (since it last entered the queue) until an operator got it.",
    ["open_channel_id"],
    buckets=WAIT_BUCKETS,
)
webhook_requests = Counter(
    "contact_center_webhook_requests",
    "Provider webhook deliveries answered, by provider (telegram, meta, zalo) and HTTP status.",
    ["provider", "status"],
)
webhook_duration_seconds = Histogram(
    "contact_center_webhook_duration_seconds",
    "Seconds from a provider's webhook request to its answer (processing after the answer not included).",
    ["provider"],
    buckets=WEBHOOK_BUCKETS,
)
deliveries_failed = Counter(
    "contact_center_deliveries_failed",
    "Replies to messenger clients that finally failed (retries exhausted, a permanent provider error, or the "
    "connector switched off), by connector kind.",
    ["connector_kind"],
)
# livesum: the sockets of the processes alive now, added up (a dead process's files are dropped at scrape).
websockets_connected = Gauge(
    "contact_center_websockets_connected",
    "Websockets open now, by kind: console (operators), livechat (visitors) and wallboard (supervisors).",
    ["kind"],
    multiprocess_mode="livesum",
)


def count_after_commit(counter: Counter, amount: float = 1, **labels: str) -> None:
    """Add ``amount`` to ``counter`` (with ``labels``) once the current transaction commits."""
    child = counter.labels(**labels) if labels else counter
    after_commit(lambda: child.inc(amount))


def count_routing_decisions(outcomes: Iterable[str]) -> None:
    """Count the routing decisions just saved, by outcome, once they are committed."""
    for outcome, count in Tally(outcomes).items():
        count_after_commit(routing_decisions, count, outcome=outcome)


def observe_wait(*, open_channel_id: int, queued_at: datetime | None, now: datetime) -> None:
    """A waiting conversation got an operator at ``now``: record how long it waited, once committed."""
    if queued_at is None:
        return
    seconds = max((now - queued_at).total_seconds(), 0.0)
    child = conversation_wait_seconds.labels(open_channel_id=str(open_channel_id))
    after_commit(lambda: child.observe(seconds))
