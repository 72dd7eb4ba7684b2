"""Console and live-chat websockets through the real ASGI stack (auth, origin check, routing), on PostgreSQL.

Events travel through an in-memory channel layer here; ``test_consumers_redis.py``
proves the cross-process path through the real Redis layer.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.utils import timezone

from channels_app.console import consumer as console_consumer
from channels_app.console.api import conversation_detail
from channels_app.engine import availability, sweeps
from channels_app.livechat.visitors import visitor_token_issue
from channels_app.models import (
    ClientRating,
    ConnectorKind,
    ConsentForm,
    ConsentRecord,
    Conversation,
    ConversationStatus,
    Message,
    OpenChannel,
    OperatorIdentity,
    OperatorProfile,
    WhatsAppTemplate,
)
from contact_center.asgi import application
from kpi import tasks as kpi_tasks
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)
from tests.sockets import ORIGIN, ask, connected_console, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def own_rate_limit_buckets(settings):
    settings.RATE_LIMIT_KEY_PREFIX = f"test-{uuid.uuid4().hex}"


@pytest.fixture
def support(db):
    """“Support”: one live-chat connector, Olga alone in the queue, operator identity shown (Q12)."""
    channel = OpenChannelFactory(name="Support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    OperatorProfile.objects.filter(user=olga).update(display_name="Olga N.")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    connector = ConnectorFactory(open_channel=channel)
    return SimpleNamespace(channel=channel, connector=connector, olga=olga)


@pytest.fixture
def sales(db):
    """“Sales”: another open channel with its own operator, Stan."""
    channel = OpenChannelFactory(name="Sales", welcome_enabled=False)
    stan = OperatorFactory(username="stan", first_name="Stan")
    QueueMemberFactory(open_channel=channel, operator=stan, position=0)
    connector = ConnectorFactory(open_channel=channel)
    return SimpleNamespace(channel=channel, connector=connector, stan=stan)


async def visitor_socket(token: str, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/livechat/{token}/", headers=[origin])
    connected, _ = await communicator.connect(timeout=15)
    assert connected
    hello = await communicator.receive_json_from(timeout=15)
    assert hello["type"] == "hello"
    return communicator


async def next_frame(communicator: WebsocketCommunicator, frame_type: str, timeout: float = 15) -> dict:
    """The next frame of ``frame_type``, skipping others (presence, status…)."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame.get("type") == frame_type:
            return frame


async def frame_where(communicator: WebsocketCommunicator, frame_type: str, predicate, timeout: float = 15) -> dict:
    """The next frame of ``frame_type`` for which ``predicate(frame)`` holds."""
    while True:
        frame = await next_frame(communicator, frame_type, timeout)
        if predicate(frame):
            return frame


async def visitor_says(communicator: WebsocketCommunicator, text: str, client_id: str | None = None) -> dict:
    return await ask(communicator, "send", text=text, client_id=client_id or uuid.uuid4().hex)


def _db(func, *args, **kwargs):
    return database_sync_to_async(func)(*args, **kwargs)


# --- the whole conversation ----------------------------------------------------------------------------


async def test_Q2_R1_visitor_writes_operator_accepts_replies_closes_and_visitor_rates(support):
    connector, olga = support.connector, support.olga
    console = await connected_console(olga)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))

    sent = await visitor_says(visitor, "Hello, is my order shipped?")
    assert sent["type"] == "ack"
    assert sent["message"]["text"] == "Hello, is my order shipped?"
    conversation_id = sent["conversation"]["id"]

    offer = await next_frame(console, "offer.created")
    assert offer["conversation_id"] == conversation_id

    accepted = await ask(console, "accept", offer_id=offer["offer_id"])
    assert accepted == {
        "type": "ack",
        "ref": accepted["ref"],
        "action": "accept",
        "conversation_id": conversation_id,
        "status": "active",
    }
    # Q12: the visitor is told who answers (the operator's own public name).
    assigned = await frame_where(visitor, "conversation", lambda f: f["conversation"]["status"] == "active")
    assert assigned["conversation"]["operator"] == {"name": "Olga N.", "photo_url": ""}

    reply = await ask(console, "send", conversation_id=conversation_id, text="Yes, it left this morning.")
    assert reply["message"]["author_kind"] == "operator"
    seen = await frame_where(visitor, "message", lambda f: f["message"]["author"] == "operator")
    assert seen["message"]["text"] == "Yes, it left this morning."
    assert seen["message"]["author_name"] == "Olga N."
    assert "author_id" not in seen["message"], "the visitor never learns internal user ids"

    closed = await ask(console, "close", conversation_id=conversation_id)
    assert closed["status"] == ConversationStatus.CLOSED_PENDING_RATING
    await frame_where(visitor, "conversation", lambda f: f["conversation"]["awaiting_rating"])

    rated = await ask(visitor, "rate", value="like")
    assert rated["type"] == "ack"
    rating = await _db(ClientRating.objects.get, conversation_id=conversation_id)
    assert (rating.value, rating.operator_id) == ("like", olga.pk)
    await console.disconnect()
    await visitor.disconnect()


