"""``GET /metrics``: the Prometheus exposition for the people who run the servers (README "Metrics").

Who may scrape (settings ``METRICS_TOKEN``, ``METRICS_ALLOWED_NETWORKS``):

- neither set: nobody; the endpoint is closed;
- ``METRICS_TOKEN``: the request carries ``Authorization: Bearer <token>``, compared in constant time;
- ``METRICS_ALLOWED_NETWORKS``: ``REMOTE_ADDR`` (uvicorn has replaced it with the forwarded address when, and only
  when, the request came through one of ``TRUSTED_PROXIES``) lies in one of them;
- both set: both are needed.

A refusal is always ``403`` with a one-line reason, never ``401``: Prometheus sends its bearer token unasked, so a
challenge would help nobody. A signed-in session is never a credential here.

What a scrape answers:

1. What the engine and the edges count (:mod:`channels_app.engine.instruments`): this process's values, or, in
   multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``; decision 0011), the sum over every process that writes its
   files to that directory, Celery workers included.
2. What is read at scrape time: conversations waiting per open channel and the longest wait, the processing lag
   of webhook deliveries, which connectors' providers are not answering (PostgreSQL), the length of Celery's
   queues (the Redis broker), and how long ago a Celery worker and beat were last seen
   (:mod:`contact_center.heartbeats`, Redis).
3. Process metrics: prometheus_client's own for this process in single-process mode; in multiprocess mode,
   memory, CPU and open files of every live process that has files in the directory, labelled by ``pid``.

The scrape never answers 500: a source that fails (the database, the broker) is logged, its gauges are left out,
and ``contact_center_metrics_source_up{source=...}`` says 0 for it, so an alert can tell "no queue" from "no data".
"""

from __future__ import annotations

import glob
import hmac
import ipaddress
import logging
import math
import os
from collections.abc import Iterable, Iterator
from functools import cache

import psutil
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from channels_app.engine import selectors
from contact_center import broker, heartbeats

logger = logging.getLogger(__name__)

BEARER = "Bearer "


# --- Access ---------------------------------------------------------------------------------------------------------


def refusal(request: HttpRequest) -> str | None:
    """Why this request may not scrape, in one line; ``None`` when it may."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return _("Metrics are closed: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.")
    if networks and not _address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return _("This address may not read the metrics.")
    if token and not _token_matches(request.headers.get("Authorization", ""), token):
        return _("Missing or wrong bearer token.")
    return None


def _token_matches(authorization: str, token: str) -> bool:
    offered = authorization[len(BEARER) :] if authorization.startswith(BEARER) else ""
    # Bytes: compare_digest refuses non-ASCII text, and a header may carry any byte.
    return hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), token.encode())


def _address_allowed(address: str, networks: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    reason = refusal(request)
    if reason is not None:
        return HttpResponse(reason + "\n", status=403, content_type="text/plain; charset=utf-8")
    return HttpResponse(generate_latest(exposition()), content_type=CONTENT_TYPE_LATEST)


# --- What a scrape shows --------------------------------------------------------------------------------------------


def multiprocess_directory() -> str | None:
    """The directory every process writes its values to, when this process counts in multiprocess mode.

    prometheus_client decides once, when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``; asking it rather
    than the environment keeps the scrape reading where this process actually writes.
    """
    if getattr(values.ValueClass, "_multiprocess", False):
        return os.environ["PROMETHEUS_MULTIPROC_DIR"]
    return None


@cache
def exposition() -> CollectorRegistry:
    """This process's registry of everything ``/metrics`` shows (built once)."""
    return exposition_registry(multiprocess_directory())


def exposition_registry(directory: str | None) -> CollectorRegistry:
    """Counted metrics from ``directory`` (every process's files) or, without one, from this process; then the
    gauges read at scrape time."""
    registry = CollectorRegistry()
    if directory is None:
        # The instruments, and prometheus_client's process, platform and garbage-collector collectors.
        registry.register(REGISTRY)
    else:
        registry.register(ProcessesOfDirectory(directory))
        MultiProcessCollector(registry, path=directory)
    registry.register(ReadAtScrape())
    return registry


