"""KPI personas: the Support channel with targets on, Sam the supervisor who is notified, and a chat helper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group

from channels_app.models import ConversationStatus, Message
from tests.factories import ClientFactory, ConversationFactory, UserFactory

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # Monday 10:00 UTC


def minutes(value: float) -> datetime:
    return T0 + timedelta(minutes=value)


@pytest.fixture
def supervisor(db):
    """Sam, in the Supervisors group (kpi.view_kpi), notified about misses."""
    sam = UserFactory(username="sam", first_name="Sam", last_name="Supervisor")
    sam.groups.add(Group.objects.get(name="Supervisors"))
    return sam


@pytest.fixture
def kpi_channel(open_channel, supervisor):
    """Support: initial target 3 min, subsequent 5 min, supervised by Sam, who is notified."""
    open_channel.kpi_initial_enabled = True
    open_channel.kpi_initial_target_seconds = 180
    open_channel.kpi_subsequent_enabled = True
    open_channel.kpi_subsequent_target_seconds = 300
    open_channel.kpi_miss_template = "#OPERATOR# missed the target in #DIALOG#."
    open_channel.save()
    open_channel.kpi_notify_users.add(supervisor)
    open_channel.supervisors.add(supervisor)
    return open_channel


class Chat:
    """Writes a conversation's messages the way the services store them."""

    def __init__(self, conversation):
        self.conversation = conversation

    def client(self, at: datetime, text: str = "Hello?") -> Message:
        return self._message(Message.Author.CLIENT, None, at, text)

    def operator(self, user, at: datetime, text: str = "Hi, how can I help?") -> Message:
        return self._message(Message.Author.OPERATOR, user, at, text)

    def system(self, at: datetime, text: str = "Thank you for contacting us.") -> Message:
        return self._message(Message.Author.SYSTEM, None, at, text)

    def _message(self, kind, user, at, text) -> Message:
        return Message.objects.create(
            conversation=self.conversation,
            connector=self.conversation.connector,
            author_kind=kind,
            author=user,
            text=text,
            created_at=at,
        )


@pytest.fixture
def start_chat(kpi_channel):
    def _start(operator=None, *, channel=None, created_at=T0, status=ConversationStatus.ACTIVE) -> Chat:
        channel = channel or kpi_channel
        connector = channel.connectors.first()
        conversation = ConversationFactory(
            client=ClientFactory(connector=connector),
            created_at=created_at,
            status=status if operator else ConversationStatus.QUEUED,
            operator=operator,
            first_operator=operator,
        )
        return Chat(conversation)

    return _start