async def test_console_receives_new_client_messages_of_held_conversation(support):
    connector, olga = support.connector, support.olga
    console = await connected_console(olga)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    conversation_id = (await visitor_says(visitor, "First"))["conversation"]["id"]
    offer = await next_frame(console, "offer.created")
    await ask(console, "accept", offer_id=offer["offer_id"])

    await visitor_says(visitor, "Second")
    created = await frame_where(console, "message.created", lambda f: f["message"]["text"] == "Second")
    assert created["conversation_id"] == conversation_id
    await console.disconnect()
    await visitor.disconnect()


def _supervised_with_k2_target(channel, supervisor) -> None:
    channel.kpi_initial_enabled, channel.kpi_initial_target_seconds = True, 180
    channel.kpi_miss_template = "#OPERATOR# missed the target in #DIALOG#."
    channel.save()
    channel.supervisors.add(supervisor)
    channel.kpi_notify_users.add(supervisor)


async def test_K2_a_late_reply_in_the_console_reaches_the_supervisor_s_console_as_a_miss(support, settings):
    """Issue 16 point 13: the whole path, no hand-made frame. A visitor writes, the operator answers in the console
    four minutes later (target: three), beat's K2 task runs, and the supervisor's open console shows the miss."""
    settings.SITE_URL = "https://cc.example.com"
    olga = support.olga
    sam = await _db(UserFactory, username="sam", first_name="Sam")
    await _db(_supervised_with_k2_target, support.channel, sam)
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        olga_console = await connected_console(olga)
        sam_console = await connected_console(sam)
        visitor = await visitor_socket(await _db(visitor_token_issue, connector=support.connector))
        conversation_id = (await visitor_says(visitor, "Where is my order?"))["conversation"]["id"]
        offer = await next_frame(olga_console, "offer.created")
        assert (await ask(olga_console, "accept", offer_id=offer["offer_id"]))["type"] == "ack"
        traveller.shift(timedelta(minutes=4))
        replied = await ask(olga_console, "send", conversation_id=conversation_id, text="It left today.")
        assert replied["type"] == "ack"

        result = await _db(kpi_tasks.sweep_response_targets.apply)
        assert result.get() == {"misses": 1, "notified": 1}

    miss = await next_frame(sam_console, "kpi.miss")
    assert miss == {
        "type": "kpi.miss",
        "text": f"Olga N. missed the target in #{conversation_id}.",
        "conversation_id": conversation_id,
        "url": f"https://cc.example.com/kpi/conversations/{conversation_id}/",
    }
    for communicator in (olga_console, sam_console, visitor):
        await communicator.disconnect()


async def test_M1_visitor_sees_the_welcome_reply_of_a_new_conversation_at_once(support):
    """The welcome is published before the socket follows the new conversation; it must still arrive."""
    await _db(OpenChannel.objects.filter(pk=support.channel.pk).update, welcome_enabled=True)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=support.connector))
    await visitor.send_json_to({"action": "send", "ref": "r1", "text": "Hello?", "client_id": uuid.uuid4().hex})
    frames = []
    while not any(frame.get("ref") == "r1" for frame in frames):
        frames.append(await visitor.receive_json_from(timeout=15))
    welcome = [f for f in frames if f["type"] == "message" and f["message"]["author"] == "system"]
    if not welcome:
        welcome = [await frame_where(visitor, "message", lambda f: f["message"]["author"] == "system")]
    assert welcome[0]["message"]["text"] == support.channel.welcome_text
    await visitor.disconnect()


