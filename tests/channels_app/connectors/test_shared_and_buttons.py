"""What the client shares reaches the CRM; the buttons the client presses are their messages (issue 15, point 9).

Deliveries are shaped as the providers document them (Telegram ``contact`` and ``callback_query``, Messenger
``quick_reply`` with the e-mail and phone quick replies, ``postback``, WhatsApp ``contacts``, ``interactive``
and ``button``) and go through the same store-then-process path as a webhook.
"""

from __future__ import annotations

import copy

import pytest

from channels_app.bots.external import message_event
from channels_app.bots.rules import RuleBot
from channels_app.models import Client, ConnectorKind, Message
from crm.models import Contact, Lead
from tests.channels_app.bots.support import make_chatbot
from tests.channels_app.connectors.test_ratings_messengers import (
    CLIENT_ID,
    CONNECTOR_SETUP,
    messenger_press,
    telegram_press,
    webhook_delivery,
    whatsapp_press,
)
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator

pytestmark = pytest.mark.django_db


def messenger_connector(kind: str, **channel_settings):
    channel = make_channel([make_operator("olga")], connector_kind=kind, **channel_settings)
    connector = channel.connectors.get()
    for field, value in CONNECTOR_SETUP[kind].items():
        setattr(connector, field, value)
    connector.save()
    return connector


def client_with_contact_and_lead(engine, connector, **contact_fields):
    """The client wrote once, is linked to a CRM contact and has an open lead from this enquiry."""
    conversation = engine.receive(connector.open_channel, visitor=CLIENT_ID[connector.kind], text="Hi")
    client = conversation.client
    contact = Contact.objects.create(full_name="Anna Kowalska", **contact_fields)
    client.contact = contact
    client.save(update_fields=["contact"])
    lead = Lead.objects.create(
        title="Telegram: Anna", contact=contact, full_name="Anna Kowalska", source="Telegram",
        open_channel=connector.open_channel,
    )  # fmt: skip
    conversation.lead = lead
    conversation.save(update_fields=["lead"])
    return client, contact, lead


def telegram_text(text: str, message_id: int = 31) -> dict:
    return {
        "update_id": 900200 + message_id,
        "message": {
            "message_id": message_id,
            "from": {"id": 424242, "is_bot": False, "first_name": "Anna"},
            "chat": {"id": 424242, "first_name": "Anna", "type": "private"},
            "date": 1767225600,
            "text": text,
        },
    }


def refreshed(*rows):
    for row in rows:
        row.refresh_from_db()


# --- shared phone and e-mail ------------------------------------------------------------------------------------


def test_a_telegram_contact_the_client_shares_of_themselves_fills_the_client_contact_and_lead(engine, provider):
    connector = messenger_connector(ConnectorKind.TELEGRAM)
    client, contact, lead = client_with_contact_and_lead(engine, connector)
    update = telegram_text("", message_id=32)
    del update["message"]["text"]
    update["message"]["contact"] = {"phone_number": "+48600100200", "first_name": "Anna", "user_id": 424242}
    webhook_delivery(engine, connector, update)
    refreshed(client, contact, lead)
    assert client.phone == "+48600100200"
    assert (contact.phone, contact.phone_digits, lead.phone) == ("+48600100200", "48600100200", "+48600100200")


def test_someone_elses_telegram_contact_card_is_only_shown(engine, provider):
    connector = messenger_connector(ConnectorKind.TELEGRAM)
    client, contact, lead = client_with_contact_and_lead(engine, connector)
    update = telegram_text("", message_id=33)
    del update["message"]["text"]
    update["message"]["contact"] = {"phone_number": "+48700700700", "first_name": "Piotr", "user_id": 55}
    webhook_delivery(engine, connector, update)
    refreshed(client, contact, lead)
    assert client.phone == "" and contact.phone == "" and lead.phone == ""
    assert Message.objects.filter(conversation__client=client, text__contains="+48700700700").exists()


