"""Redis restarted (empty) while operators and visitors are connected: consoles reconnect, re-sync, lose nothing.

Redis carries the channel layer (group memberships, undelivered frames), the
rate-limit buckets and the Celery broker. A restart without persistence loses
all of it. What must hold: every message is in PostgreSQL (services commit
before they publish), each console socket either keeps receiving or is closed
so the tab reconnects, and after the tab's re-sync it shows every message and
receives new ones live again.
"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from websockets.sync.client import connect

from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import ConversationStatus, Message, Offer
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory
from tests.faults.conftest import ConsoleClient, session_cookie
from tests.faults.servers import Uvicorn, server_environment, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_with_olga(transactional_db):
    """Alice's live chat in “Support”, held by Olga (online, clocked in)."""
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel, kind="livechat")
    conversation = message_receive(
        connector=connector, external_user_id="alice", text="Hello", source_message_id="m0", now=timezone.now()
    ).conversation
    offer_accept(offer_id=Offer.objects.get(conversation=conversation).pk, operator=olga, now=timezone.now())
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.ACTIVE
    return conversation, olga, visitor_token_issue(connector=connector, visitor_id="alice")


class Visitor:
    """Alice's widget: sends with a client id, so a resend after a reconnect is stored once."""

    def __init__(self, server: Uvicorn, token: str) -> None:
        self.server, self.token, self.socket = server, token, None

    def connect(self) -> None:
        self.socket = connect(
            f"{self.server.ws_url}/ws/livechat/{self.token}/",
            additional_headers={"Origin": self.server.url},
            legacy=True,
        )
        assert json.loads(self.socket.recv(timeout=10))["type"] == "hello"

    def say(self, text: str, client_id: str) -> dict:
        """Send until acknowledged, reconnecting like the widget does when the socket drops or the server errs."""

        def attempt():
            try:
                if self.socket is None:
                    self.connect()
                self.socket.send(json.dumps({"action": "send", "ref": client_id, "client_id": client_id, "text": text}))
                while True:
                    frame = json.loads(self.socket.recv(timeout=10))
                    if frame.get("ref") == client_id:
                        return frame if frame["type"] == "ack" else None
            except Exception:
                self.socket = None
                return None

        return wait_until(attempt, timeout=30, interval=0.5, what=f"the visitor's message {text!r} to be accepted")


def test_redis_restart_loses_nothing_and_consoles_receive_live_again(
    alice_with_olga, private_redis, test_database_url, tmp_path
):
    conversation, olga, token = alice_with_olga
    environment = server_environment(
        database_url=test_database_url, redis_url=private_redis.url, CELERY_TASK_ALWAYS_EAGER="true"
    )
    server = Uvicorn(environment, tmp_path / "uvicorn.log").start()
    console = ConsoleClient(server.url, server.ws_url, session_cookie(olga))
    alice = Visitor(server, token)
    try:
        console.connect()
        console.resync()
        alice.connect()
        alice.say("Before the restart", "before-restart-1")
        console.wait_for(lambda f: f.get("type") == "message.created", timeout=10, what="the first live message")

        # 1. Redis dies. Sockets cannot work without their channel layer: the server closes them,
        #    so the tabs know to reconnect (a socket left open would silently miss every event).
        private_redis.kill()
        wait_until(console.is_closed, timeout=15, what="the console socket to be closed")
        # 2. Meanwhile a message arrives through another process (a worker processing a webhook):
        #    PostgreSQL stores it; its event has nowhere to go.
        message_receive(
            connector=conversation.connector,
            external_user_id="alice",
            text="Written while Redis was down",
            source_message_id="during-outage",
            now=timezone.now(),
        )
        # 3. Redis comes back empty: no groups, no buffered frames, no rate-limit buckets.
        #    The tab reconnects (with backoff) and re-syncs from the database.
        private_redis.start()
        console.reconnect()
        answer = console.request("send", conversation_id=conversation.pk, text="Answered after the restart")
        assert answer["type"] == "ack", answer
        # 4. New messages reach the console live again.
        alice.say("After the restart", "after-restart-1")
        console.wait_for(
            lambda f: f.get("type") == "message.created" and f["message"]["text"] == "After the restart",
            timeout=20,
            what="a live message after the restart",
        )
    finally:
        console.close()
        server.stop()

    stored = list(Message.objects.filter(conversation=conversation).order_by("id").values_list("id", flat=True))
    assert len(stored) == 5  # hello, before, during the outage, the answer, after
    assert console.seen[conversation.pk] == stored, "the console does not show every message in order"