async def test_typing_goes_from_visitor_to_watching_console_and_back(support):
    connector, olga = support.connector, support.olga
    console = await connected_console(olga)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    conversation_id = (await visitor_says(visitor, "Hi"))["conversation"]["id"]
    offer = await next_frame(console, "offer.created")
    await ask(console, "accept", offer_id=offer["offer_id"])  # accepting also watches the conversation

    await visitor.send_json_to({"action": "typing"})
    typing = await next_frame(console, "typing")
    assert typing == {"type": "typing", "conversation_id": conversation_id, "author": "client"}

    await console.send_json_to({"action": "typing", "conversation_id": conversation_id})
    assert await next_frame(visitor, "typing") == {"type": "typing"}
    await console.disconnect()
    await visitor.disconnect()


# --- security ------------------------------------------------------------------------------------------


async def test_console_refuses_anonymous_users_and_foreign_origins(support):
    olga = support.olga
    anonymous = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN])
    connected, code = await anonymous.connect(timeout=15)
    assert (connected, code) == (False, 4403)

    cookie = await _db(session_cookie, olga)
    hijack = WebsocketCommunicator(
        application, "/ws/console/", headers=[(b"origin", b"https://evil.example"), (b"cookie", cookie)]
    )
    connected, _ = await hijack.connect(timeout=15)
    assert not connected, "another site cannot ride an operator's session over a websocket"


async def test_console_refuses_a_user_who_is_not_an_operator(db):
    clerk = await _db(UserFactory, username="clerk")
    cookie = await _db(session_cookie, clerk)
    communicator = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN, (b"cookie", cookie)])
    connected, code = await communicator.connect(timeout=15)
    assert (connected, code) == (False, 4403)


async def test_operator_of_another_open_channel_can_neither_read_nor_act(support, sales):
    connector, olga = support.connector, support.olga
    stan = sales.stan
    olga_console = await connected_console(olga)
    stan_console = await connected_console(stan)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    conversation_id = (await visitor_says(visitor, "Support question"))["conversation"]["id"]
    offer = await next_frame(olga_console, "offer.created")
    await ask(olga_console, "accept", offer_id=offer["offer_id"])

    for action, payload in (
        ("watch", {"conversation_id": conversation_id}),
        ("send", {"conversation_id": conversation_id, "text": "I am not from Support"}),
        ("close", {"conversation_id": conversation_id}),
        ("transfer", {"conversation_id": conversation_id, "to_operator_id": stan.pk}),
        ("typing", {"conversation_id": conversation_id}),
    ):
        answer = await ask(stan_console, action, **payload)
        assert answer["type"] == "error", action
        assert answer["message"] == "This conversation does not exist."
    refused = await ask(stan_console, "accept", offer_id=offer["offer_id"])
    assert refused["message"] == "This offer was made to another operator."

    conversation = await _db(Conversation.objects.get, pk=conversation_id)
    assert (conversation.status, conversation.operator_id) == (ConversationStatus.ACTIVE, olga.pk)
    assert not await _db(Message.objects.filter(conversation_id=conversation_id, author_kind="operator").exists)
    for communicator in (olga_console, stan_console, visitor):
        await communicator.disconnect()


async def test_bad_frames_get_clear_errors_and_change_nothing(support):
    console = await connected_console(support.olga)
    await console.send_to(text_data="not json")
    assert (await next_frame(console, "error"))["message"] == "Frames must be JSON objects."
    await console.send_to(text_data=json.dumps({"action": "send", "text": "x" * 100_000}))
    assert (await next_frame(console, "error"))["message"] == "This frame is too large."
    await console.send_json_to(["a", "list"])
    assert (await next_frame(console, "error"))["message"] == "Frames must be JSON objects."
    assert (await ask(console, "explode"))["message"] == "Unknown action."
    await console.send_json_to({"action": ["not", "hashable"], "ref": "r1"})
    assert (await next_frame(console, "error"))["message"] == "Unknown action."
    assert (await ask(console, "accept", offer_id="1; DROP TABLE"))[
        "message"
    ] == "“offer_id” must be a positive whole number."
    assert (await ask(console, "send", conversation_id=True, text="x"))["type"] == "error"
    assert (await ask(console, "send", conversation_id=1, text="   "))["message"] == "Write a message first."
    assert (await ask(console, "send", conversation_id=1, text="x" * 5000))["message"].startswith(
        "The message is longer"
    )
    both = await ask(console, "transfer", conversation_id=1, to_operator_id=2, to_open_channel_id=3)
    assert both["message"] == "Choose either an operator or an open channel to transfer to."
    missing = await ask(console, "accept", offer_id=999999)
    assert (missing["type"], missing["code"]) == ("error", 404)
    # The socket survived all of it.
    assert (await ask(console, "watch", conversation_id=None))["type"] == "ack"
    await console.disconnect()


