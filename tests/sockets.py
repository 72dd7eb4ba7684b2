"""What the tests that open the product's websockets in-process share (channels' ``WebsocketCommunicator``)."""

from __future__ import annotations

import uuid

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client as HttpClient

from contact_center.asgi import application

ORIGIN = (b"origin", b"http://testserver")


def session_cookie(user) -> bytes:
    """The ``cookie`` header of a new signed-in session of ``user`` (it writes the session: call it in sync code)."""
    http = HttpClient()
    http.force_login(user)
    return f"sessionid={http.cookies['sessionid'].value}".encode()


async def console_communicator(user=None, *, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    """A console socket, not connected yet, of ``user`` (anonymous when ``None``)."""
    headers = [origin]
    if user is not None:
        headers.append((b"cookie", await database_sync_to_async(session_cookie)(user)))
    return WebsocketCommunicator(application, "/ws/console/", headers=headers)


async def connected_console(user) -> WebsocketCommunicator:
    """A console socket of ``user``, connected, its ``hello`` frame read."""
    communicator = await console_communicator(user)
    connected, _code = await communicator.connect(timeout=15)
    assert connected
    assert (await communicator.receive_json_from(timeout=15))["type"] == "hello"
    return communicator


async def ask(communicator: WebsocketCommunicator, action: str, **payload) -> dict:
    """Send an action with a ref; return its ack or error frame (events in between are skipped)."""
    ref = uuid.uuid4().hex[:8]
    await communicator.send_json_to({"action": action, "ref": ref, **payload})
    while True:
        frame = await communicator.receive_json_from(timeout=15)
        if frame.get("ref") == ref:
            return frame
