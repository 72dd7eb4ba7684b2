"""The wallboard's websocket (``/ws/wallboard/[?open_channel=<id>]``): a live snapshot for supervisors.

The engine sends a content-free ``wallboard.changed`` nudge to ``wallboard.<open channel id>`` after every commit
that changes what a wallboard shows (:func:`channels_app.engine.events.nudge_wallboards`); this socket then
re-reads the snapshot (:func:`kpi.wallboard.snapshot`) and sends it whole. Nudges that arrive together give one
snapshot, so a burst of routing costs a handful of reads, not one per event. A slow re-read every
``BACKSTOP_SECONDS`` catches what changes with time alone (a heartbeat going stale, a leave starting).

Access is the KPI pages': the ``kpi.view_kpi`` permission and the channels the user supervises. An
``access.changed`` event (a supervisor removed from a channel) makes the socket re-check at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.utils import timezone

from channels_app.engine import events, instruments
from kpi.wallboard import snapshot, wallboard_channels

CLOSE_NOT_ALLOWED = 4403
CLOSE_BAD_REQUEST = 4400
# Nudges within this window share one snapshot: well inside the one second a supervisor should wait.
REFRESH_DELAY_SECONDS = 0.2
BACKSTOP_SECONDS = 30


class WallboardConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        self.groups_joined: set[str] = set()
        self.refresh_task: asyncio.Task | None = None
        self.backstop_task: asyncio.Task | None = None
        try:
            self.open_channel_id = _channel_filter(self.scope.get("query_string", b""))
        except ValueError:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        channel_ids = await database_sync_to_async(self._channel_ids)()
        if not channel_ids:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        await self.accept()
        self.counted = True
        instruments.websockets_connected.labels(kind="wallboard").inc()
        await self._follow(channel_ids)
        await self._join(events.operator_group(self.user.pk))
        await self._send_snapshot()
        self.backstop_task = asyncio.create_task(self._backstop())

    async def disconnect(self, code):
        if getattr(self, "counted", False):
            self.counted = False
            instruments.websockets_connected.labels(kind="wallboard").dec()
        for task in (self.refresh_task, self.backstop_task):
            if task is not None:
                task.cancel()
        for group in list(self.groups_joined):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined.clear()

    async def receive_json(self, content, **kwargs):
        # The wallboard only listens; its actions go through the REST API (kpi.api) like any form.
        await self.send_json({"type": "error", "message": "The wallboard socket takes no actions."})

    async def event_forward(self, message):
        kind = message["event"].get("type")
        if kind == "access.changed":
            channel_ids = await database_sync_to_async(self._channel_ids)()
            if not channel_ids:
                await self.close(code=CLOSE_NOT_ALLOWED)
                return
            await self._follow(channel_ids)
            self._schedule_refresh()
        elif kind == "wallboard.changed":
            self._schedule_refresh()
        # Anything else reaching the supervisor's own operator group is the console's business.

    # --- helpers ---

    def _channel_ids(self) -> list[int]:
        user_id = getattr(self.user, "pk", None)
        user = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
        if user is None:
            return []
        self.user = user
        return [channel.pk for channel in wallboard_channels(user, self.open_channel_id)]

    async def _join(self, group: str) -> None:
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def _follow(self, channel_ids: list[int]) -> None:
        wanted = {events.wallboard_group(pk) for pk in channel_ids}
        current = {group for group in self.groups_joined if group.startswith("wallboard.")}
        for group in current - wanted:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.groups_joined.discard(group)
        for group in wanted - current:
            await self._join(group)

    def _schedule_refresh(self) -> None:
        if self.refresh_task is None or self.refresh_task.done():
            self.refresh_task = asyncio.create_task(self._refresh_soon())

    async def _refresh_soon(self) -> None:
        await asyncio.sleep(REFRESH_DELAY_SECONDS)
        await self._send_snapshot()

    async def _backstop(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(BACKSTOP_SECONDS)
                self._schedule_refresh()

    async def _send_snapshot(self) -> None:
        board = await database_sync_to_async(self._read_snapshot)()
        await self.send_json({"type": "wallboard", **board})

    def _read_snapshot(self) -> dict:
        return snapshot(wallboard_channels(self.user, self.open_channel_id), timezone.now())


def _channel_filter(query_string: bytes) -> int | None:
    """``?open_channel=<id>``: one channel; absent: all the user's channels. Anything else is a ValueError."""
    values = parse_qs(query_string.decode("latin-1")).get("open_channel")
    if not values:
        return None
    value = values[-1]
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(value)
    return int(value)
