"""S2: WhatsApp message templates, stored per connector and sent by the operator once the 24-hour window closed.

The service is driven through the engine as the console drives it; the send
goes to a real local HTTP server playing the Cloud API, and the request body
is checked against the documented ``type: template`` message.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from channels_app.connectors import processing
from channels_app.engine import conversations, offers
from channels_app.engine.errors import InvalidState, NotAllowed, NotFound, ServiceError
from channels_app.models import ConnectorKind, ConversationStatus, Message, WhatsAppTemplate
from channels_app.policy.message_templates import filled_body, parameter_count
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator
from tests.factories import ConnectorFactory, OpenChannelFactory

pytestmark = pytest.mark.django_db

PHONE_NUMBER_ID = "106540352242922"
CLIENT_WA_ID = "84901234567"
ORDER_BODY = "Hello {{1}}, your order {{2}} is ready. Reply to this message to talk to us."


def whatsapp_conversation_after_the_window(engine):
    """Olga holds a WhatsApp conversation whose client last wrote 25 hours ago."""
    olga = make_operator("olga")
    channel = make_channel([olga], connector_kind=ConnectorKind.WHATSAPP)
    connector = channel.connectors.get()
    connector.account_id = PHONE_NUMBER_ID
    connector.access_token = "EAAGwaTOKEN"
    connector.save()
    conversation = engine.receive(channel, visitor=CLIENT_WA_ID)
    engine.commit(offers.offer_accept, offer_id=conversation.offers.get(operator=olga).pk, operator=olga)
    engine.clock.shift(timedelta(hours=25))
    template = WhatsAppTemplate.objects.create(
        connector=connector, name="order_ready", language="en_US", body=ORDER_BODY
    )
    return olga, conversation, template


def send_template(engine, olga, conversation, template, parameters):
    return engine.commit(
        conversations.message_send_template,
        conversation_id=conversation.pk,
        operator=olga,
        template_id=template.pk,
        parameters=parameters,
    )


def test_S2_template_body_counts_its_placeholders_and_fills_them_in_order():
    assert parameter_count(ORDER_BODY) == 2
    assert parameter_count("Thank you for writing to us.") == 0
    assert parameter_count("{{2}} then {{ 1 }}") == 2
    assert filled_body("{{2}} then {{ 1 }}", ["one", "two"]) == "two then one"


def test_S2_a_template_goes_out_after_the_window_that_refuses_a_reply(engine):
    olga, conversation, template = whatsapp_conversation_after_the_window(engine)
    with pytest.raises(InvalidState, match="More than 24 hours"):
        engine.commit(conversations.message_send_by_operator, conversation_id=conversation.pk, operator=olga, text="Hi")

    message = send_template(engine, olga, conversation, template, ["Mai", " A-1042 "])

    assert message.author_kind == Message.Author.OPERATOR and message.author == olga
    assert message.text == "Hello Mai, your order A-1042 is ready. Reply to this message to talk to us."
    assert message.template == {"name": "order_ready", "language": "en_US", "parameters": ["Mai", "A-1042"]}
    assert message.delivery == Message.Delivery.QUEUED


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        (["Mai"], "needs 2 text"),
        (["Mai", "A-1042", "extra"], "needs 2 text"),
        (["Mai", "   "], "Text 2 of the template is empty"),
        (["Mai", "line\nbreak"], "Text 2 of the template may not hold line breaks"),
    ],
)
def test_S2_a_template_needs_one_acceptable_text_per_placeholder(engine, parameters, reason):
    olga, conversation, template = whatsapp_conversation_after_the_window(engine)
    with pytest.raises(ServiceError, match=reason) as refused:
        send_template(engine, olga, conversation, template, parameters)
    assert refused.value.status_code == 400
    assert not Message.objects.filter(conversation=conversation, author_kind=Message.Author.OPERATOR).exists()


def test_S2_another_numbers_template_or_an_inactive_one_is_refused(engine):
    olga, conversation, template = whatsapp_conversation_after_the_window(engine)
    other = ConnectorFactory(open_channel=OpenChannelFactory(), kind=ConnectorKind.WHATSAPP, account_id="555000111")
    foreign = WhatsAppTemplate.objects.create(connector=other, name="order_ready", language="en_US", body=ORDER_BODY)
    with pytest.raises(NotFound, match="no such template"):
        send_template(engine, olga, conversation, foreign, ["Mai", "A-1042"])
    template.is_active = False
    template.save()
    with pytest.raises(NotFound, match="no such template"):
        send_template(engine, olga, conversation, template, ["Mai", "A-1042"])
    assert not Message.objects.filter(conversation=conversation, author_kind=Message.Author.OPERATOR).exists()


def test_S2_only_the_holder_sends_a_template(engine):
    olga, conversation, template = whatsapp_conversation_after_the_window(engine)
    piotr = make_operator("piotr")
    with pytest.raises(NotAllowed):
        send_template(engine, piotr, conversation, template, ["Mai", "A-1042"])
    engine.commit(conversations.conversation_close_by_operator, conversation_id=conversation.pk, operator=olga)
    conversation.refresh_from_db()
    assert conversation.status in (ConversationStatus.CLOSED, ConversationStatus.CLOSED_PENDING_RATING)
    with pytest.raises(InvalidState, match="closed"):
        send_template(engine, olga, conversation, template, ["Mai", "A-1042"])


def test_S2_templates_belong_to_whatsapp_connectors_only():
    telegram = ConnectorFactory(open_channel=OpenChannelFactory(), kind=ConnectorKind.TELEGRAM, account_id="7000001")
    template = WhatsAppTemplate(connector=telegram, name="order_ready", language="en", body="Hi")
    with pytest.raises(ValidationError, match="WhatsApp connectors only"):
        template.full_clean()


def test_S2_template_is_sent_to_the_cloud_api_as_a_template_message(engine, provider):
    olga, conversation, template = whatsapp_conversation_after_the_window(engine)
    message = send_template(engine, olga, conversation, template, ["Mai", "A-1042"])

    outcome = processing.message_deliver(message_id=message.pk, now=engine.clock.now(), final_attempt=True)

    assert outcome.state == "sent", outcome.error
    (sent,) = [r for r in provider.requests if r.path == f"/graph/{PHONE_NUMBER_ID}/messages"]
    assert sent.headers["authorization"] == "Bearer EAAGwaTOKEN"
    assert sent.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CLIENT_WA_ID,
        "type": "template",
        "template": {
            "name": "order_ready",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Mai"}, {"type": "text", "text": "A-1042"}]}
            ],
        },
    }
    message.refresh_from_db()
    assert message.delivery == Message.Delivery.SENT


def test_S2_template_without_placeholders_is_sent_without_components(engine, provider):
    olga, conversation, _template = whatsapp_conversation_after_the_window(engine)
    hello = WhatsAppTemplate.objects.create(
        connector=conversation.connector, name="hello_again", language="vi", body="Xin chào! Bạn cần hỗ trợ gì không?"
    )
    message = send_template(engine, olga, conversation, hello, [])

    outcome = processing.message_deliver(message_id=message.pk, now=engine.clock.now(), final_attempt=True)

    assert outcome.state == "sent", outcome.error
    (sent,) = [r for r in provider.requests if r.path == f"/graph/{PHONE_NUMBER_ID}/messages"]
    assert sent.json["type"] == "template"
    assert sent.json["template"] == {"name": "hello_again", "language": {"code": "vi"}}


def test_S2_templates_are_edited_on_the_whatsapp_connectors_admin_page_only(client, admin_user):
    channel = OpenChannelFactory()
    whatsapp = ConnectorFactory(open_channel=channel, kind=ConnectorKind.WHATSAPP, account_id="106540352242922")
    telegram = ConnectorFactory(open_channel=channel, kind=ConnectorKind.TELEGRAM, account_id="7000001")
    client.force_login(admin_user)
    page = client.get(f"/admin/channels_app/connector/{whatsapp.pk}/change/")
    assert page.status_code == 200 and b'name="whatsapp_templates-TOTAL_FORMS"' in page.content
    page = client.get(f"/admin/channels_app/connector/{telegram.pk}/change/")
    assert page.status_code == 200 and b"whatsapp_templates-TOTAL_FORMS" not in page.content