# --- Meta's 24-hour window (S2) ------------------------------------------------------------------------


async def test_S2_console_hears_why_a_whatsapp_reply_after_24_hours_is_refused(support):
    """The refusal comes back as the send's error frame, which the console shows as it shows other send errors."""
    whatsapp = await _db(
        ConnectorFactory, open_channel=support.channel, kind=ConnectorKind.WHATSAPP, account_id="106540352242922"
    )
    client = await _db(ClientFactory, connector=whatsapp, external_id="16315551181")
    wrote_at = timezone.now() - timedelta(hours=25)
    conversation = await _db(
        ConversationFactory, client=client, status=ConversationStatus.ACTIVE, operator=support.olga,
        assigned_at=wrote_at, last_client_message_at=wrote_at,
    )  # fmt: skip
    console = await connected_console(support.olga)
    refused = await ask(console, "send", conversation_id=conversation.pk, text="Are you still there?")
    assert (refused["type"], refused["code"]) == ("error", 409)
    assert refused["message"] == (
        "More than 24 hours have passed since the client's last message: WhatsApp accepts no reply "
        "until the client writes again."
    )
    assert not await _db(Message.objects.filter(conversation=conversation).exists)
    await console.disconnect()


async def test_S2_console_sends_a_whatsapp_template_after_24_hours(support):
    """The conversation says its window is closed and lists the number's templates; ``send_template`` sends one,
    and bad parameters get a clear 400 frame."""
    whatsapp = await _db(
        ConnectorFactory, open_channel=support.channel, kind=ConnectorKind.WHATSAPP, account_id="106540352242922"
    )
    template = await _db(
        WhatsAppTemplate.objects.create, connector=whatsapp, name="order_ready", language="pl",
        body="Dzień dobry {{1}}, zamówienie {{2}} czeka.",
    )  # fmt: skip
    await _db(
        WhatsAppTemplate.objects.create, connector=whatsapp, name="retired", language="pl", body="Old", is_active=False
    )
    client = await _db(ClientFactory, connector=whatsapp, external_id="16315551181")
    wrote_at = timezone.now() - timedelta(hours=25)
    conversation = await _db(
        ConversationFactory, client=client, status=ConversationStatus.ACTIVE, operator=support.olga,
        assigned_at=wrote_at, last_client_message_at=wrote_at,
    )  # fmt: skip
    detail = await _db(conversation_detail, support.olga, conversation)
    assert detail["reply_window_closed"] is True
    assert detail["whatsapp_templates"] == [
        {
            "id": template.pk,
            "name": "order_ready",
            "language": "pl",
            "body": "Dzień dobry {{1}}, zamówienie {{2}} czeka.",
            "parameter_count": 2,
        }
    ]
    console = await connected_console(support.olga)
    refused = await ask(console, "send_template", conversation_id=conversation.pk, template_id=template.pk,
                        parameters=["Anna"])  # fmt: skip
    assert (refused["type"], refused["code"]) == ("error", 400)
    assert "needs 2 text(s); 1 were given" in refused["message"]
    bad = await ask(console, "send_template", conversation_id=conversation.pk, template_id=template.pk,
                    parameters="Anna")  # fmt: skip
    assert (bad["type"], bad["code"]) == ("error", 400)
    sent = await ask(console, "send_template", conversation_id=conversation.pk, template_id=template.pk,
                     parameters=["Anna", "A-1042"])  # fmt: skip
    assert sent["type"] == "ack", sent
    assert sent["message"]["text"] == "Dzień dobry Anna, zamówienie A-1042 czeka."
    stored = await _db(Message.objects.get, conversation=conversation)
    assert stored.template == {"name": "order_ready", "language": "pl", "parameters": ["Anna", "A-1042"]}
    await console.disconnect()


