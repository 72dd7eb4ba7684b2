"""``GET /metrics`` (issue 18): traffic through the real code paths, then a scrape parsed with Prometheus' own text
parser; who may scrape; a scrape that never fails; several processes adding up (decision 0011).

Counters are process-wide and other tests move them too, so every assertion compares two scrapes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

import pytest
import redis
import time_machine
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.db import OperationalError
from django.test import Client as HttpClient
from django.utils import timezone
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from channels_app.engine import jobs, selectors
from channels_app.engine.offers import offer_accept
from channels_app.engine.sweeps import offers_expire
from channels_app.management.commands.serve import prepare_metrics_directory
from channels_app.models import ConnectorKind, ConversationStatus, InboundUpdate, Message, Offer, RoutingDecision
from channels_app.tasks import send_message
from contact_center import heartbeats
from contact_center import metrics as metrics_module
from contact_center.celery import app as celery_app
from tests.channels_app.connectors.fake_provider import FakeProvider
from tests.channels_app.connectors.test_telegram import text_update
from tests.factories import ConnectorFactory, ConversationFactory, OpenChannelFactory
from tests.sockets import connected_console

TOKEN = "scrape-secret-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by (sample name, sorted labels), through Prometheus' own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: HttpClient | None = None) -> Samples:
    response = (client or HttpClient()).get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return parse(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = []


@pytest.fixture
def eager_celery():
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def provider(settings):
    """The local fake Telegram: every message the product sends in these tests reaches it."""
    with FakeProvider() as fake:
        yield fake.use_in(settings)


@pytest.fixture
def bot(open_channel):
    return ConnectorFactory(
        open_channel=open_channel, kind=ConnectorKind.TELEGRAM, account_id="7000001", access_token="7000001:AAbotTOKEN"
    )


def telegram_post(client: HttpClient, bot, body: dict, *, secret: str | None = None):
    return client.post(
        f"/webhooks/telegram/{bot.pk}/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret or bot.webhook_secret,
    )


def update_from(person_id: int, update_id: int) -> dict:
    update = text_update(update_id=update_id, message_id=update_id)
    update["message"]["from"]["id"] = update["message"]["chat"]["id"] = person_id
    return update


def decisions_by_outcome() -> dict[str, int]:
    outcomes = RoutingDecision.objects.values_list("outcome", flat=True)
    return {outcome: list(outcomes).count(outcome) for outcome in set(outcomes)}


# --- traffic, then a scrape --------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_webhooks_routing_waits_expiries_and_failed_deliveries_move_their_metrics(
    token, bot, open_channel, operators, eager_celery, provider
):
    client = HttpClient()
    before, decisions_before = scrape(client), decisions_by_outcome()
    channel = str(open_channel.pk)

    # A client writes (the webhook, processed and routed at once), and a forged delivery is refused.
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert telegram_post(client, bot, update_from(424242, 900001)).status_code == 200
        assert telegram_post(client, bot, update_from(424242, 900002), secret="forged").status_code == 403
    offered = Offer.objects.get(status=Offer.Status.PENDING)
    middle = scrape(client)
    assert value(middle, "contact_center_conversations_waiting", open_channel_id=channel, status="offered") == 1
    assert value(middle, "contact_center_conversations_waiting", open_channel_id=channel, status="queued") == 0
    assert value(middle, "contact_center_conversation_longest_wait_seconds", open_channel_id=channel) >= 0

    # The operator takes it 42 s later: one wait of 42 s.
    with time_machine.travel(start + timedelta(seconds=42), tick=False):
        offer_accept(offer_id=offered.pk, operator=offered.operator, now=timezone.now())

    # A second client's offer is left to expire; the sweep passes the conversation on.
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        assert telegram_post(client, bot, update_from(515151, 900003)).status_code == 200
    pending = Offer.objects.filter(status=Offer.Status.PENDING).count()
    assert pending >= 1
    later = start + timedelta(seconds=60 + open_channel.offer_timeout_seconds + 1)
    assert offers_expire(now=later) == pending

    # The operator's reply, which the provider refuses for good.
    provider.fail("/sendMessage", 403, {"ok": False, "error_code": 403, "description": "Forbidden: bot blocked"})
    reply = Message.objects.create(
        conversation=offered.conversation,
        connector=bot,
        author_kind=Message.Author.OPERATOR,
        text="Yes, we are open.",
        created_at=timezone.now(),
        delivery=Message.Delivery.QUEUED,
    )
    assert send_message.apply(args=[reply.pk]).get() == "failed"

    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("contact_center_webhook_requests_total", provider="telegram", status="200") == 2
    assert moved("contact_center_webhook_requests_total", provider="telegram", status="403") == 1
    assert moved("contact_center_webhook_duration_seconds_count", provider="telegram") == 3
    assert moved("contact_center_webhook_duration_seconds_sum", provider="telegram") > 0
    assert moved("contact_center_conversation_wait_seconds_count", open_channel_id=channel) == 1
    assert moved("contact_center_conversation_wait_seconds_sum", open_channel_id=channel) == pytest.approx(42)
    assert moved("contact_center_conversation_wait_seconds_bucket", open_channel_id=channel, le="30.0") == 0
    assert moved("contact_center_conversation_wait_seconds_bucket", open_channel_id=channel, le="60.0") == 1
    assert moved("contact_center_offers_expired_total") == pending
    assert moved("contact_center_deliveries_failed_total", connector_kind="telegram") == 1
    # One count per RoutingDecision row written, by outcome.
    decisions_after = decisions_by_outcome()
    assert decisions_after.get("offered", 0) - decisions_before.get("offered", 0) >= 2
    for outcome, rows in decisions_after.items():
        assert moved("contact_center_routing_decisions_total", outcome=outcome) == rows - decisions_before.get(
            outcome, 0
        )
    assert value(after, "contact_center_metrics_source_up", source="database") == 1
    assert value(after, "contact_center_metrics_source_up", source="broker") == 1
    # Single-process mode: prometheus_client's own process metrics.
    assert value(after, "process_resident_memory_bytes") > 0


@pytest.mark.django_db(transaction=True)
def test_queued_conversations_longest_wait_and_processing_lag_are_read_at_scrape(token, bot, open_channel):
    start = timezone.now().replace(microsecond=0)
    idle = OpenChannelFactory(name="Quiet")
    held = OpenChannelFactory(name="Closed tonight")
    ConversationFactory(client__connector=bot, status=ConversationStatus.QUEUED, queued_at=start - timedelta(minutes=5))
    ConversationFactory(client__connector=bot, status=ConversationStatus.QUEUED, queued_at=start - timedelta(minutes=1))
    # H2: held back until working hours begin, nobody is expected to answer it: not waiting.
    ConversationFactory(
        client__connector=ConnectorFactory(open_channel=held),
        status=ConversationStatus.QUEUED,
        queued_at=start - timedelta(hours=3),
        route_not_before=start + timedelta(hours=8),
    )
    # A webhook stored but not processed (Celery is not eager here: the task waits in the test broker).
    with time_machine.travel(start, tick=False):
        assert telegram_post(HttpClient(), bot, update_from(616161, 900010)).status_code == 200
    assert InboundUpdate.objects.filter(state="pending").count() == 1

    with time_machine.travel(start + timedelta(seconds=90), tick=False):
        samples = scrape()
    channel = str(open_channel.pk)
    assert value(samples, "contact_center_conversations_waiting", open_channel_id=channel, status="queued") == 2
    assert value(samples, "contact_center_conversation_longest_wait_seconds", open_channel_id=channel) == 390
    assert value(samples, "contact_center_inbound_processing_lag_seconds") == 90
    # Every active open channel shows, at 0 when nothing waits.
    for quiet in (str(idle.pk), str(held.pk)):
        key = ("contact_center_conversations_waiting", (("open_channel_id", quiet), ("status", "queued")))
        assert samples[key] == 0


@pytest.mark.django_db(transaction=True)
def test_celery_queue_length_is_read_from_the_broker(token):
    before = value(scrape(), "contact_center_celery_queue_length", queue="sweeps")
    jobs.enqueue(jobs.SWEEP_PRESENCE)
    jobs.enqueue(jobs.SWEEP_AUTO_CLOSE)
    assert value(scrape(), "contact_center_celery_queue_length", queue="sweeps") == before + 2


@pytest.mark.django_db(transaction=True)
async def test_console_sockets_are_counted_while_connected(token, operators):
    def connected() -> float:
        return value(scrape(), "contact_center_websockets_connected", kind="console")

    before = await database_sync_to_async(connected)()
    first = await connected_console(operators[0])
    second = await connected_console(operators[1])
    assert await database_sync_to_async(connected)() == before + 2
    await first.disconnect()
    assert await database_sync_to_async(connected)() == before + 1
    await second.disconnect()
    assert await database_sync_to_async(connected)() == before


# --- who may scrape ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_endpoint_is_closed_when_nothing_is_configured(settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    response = HttpClient().get("/metrics", headers=AUTH)
    assert response.status_code == 403
    assert response.content.decode() == "Metrics are closed: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.\n"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Bearer {TOKEN}x"}],
    ids=["no token", "wrong token", "not a bearer", "token plus a character"],
)
def test_a_missing_or_wrong_token_is_refused(token, headers):
    response = HttpClient().get("/metrics", headers=headers)
    assert response.status_code == 403
    assert response.content.decode() == "Missing or wrong bearer token.\n"
    assert b"contact_center_" not in response.content


@pytest.mark.django_db
def test_a_signed_in_administrator_is_no_scraper(token, admin_user):
    client = HttpClient()
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 403


@pytest.mark.django_db
def test_allowed_networks_check_the_client_address(settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.0.0.0/8", "2001:db8::/32"]
    assert HttpClient(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert HttpClient(REMOTE_ADDR="2001:db8::7").get("/metrics").status_code == 200
    refused = HttpClient(REMOTE_ADDR="192.168.1.5").get("/metrics")
    assert refused.status_code == 403
    assert refused.content.decode() == "This address may not read the metrics.\n"


@pytest.mark.django_db
def test_with_both_set_a_scrape_needs_both(settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = TOKEN, ["10.0.0.0/8"]
    assert HttpClient(REMOTE_ADDR="10.1.2.3").get("/metrics", headers=AUTH).status_code == 200
    assert HttpClient(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 403
    assert HttpClient(REMOTE_ADDR="192.168.1.5").get("/metrics", headers=AUTH).status_code == 403


@pytest.mark.django_db
def test_only_get(token):
    assert HttpClient().post("/metrics", headers=AUTH).status_code == 405


# --- a scrape never answers 500 ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_database_read_leaves_its_gauges_out_and_says_so(token, monkeypatch, caplog):
    def database_down(now):
        raise OperationalError("the database does not answer")

    monkeypatch.setattr(selectors, "conversations_waiting", database_down)
    samples = scrape()
    assert value(samples, "contact_center_metrics_source_up", source="database") == 0
    assert value(samples, "contact_center_metrics_source_up", source="broker") == 1
    assert not any(name == "contact_center_conversations_waiting" for name, _labels in samples)
    assert any(name == "contact_center_celery_queue_length" for name, _labels in samples)
    assert "reading the database failed" in caplog.text


@pytest.mark.django_db
def test_a_failing_broker_leaves_the_queue_length_out_and_says_so(token, monkeypatch):
    def broker_down(**kwargs):
        raise ConnectionError("the broker does not answer")

    monkeypatch.setattr(celery_app, "connection_for_read", broker_down)
    samples = scrape()
    assert value(samples, "contact_center_metrics_source_up", source="broker") == 0
    assert value(samples, "contact_center_metrics_source_up", source="database") == 1
    assert not any(name == "contact_center_celery_queue_length" for name, _labels in samples)


# --- several processes (decision 0011) ---------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django
    django.setup()
    from channels_app.engine import instruments
    role = sys.argv[1]
    if role == "worker":  # what the Celery worker counts
        instruments.deliveries_failed.labels(connector_kind="telegram").inc()
        instruments.offers_expired.inc(2)
    elif role == "web-alive":  # a uvicorn worker holding two console sockets, still running
        instruments.websockets_connected.labels(kind="console").inc(2)
        instruments.webhook_requests.labels(provider="telegram", status="200").inc()
        print("ready", flush=True)
        sys.stdin.readline()
    elif role == "web-dead":  # a uvicorn worker that died holding a socket
        instruments.websockets_connected.labels(kind="console").inc()
        instruments.webhook_requests.labels(provider="telegram", status="200").inc()
    """
)


