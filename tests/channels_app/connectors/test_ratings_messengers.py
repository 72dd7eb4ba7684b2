"""R1–R3 in the messengers: rating buttons where the source has them, text otherwise, time limit, close-on-rating.

The rating request is sent to a real local HTTP server playing the provider;
the client's button press comes back as the provider documents it (Telegram
``callback_query``, Messenger ``quick_reply``, WhatsApp ``interactive``
``button_reply``) and goes through the same store-then-process path as a webhook.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.connectors import get_source, processing
from channels_app.engine import conversations, offers
from channels_app.models import ClientRating, ConnectorKind, ConversationStatus, Message
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator, system_keys

pytestmark = pytest.mark.django_db

CONNECTOR_SETUP = {
    ConnectorKind.TELEGRAM: {"account_id": "7000001", "access_token": "7000001:AAbotTOKEN"},
    ConnectorKind.FACEBOOK: {"account_id": "104857600", "access_token": "EAAGpageTOKEN", "app_secret": "s3cret"},
    ConnectorKind.WHATSAPP: {"account_id": "106540352242922", "access_token": "EAAGwaTOKEN", "app_secret": "s3cret"},
    ConnectorKind.ZALO: {"account_id": "579745863508352884", "access_token": "zalo-oa-token"},
}
CLIENT_ID = {
    ConnectorKind.TELEGRAM: "424242",
    ConnectorKind.FACEBOOK: "6028351927",
    ConnectorKind.WHATSAPP: "84901234567",
    ConnectorKind.ZALO: "2468013579",
}


def telegram_press(token: str, press_id: str = "4382bfdwdsb323b2d9") -> dict:
    return {
        "update_id": 900100,
        "callback_query": {
            "id": press_id,
            "from": {"id": 424242, "is_bot": False, "first_name": "Anna", "language_code": "pl"},
            "message": {
                "message_id": 101,
                "from": {"id": 7000001, "is_bot": True, "first_name": "Sklep"},
                "chat": {"id": 424242, "first_name": "Anna", "type": "private"},
                "date": 1767225600,
                "text": "Prosimy o ocenę naszej odpowiedzi: 👍 lub 👎",
            },
            "chat_instance": "-3218417218431029125",
            "data": token,
        },
    }


def messenger_press(token: str, title: str) -> dict:
    return {
        "object": "page",
        "entry": [
            {
                "id": "104857600",
                "time": 1767225600456,
                "messaging": [
                    {
                        "sender": {"id": "6028351927"},
                        "recipient": {"id": "104857600"},
                        "timestamp": 1767225600123,
                        "message": {"mid": f"m_QR_{token}", "text": title, "quick_reply": {"payload": token}},
                    }
                ],
            }
        ],
    }


def whatsapp_press(token: str, title: str) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                            "contacts": [{"profile": {"name": "Mai Tran"}, "wa_id": "84901234567"}],
                            "messages": [
                                {
                                    "context": {"from": "15550783881", "id": "wamid.OUT100"},
                                    "from": "84901234567",
                                    "id": f"wamid.BTN_{token}",
                                    "timestamp": "1767225600",
                                    "type": "interactive",
                                    "interactive": {
                                        "type": "button_reply",
                                        "button_reply": {"id": token, "title": title},
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def closed_awaiting_rating(engine, kind: str, **channel_settings):
    """A conversation of ``kind`` taken by Olga and closed by her: the rating request is queued (R1)."""
    olga = make_operator("olga")
    channel = make_channel([olga], connector_kind=kind, **channel_settings)
    connector = channel.connectors.get()
    for field, value in CONNECTOR_SETUP[kind].items():
        setattr(connector, field, value)
    connector.save()
    conversation = engine.receive(channel, visitor=CLIENT_ID[kind])
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get(operator=olga).pk, operator=olga)
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED_PENDING_RATING
    return connector, conversation


def deliver_rating_request(engine, conversation) -> None:
    request = Message.objects.get(conversation=conversation, system_key="rating_request")
    outcome = processing.message_deliver(message_id=request.pk, now=engine.clock.now(), final_attempt=True)
    assert outcome.state == "sent", outcome.error


def webhook_delivery(engine, connector, body: dict) -> None:
    """What the webhook and the Celery task do: store the verified updates, then process them."""
    updates = get_source(connector.kind).extract_updates(connector, body)
    stored = processing.inbound_updates_store(connector=connector, updates=updates, now=engine.clock.now())
    for connector_id, update_ids in stored.items():
        engine.commit(processing.inbound_updates_process, connector_id=connector_id, update_ids=update_ids)


def test_R1_telegram_rating_request_has_an_inline_keyboard_in_the_channel_language(engine, provider):
    _connector, conversation = closed_awaiting_rating(engine, ConnectorKind.TELEGRAM, language="pl")
    deliver_rating_request(engine, conversation)
    sent = [r.json for r in provider.requests if r.path.endswith("/sendMessage")][-1]
    assert sent["chat_id"] == "424242"
    assert sent["text"] == "Prosimy o ocenę naszej odpowiedzi: 👍 lub 👎"
    assert sent["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "👍 Dobrze", "callback_data": "like"}, {"text": "👎 Źle", "callback_data": "dislike"}]
        ]
    }


def test_R1_R2_telegram_button_press_rates_closes_thanks_and_stops_the_spinner(engine, provider):
    connector, conversation = closed_awaiting_rating(engine, ConnectorKind.TELEGRAM, language="pl")
    deliver_rating_request(engine, conversation)
    webhook_delivery(engine, connector, telegram_press("dislike"))
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.closed_by == "rating"
    assert conversation.client_rating.value == ClientRating.Value.DISLIKE
    assert system_keys(conversation)[-1] == "rating_thanks"
    thanks = Message.objects.get(conversation=conversation, system_key="rating_thanks")
    assert thanks.text == "Dziękujemy za opinię!"
    answered = [r.json for r in provider.requests if r.path.endswith("/answerCallbackQuery")]
    assert answered == [{"callback_query_id": "4382bfdwdsb323b2d9"}]


def test_R1_telegram_press_redelivered_by_the_provider_rates_once(engine, provider):
    connector, conversation = closed_awaiting_rating(engine, ConnectorKind.TELEGRAM, close_on_rating=False)
    webhook_delivery(engine, connector, telegram_press("like"))
    webhook_delivery(engine, connector, telegram_press("like"))
    assert ClientRating.objects.filter(conversation=conversation).count() == 1
    assert Message.objects.filter(conversation=conversation, author_kind=Message.Author.CLIENT).count() == 2


def test_R1_telegram_callbacks_that_are_not_ours_never_rate(engine):
    connector, _conversation = closed_awaiting_rating(engine, ConnectorKind.TELEGRAM)
    # A chatbot's button is the client's message (issue 15, point 9), never a rating.
    [event] = get_source(connector.kind).parse(connector, telegram_press("open_menu"))
    assert (event.pressed_rating, event.button_payload) == ("", "open_menu")
    webhook_delivery(engine, connector, telegram_press("open_menu"))
    assert not ClientRating.objects.exists()


def test_R1_R2_messenger_quick_reply_rates_with_its_payload_not_its_title(engine, provider):
    connector, conversation = closed_awaiting_rating(engine, ConnectorKind.FACEBOOK, language="vi")
    deliver_rating_request(engine, conversation)
    sent = [r.json for r in provider.requests if r.path.endswith("/messages")][-1]
    assert sent["recipient"] == {"id": "6028351927"}
    assert sent["message"] == {
        "text": "Vui lòng đánh giá câu trả lời của chúng tôi: 👍 hoặc 👎",
        "quick_replies": [
            {"content_type": "text", "title": "👍 Tốt", "payload": "like"},
            {"content_type": "text", "title": "👎 Chưa tốt", "payload": "dislike"},
        ],
    }
    webhook_delivery(engine, connector, messenger_press("like", "👍 Tốt"))
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.client_rating.value == ClientRating.Value.LIKE


def test_R1_R2_whatsapp_reply_button_rates_and_closes(engine, provider):
    connector, conversation = closed_awaiting_rating(engine, ConnectorKind.WHATSAPP, language="vi")
    deliver_rating_request(engine, conversation)
    sent = [r.json for r in provider.requests if r.path.endswith("/messages")][-1]
    assert sent["type"] == "interactive"
    assert sent["to"] == "84901234567"
    assert sent["interactive"]["body"] == {"text": "Vui lòng đánh giá câu trả lời của chúng tôi: 👍 hoặc 👎"}
    assert sent["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "like", "title": "👍 Tốt"}},
        {"type": "reply", "reply": {"id": "dislike", "title": "👎 Chưa tốt"}},
    ]
    webhook_delivery(engine, connector, whatsapp_press("dislike", "👎 Chưa tốt"))
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.CLOSED
    assert conversation.client_rating.value == ClientRating.Value.DISLIKE


def test_R1_zalo_has_no_buttons_so_the_request_is_text_and_a_typed_thumb_rates(engine, provider):
    _connector, conversation = closed_awaiting_rating(engine, ConnectorKind.ZALO, language="vi")
    deliver_rating_request(engine, conversation)
    sent = [r.json for r in provider.requests if r.path == "/zalo/v3.0/oa/message/cs"][-1]
    assert sent["message"] == {"text": "Vui lòng đánh giá câu trả lời của chúng tôi: 👍 hoặc 👎"}
    engine.receive(conversation.open_channel, visitor=CLIENT_ID[ConnectorKind.ZALO], text="👍")
    conversation.refresh_from_db()
    assert conversation.client_rating.value == ClientRating.Value.LIKE
    assert conversation.status == ConversationStatus.CLOSED


def test_R2_off_a_button_press_rates_but_the_conversation_waits_for_the_deadline(engine, provider):
    connector, conversation = closed_awaiting_rating(engine, ConnectorKind.TELEGRAM, close_on_rating=False)
    webhook_delivery(engine, connector, telegram_press("like"))
    conversation.refresh_from_db()
    assert conversation.client_rating.value == ClientRating.Value.LIKE
    assert conversation.status == ConversationStatus.CLOSED_PENDING_RATING


def test_R1_a_press_after_the_time_limit_is_not_a_rating(engine, provider):
    connector, conversation = closed_awaiting_rating(engine, ConnectorKind.TELEGRAM, rating_timeout_minutes=30)
    engine.clock.shift(timedelta(minutes=31))
    webhook_delivery(engine, connector, telegram_press("like"))
    assert not ClientRating.objects.filter(conversation=conversation).exists()


def telegram_text(text: str, message_id: int = 202) -> dict:
    return {
        "update_id": 900200 + message_id,
        "message": {
            "message_id": message_id,
            "from": {"id": 424242, "is_bot": False, "first_name": "Anna", "language_code": "pl"},
            "chat": {"id": 424242, "first_name": "Anna", "type": "private"},
            "date": 1767225660,
            "text": text,
        },
    }


def messenger_text(text: str) -> dict:
    body = messenger_press("like", text)
    del body["entry"][0]["messaging"][0]["message"]["quick_reply"]
    body["entry"][0]["messaging"][0]["message"]["mid"] = "m_TYPED"
    return body


def whatsapp_text(text: str) -> dict:
    body = whatsapp_press("like", text)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["interactive"], message["context"]
    message.update(id="wamid.TYPED", type="text", text={"body": text})
    return body


@pytest.mark.parametrize(
    ("kind", "typed"),
    [
        (ConnectorKind.TELEGRAM, telegram_text),
        (ConnectorKind.FACEBOOK, messenger_text),
        (ConnectorKind.WHATSAPP, whatsapp_text),
    ],
)
@pytest.mark.parametrize("word", ["no", "like"])
def test_R1_a_typed_word_is_a_message_even_when_it_is_the_buttons_token(engine, provider, kind, typed, word):
    connector, conversation = closed_awaiting_rating(engine, kind)
    webhook_delivery(engine, connector, typed(word))
    assert not ClientRating.objects.exists()
    enquiry = Message.objects.get(author_kind=Message.Author.CLIENT, text=word).conversation
    assert enquiry.pk != conversation.pk
    assert enquiry.status == ConversationStatus.OFFERED


def test_R1_zalo_client_rates_with_the_channels_typed_answers(engine, provider):
    _connector, conversation = closed_awaiting_rating(engine, ConnectorKind.ZALO, rating_answers="1 / 2")
    engine.receive(conversation.open_channel, visitor=CLIENT_ID[ConnectorKind.ZALO], text="2")
    conversation.refresh_from_db()
    assert conversation.client_rating.value == ClientRating.Value.DISLIKE
    assert conversation.status == ConversationStatus.CLOSED


@pytest.mark.parametrize(
    ("kind", "press"),
    [
        (ConnectorKind.TELEGRAM, telegram_press("like")),
        (ConnectorKind.FACEBOOK, messenger_press("like", "👍 Dobrze")),
        (ConnectorKind.WHATSAPP, whatsapp_press("like", "👍 Dobrze")),
    ],
)
def test_R1_each_source_hands_a_button_press_over_as_a_pressed_rating(engine, kind, press):
    connector, _conversation = closed_awaiting_rating(engine, kind)
    source = get_source(kind)
    [update] = source.extract_updates(connector, press)
    [event] = source.parse(connector, update.payload)
    assert event.pressed_rating == "like"