def test_a_typed_email_is_a_claim_it_waits_unconfirmed_and_fills_only_empty_crm_fields(engine, provider):
    connector = messenger_connector(ConnectorKind.TELEGRAM)
    client, contact, lead = client_with_contact_and_lead(engine, connector, email="anna@firma.pl")
    webhook_delivery(engine, connector, telegram_text("My e-mail: anna.k@example.com, thanks", message_id=34))
    refreshed(client, contact, lead)
    assert client.email == ""  # never what C1 finds a contact by: typed, not proven
    assert client.unverified_email == "anna.k@example.com"
    assert contact.email == "anna@firma.pl"  # a value a person checked is not replaced
    assert lead.email == "anna.k@example.com"  # the open lead had none


def test_a_typed_phone_fills_the_contact_and_lead_but_digits_in_a_sentence_do_not(engine, provider):
    connector = messenger_connector(ConnectorKind.TELEGRAM)
    client, contact, lead = client_with_contact_and_lead(engine, connector)
    webhook_delivery(engine, connector, telegram_text("My order 600100200 is late", message_id=35))
    refreshed(contact, lead)
    assert contact.phone == "" and lead.phone == ""
    webhook_delivery(engine, connector, telegram_text("+48 600 100 200", message_id=36))
    refreshed(client, contact, lead)
    assert (contact.phone, lead.phone) == ("+48 600 100 200", "+48 600 100 200")
    assert client.phone == ""


def test_the_live_chat_keeps_its_own_e_mail_confirmation_rule(engine):
    olga = make_operator("olga")
    channel = make_channel([olga])
    conversation = engine.receive(channel, visitor="visitor-x", text="write to jan@example.com")
    conversation.client.refresh_from_db()
    assert conversation.client.unverified_email == ""  # the widget's own form and flow decide (livechat)


def test_messenger_email_and_phone_quick_replies_are_the_clients_own(engine, provider):
    connector = messenger_connector(ConnectorKind.FACEBOOK)
    client, contact, lead = client_with_contact_and_lead(engine, connector)
    webhook_delivery(engine, connector, messenger_press("anna.k@example.com", "anna.k@example.com"))
    webhook_delivery(engine, connector, messenger_press("+84901234567", "+84901234567"))
    refreshed(client, contact, lead)
    assert (client.email, client.phone) == ("anna.k@example.com", "+84901234567")
    assert (contact.email, contact.phone) == ("anna.k@example.com", "+84901234567")
    assert (lead.email, lead.phone) == ("anna.k@example.com", "+84901234567")


def whatsapp_contacts(cards: list[dict], message_id: str = "wamid.CARD1") -> dict:
    body = whatsapp_press("x", "x")
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("interactive")
    message.pop("context")
    message.update({"id": message_id, "type": "contacts", "contacts": cards})
    return body


def test_a_whatsapp_card_of_the_client_gives_its_email_someone_elses_is_only_shown(engine, provider):
    connector = messenger_connector(ConnectorKind.WHATSAPP)
    client, contact, lead = client_with_contact_and_lead(engine, connector)
    other = {
        "name": {"formatted_name": "Bao Nguyen", "first_name": "Bao"},
        "phones": [{"phone": "+84 90 999 9999", "wa_id": "84909999999", "type": "CELL"}],
        "emails": [{"email": "bao@example.com", "type": "WORK"}],
    }
    webhook_delivery(engine, connector, whatsapp_contacts([other], "wamid.CARD1"))
    refreshed(client, contact, lead)
    assert client.email == "" and contact.email == ""
    shown = Message.objects.get(source_message_id="wamid.CARD1")
    assert shown.text == "Contact: Bao Nguyen +84 90 999 9999 bao@example.com"
    own = {
        "name": {"formatted_name": "Mai Tran"},
        "phones": [{"phone": "+84 90 123 4567", "wa_id": "84901234567"}],
        "emails": [{"email": "mai@example.com"}],
    }
    webhook_delivery(engine, connector, whatsapp_contacts([own], "wamid.CARD2"))
    refreshed(client, contact, lead)
    assert (client.email, contact.email, lead.email) == ("mai@example.com",) * 3