async def test_S2_conversations_within_the_window_or_not_on_whatsapp_list_no_templates(support):
    telegram = await _db(ConnectorFactory, open_channel=support.channel, kind=ConnectorKind.TELEGRAM, account_id="7001")
    client = await _db(ClientFactory, connector=telegram, external_id="424242")
    wrote_at = timezone.now() - timedelta(days=3)
    conversation = await _db(
        ConversationFactory, client=client, status=ConversationStatus.ACTIVE, operator=support.olga,
        assigned_at=wrote_at, last_client_message_at=wrote_at,
    )  # fmt: skip
    detail = await _db(conversation_detail, support.olga, conversation)
    assert (detail["reply_window_closed"], detail["whatsapp_templates"]) == (False, [])


# --- transfers (Q13) -----------------------------------------------------------------------------------


async def test_Q13_transfer_to_an_offline_colleague_is_refused_then_confirmed_over_the_socket(support):
    """The console hears why; with the channel's warning setting it asks the operator and resends with confirm."""
    olga = support.olga
    piotr = await _db(OperatorFactory, username="piotr", first_name="Piotr")
    await _db(QueueMemberFactory, open_channel=support.channel, operator=piotr, position=1)
    await _db(OperatorProfile.objects.filter(user=piotr).update, is_online=False, console_heartbeat_at=None)
    console = await connected_console(olga)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=support.connector))
    conversation_id = (await visitor_says(visitor, "Hello"))["conversation"]["id"]
    offer = await next_frame(console, "offer.created")
    await ask(console, "accept", offer_id=offer["offer_id"])

    refused = await ask(console, "transfer", conversation_id=conversation_id, to_operator_id=piotr.pk)
    assert (refused["type"], refused["code"], refused["message"]) == ("error", 409, "Piotr is offline.")
    assert "needs_confirmation" not in refused
    assert (await ask(console, "transfer", conversation_id=conversation_id, to_operator_id=piotr.pk, confirm="yes"))[
        "message"
    ] == "“confirm” must be true or false."

    await _db(OpenChannel.objects.filter(pk=support.channel.pk).update, transfer_to_unavailable_after_warning=True)
    warned = await ask(console, "transfer", conversation_id=conversation_id, to_operator_id=piotr.pk)
    assert (warned["message"], warned["needs_confirmation"]) == ("Piotr is offline. Transfer anyway?", True)
    conversation = await _db(Conversation.objects.get, pk=conversation_id)
    assert conversation.operator_id == olga.pk
    done = await ask(console, "transfer", conversation_id=conversation_id, to_operator_id=piotr.pk, confirm=True)
    assert done["type"] == "ack"
    conversation = await _db(Conversation.objects.get, pk=conversation_id)
    assert (conversation.operator_id, conversation.status) == (piotr.pk, ConversationStatus.ACTIVE)
    for communicator in (console, visitor):
        await communicator.disconnect()


async def test_Q13_transfer_to_another_queue_offers_it_there_at_once_over_the_socket(support, sales):
    olga, stan = support.olga, sales.stan
    olga_console = await connected_console(olga)
    stan_console = await connected_console(stan)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=support.connector))
    conversation_id = (await visitor_says(visitor, "I want to buy"))["conversation"]["id"]
    offer = await next_frame(olga_console, "offer.created")
    await ask(olga_console, "accept", offer_id=offer["offer_id"])

    moved = await ask(olga_console, "transfer", conversation_id=conversation_id, to_open_channel_id=sales.channel.pk)
    assert moved["type"] == "ack"
    offered = await next_frame(stan_console, "offer.created")
    assert offered["conversation_id"] == conversation_id
    conversation = await _db(Conversation.objects.get, pk=conversation_id)
    assert (conversation.open_channel_id, conversation.status) == (sales.channel.pk, ConversationStatus.OFFERED)
    for communicator in (olga_console, stan_console, visitor):
        await communicator.disconnect()


# --- presence (Q6) -------------------------------------------------------------------------------------


async def test_Q6_console_socket_makes_the_operator_online_and_closing_it_offline(support):
    olga = support.olga
    await _db(OperatorProfile.objects.filter(user=olga).update, is_online=False, console_heartbeat_at=None)
    console = await connected_console(olga)
    profile = await _db(OperatorProfile.objects.get, user=olga)
    assert profile.is_online and profile.console_heartbeat_at is not None

    await console.send_json_to({"action": "heartbeat", "active": True})
    assert (await next_frame(console, "pong"))["type"] == "pong"
    await console.disconnect()
    profile = await _db(OperatorProfile.objects.get, user=olga)
    assert profile.console_heartbeat_at is None
    assert not profile.is_online


