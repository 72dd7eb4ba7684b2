"""Fixtures and helpers shared by the distribution-engine tests (imported with ``from ... import *``).

Time is frozen at :data:`NOW` (a Monday, 10:00 UTC) with time-machine and moved
with ``clock.shift(...)``; services get ``clock.now()``. Events go to an
in-memory channel layer so tests can read what a console would receive.
After-commit work (routing, instant redistribution, events, signals) runs
through ``engine.commit(...)``, which executes the on-commit callbacks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from channels_app.engine import events, inbound, queue
from channels_app.models import Conversation, Message, OperatorProfile, RoutingDecision
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

__all__ = ["NOW", "Engine", "clock", "engine", "make_channel", "make_operator", "set_profile"]


class Clock:
    def __init__(self, traveller) -> None:
        self._traveller = traveller

    def now(self) -> datetime:
        return timezone.now()

    def shift(self, delta: timedelta) -> datetime:
        self._traveller.shift(delta)
        return self.now()


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield Clock(traveller)


class Engine:
    def __init__(self, capture, clock: Clock) -> None:
        self._capture = capture
        self.clock = clock
        self.openings: list[tuple[int, datetime]] = []
        self._visitors = 0

    def commit(self, service, **kwargs):
        """Call a service and run what it scheduled after commit, as in production."""
        kwargs.setdefault("now", self.clock.now())
        with self._capture(execute=True):
            return service(**kwargs)

    def receive(self, channel, visitor: str | None = None, text: str = "Hello", **kwargs) -> Conversation:
        if visitor is None:
            self._visitors += 1
            visitor = f"visitor-{self._visitors}"
        result = self.commit(
            inbound.message_receive,
            connector=channel.connectors.get(),
            external_user_id=visitor,
            text=text,
            source_message_id=kwargs.pop("source_message_id", None),
            **kwargs,
        )
        result.conversation.refresh_from_db()
        return result.conversation

    def route(self, conversation, trigger: str = "test") -> RoutingDecision | None:
        return self.commit(queue.conversation_route, conversation_id=conversation.pk, trigger=trigger)

    def events(self, group: str | None = None, type: str | None = None) -> list[dict]:
        """Events sent after commit so far, optionally only those to ``group`` and of ``type``."""
        return [
            event
            for sent_group, event in self.sent
            if (group is None or sent_group == group) and (type is None or event["type"] == type)
        ]


@pytest.fixture
def engine(settings, django_capture_on_commit_callbacks, clock, monkeypatch):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    helper = Engine(django_capture_on_commit_callbacks, clock)
    helper.sent = []
    real_deliver = events.deliver

    def recording_deliver(items):
        helper.sent.extend(items)
        real_deliver(items)

    monkeypatch.setattr(events, "deliver", recording_deliver)
    # Celery is not running in tests: record the hours-opening task instead of queueing it.
    monkeypatch.setattr(
        queue,
        "schedule_opening_redistribution",
        lambda channel_id, opening: helper.openings.append((channel_id, opening)),
    )
    return helper


def make_operator(username: str, **profile) -> object:
    """An operator, online and clocked in unless ``profile`` says otherwise (OperatorFactory defaults)."""
    return OperatorFactory(username=username, **{f"profile__{key}": value for key, value in profile.items()})


def set_profile(user, **fields) -> None:
    OperatorProfile.objects.filter(user=user).update(**fields)


def make_channel(operators, connector_kind: str = "livechat", **settings) -> object:
    channel = OpenChannelFactory(**settings)
    for position, operator in enumerate(operators):
        QueueMemberFactory(open_channel=channel, operator=operator, position=position)
    ConnectorFactory(open_channel=channel, kind=connector_kind)
    return channel


def system_keys(conversation) -> list[str]:
    return list(
        Message.objects.filter(conversation=conversation, author_kind=Message.Author.SYSTEM)
        .order_by("id")
        .values_list("system_key", flat=True)
    )


__all__ += ["system_keys"]