def zalo_submit_info(info) -> dict:
    return {
        "app_id": "360846524940903967",
        "oa_id": "579745863508352884",
        "user_id_by_app": "552177279717587730",
        "event_name": "user_submit_info",
        "timestamp": "1767225600123",
        "sender": {"id": CLIENT_ID[ConnectorKind.ZALO]},
        "recipient": {"id": "579745863508352884"},
        "info": info,
    }


def test_the_details_a_zalo_follower_submits_are_theirs(engine, provider):
    connector = messenger_connector(ConnectorKind.ZALO)
    client, contact, lead = client_with_contact_and_lead(engine, connector)
    info = {"name": "Trần Thị Mai", "phone": "84901234567", "address": "12 Lê Lợi", "city": "Hồ Chí Minh"}
    webhook_delivery(engine, connector, zalo_submit_info(info))
    webhook_delivery(engine, connector, zalo_submit_info(info))  # redelivered: stored once
    refreshed(client, contact, lead)
    assert (client.phone, contact.phone, lead.phone) == ("84901234567",) * 3
    shown = Message.objects.filter(conversation__client=client, text__startswith="Contact details:")
    assert [m.text for m in shown] == ["Contact details: Trần Thị Mai · 84901234567 · 12 Lê Lợi, Hồ Chí Minh"]


# --- buttons ---------------------------------------------------------------------------------------------------


def test_a_telegram_button_of_a_chatbot_is_the_clients_message_with_its_title_and_is_answered(engine, provider):
    connector = messenger_connector(ConnectorKind.TELEGRAM)
    engine.receive(connector.open_channel, visitor=CLIENT_ID[connector.kind], text="Hi")
    press = telegram_press("track_order", press_id="77aa")
    press["callback_query"]["message"]["reply_markup"] = {
        "inline_keyboard": [[{"text": "📦 Track my order", "callback_data": "track_order"}]]
    }
    webhook_delivery(engine, connector, press)
    message = Message.objects.get(source_message_id="callback:77aa")
    assert (message.author_kind, message.text, message.button) == (
        "client",
        "📦 Track my order",
        {"payload": "track_order"},
    )
    answered = [r.json for r in provider.requests if r.path.endswith("/answerCallbackQuery")]
    assert answered == [{"callback_query_id": "77aa"}]
    created = [e for e in engine.events(type="message.created") if e["message"]["id"] == message.pk]
    assert created and created[0]["message"]["button"] == {"payload": "track_order"}
    # A keyboard not shaped as documented: the press still counts, titled by its data.
    press = telegram_press("size_m", press_id="77ab")
    press["update_id"] = 900101
    press["callback_query"]["message"]["reply_markup"] = [1, 2]
    webhook_delivery(engine, connector, press)
    assert Message.objects.get(source_message_id="callback:77ab").text == "size_m"


def test_a_messenger_quick_reply_and_postback_are_button_messages(engine, provider):
    connector = messenger_connector(ConnectorKind.FACEBOOK)
    webhook_delivery(engine, connector, messenger_press("SIZE_M", "Size M"))
    quick = Message.objects.get(source_message_id="m_QR_SIZE_M")
    assert (quick.text, quick.button) == ("Size M", {"payload": "SIZE_M"})
    body = messenger_press("x", "x")
    event = body["entry"][0]["messaging"][0]
    event.pop("message")
    event["postback"] = {"mid": "m_PB_1", "title": "Talk to sales", "payload": "SALES"}
    webhook_delivery(engine, connector, body)
    postback = Message.objects.get(source_message_id="m_PB_1")
    assert (postback.text, postback.button) == ("Talk to sales", {"payload": "SALES"})