async def test_Q6_an_operator_reading_in_a_visible_tab_stays_online_past_the_offline_time(support):
    """Issue 16 point 5: no key or mouse press for 20 minutes, but the console tab is on screen."""
    olga = support.olga
    console = await connected_console(olga)
    # The socket's clock moves on with the row (decision 0031: the socket skips pings while what it stored holds).
    with time_machine.travel(timezone.now() + timedelta(minutes=20), tick=True):
        idle_since = timezone.now() - timedelta(minutes=20)
        await _db(OperatorProfile.objects.filter(user=olga).update, last_activity_at=idle_since)

        await console.send_json_to({"action": "heartbeat", "active": False, "visible": True})
        await next_frame(console, "pong")
        assert await _db(sweeps.presence_sweep, now=timezone.now()) == 0
        profile = await _db(OperatorProfile.objects.get, user=olga)
        assert profile.is_online and profile.last_activity_at > idle_since

    # The same operator with the tab hidden and no input goes offline after the channel's 10 minutes.
    with time_machine.travel(timezone.now() + timedelta(minutes=40), tick=True):
        idle_since = timezone.now() - timedelta(minutes=20)
        await _db(OperatorProfile.objects.filter(user=olga).update, last_activity_at=idle_since)
        await console.send_json_to({"action": "heartbeat", "active": False, "visible": False})
        await next_frame(console, "pong")
        assert not (await _db(OperatorProfile.objects.get, user=olga)).is_online
    await console.disconnect()


async def test_Q6_a_ping_that_changes_nothing_writes_nothing_and_presence_still_expires_for_routing(
    support, monkeypatch
):
    """Decision 0031: the socket answers a ping that would store nothing new without a statement; the ping due
    (half the heartbeat timeout after the stored one) is stored in the web process's next batch; a silent console
    expires for routing."""
    olga, channel = support.olga, support.channel
    console = await connected_console(olga)
    stored = await _db(OperatorProfile.objects.get, user=olga)
    calls: list[str] = []
    for name in ("operator_heartbeat", "operators_heartbeat_while_online"):
        service = getattr(console_consumer.operator_services, name)

        def counted(service=service, name=name, **kwargs):
            calls.append(name)
            return service(**kwargs)

        monkeypatch.setattr(console_consumer.operator_services, name, counted)
    timeout = django_settings.CONSOLE_HEARTBEAT_TIMEOUT
    with time_machine.travel(stored.console_heartbeat_at + timeout / 2 - timedelta(seconds=1), tick=False):
        for visible in (False, True):
            await console.send_json_to({"action": "heartbeat", "active": False, "visible": visible})
            await next_frame(console, "pong")
    assert calls == []  # no service, so no statement
    unchanged = await _db(OperatorProfile.objects.get, user=olga)
    assert (unchanged.console_heartbeat_at, unchanged.last_activity_at) == (
        stored.console_heartbeat_at,
        stored.last_activity_at,
    )

    due = stored.console_heartbeat_at + timeout / 2
    with time_machine.travel(due, tick=False):
        await console.send_json_to({"action": "heartbeat", "active": False, "visible": False})
        await next_frame(console, "pong")
    assert calls == ["operators_heartbeat_while_online"]  # with the other consoles' due heartbeats, if any
    profile = await _db(OperatorProfile.objects.get, user=olga)
    # The visible ping skipped before is stored with this one, at its own time.
    assert profile.console_heartbeat_at == due and profile.last_activity_at == due - timedelta(seconds=1)
    assert profile.is_online
    # Routing: online up to the heartbeat timeout after the stored ping, offline after it once the console is silent.
    assert availability.operator_online(profile, channel, due + timeout)
    assert not availability.operator_online(profile, channel, due + timeout + timedelta(seconds=1))
    await console.disconnect()


async def test_Q6_with_the_inactivity_rule_off_an_open_hidden_console_stays_online(support):
    olga = support.olga
    await _db(OpenChannel.objects.filter(pk=support.channel.pk).update, offline_when_inactive=False)
    console = await connected_console(olga)
    await _db(OperatorProfile.objects.filter(user=olga).update, last_activity_at=timezone.now() - timedelta(hours=3))

    await console.send_json_to({"action": "heartbeat", "active": False, "visible": False})
    await next_frame(console, "pong")
    assert await _db(sweeps.presence_sweep, now=timezone.now()) == 0
    assert (await _db(OperatorProfile.objects.get, user=olga)).is_online
    await console.disconnect()


