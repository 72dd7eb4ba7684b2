"""Issue 21, point 1: inbound never waits behind outbound. With a worker per queue, started as ``manage.py serve``
starts them (``-Q inbound``, ``-Q outbound``), a provider that accepts connections and never answers keeps the
outbound worker busy for tens of seconds, and a client's update on the inbound queue is still processed at once.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from django.test import Client as HttpClient

from channels_app.engine import jobs
from channels_app.models import InboundUpdate, Message
from tests.channels_app.connectors.test_telegram import post, queued_reply, text_update
from tests.factories import ConnectorFactory
from tests.faults.servers import CeleryWorker, server_environment, wait_until
from tests.faults.servers import publisher as celery_publisher

pytestmark = pytest.mark.django_db(transaction=True)

REPLIES = 4  # each waits the send timeout (10 s) on the silent provider: 40 s of outbound work for one process


class SilentProvider:
    """Accepts every connection and never answers: a provider in an outage that times every send out."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.held:
            connection.close()


def test_issue21_a_client_message_is_processed_while_the_outbound_queue_waits_on_a_provider_outage(
    private_redis, test_database_url, tmp_path
):
    provider = SilentProvider()
    environment = server_environment(
        database_url=test_database_url, redis_url=private_redis.url, TELEGRAM_API_BASE=provider.url
    )
    bot = ConnectorFactory(kind="telegram", account_id="7000021", access_token="7000021:token")
    first = queued_reply(bot, text="reply 0")
    replies = [first] + [
        Message.objects.create(
            conversation=first.conversation,
            connector=bot,
            author_kind=Message.Author.OPERATOR,
            text=f"reply {number}",
            created_at=first.created_at,
            delivery=Message.Delivery.QUEUED,
        )
        for number in range(1, REPLIES)
    ]
    publisher = celery_publisher(private_redis.broker_url)
    outbound = CeleryWorker(environment, tmp_path / "outbound.log", queues=jobs.OUTBOUND).start()
    inbound = CeleryWorker(environment, tmp_path / "inbound.log", queues=jobs.INBOUND).start()
    try:
        for reply in replies:
            publisher.send_task(jobs.SEND_MESSAGE, args=[reply.pk])
        wait_until(lambda: len(provider.held) >= 1, timeout=30, what="the outbound worker to wait on the provider")

        # A client writes: stored by the webhook (its own hand-over goes to the tests' broker), queued as inbound.
        assert post(HttpClient(), bot, text_update(update_id=9021, message_id=21)).status_code == 200
        started = time.monotonic()
        publisher.send_task(jobs.PROCESS_INBOUND_UPDATES, args=[bot.pk, ["9021"]])
        wait_until(
            lambda: InboundUpdate.objects.filter(connector=bot, update_id="9021", state="processed").exists(),
            timeout=15,
            what=f"the inbound update to be processed (log: {inbound.log_path})",
        )
        took = time.monotonic() - started
        assert Message.objects.filter(connector=bot, author_kind="client", text="Hello, is the shop open?").exists()
        # Still stuck behind the provider: no reply went out yet, and at most one was tried.
        assert not Message.objects.filter(pk__in=[reply.pk for reply in replies], delivery="sent").exists()
        assert took < 10, f"the client's message waited {took:.1f}s"
    finally:
        inbound.stop()
        outbound.kill()
        provider.close()