@pytest.mark.django_db
def test_counts_of_every_process_add_up_in_one_scrape_and_a_dead_process_sockets_are_dropped(tmp_path):
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(role: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", CHILD, role], env=environment, cwd=django_settings.BASE_DIR, check=True, timeout=60
        )

    run("worker")
    run("web-dead")
    alive = subprocess.Popen(
        [sys.executable, "-c", CHILD, "web-alive"],
        env=environment,
        cwd=django_settings.BASE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert alive.stdout is not None and alive.stdout.readline() == b"ready\n"
        samples = parse(generate_latest(metrics_module.exposition_registry(str(tmp_path))).decode())
    finally:
        alive.communicate(b"\n", timeout=30)

    assert value(samples, "contact_center_deliveries_failed_total", connector_kind="telegram") == 1
    assert value(samples, "contact_center_offers_expired_total") == 2
    assert value(samples, "contact_center_webhook_requests_total", provider="telegram", status="200") == 2
    # livesum: the live process's two sockets; the dead one's were dropped with its files.
    assert value(samples, "contact_center_websockets_connected", kind="console") == 2
    # Process metrics of the live process, by pid (the dead ones have none).
    assert value(samples, "process_resident_memory_bytes", pid=str(alive.pid)) > 0
    assert value(samples, "process_open_fds", pid=str(alive.pid)) > 0
    assert {labels for name, labels in samples if name == "process_resident_memory_bytes"} == {
        (("pid", str(alive.pid)),)
    }


def test_serve_empties_the_metrics_directory_and_hands_it_to_its_children(tmp_path, monkeypatch):
    (tmp_path / "counter_123.db").write_bytes(b"old counts")
    (tmp_path / "notes.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    assert prepare_metrics_directory() == tmp_path
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path)


@pytest.mark.django_db
def test_heartbeat_ages_are_read_at_scrape_for_the_beat_alert(token, monkeypatch):
    # Keys of this test's own: a development server's worker may record the real ones meanwhile.
    monkeypatch.setattr(heartbeats, "KEY_PREFIX", f"test:{uuid.uuid4().hex}:heartbeat:")
    now = timezone.now()
    heartbeats.record("worker", now - timedelta(seconds=20))
    heartbeats.record("beat", now - timedelta(seconds=400))
    samples = scrape()
    assert 20 <= value(samples, "contact_center_heartbeat_age_seconds", process="worker") < 80
    assert 400 <= value(samples, "contact_center_heartbeat_age_seconds", process="beat") < 460
    assert value(samples, "contact_center_metrics_source_up", source="heartbeats") == 1
    redis.Redis.from_url(django_settings.REDIS_URL).delete(heartbeats.KEY_PREFIX + "beat")
    assert value(scrape(), "contact_center_heartbeat_age_seconds", process="beat") == math.inf
