"""The supervisor's live view (issue 18): the wallboard's snapshot and socket, the supervisor's actions, notes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY

from channels_app.engine.inbound import message_receive
from channels_app.engine.transcripts import transcript_text
from channels_app.models import (
    ClientRating,
    Conversation,
    ConversationNote,
    ConversationStatus,
    Message,
    Offer,
    OperatorProfile,
    StatusChange,
)
from contact_center.asgi import application
from kpi.wallboard import snapshot, wallboard_channels
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
    UserFactory,
)
from tests.security.conftest import fingerprint
from tests.sockets import ORIGIN, connected_console, session_cookie

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _supervisor(username: str, channel):
    user = UserFactory(username=username, first_name=username.title())
    user.groups.add(Group.objects.get(name="Supervisors"))
    channel.supervisors.add(user)
    return user


def _team(now):
    support = OpenChannelFactory(name="Support", welcome_enabled=False, chat_limit_enabled=True, chat_limit=3)
    sales = OpenChannelFactory(name="Sales", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    piotr = OperatorFactory(username="piotr", first_name="Piotr")
    QueueMemberFactory(open_channel=support, operator=olga, position=0)
    QueueMemberFactory(open_channel=support, operator=piotr, position=1)
    OperatorProfile.objects.filter(user=olga).update(is_online=True, console_heartbeat_at=now, last_activity_at=now)
    OperatorProfile.objects.filter(user=piotr).update(
        is_online=False, console_heartbeat_at=None, clocked_in=True, on_break=True
    )
    livechat = ConnectorFactory(open_channel=support, kind="livechat", name="Support website")
    sales_chat = ConnectorFactory(open_channel=sales, kind="livechat", name="Sales website")

    def conversation(name, connector=livechat, **fields):
        client = ClientFactory(connector=connector, name=name, external_id=name.lower())
        return ConversationFactory(client=client, created_at=now - timedelta(minutes=5), **fields)

    waiting = conversation("Wanda", status=ConversationStatus.QUEUED, queued_at=now - timedelta(seconds=90))
    offered = conversation("Oskar", status=ConversationStatus.OFFERED, queued_at=now - timedelta(seconds=30))
    offer = Offer.objects.create(
        conversation=offered, operator=olga, created_at=now, expires_at=now + timedelta(seconds=60)
    )
    held = conversation("Hanna", status=ConversationStatus.ACTIVE, operator=olga, assigned_at=now)
    StatusChange.objects.create(conversation=held, at=now, from_status="offered", to_status="active", operator=olga)
    sales_waiting = conversation(
        "Sven", connector=sales_chat, status=ConversationStatus.QUEUED, queued_at=now - timedelta(seconds=10)
    )
    return SimpleNamespace(
        support=support,
        sales=sales,
        olga=olga,
        piotr=piotr,
        livechat=livechat,
        waiting=waiting,
        offered=offered,
        offer=offer,
        held=held,
        sales_waiting=sales_waiting,
        rita=_supervisor("rita", support),
        sam=_supervisor("sam", sales),
    )


@pytest.fixture
def team(db):
    return _team(timezone.now())


# --- the snapshot ------------------------------------------------------------------------------------------


def test_snapshot_shows_the_queue_offers_holders_and_operators(team):
    now = timezone.now()
    board = snapshot(wallboard_channels(team.rita), now)
    (support,) = board["channels"]
    assert support["name"] == "Support"
    assert support["waiting"][0]["source"] == "livechat"
    assert [row["conversation_id"] for row in support["waiting"]] == [team.waiting.pk, team.offered.pk]
    assert support["longest_waiting_since"] == team.waiting.queued_at.isoformat()
    assert support["waiting"][1]["offers"] == [
        {"operator_id": team.olga.pk, "operator_name": "Olga", "expires_at": team.offer.expires_at.isoformat()}
    ]
    assert [(row["conversation_id"], row["operator_name"]) for row in support["held"]] == [(team.held.pk, "Olga")]
    operators = {row["name"]: row for row in support["operators"]}
    # Olga holds one conversation and has one pending offer: both count toward the limit of 3 (Q8).
    assert (operators["Olga"]["presence"], operators["Olga"]["load"], operators["Olga"]["limit"]) == ("online", 2, 3)
    assert operators["Olga"]["today"] == 1
    assert (operators["Piotr"]["presence"], operators["Piotr"]["load"]) == ("break", 0)
    # Nothing of Sales, which Rita does not supervise.
    assert "Sven" not in str(board)


def test_snapshot_costs_the_same_queries_for_one_channel_or_many(team):
    now = timezone.now()
    with CaptureQueriesContext(connection) as one:
        snapshot([team.support], now)
    administrator = UserFactory(username="ada", is_superuser=True)
    for index in range(3):
        extra = OpenChannelFactory(name=f"Extra {index}")
        for position in range(3):
            QueueMemberFactory(open_channel=extra, operator=OperatorFactory(), position=position)
    channels = wallboard_channels(administrator)
    assert len(channels) == 5
    with CaptureQueriesContext(connection) as many:
        snapshot(channels, now)
    assert len(many) == len(one)


def test_today_is_the_channels_local_day(db):
    """Ho Chi Minh City is UTC+7: at 01:00 local on 2 March, 'today' began at 17:00 UTC on 1 March."""
    channel = OpenChannelFactory(name="Hà Nội", time_zone="Asia/Ho_Chi_Minh")
    connector = ConnectorFactory(open_channel=channel, kind="livechat")
    now = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
    before_midnight = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 23:30 local on 1 March
    after_midnight = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)  # 00:30 local on 2 March
    for index, moment in enumerate((before_midnight, after_midnight)):
        conversation = ConversationFactory(
            client=ClientFactory(connector=connector, external_id=f"c{index}"),
            status=ConversationStatus.CLOSED,
            created_at=moment,
            is_unprocessed=True,
            unprocessed_at=moment,
        )
        ClientRating.objects.create(conversation=conversation, value="dislike", rated_at=moment)
    (board,) = snapshot([channel], now)["channels"]
    assert board["today"]["since"] == "2026-03-02T00:00:00+07:00"
    assert (board["today"]["conversations"], board["today"]["missed"], board["today"]["dislikes"]) == (1, 1, 1)


# --- the supervisor's actions ------------------------------------------------------------------------------


def _http(user) -> HttpClient:
    client = HttpClient()
    client.force_login(user)
    return client


def _post(user, name: str, conversation, data=None):
    return _http(user).post(
        reverse(f"supervisor-api:{name}", args=[conversation.pk]), data or {}, content_type="application/json"
    )


def test_take_over_gives_the_conversation_to_the_supervisor_and_records_who(team):
    response = _post(team.rita, "take-over", team.held)
    assert response.status_code == 200, response.content
    assert response.json()["console_url"] == f"/console/#conversation={team.held.pk}"
    team.held.refresh_from_db()
    assert (team.held.status, team.held.operator_id) == (ConversationStatus.ACTIVE, team.rita.pk)
    change = StatusChange.objects.filter(conversation=team.held).latest("at", "id")
    assert (change.actor_id, change.operator_id, change.reason) == (team.rita.pk, team.rita.pk, "taken over by rita")
    # She answers it in the console, which now opens for her.
    assert _http(team.rita).get(reverse("console")).status_code == 200


def test_take_over_of_a_waiting_conversation_withdraws_its_offers(team):
    assert _post(team.rita, "take-over", team.offered).status_code == 200
    team.offer.refresh_from_db()
    assert team.offer.status == Offer.Status.WITHDRAWN
    assert Conversation.objects.get(pk=team.offered.pk).operator_id == team.rita.pk


def test_Q13_reassign_to_an_offline_operator_is_refused_with_the_reason(team):
    """A supervisor's reassign follows the transfer rule (issue 16): nobody is handed a chat they cannot answer."""
    OperatorProfile.objects.filter(user=team.piotr).update(on_break=False)
    before = fingerprint()
    response = _post(team.rita, "reassign", team.held, {"to_operator_id": team.piotr.pk})
    assert (response.status_code, response.json()["detail"]) == (409, "Piotr is offline.")
    assert fingerprint() == before