def test_whatsapp_reply_buttons_list_rows_and_template_buttons_are_button_messages(engine, provider):
    connector = messenger_connector(ConnectorKind.WHATSAPP)
    webhook_delivery(engine, connector, whatsapp_press("opt_delivery", "Delivery"))
    assert Message.objects.get(source_message_id="wamid.BTN_opt_delivery").button == {"payload": "opt_delivery"}
    listed = whatsapp_press("row_2", "Returns")
    message = listed["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = "wamid.LIST1"
    message["interactive"] = {
        "type": "list_reply",
        "list_reply": {"id": "row_2", "title": "Returns", "description": "…"},
    }
    webhook_delivery(engine, connector, listed)
    row = Message.objects.get(source_message_id="wamid.LIST1")
    assert (row.text, row.button) == ("Returns", {"payload": "row_2"})
    template = whatsapp_press("x", "x")
    message = template["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("interactive")
    message.update(
        {"id": "wamid.TPL1", "type": "button", "button": {"payload": "STOP_PROMO", "text": "Stop promotions"}}
    )
    webhook_delivery(engine, connector, template)
    pressed = Message.objects.get(source_message_id="wamid.TPL1")
    assert (pressed.text, pressed.button) == ("Stop promotions", {"payload": "STOP_PROMO"})


def test_a_button_reaches_the_rule_bot_by_its_payload_and_the_external_bot_with_it(engine, provider):
    chatbot = make_chatbot(rules={"ORDER_STATUS": "Your order is on its way."})
    connector = messenger_connector(ConnectorKind.FACEBOOK)
    webhook_delivery(engine, connector, messenger_press("ORDER_STATUS", "Where is it?"))
    pressed = Message.objects.get(source_message_id="m_QR_ORDER_STATUS")
    reply = RuleBot(chatbot).handle(pressed.conversation, pressed, now=engine.clock.now())
    assert reply.texts[-1] == "Your order is on its way."  # the title alone matches no rule
    event = message_event(chatbot=chatbot, conversation=pressed.conversation, message=pressed, now=engine.clock.now())
    assert event["message"]["text"] == "Where is it?"
    assert event["message"]["button"] == {"payload": "ORDER_STATUS"}


# --- malformed: no 500, nothing changed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "mutate"),
    [
        (ConnectorKind.TELEGRAM, lambda body: body["callback_query"].update(message="not a message")),
        (ConnectorKind.FACEBOOK, lambda body: body["entry"][0]["messaging"][0]["message"].update(quick_reply=[])),
        (ConnectorKind.WHATSAPP, lambda body: body["entry"][0]["changes"][0]["value"]["messages"][0].update(
            type="contacts", contacts="nope")),
        (ConnectorKind.WHATSAPP, lambda body: body["entry"][0]["changes"][0]["value"]["messages"][0].update(
            type="button", button=None)),
        (ConnectorKind.ZALO, lambda body: body.update(info=["not", "an", "object"])),
        (ConnectorKind.ZALO, lambda body: body.update(info={"phone": "call me maybe", "name": ""})),
    ],
)  # fmt: skip
def test_a_malformed_button_or_card_changes_nothing_and_fails_nothing(engine, provider, kind, mutate):
    connector = messenger_connector(kind)
    presses = {
        ConnectorKind.TELEGRAM: telegram_press("track_order"),
        ConnectorKind.FACEBOOK: messenger_press("SIZE_M", "Size M"),
        ConnectorKind.WHATSAPP: whatsapp_press("opt", "Opt"),
        ConnectorKind.ZALO: zalo_submit_info({}),
    }
    body = copy.deepcopy(presses[kind])
    mutate(body)
    webhook_delivery(engine, connector, body)  # raises nothing
    assert not Client.objects.exclude(phone="", email="", unverified_email="").exists()
    assert not Message.objects.filter(button__isnull=False).exists()