async def test_Q6_closing_one_of_two_console_tabs_keeps_the_operator_online(support):
    olga = support.olga
    first_tab = await connected_console(olga)
    second_tab = await connected_console(olga)
    await first_tab.disconnect()
    # The remaining tab answers the re-ping with a heartbeat of its own; a pong-less round trip proves it ran.
    await ask(second_tab, "watch", conversation_id=None)
    profile = await _db(OperatorProfile.objects.get, user=olga)
    assert profile.console_heartbeat_at is not None
    assert profile.is_online
    await second_tab.disconnect()


# --- live chat -----------------------------------------------------------------------------------------


async def test_visitor_with_forged_or_foreign_token_is_refused(support, sales):
    sales_connector = sales.connector
    for token in ("forged-token", "eyJjIjoxLCJ2IjoieCJ9:1:abc"):
        communicator = WebsocketCommunicator(application, f"/ws/livechat/{token}/", headers=[ORIGIN])
        connected, _ = await communicator.connect(timeout=15)
        assert not connected
    token = await _db(visitor_token_issue, connector=sales_connector)
    await _db(type(sales_connector).objects.filter(pk=sales_connector.pk).update, is_active=False)
    communicator = WebsocketCommunicator(application, f"/ws/livechat/{token}/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=15)
    assert not connected, "a switched-off connector takes no more chats"


async def test_S1_reconnect_with_the_same_token_continues_the_same_conversation(support):
    connector = support.connector
    token = await _db(visitor_token_issue, connector=connector)
    first = await visitor_socket(token)
    conversation_id = (await visitor_says(first, "Before the tunnel"))["conversation"]["id"]
    await first.disconnect()

    again = await visitor_socket(token)
    answer = await visitor_says(again, "After the tunnel")
    assert answer["conversation"]["id"] == conversation_id
    texts = await _db(
        lambda: list(Message.objects.filter(conversation_id=conversation_id).values_list("text", flat=True))
    )
    assert texts == ["Before the tunnel", "After the tunnel"]
    await again.disconnect()


async def test_resending_the_same_message_after_a_drop_stores_it_once(support):
    connector = support.connector
    token = await _db(visitor_token_issue, connector=connector)
    first = await visitor_socket(token)
    sent = await visitor_says(first, "Only once, please", client_id="c-0001-resend")
    await first.disconnect()
    again = await visitor_socket(token)
    resent = await visitor_says(again, "Only once, please", client_id="c-0001-resend")
    assert resent["message"]["id"] == sent["message"]["id"]
    assert await _db(Message.objects.filter(text="Only once, please").count) == 1
    bad = await ask(again, "send", text="x", client_id="../../etc")
    assert bad["type"] == "error"
    await again.disconnect()


async def test_two_visitors_never_share_a_conversation_even_with_the_same_client_id(support):
    connector = support.connector
    alice = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    bob = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    from_alice = await visitor_says(alice, "I am Alice", client_id="same-client-id")
    from_bob = await visitor_says(bob, "I am Bob", client_id="same-client-id")
    assert from_alice["conversation"]["id"] != from_bob["conversation"]["id"]
    assert from_bob["message"]["text"] == "I am Bob"
    await alice.disconnect()
    await bob.disconnect()


async def test_A1_visitor_must_accept_the_notice_before_the_first_message(support):
    channel, connector = support.channel, support.connector
    form = await _db(ConsentForm.objects.create, name="Privacy notice", text="We store your messages for 1 year.")
    await _db(type(channel).objects.filter(pk=channel.pk).update, consent_required=True, consent_form=form)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))

    refused = await visitor_says(visitor, "Hello?")
    assert refused["type"] == "error"
    assert refused["message"] == "Please accept the notice before writing."
    assert not await _db(Message.objects.exists)

    assert (await ask(visitor, "consent"))["consent_needed"] is False
    accepted = await visitor_says(visitor, "Hello!")
    assert accepted["type"] == "ack"
    record = await _db(lambda: ConsentRecord.objects.select_related("form_version", "client").get())
    assert record.form_version.number == 1
    assert record.source == "livechat"
    assert record.client.external_id == (await _db(lambda: Conversation.objects.get().client.external_id))
    assert abs(record.accepted_at - timezone.now()) < timedelta(minutes=1)
    assert (await ask(visitor, "consent"))["type"] == "ack", "accepting twice is harmless"
    assert await _db(ConsentRecord.objects.count) == 1
    await visitor.disconnect()


