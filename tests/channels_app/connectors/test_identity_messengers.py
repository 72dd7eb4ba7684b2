"""Q12 in the messengers: who answers goes with an operator's reply as a first line ("Olga:").

The reply is delivered to a real local HTTP server playing the provider
(Telegram's Bot API, Meta's Graph API for Messenger and WhatsApp, Zalo's OA
API); the text the provider received is read back. The stored message keeps
what the operator typed.
"""

from __future__ import annotations

import pytest

from channels_app.connectors import processing
from channels_app.engine import conversations, offers
from channels_app.models import ConnectorKind, Message, OperatorIdentity
from tests.channels_app.connectors.fake_provider import FakeProvider, multipart
from tests.channels_app.connectors.test_outbound_files import PDF, PHOTO, deliver, reply_with_files
from tests.channels_app.connectors.test_ratings_messengers import CLIENT_ID, CONNECTOR_SETUP
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator, set_profile


def taken_conversation(engine, kind: str, **channel_settings):
    """Olga has taken a conversation with a client of ``kind``, the operator's name shown (Q12's default)."""
    olga = make_operator("olga")
    channel = make_channel([olga], connector_kind=kind, **channel_settings)
    connector = channel.connectors.get()
    for field, value in CONNECTOR_SETUP[kind].items():
        setattr(connector, field, value)
    connector.save()
    conversation = engine.receive(channel, visitor=CLIENT_ID[kind])
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get(operator=olga).pk, operator=olga)
    return olga, conversation


pytestmark = pytest.mark.django_db

REPLY = "Your parcel left the warehouse today."


def sent_text(provider: FakeProvider, kind: str) -> str:
    """The text of the last text message the provider received, wherever its API puts it."""
    if kind == ConnectorKind.TELEGRAM:
        return [r.json for r in provider.requests if r.path.endswith("/sendMessage")][-1]["text"]
    if kind == ConnectorKind.WHATSAPP:
        return [r.json for r in provider.requests if r.path.endswith("/messages")][-1]["text"]["body"]
    if kind == ConnectorKind.ZALO:
        return [r.json for r in provider.requests if "/message/" in r.path][-1]["message"]["text"]
    return [r.json for r in provider.requests if r.path.endswith("/messages")][-1]["message"]["text"]


def operator_reply_delivered(engine, provider, kind: str, **channel_settings) -> Message:
    """Olga (shown to clients as "Olga K.") takes a client of ``kind`` and answers; the reply is delivered."""
    olga, conversation = taken_conversation(engine, kind, **channel_settings)
    set_profile(olga, display_name="Olga K.")
    reply = engine.commit(
        conversations.message_send_by_operator, conversation_id=conversation.pk, operator=olga, text=REPLY
    )
    outcome = processing.message_deliver(message_id=reply.pk, now=engine.clock.now(), final_attempt=True)
    assert outcome.state == "sent", outcome.error
    return reply


MESSENGERS = [ConnectorKind.TELEGRAM, ConnectorKind.FACEBOOK, ConnectorKind.WHATSAPP, ConnectorKind.ZALO]


@pytest.mark.parametrize("kind", MESSENGERS)
def test_Q12_messenger_reply_starts_with_the_operators_name(engine, provider, kind):
    reply = operator_reply_delivered(engine, provider, kind)
    assert sent_text(provider, kind) == f"Olga K.:\n{REPLY}"
    reply.refresh_from_db()
    assert reply.text == REPLY  # what the operator typed is kept as typed


@pytest.mark.parametrize("kind", MESSENGERS)
def test_Q12_messenger_reply_starts_with_the_channels_name_when_the_channel_answers(engine, provider, kind):
    operator_reply_delivered(
        engine, provider, kind, operator_identity=OperatorIdentity.CHANNEL, display_name="Sklep Kwiatek"
    )
    assert sent_text(provider, kind) == f"Sklep Kwiatek:\n{REPLY}"


@pytest.mark.parametrize("kind", MESSENGERS)
def test_Q12_messenger_reply_names_nobody_when_the_setting_hides_who_answers(engine, provider, kind):
    operator_reply_delivered(engine, provider, kind, operator_identity=OperatorIdentity.HIDDEN)
    assert sent_text(provider, kind) == REPLY


def test_Q12_messenger_system_messages_carry_no_name_line(engine, provider):
    olga = make_operator("olga")
    channel = make_channel(
        [olga], connector_kind=ConnectorKind.TELEGRAM, welcome_enabled=True, welcome_text="Hello from the shop!"
    )
    connector = channel.connectors.get()
    for field, value in CONNECTOR_SETUP[ConnectorKind.TELEGRAM].items():
        setattr(connector, field, value)
    connector.save()
    conversation = engine.receive(channel, visitor=CLIENT_ID[ConnectorKind.TELEGRAM])
    welcome = Message.objects.get(conversation=conversation, system_key="welcome")
    processing.message_deliver(message_id=welcome.pk, now=engine.clock.now(), final_attempt=True)
    assert sent_text(provider, ConnectorKind.TELEGRAM) == "Hello from the shop!"


def test_Q12_telegram_file_only_reply_carries_the_name_as_its_caption(engine, provider, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    olga, conversation = taken_conversation(engine, ConnectorKind.TELEGRAM)
    reply = reply_with_files(engine, olga, conversation, "", [PHOTO])
    assert deliver(engine, reply).state == "sent"
    token = CONNECTOR_SETUP[ConnectorKind.TELEGRAM]["access_token"]
    assert multipart(provider.calls(f"/bot{token}/sendPhoto")[0]).fields["caption"] == "Olga:"


def test_Q12_a_name_line_is_never_sent_alone_before_a_file_that_takes_no_caption(engine, provider, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    olga, conversation = taken_conversation(engine, ConnectorKind.ZALO)
    reply = reply_with_files(engine, olga, conversation, "", [PDF])
    assert deliver(engine, reply).state == "sent"
    assert provider.calls("/v3.0/oa/message/cs")[0].json["message"]["attachment"]["type"] == "file"
    assert len(provider.calls("/v3.0/oa/message/cs")) == 1
