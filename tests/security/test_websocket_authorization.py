"""Authorization sweep over both websocket routes: refused connections, refused actions, no leaked events.

Every websocket route (``contact_center/routing.py``) is listed in :data:`SWEPT_ROUTES`;
a new websocket route without a case here fails the suite. The sockets run
through the real ASGI stack (origin check, session auth, URL routing).
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.utils import timezone

from channels_app.engine import notifications
from channels_app.engine.conversations import message_send_by_operator
from channels_app.livechat.visitors import VISITOR_TOKEN_SALT
from channels_app.models import Notification
from channels_app.web import CLOSE_NOT_ALLOWED
from contact_center.asgi import application
from contact_center.routing import websocket_urlpatterns
from tests.security.conftest import ALICE_SECRET, fingerprint
from tests.sockets import console_communicator, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")
SWEPT_ROUTES = {"ws/console/", "ws/livechat/<str:token>/", "ws/wallboard/"}


def test_every_websocket_route_is_swept():
    assert {str(pattern.pattern) for pattern in websocket_urlpatterns} == SWEPT_ROUTES


async def _refused(communicator: WebsocketCommunicator) -> bool:
    connected, _code = await communicator.connect()
    await communicator.disconnect()
    return not connected


async def _frames_until_quiet(communicator: WebsocketCommunicator, quiet: float = 0.3) -> list[dict]:
    # receive_json_from's timeout would cancel the application; receive_nothing only looks.
    frames = []
    while not await communicator.receive_nothing(timeout=quiet):
        frames.append(await communicator.receive_json_from())
    return frames


async def test_O4_console_socket_refuses_anonymous_non_operators_and_foreign_origins(world):
    before = await database_sync_to_async(fingerprint)()
    anonymous = await console_communicator()
    connected, code = await anonymous.connect()
    assert not connected and code == CLOSE_NOT_ALLOWED
    assert await _refused(await console_communicator(world.nina))
    # Olga's own session cookie, replayed by a script on another site (cross-site websocket hijacking).
    assert await _refused(await console_communicator(world.olga, origin=(b"origin", b"http://evil.example")))
    assert await database_sync_to_async(fingerprint)() == before


async def test_Q13_operator_of_another_channel_can_do_nothing_to_support_conversations(world):
    """Mallory (Sales) tries every console action on Support's conversations: each is refused, nothing changes,
    and she receives none of their events."""
    before = await database_sync_to_async(fingerprint)()
    mallory = await console_communicator(world.mallory)
    connected, _ = await mallory.connect()
    assert connected
    assert (await mallory.receive_json_from())["type"] == "hello"
    attacks = [
        {"action": "accept", "offer_id": world.bob_offer.pk},
        {"action": "decline", "offer_id": world.bob_offer.pk},
        {"action": "send", "conversation_id": world.alice.pk, "text": "Hijacked"},
        {"action": "send_template", "conversation_id": world.alice.pk, "template_id": 1, "parameters": ["Hijacked"]},
        {"action": "close", "conversation_id": world.alice.pk},
        {"action": "transfer", "conversation_id": world.alice.pk, "to_operator_id": world.mallory.pk},
        {"action": "transfer", "conversation_id": world.bob.pk, "to_open_channel_id": world.sales.pk},
        {"action": "typing", "conversation_id": world.alice.pk},
        {"action": "watch", "conversation_id": world.alice.pk},
        {"action": "take", "conversation_id": world.alice.pk},
        {"action": "take", "conversation_id": world.bob.pk},
        {"action": "retry", "message_id": world.alice_reply.pk},
    ]
    for ref, attack in enumerate(attacks, start=1):
        await mallory.send_json_to({**attack, "ref": ref})
        answer = await mallory.receive_json_from(timeout=5)
        assert answer["type"] == "error" and answer["ref"] == ref, (attack, answer)
        assert answer["code"] in (403, 404, 409), (attack, answer)
    assert await database_sync_to_async(fingerprint)() == before

    # Activity in Alice's conversation reaches Olga's groups, never Mallory's socket.
    await database_sync_to_async(message_send_by_operator)(
        conversation_id=world.alice.pk, operator=world.olga, text="Still checking", now=timezone.now()
    )
    leaked = await _frames_until_quiet(mallory)
    assert not [frame for frame in leaked if frame.get("conversation_id") in (world.alice.pk, world.bob.pk)]
    await mallory.disconnect(timeout=10)


async def test_livechat_socket_refuses_bad_and_forged_tokens(world):
    signed = signing.dumps({"c": world.livechat.pk, "v": "alice-visitor-id"}, salt="another-salt")
    forged = world.eve_token.split(":")[0] + ":" + signed.split(":", 1)[1]
    for token in ("not-a-token", forged, signed):
        communicator = WebsocketCommunicator(application, f"/ws/livechat/{token}/", headers=[ORIGIN])
        connected, code = await communicator.connect()
        assert not connected and code == CLOSE_NOT_ALLOWED, token
    # A token signed for another purpose (visitor tokens have their own salt) is refused too.
    assert signing.dumps({"c": world.livechat.pk, "v": "x"}, salt=VISITOR_TOKEN_SALT) != signed


async def test_S1_visitor_with_another_token_never_sees_alices_conversation(world):
    """Eve holds a valid token of the same widget: she sees her own chat only, and cannot rate Alice's."""
    before = await database_sync_to_async(fingerprint)()
    eve = WebsocketCommunicator(application, f"/ws/livechat/{world.eve_token}/", headers=[ORIGIN])
    connected, _ = await eve.connect()
    assert connected
    assert (await eve.receive_json_from())["type"] == "hello"
    attacks = [
        {"action": "rate", "value": "dislike"},
        {"action": "typing"},
        {"action": "read", "message_id": world.alice_reply.pk + 10},  # issue 15.5: not her conversation's
    ]
    for ref, attack in enumerate(attacks, start=1):
        await eve.send_json_to({**attack, "ref": ref})
    answers = await _frames_until_quiet(eve)
    assert [frame["type"] for frame in answers] == ["error", "ack", "ack"]
    assert answers[2]["read"] == 0
    assert await database_sync_to_async(fingerprint)() == before
    await database_sync_to_async(message_send_by_operator)(
        conversation_id=world.alice.pk, operator=world.olga, text="Your refund is on its way", now=timezone.now()
    )
    frames = await _frames_until_quiet(eve)
    assert not [frame for frame in frames if frame["type"] in ("message", "conversation", "typing")]
    assert ALICE_SECRET not in json.dumps(frames) and "refund" not in json.dumps(frames)
    await eve.disconnect(timeout=10)