def test_reassign_to_an_operator_of_the_queue(team):
    now = timezone.now()
    OperatorProfile.objects.filter(user=team.piotr).update(
        on_break=False, is_online=True, console_heartbeat_at=now, last_activity_at=now
    )
    response = _post(team.rita, "reassign", team.held, {"to_operator_id": team.piotr.pk})
    assert response.status_code == 200, response.content
    team.held.refresh_from_db()
    assert team.held.operator_id == team.piotr.pk
    change = StatusChange.objects.filter(conversation=team.held).latest("at", "id")
    assert (change.actor_id, change.reason) == (team.rita.pk, "transferred by rita")


def test_reassign_back_to_the_queue_routes_it_again(team, django_capture_on_commit_callbacks):
    # Already waiting: a clear refusal, nothing changes.
    before = fingerprint()
    refused = _post(team.rita, "reassign", team.waiting, {"to_queue": True})
    assert (refused.status_code, refused.json()["detail"]) == (409, "The conversation is already waiting in the queue.")
    assert fingerprint() == before

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(team.rita, "reassign", team.held, {"to_queue": True})
    assert response.status_code == 200, response.content
    team.held.refresh_from_db()
    assert team.held.status in (ConversationStatus.QUEUED, ConversationStatus.OFFERED)
    queued = StatusChange.objects.get(conversation=team.held, to_status=ConversationStatus.QUEUED)
    assert (queued.actor_id, queued.operator_id, queued.reason) == (team.rita.pk, None, "returned to the queue by rita")
    assert team.held.routing_decisions.filter(trigger="supervisor").exists()


