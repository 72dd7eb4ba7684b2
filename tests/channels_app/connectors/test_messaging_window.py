"""S2: Meta's 24-hour window. A reply Messenger or WhatsApp would refuse is refused before it is stored or sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels_app.engine.conversations import message_send_by_operator
from channels_app.engine.errors import InvalidState
from channels_app.models import ConnectorKind, ConversationStatus, Message
from channels_app.policy.messaging_window import STANDARD_WINDOW, may_reply_freely
from tests.factories import ClientFactory, ConnectorFactory, ConversationFactory, OpenChannelFactory

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_S2_window_is_24_hours_after_the_clients_last_message_on_meta_sources():
    assert timedelta(hours=24) == STANDARD_WINDOW
    for kind in ("facebook", "whatsapp"):
        assert may_reply_freely(kind=kind, last_client_message_at=NOW - timedelta(hours=23, minutes=59), now=NOW)
        assert not may_reply_freely(kind=kind, last_client_message_at=NOW - timedelta(hours=24), now=NOW)
        assert not may_reply_freely(kind=kind, last_client_message_at=None, now=NOW)


def test_S2_sources_without_a_window_always_accept_a_reply():
    for kind in ("telegram", "zalo", "livechat"):
        assert may_reply_freely(kind=kind, last_client_message_at=NOW - timedelta(days=30), now=NOW)
        assert may_reply_freely(kind=kind, last_client_message_at=None, now=NOW)


def active_conversation(kind: str, operator, *, client_wrote_ago: timedelta):
    connector = ConnectorFactory(open_channel=OpenChannelFactory(), kind=kind, account_id=f"{kind}-account")
    return ConversationFactory(
        client=ClientFactory(connector=connector),
        status=ConversationStatus.ACTIVE,
        operator=operator,
        assigned_at=NOW - client_wrote_ago,
        last_client_message_at=NOW - client_wrote_ago,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [ConnectorKind.FACEBOOK, ConnectorKind.WHATSAPP])
def test_S2_reply_after_metas_window_is_refused_with_the_reason_and_not_stored(operators, kind):
    conversation = active_conversation(kind, operators[0], client_wrote_ago=timedelta(hours=25))
    with pytest.raises(InvalidState, match="More than 24 hours have passed since the client's last message"):
        message_send_by_operator(conversation_id=conversation.pk, operator=operators[0], text="Still there?", now=NOW)
    assert not Message.objects.filter(conversation=conversation).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "client_wrote_ago"),
    [
        (ConnectorKind.FACEBOOK, timedelta(hours=23)),
        (ConnectorKind.WHATSAPP, timedelta(hours=23)),
        (ConnectorKind.TELEGRAM, timedelta(days=3)),
    ],
)
def test_S2_reply_within_the_window_or_on_a_source_without_one_is_sent(operators, kind, client_wrote_ago):
    conversation = active_conversation(kind, operators[0], client_wrote_ago=client_wrote_ago)
    message = message_send_by_operator(
        conversation_id=conversation.pk, operator=operators[0], text="Yes, we ship there.", now=NOW
    )
    assert message.delivery == Message.Delivery.QUEUED
