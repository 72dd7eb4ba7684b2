"""A Celery worker killed (SIGKILL, pool and all) in the middle of routing: after a restart every conversation
is routed exactly once (Q2, Q9; ``acks_late`` tasks and idempotent services).

To stop the worker at a known point, the test holds Olga's operator row
locked (``SELECT … FOR UPDATE``): routing locks the operators it offers to
first, so the worker waits there with its transaction open. Then the whole
worker is killed; PostgreSQL rolls its transaction back when the socket
closes, and the task, never acknowledged, stays in Redis.

Redis redelivers an unacknowledged task once its visibility timeout has
passed (Celery's default is one hour); the worker started here uses 5
seconds, compressing that hour. Beat's 2-minute unassigned sweep is
published by hand, as beat would.
"""

from __future__ import annotations

import psycopg
import pytest
from django.test import Client as HttpClient

from channels_app.models import Conversation, ConversationStatus, InboundUpdate, Offer, RoutingDecision
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
)
from tests.faults.servers import BASE_DIR, CeleryWorker, server_environment, wait_until
from tests.faults.servers import publisher as celery_publisher

pytestmark = pytest.mark.django_db(transaction=True)

PROCESS_UPDATES = "channels_app.connectors.tasks.process_inbound_updates"
ROUTE = "channels_app.tasks.route_conversation"
SWEEP_UNASSIGNED = "channels_app.tasks.sweep_unassigned"
REDELIVERY_SETTINGS = """\
from contact_center.settings import *  # noqa: F403
# An unacknowledged task comes back after 5 s instead of Celery's hour (see the test module's docstring).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 5, "unacked_restore_interval": 1}
"""


@pytest.fixture
def support(transactional_db):
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    telegram = ConnectorFactory(open_channel=channel, kind="telegram", account_id="support-bot")
    return channel, olga, telegram


@pytest.fixture
def worker_environment(private_redis, test_database_url, tmp_path):
    (tmp_path / "fault_worker_settings.py").write_text(REDELIVERY_SETTINGS)
    return server_environment(
        database_url=test_database_url,
        redis_url=private_redis.url,
        DJANGO_SETTINGS_MODULE="fault_worker_settings",
        PYTHONPATH=f"{tmp_path}:{BASE_DIR}",
    )


class OperatorRowLock:
    """Olga's operator row held ``FOR UPDATE`` from another connection: routing to her must wait."""

    def __init__(self, database_url: str, user_id: int) -> None:
        self.connection = psycopg.connect(database_url)
        self.connection.execute("SELECT 1 FROM channels_app_operatorprofile WHERE user_id = %s FOR UPDATE", [user_id])

    def someone_waits(self) -> bool:
        # Statistics views are a snapshot per transaction, and this connection stays in one.
        self.connection.execute("SELECT pg_stat_clear_snapshot()")
        row = self.connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        return row[0] > 0

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()


def _routing_rows(conversation_id: int) -> tuple[int, int]:
    offers = Offer.objects.filter(conversation_id=conversation_id).count()
    offered = RoutingDecision.objects.filter(conversation_id=conversation_id, outcome="offered").count()
    return offers, offered


def _kill_mid_routing(worker: CeleryWorker, lock: OperatorRowLock) -> None:
    try:
        wait_until(lock.someone_waits, timeout=30, what="the worker to be blocked inside routing")
        worker.kill()
    finally:
        lock.release()


def test_worker_killed_mid_routing_routes_each_conversation_exactly_once(
    support, worker_environment, private_redis, test_database_url, tmp_path
):
    _channel, olga, telegram = support
    # Not the current app: the project's own .delay() calls keep going to the test broker no worker reads.
    publisher = celery_publisher(private_redis.broker_url)
    worker = CeleryWorker(worker_environment, tmp_path / "worker-1.log").start()
    try:
        # --- 1. The inbound path: a Telegram update is stored by the webhook, a worker processes it. ---
        update = {
            "update_id": 501,
            "message": {"message_id": 9, "from": {"id": 77, "is_bot": False, "first_name": "Zofia"},
                        "chat": {"id": 77, "type": "private"}, "date": 1767225600, "text": "Is my parcel lost?"},
        }  # fmt: skip
        response = HttpClient().post(
            f"/webhooks/telegram/{telegram.pk}/",
            update,
            content_type="application/json",
            headers={"X-Telegram-Bot-Api-Secret-Token": telegram.webhook_secret},
        )
        assert response.status_code == 200
        lock = OperatorRowLock(test_database_url, olga.pk)
        publisher.send_task(PROCESS_UPDATES, args=[telegram.pk, ["501"]])
        _kill_mid_routing(worker, lock)

        # The message was stored and committed before routing began; routing itself was rolled back.
        zofia = Conversation.objects.get(client__external_id="77")
        assert InboundUpdate.objects.get(connector=telegram).state == "processed"
        assert zofia.status == ConversationStatus.QUEUED and _routing_rows(zofia.pk) == (0, 0)

        worker = CeleryWorker(worker_environment, tmp_path / "worker-2.log").start()
        # The redelivered task finds its update processed and changes nothing; beat's sweep routes the
        # conversation (within 2 minutes in production).
        wait_until(
            lambda: (
                "process_inbound_updates" in worker.log_path.read_text() and "succeeded" in worker.log_path.read_text()
            ),
            timeout=30,
            what="the killed task to be redelivered",
        )
        publisher.send_task(SWEEP_UNASSIGNED)
        wait_until(
            lambda: "sweep_unassigned" in (log := worker.log_path.read_text()) and log.count("succeeded") >= 2,
            timeout=30,
            what="beat's unassigned sweep",
        )
        assert _routing_rows(zofia.pk) == (1, 1)

        # --- 2. A routing task itself killed half-way, redelivered after the restart. ---
        yusuf = ConversationFactory(
            client=ClientFactory(connector=telegram, external_id="78"), status=ConversationStatus.QUEUED
        )
        lock = OperatorRowLock(test_database_url, olga.pk)
        publisher.send_task(ROUTE, args=[yusuf.pk, "fault-test"])
        _kill_mid_routing(worker, lock)
        assert _routing_rows(yusuf.pk) == (0, 0)
        worker = CeleryWorker(worker_environment, tmp_path / "worker-3.log").start()
        wait_until(lambda: _routing_rows(yusuf.pk) == (1, 1), timeout=45, what="the redelivered task to route Yusuf")

        # --- 3. Late duplicates (another redelivery, a second sweep) change nothing. ---
        for _ in range(2):
            publisher.send_task(ROUTE, args=[yusuf.pk, "duplicate"])
            publisher.send_task(ROUTE, args=[zofia.pk, "duplicate"])
        publisher.send_task(SWEEP_UNASSIGNED)
        wait_until(
            lambda: worker.log_path.read_text().count("succeeded") >= 6, timeout=30, what="the duplicates to run"
        )
    finally:
        worker.stop()

    for conversation in (zofia, yusuf):
        conversation.refresh_from_db()
        assert conversation.status == ConversationStatus.OFFERED
        assert _routing_rows(conversation.pk) == (1, 1), "routed more than once"
        assert Offer.objects.get(conversation=conversation).operator_id == olga.pk