async def test_hostile_frames_get_an_error_frame_and_leave_the_socket_usable(world):
    """Garbage on an operator's own socket: each frame gets an error, nothing changes, the socket still works."""
    before = await database_sync_to_async(fingerprint)()
    olga = await console_communicator(world.olga)
    assert (await olga.connect())[0]
    await olga.receive_json_from()
    hostile = [
        "not json",
        "[1, 2, 3]",
        "null",
        json.dumps({"action": "__init__"}),
        json.dumps({"action": "send", "conversation_id": True, "text": "x"}),
        json.dumps({"action": "send", "conversation_id": -1, "text": "x"}),
        json.dumps({"action": "send", "conversation_id": 2**70, "text": "x"}),
        json.dumps({"action": "send", "conversation_id": world.alice.pk, "text": ["a list"]}),
        json.dumps({"action": "send", "conversation_id": world.alice.pk, "text": "   "}),
        json.dumps({"action": "accept", "offer_id": "1 OR 1=1"}),
        json.dumps({"action": "send", "conversation_id": world.alice.pk, "text": "x" * 70_000}),
        json.dumps({"action": "send_template", "conversation_id": world.alice.pk, "template_id": 1, "parameters": {}}),
        json.dumps({"action": "send_template", "conversation_id": world.alice.pk, "template_id": 1, "parameters": [1]}),
        json.dumps({"action": "send_template", "conversation_id": world.alice.pk, "template_id": "1"}),
        json.dumps(
            {"action": "send_template", "conversation_id": world.alice.pk, "template_id": 1, "parameters": ["x"] * 500}
        ),
        "{" * 50_000,
    ]
    for frame in hostile:
        await olga.send_to(text_data=frame)
        answer = await olga.receive_json_from(timeout=5)
        assert answer["type"] == "error", (frame[:60], answer)
    assert await database_sync_to_async(fingerprint)() == before
    await olga.send_json_to({"action": "heartbeat", "active": True})
    assert (await olga.receive_json_from(timeout=5))["type"] == "pong"
    await olga.disconnect(timeout=10)


async def test_O4_wallboard_socket_refuses_anonymous_operators_and_foreign_origins(world):
    """The wallboard is the KPI pages' (tests/kpi/test_wallboard.py has the supervisors' side)."""
    for user, origin in ((None, ORIGIN), (world.olga, ORIGIN), (world.mallory, ORIGIN)):
        headers = [origin]
        if user is not None:
            headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
        assert await _refused(WebsocketCommunicator(application, "/ws/wallboard/", headers=headers))


async def test_a_notification_event_reaches_its_recipients_consoles_only(world):
    """Issue 15: ``notification.created`` goes to the recipient's own group; another operator's console and the
    client's widget never receive it (its text may quote the conversation)."""
    olga = await console_communicator(world.olga)
    mallory = await console_communicator(world.mallory)
    widget = WebsocketCommunicator(application, f"/ws/livechat/{world.alice_token}/", headers=[ORIGIN])
    for communicator in (olga, mallory, widget):
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from())["type"] == "hello"
    await _frames_until_quiet(olga)
    await _frames_until_quiet(widget)

    await database_sync_to_async(_notify_olga)(world)

    olga_frames = await _frames_until_quiet(olga)
    assert [frame["notification"]["text"] for frame in olga_frames if frame["type"] == "notification.created"] == [
        "Alice's refund: check the 4242 card"
    ]
    for other in (mallory, widget):
        frames = await _frames_until_quiet(other)
        assert "notification" not in json.dumps(frames) and "4242" not in json.dumps(frames)
    for communicator in (olga, mallory, widget):
        await communicator.disconnect(timeout=10)


def _notify_olga(world) -> None:
    notifications.notify(
        recipient_ids=[world.olga.pk],
        kind=Notification.Kind.MENTION,
        conversation_id=world.alice.pk,
        text="Alice's refund: check the 4242 card",
        now=timezone.now(),
    )