async def test_visitor_messages_are_rate_limited_and_allowed_again_later(support, settings):
    connector = support.connector
    settings.RATE_LIMITS = {"livechat_visitor_message": {"capacity": 3, "refill_per_second": 0.2}}
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for number in range(3):
            assert (await visitor_says(visitor, f"Message {number}"))["type"] == "ack"
        flooded = await visitor_says(visitor, "One too many")
        assert flooded["type"] == "error"
        assert flooded["code"] == 429
        assert flooded["message"] == "You are sending messages too fast. Please wait a moment."
        assert flooded["retry_after"] == pytest.approx(5, abs=0.01)
        traveller.shift(timedelta(seconds=5))
        assert (await visitor_says(visitor, "Patient again"))["type"] == "ack"
    texts = await _db(lambda: list(Message.objects.order_by("id").values_list("text", flat=True)))
    assert texts == ["Message 0", "Message 1", "Message 2", "Patient again"]
    await visitor.disconnect()


async def test_Q12_hidden_identity_shows_no_operator_to_the_visitor(support):
    channel, connector, olga = support.channel, support.connector, support.olga
    await _db(type(channel).objects.filter(pk=channel.pk).update, operator_identity=OperatorIdentity.HIDDEN)
    console = await connected_console(olga)
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    conversation_id = (await visitor_says(visitor, "Who is there?"))["conversation"]["id"]
    offer = await next_frame(console, "offer.created")
    await ask(console, "accept", offer_id=offer["offer_id"])
    assigned = await frame_where(visitor, "conversation", lambda f: f["conversation"]["status"] == "active")
    assert assigned["conversation"]["operator"] is None
    await ask(console, "send", conversation_id=conversation_id, text="An operator")
    message = await frame_where(visitor, "message", lambda f: f["message"]["author"] == "operator")
    assert message["message"]["author_name"] == "Operator"
    await console.disconnect()
    await visitor.disconnect()


async def test_visitor_cannot_rate_an_open_conversation_or_send_nonsense(support):
    connector = support.connector
    visitor = await visitor_socket(await _db(visitor_token_issue, connector=connector))
    assert (await ask(visitor, "rate", value="like"))["message"] == "This conversation is not waiting for a rating."
    await visitor_says(visitor, "Hi")
    assert (await ask(visitor, "rate", value="like"))["message"] == "This conversation is not waiting for a rating."
    assert (await ask(visitor, "rate", value="5 stars"))["message"] == "A rating is “like” or “dislike”."
    assert (await ask(visitor, "accept", offer_id=1))["message"] == "Unknown action."
    await visitor.send_to(text_data=json.dumps({"action": "send", "text": 42, "client_id": "abcdefgh"}))
    assert (await next_frame(visitor, "error"))["message"] == "Write a message first."
    await visitor.disconnect()


async def test_decision_0031_a_ping_arriving_while_a_batch_is_being_written_goes_in_the_next_batch(monkeypatch):
    """A due ping that arrives after the batch was taken, while its write runs, is written by the next batch (it
    used to wait on the finished writer, holding its socket's frames, until another console's ping came)."""
    import asyncio
    import threading

    monkeypatch.setattr(console_consumer, "HEARTBEAT_BATCH_SECONDS", 0.01)
    writing, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def write(*, activity, now):
        batches.append(sorted(activity))
        writing.set()
        release.wait(5)
        return {user_id: f"stored {user_id}" for user_id in activity}

    monkeypatch.setattr(console_consumer.operator_services, "operators_heartbeat_while_online", write)
    batch = console_consumer.HeartbeatBatch()
    first = asyncio.ensure_future(batch.refresh(1, None))
    await asyncio.to_thread(writing.wait, 5)
    second = asyncio.ensure_future(batch.refresh(2, None))
    release.set()
    assert await asyncio.wait_for(first, 5) == "stored 1"
    assert await asyncio.wait_for(second, 5) == "stored 2"
    assert batches == [[1], [2]]