def test_close_by_a_supervisor(team):
    response = _post(team.rita, "close", team.held)
    assert response.status_code == 200, response.content
    team.held.refresh_from_db()
    assert team.held.status in (ConversationStatus.CLOSED, ConversationStatus.CLOSED_PENDING_RATING)
    change = StatusChange.objects.filter(conversation=team.held).latest("at", "id")
    assert change.actor_id == team.rita.pk


def test_a_note_is_kept_for_staff_and_never_becomes_a_message(team):
    messages_before = Message.objects.count()
    response = _post(team.rita, "notes", team.held, {"text": "  Offer her the 10% voucher.  "})
    assert response.status_code == 201, response.content
    note = ConversationNote.objects.get()
    assert (note.conversation_id, note.author_id, note.text) == (
        team.held.pk,
        team.rita.pk,
        "Offer her the 10% voucher.",
    )
    assert Message.objects.count() == messages_before
    assert "voucher" not in transcript_text(team.held)[1]
    # Olga, who holds it, reads it in the console.
    detail = _http(team.olga).get(reverse("api-conversation", args=[team.held.pk])).json()
    assert [(n["author_name"], n["text"]) for n in detail["notes"]] == [("Rita", "Offer her the 10% voucher.")]


@pytest.mark.parametrize(
    "name, data",
    [
        ("take-over", {}),
        ("reassign", {"to_queue": True}),
        ("close", {}),
        ("notes", {"text": "Sales note"}),
    ],
)
def test_actions_are_refused_outside_ones_channels(team, name, data):
    """Sam supervises Sales: Support's conversations do not exist for him; Olga operates but supervises nothing;
    nobody signed in is refused."""
    before = fingerprint()
    assert _post(team.sam, name, team.held, data).status_code == 404
    assert _post(team.olga, name, team.held, data).status_code == 403
    anonymous = HttpClient().post(
        reverse(f"supervisor-api:{name}", args=[team.held.pk]), data, content_type="application/json"
    )
    assert anonymous.status_code == 403
    assert _post(team.sam, name, SimpleNamespace(pk=999_999), data).status_code == 404
    assert fingerprint() == before


@pytest.mark.parametrize(
    "name, data, status",
    [
        ("reassign", {}, 400),
        ("reassign", {"to_queue": True, "to_operator_id": 1}, 400),
        ("reassign", {"to_operator_id": "olga"}, 400),
        ("reassign", {"to_operator_id": -3}, 400),
        ("reassign", {"to_operator_id": 999_999}, 404),
        ("notes", {}, 400),
        ("notes", {"text": "   "}, 400),
        ("notes", {"text": "x" * 4001}, 400),
        ("notes", {"text": ["a", "b"]}, 400),
    ],
)
def test_bad_input_is_a_4xx_that_changes_nothing(team, name, data, status):
    before = fingerprint()
    response = _post(team.rita, name, team.held, data)
    assert response.status_code == status, response.content
    assert fingerprint() == before


def test_reassign_to_someone_outside_the_queue_is_refused(team):
    stranger = OperatorFactory(username="stranger")
    before = fingerprint()
    response = _post(team.rita, "reassign", team.held, {"to_operator_id": stranger.pk})
    assert response.status_code == 403
    assert "is not in the queue" in response.json()["detail"]
    assert fingerprint() == before


# --- the socket ----------------------------------------------------------------------------------------------


async def _wallboard(user, query: str = "") -> WebsocketCommunicator:
    headers = [ORIGIN]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(application, f"/ws/wallboard/{query}", headers=headers)


async def _next_board(communicator: WebsocketCommunicator, timeout: float = 5) -> dict:
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == "wallboard":
            return frame


