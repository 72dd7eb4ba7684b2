"""Deeply nested JSON (issue 13): a 400 from every REST endpoint that reads a body, an error frame on both
sockets (which stay usable), never a 500 or a crash, and nothing changed.

Python's parser raises RecursionError a thousand levels down, and a few hundred levels that it does parse can
still raise it later, when the value is stored or serialised; ``channels_app.web.MAX_JSON_DEPTH`` refuses both.
The webhooks are covered in ``tests/channels_app/connectors/test_webhook_hardening.py``.
"""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client as HttpClient

from channels_app.web import JSON_TOO_DEEP, MAX_JSON_DEPTH
from contact_center.asgi import application
from tests.security.conftest import fingerprint

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://testserver")


def nested(depth: int, **fields) -> str:
    """A JSON object with ``fields`` and a "padding" field of ``depth`` nested arrays."""
    opening = json.dumps(fields)[:-1] + (", " if fields else "")
    return opening + '"padding": ' + "[" * depth + "]" * depth + "}"


# 5000: RecursionError in the parser itself; 700: parsed, but deeper than the limit.
DEPTHS = [5000, 700]


def _api_calls(world) -> list[tuple[HttpClient, str, dict, dict]]:
    olga = HttpClient()
    olga.force_login(world.olga)
    bot = {"Authorization": f"Bearer {world.helpdesk_bot.api_token}"}
    return [
        (olga, "/api/console/status/", {"action": "clock_out"}, {}),
        (HttpClient(), f"/api/livechat/{world.alice_token}/transcript/", {"email": "alice@example.com"}, {}),
        (HttpClient(), f"/api/bots/conversations/{world.carol.pk}/messages/", {"text": "Hi"}, bot),
        (HttpClient(), f"/api/bots/conversations/{world.carol.pk}/handover/", {"reason": "asked"}, bot),
        (HttpClient(), f"/api/livechat/{world.alice_token}/details/", {"name": "Alice"}, {}),
        (HttpClient(), f"/api/livechat/{world.alice_token}/offline/", {"email": "a@example.com", "message": "Hi"}, {}),
    ]


@pytest.mark.parametrize("depth", DEPTHS)
def test_every_api_body_nested_too_deeply_is_400_and_changes_nothing(world, depth):
    before = fingerprint()
    for http, path, fields, headers in _api_calls(world):
        response = http.post(path, nested(depth, **fields), content_type="application/json", headers=headers)
        assert response.status_code == 400, (path, response.status_code, response.content[:200])
        assert JSON_TOO_DEEP in response.content.decode(), path
    assert fingerprint() == before


def test_an_api_body_within_the_limit_is_read_as_before(world):
    """The limit leaves ordinary bodies alone: the bot's reply, nested a little, is stored."""
    http, path, fields, headers = _api_calls(world)[2]
    response = http.post(path, nested(MAX_JSON_DEPTH - 1, **fields), content_type="application/json", headers=headers)
    assert response.status_code in (200, 201), response.content


async def _answer_to(socket: WebsocketCommunicator, frame: str) -> dict:
    await socket.send_to(text_data=frame)
    return await socket.receive_json_from(timeout=5)


@pytest.mark.parametrize("depth", [5000, 700])
async def test_a_deeply_nested_console_frame_gets_an_error_frame_and_the_socket_keeps_working(world, depth):
    before = await database_sync_to_async(fingerprint)()
    olga_http = HttpClient()
    await database_sync_to_async(olga_http.force_login)(world.olga)
    cookie = (b"cookie", f"sessionid={olga_http.cookies['sessionid'].value}".encode())
    socket = WebsocketCommunicator(application, "/ws/console/", headers=[ORIGIN, cookie])
    assert (await socket.connect())[0]
    await socket.receive_json_from()  # hello
    answer = await _answer_to(socket, nested(depth, action="send", conversation_id=world.alice.pk, text="x"))
    assert answer == {"type": "error", "message": JSON_TOO_DEEP}
    assert (await _answer_to(socket, json.dumps({"action": "heartbeat", "active": True})))["type"] == "pong"
    assert await database_sync_to_async(fingerprint)() == before
    await socket.disconnect(timeout=10)


@pytest.mark.parametrize("depth", [5000, 700])
async def test_a_deeply_nested_widget_frame_gets_an_error_frame_and_the_socket_keeps_working(world, depth):
    before = await database_sync_to_async(fingerprint)()
    socket = WebsocketCommunicator(application, f"/ws/livechat/{world.alice_token}/", headers=[ORIGIN])
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["type"] == "hello"
    answer = await _answer_to(socket, nested(depth, action="send", client_id="deep-1", text="x"))
    assert answer == {"type": "error", "message": JSON_TOO_DEEP}
    assert (await _answer_to(socket, json.dumps({"action": "heartbeat"})))["type"] == "pong"
    assert await database_sync_to_async(fingerprint)() == before
    await socket.disconnect(timeout=10)
