"""The cross-process path: a Celery task in another process routes a conversation, and the offer it makes
reaches the operator's console socket (and the visitor's widget) through the real Redis channel layer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import ConversationStatus, Offer
from contact_center.asgi import application
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
)
from tests.sockets import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


@pytest.fixture
def redis_layer_prefix(settings):
    """The real Redis layer, under a prefix no other test run or server uses."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "contact_center.channel_layer.RedisEventsChannelLayer",
            "CONFIG": {"hosts": [{"address": django_settings.REDIS_URL}], "prefix": prefix},
        }
    }
    return prefix


@pytest.fixture
def waiting_conversation(db):
    """A visitor's conversation queued in “Support”, not routed yet; Olga is the only operator."""
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel)
    client = ClientFactory(connector=connector, external_id="visitor-across-processes")
    conversation = ConversationFactory(client=client, status=ConversationStatus.QUEUED, created_at=timezone.now())
    token = visitor_token_issue(connector=connector, visitor_id=client.external_id)
    return conversation, olga, token


def _run_task_in_another_process(conversation_id: int, layer_prefix: str) -> subprocess.CompletedProcess:
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "contact_center.settings",
        # The same (test) database and the same Redis, as a worker in production would see them.
        "DATABASE_URL": f"postgresql://{database['USER']}@/{database['NAME']}?host={database['HOST']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "CHANNEL_LAYER_PREFIX": layer_prefix,
    }
    # A worker process lives on after a task, so its event sender drains in the background; this
    # one exits at once, so it waits for the sender before leaving.
    code = (
        "import django; django.setup()\n"
        "from channels_app.engine import events\n"
        "from channels_app.tasks import route_conversation\n"
        f"print(route_conversation.apply(args=[{conversation_id}, 'cross_process_test']).get())\n"
        "assert events.flush(timeout=30)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_Q2_offer_made_by_a_celery_task_in_another_process_reaches_the_console(
    redis_layer_prefix, waiting_conversation
):
    conversation, olga, token = waiting_conversation
    cookie = await database_sync_to_async(session_cookie)(olga)
    console = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN, (b"cookie", cookie)])
    assert (await console.connect(timeout=20))[0]
    assert (await console.receive_json_from(timeout=20))["type"] == "hello"
    visitor = WebsocketCommunicator(application, f"/ws/livechat/{token}/", headers=[ORIGIN])
    assert (await visitor.connect(timeout=20))[0]
    assert (await visitor.receive_json_from(timeout=20))["type"] == "hello"

    finished = await asyncio.to_thread(_run_task_in_another_process, conversation.pk, redis_layer_prefix)
    assert finished.returncode == 0, finished.stderr[-3000:]

    offer = await database_sync_to_async(Offer.objects.get)(conversation_id=conversation.pk)
    frame = await console.receive_json_from(timeout=20)
    while frame["type"] != "offer.created":
        frame = await console.receive_json_from(timeout=20)
    assert frame["offer_id"] == offer.pk
    assert frame["conversation_id"] == conversation.pk
    assert frame["operator_id"] == olga.pk

    update = await visitor.receive_json_from(timeout=20)
    assert update["type"] == "conversation"
    assert update["conversation"]["status"] == ConversationStatus.OFFERED
    await console.disconnect()
    await visitor.disconnect()