@pytest.mark.django_db(transaction=True)
async def test_wallboard_socket_is_live_and_scoped(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    world = await database_sync_to_async(_team)(timezone.now())
    rita, sam = await _wallboard(world.rita), await _wallboard(world.sam)
    assert (await rita.connect())[0] and (await sam.connect())[0]
    # Each open wallboard counts in /metrics (contact_center_websockets_connected{kind="wallboard"}).
    assert REGISTRY.get_sample_value("contact_center_websockets_connected", {"kind": "wallboard"}) >= 2
    first = await _next_board(rita)
    assert [channel["name"] for channel in first["channels"]] == ["Support"]
    assert len(first["channels"][0]["waiting"]) == 2
    assert [channel["name"] for channel in (await _next_board(sam))["channels"]] == ["Sales"]

    await database_sync_to_async(message_receive)(
        connector=world.livechat, external_user_id="zofia", text="Is anyone there?", source_message_id=None,
        now=timezone.now(), client_name="Zofia",
    )  # fmt: skip
    board = await _next_board(rita)
    waiting = board["channels"][0]["waiting"]
    assert "Zofia" in [row["client_name"] for row in waiting]
    # Sam's board (Sales) was not nudged by Support's traffic.
    assert await sam.receive_nothing(timeout=0.6)
    await rita.disconnect()
    await sam.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_wallboard_socket_refuses_whom_the_kpi_pages_refuse():
    world = await database_sync_to_async(_team)(timezone.now())
    for user, query, code in [
        (None, "", 4403),
        (world.olga, "", 4403),  # an operator, without the KPI permission
        (world.rita, f"?open_channel={world.sales.pk}", 4403),  # a channel she does not supervise
        (world.rita, "?open_channel=abc", 4400),
        (world.rita, "?open_channel=0", 4400),
    ]:
        communicator = await _wallboard(user, query)
        connected, close_code = await communicator.connect()
        await communicator.disconnect()  # ends the application's task, or the event loop waits for it at teardown
        assert (connected, close_code) == (False, code), (user, query)


@pytest.mark.django_db(transaction=True)
async def test_a_note_reaches_the_holders_console_and_never_the_widget(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    world = await database_sync_to_async(_team)(timezone.now())
    console = await connected_console(world.olga)
    answer = await _ask_watch(console, world.held.pk)
    assert answer["type"] == "ack"
    response = await database_sync_to_async(_post)(world.rita, "notes", world.held, {"text": "Call her back"})
    assert response.status_code == 201
    frame = await _next_of(console, "note.created")
    assert (frame["conversation_id"], frame["note"]["text"]) == (world.held.pk, "Call her back")
    await console.disconnect()


async def _ask_watch(console, conversation_id):
    await console.send_json_to({"action": "watch", "conversation_id": conversation_id, "ref": "w"})
    while True:
        frame = await console.receive_json_from(timeout=10)
        if frame.get("ref") == "w":
            return frame


async def _next_of(communicator, kind: str) -> dict:
    while True:
        frame = await communicator.receive_json_from(timeout=10)
        if frame["type"] == kind:
            return frame


def test_notes_go_to_the_staff_group_not_the_conversation_group(team, monkeypatch):
    """The client's widget joins ``conversation.<id>``; a note is never published there."""
    from channels_app.engine import events

    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(events, "publish", lambda groups, event: sent.append((list(groups), event)))
    assert _post(team.rita, "notes", team.held, {"text": "internal"}).status_code == 201
    ((groups, _event),) = [(g, e) for g, e in sent if e["type"] == "note.created"]
    assert events.conversation_group(team.held.pk) not in groups
    assert groups == [events.conversation_staff_group(team.held.pk), events.operator_group(team.olga.pk)]


def test_the_conversation_page_shows_the_notes_and_the_actions(team):
    assert _post(team.rita, "notes", team.held, {"text": "Ask for the invoice number."}).status_code == 201
    page = _http(team.rita).get(reverse("kpi:conversation", args=[team.held.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Ask for the invoice number." in html and "Take over" in html
    # Piotr may be given the conversation (on a break, load 0); Olga holds it and is not offered it again.
    options = page.context["reassign_operators"]
    assert [(o["name"], o["presence_label"], o["load"]) for o in options] == [("Piotr", "On a break", 0)]


def test_issue_21_the_snapshot_names_the_sources_that_are_not_answering(team):
    since = timezone.now() - timedelta(minutes=3)
    ConnectorFactory(open_channel=team.support, kind="telegram", account_id="support-bot-21")
    down = ConnectorFactory(open_channel=team.support, kind="zalo", account_id="oa-21")
    down.reachability, down.unreachable_since = "unreachable", since
    down.save()
    (support,) = snapshot(wallboard_channels(team.rita), timezone.now())["channels"]
    assert support["unreachable_sources"] == [{"source": "Zalo", "since": since.isoformat()}]
    (sales,) = snapshot([team.sales], timezone.now())["channels"]
    assert sales["unreachable_sources"] == []