class ReadAtScrape:
    """Gauges computed for each scrape from PostgreSQL and the Celery broker."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "contact_center_metrics_source_up",
            "Whether a source of the gauges read at scrape time answered (1) or failed and its gauges are missing (0).",
            labels=["source"],
        )
        for source, read in (("database", self._database), ("broker", self._broker), ("heartbeats", self._heartbeats)):
            try:
                families = list(read())
            except Exception:
                logger.exception("metrics: reading the %s failed; its gauges are left out of this scrape", source)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _database(self) -> Iterator[Metric]:
        now = timezone.now()
        waiting = GaugeMetricFamily(
            "contact_center_conversations_waiting",
            "Conversations waiting for an operator now, by open channel and status: queued (routable now; not held "
            "until working hours begin) or offered (not yet taken).",
            labels=["open_channel_id", "status"],
        )
        longest = GaugeMetricFamily(
            "contact_center_conversation_longest_wait_seconds",
            "Seconds the longest-waiting conversation of the open channel has waited since it entered the queue "
            "(0: none waits).",
            labels=["open_channel_id"],
        )
        counts: dict[tuple[int, str], int] = {}
        oldest: dict[int, float] = {}
        for group in selectors.conversations_waiting(now):
            counts[(group.open_channel_id, group.status)] = group.count
            if group.oldest_queued_at is not None:
                age = max((now - group.oldest_queued_at).total_seconds(), 0.0)
                oldest[group.open_channel_id] = max(age, oldest.get(group.open_channel_id, 0.0))
        # Every active open channel shows, at 0 when nothing waits, so "no series" never means "no queue".
        channel_ids = sorted(set(selectors.active_open_channel_ids()) | {channel for channel, _status in counts})
        for channel_id in channel_ids:
            for status in ("queued", "offered"):
                waiting.add_metric([str(channel_id), status], counts.get((channel_id, status), 0))
            longest.add_metric([str(channel_id)], oldest.get(channel_id, 0.0))
        received_at = selectors.oldest_pending_update_received_at()
        lag = GaugeMetricFamily(
            "contact_center_inbound_processing_lag_seconds",
            "Age of the oldest webhook delivery not yet turned into messages (0: none is pending).",
            value=max((now - received_at).total_seconds(), 0.0) if received_at is not None else 0.0,
        )
        # Issue 21: each connector's circuit breaker; every active one shows, so 0 means "answers", not "no data".
        unreachable = GaugeMetricFamily(
            "contact_center_connector_unreachable",
            "Whether the connector's provider is not answering (1: its replies wait, testing recovery included) "
            "or answers (0).",
            labels=["connector_kind", "connector_id"],
        )
        for connector_id, kind, down in selectors.connectors_reachability():
            unreachable.add_metric([kind, str(connector_id)], 1 if down else 0)
        yield from (waiting, longest, lag, unreachable)

    def _heartbeats(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "contact_center_heartbeat_age_seconds",
            "Seconds since a Celery worker (process=worker) and Celery beat (process=beat, recorded by a worker "
            "running beat's task) were last seen alive, as /readyz reads them; +Inf when never seen.",
            labels=["process"],
        )
        now = timezone.now()
        for kind in heartbeats.KINDS:
            seen = heartbeats.last_seen(kind)
            age.add_metric([kind], max((now - seen).total_seconds(), 0.0) if seen is not None else math.inf)
        yield age

    def _broker(self) -> Iterator[Metric]:
        length = GaugeMetricFamily(
            "contact_center_celery_queue_length",
            "Tasks waiting in a Celery queue of the Redis broker (not yet taken by a worker).",
            labels=["queue"],
        )
        for queue, waiting in broker.queue_lengths().items():
            length.add_metric([queue], waiting)
        yield length


class ProcessesOfDirectory:
    """Multiprocess mode: process metrics of every live process with files in the directory, by ``pid``.

    prometheus_client's process collector only knows the process answering the scrape, which in multiprocess mode is
    whichever uvicorn worker the request reached. Reading ``/proc`` through psutil gives every process of this host
    that counts (web workers, Celery workers, beat). A dead process's live gauges (sockets) are dropped on the way,
    as prometheus_client's ``mark_process_dead`` does for a process manager that calls it.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        memory = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.", labels=["pid"])
        cpu = CounterMetricFamily("process_cpu_seconds", "Total user and system CPU time in seconds.", labels=["pid"])
        fds = GaugeMetricFamily("process_open_fds", "Number of open file descriptors.", labels=["pid"])
        for pid in self._pids():
            try:
                process = psutil.Process(pid)
                with process.oneshot():
                    times = process.cpu_times()
                    memory.add_metric([str(pid)], process.memory_info().rss)
                    cpu.add_metric([str(pid)], times.user + times.system)
                    fds.add_metric([str(pid)], process.num_fds())
            except psutil.NoSuchProcess:
                mark_process_dead(pid, self.directory)
            except psutil.AccessDenied:
                continue  # another user's process sharing the directory: its counts still add up
        yield from (memory, cpu, fds)

    def _pids(self) -> list[int]:
        # Files are named <type>[_<gauge mode>]_<pid>.db.
        pids = set()
        for path in glob.glob(os.path.join(self.directory, "*.db")):
            pid = os.path.basename(path)[: -len(".db")].rsplit("_", 1)[-1]
            if pid.isdigit():
                pids.add(int(pid))
        return sorted(pids)
