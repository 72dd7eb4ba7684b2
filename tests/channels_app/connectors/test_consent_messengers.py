"""A1 in the messengers: a new client gets the consent notice first and is routed once they agree.

The notice goes to a real local HTTP server playing the provider, with the
"I agree" button where the source has buttons; the press comes back as the
provider documents it (Telegram ``callback_query``, Messenger ``quick_reply``,
WhatsApp ``interactive`` ``button_reply``) through the webhook's store-then-process
path. Zalo has no buttons: the client replies the button's words.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client as HttpClient

from channels_app.connectors import processing
from channels_app.models import ConnectorKind, ConsentForm, ConsentRecord, ConversationStatus, Message, Offer
from tests.channels_app.connectors.test_ratings_messengers import (
    CLIENT_ID,
    CONNECTOR_SETUP,
    messenger_press,
    telegram_press,
    webhook_delivery,
    whatsapp_press,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator, system_keys

pytestmark = pytest.mark.django_db

NOTICE = "We keep your messages and contact details to answer you. Details: privacy@example.com"


def consent_channel(kind: str, **channel_settings):
    """Olga's open channel of ``kind`` that asks for consent (A1); returns (olga, connector, form)."""
    olga = make_operator("olga")
    form = ConsentForm.objects.create(name="Privacy notice", text=NOTICE)
    channel = make_channel(
        [olga], connector_kind=kind, consent_required=True, consent_form=form, welcome_enabled=False, **channel_settings
    )
    connector = channel.connectors.get()
    for field, value in CONNECTOR_SETUP[kind].items():
        setattr(connector, field, value)
    connector.save()
    return olga, connector, form


def first_message_gets_the_notice(engine, provider, kind: str, **channel_settings):
    """A new client writes twice: the notice goes out (delivered to the provider), nothing is routed."""
    olga, connector, form = consent_channel(kind, **channel_settings)
    conversation = engine.receive(connector.open_channel, visitor=CLIENT_ID[kind], text="Hello")
    conversation = engine.receive(connector.open_channel, visitor=CLIENT_ID[kind], text="Is anyone there?")
    assert conversation.status == ConversationStatus.CONSENT
    assert not Offer.objects.filter(conversation=conversation).exists()
    assert system_keys(conversation) == ["consent_request"]
    notice = Message.objects.get(conversation=conversation, system_key="consent_request")
    outcome = processing.message_deliver(message_id=notice.pk, now=engine.clock.now(), final_attempt=True)
    assert outcome.state == "sent", outcome.error
    return olga, connector, form, conversation


def assert_routed_with_consent(conversation, olga, form, source: str) -> None:
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OFFERED
    assert conversation.offers.filter(operator=olga).exists()
    record = ConsentRecord.objects.get(client=conversation.client)
    assert (record.form_version, record.source, record.conversation) == (form.current_version, source, conversation)
    client_texts = list(
        conversation.messages.filter(author_kind=Message.Author.CLIENT).order_by("id").values_list("text", flat=True)
    )
    assert client_texts[:2] == ["Hello", "Is anyone there?"]  # what the client wrote before agreeing is kept


def notice_link(form) -> str:
    return f"{settings.SITE_URL}/consent/{form.current_version.pk}/"


def test_A1_telegram_notice_has_an_i_agree_button_and_the_press_routes(engine, provider):
    olga, connector, form, conversation = first_message_gets_the_notice(engine, provider, ConnectorKind.TELEGRAM)
    sent = [r.json for r in provider.requests if r.path.endswith("/sendMessage")][-1]
    assert sent["text"].startswith(NOTICE)
    assert notice_link(form) in sent["text"]
    assert sent["reply_markup"] == {"inline_keyboard": [[{"text": "✅ I agree", "callback_data": "consent_agree"}]]}

    webhook_delivery(engine, connector, telegram_press("consent_agree"))
    assert_routed_with_consent(conversation, olga, form, ConnectorKind.TELEGRAM)
    answered = [r.json for r in provider.requests if r.path.endswith("/answerCallbackQuery")]
    assert answered == [{"callback_query_id": "4382bfdwdsb323b2d9"}]


def test_A1_messenger_notice_has_an_i_agree_quick_reply_and_the_tap_routes(engine, provider):
    olga, connector, form, conversation = first_message_gets_the_notice(
        engine, provider, ConnectorKind.FACEBOOK, language="pl"
    )
    sent = [r.json for r in provider.requests if r.path.endswith("/messages")][-1]["message"]
    assert sent["text"].startswith(NOTICE) and notice_link(form) in sent["text"]
    [quick_reply] = sent["quick_replies"]
    assert quick_reply["payload"] == "consent_agree"

    webhook_delivery(engine, connector, messenger_press("consent_agree", quick_reply["title"]))
    assert_routed_with_consent(conversation, olga, form, ConnectorKind.FACEBOOK)


def test_A1_whatsapp_notice_has_an_i_agree_reply_button_and_the_press_routes(engine, provider):
    olga, connector, form, conversation = first_message_gets_the_notice(engine, provider, ConnectorKind.WHATSAPP)
    sent = [r.json for r in provider.requests if r.path.endswith("/messages")][-1]
    assert sent["type"] == "interactive"
    assert sent["interactive"]["body"]["text"].startswith(NOTICE)
    assert sent["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "consent_agree", "title": "✅ I agree"}}
    ]

    webhook_delivery(engine, connector, whatsapp_press("consent_agree", "✅ I agree"))
    assert_routed_with_consent(conversation, olga, form, ConnectorKind.WHATSAPP)


def test_A1_zalo_client_agrees_by_replying_the_words_of_the_button(engine, provider):
    olga, connector, form, conversation = first_message_gets_the_notice(engine, provider, ConnectorKind.ZALO)
    sent = [r.json for r in provider.requests if "/oa/message/cs" in r.path][-1]["message"]["text"]
    assert sent.startswith(NOTICE) and notice_link(form) in sent
    assert sent.endswith("To start the chat, press or reply “I agree”.")

    engine.receive(connector.open_channel, visitor=CLIENT_ID[ConnectorKind.ZALO], text="i agree")
    assert_routed_with_consent(conversation, olga, form, ConnectorKind.ZALO)


def test_A1_a_client_who_agreed_to_this_version_is_routed_at_once_next_time(engine, provider):
    _olga, connector, form, conversation = first_message_gets_the_notice(engine, provider, ConnectorKind.ZALO)
    engine.receive(connector.open_channel, visitor=CLIENT_ID[ConnectorKind.ZALO], text="I agree")
    conversation.refresh_from_db()
    conversation.status = ConversationStatus.CLOSED
    conversation.save(update_fields=["status"])

    again = engine.receive(connector.open_channel, visitor=CLIENT_ID[ConnectorKind.ZALO], text="Me again")
    assert again.pk != conversation.pk
    assert again.status == ConversationStatus.OFFERED
    assert "consent_request" not in system_keys(again)

    form.text = NOTICE + " We now also keep your order history."
    form.save()  # a new version: asked again
    again.status = ConversationStatus.CLOSED
    again.save(update_fields=["status"])
    third = engine.receive(connector.open_channel, visitor=CLIENT_ID[ConnectorKind.ZALO], text="And again")
    assert third.status == ConversationStatus.CONSENT


def test_A1_the_link_in_the_notice_shows_that_version_of_the_form():
    form = ConsentForm.objects.create(name="Privacy notice", text=NOTICE)
    response = HttpClient().get(f"/consent/{form.current_version.pk}/")
    assert response.status_code == 200
    assert NOTICE in response.content.decode()
    assert HttpClient().get("/consent/999999/").status_code == 404
