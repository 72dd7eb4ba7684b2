"""S2 in the operator console, in Debian's Chromium against a real uvicorn server: after Meta's 24-hour window a
WhatsApp conversation shows a template picker instead of the reply box, and the template goes out filled in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import ConversationStatus, Message, WhatsAppTemplate
from tests.e2e.harness import in_worker
from tests.factories import (
    ClientFactory,
    ConnectorFactory,
    ConversationFactory,
    OpenChannelFactory,
    OperatorFactory,
    QueueMemberFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_S2_operator_sends_a_whatsapp_template_after_the_24_hour_window(new_context, cc_server):
    def seed():
        channel = OpenChannelFactory(name="Shop", welcome_enabled=False)
        olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
        QueueMemberFactory(open_channel=channel, operator=olga, position=0)
        whatsapp = ConnectorFactory(open_channel=channel, kind="whatsapp", account_id="106540352242922")
        WhatsAppTemplate.objects.create(
            connector=whatsapp, name="order_ready", language="en_US", body="Hello {{1}}, your order {{2}} is ready."
        )
        wrote_at = timezone.now() - timedelta(hours=25)
        conversation = ConversationFactory(
            client=ClientFactory(connector=whatsapp, name="Mai Tran", external_id="84901234567"),
            status=ConversationStatus.ACTIVE, operator=olga, assigned_at=wrote_at, last_client_message_at=wrote_at,
        )  # fmt: skip
        return olga, conversation

    olga, conversation = in_worker(seed)
    console = new_context(olga).new_page()
    console.goto("/console/")
    expect(console.locator("#connection")).to_have_attribute("data-state", "open")
    console.locator(f".conv-item[data-conversation-id='{conversation.pk}']").first.click()

    expect(console.locator("#composer")).to_be_hidden()
    expect(console.locator("#template-composer")).to_be_visible()
    expect(console.locator("#template-note")).to_contain_text("WhatsApp takes only an approved template")
    expect(console.locator("#template-select option")).to_have_text(["order_ready (en_US)"])
    fields = console.locator("#template-fields input")
    expect(fields).to_have_count(2)
    fields.nth(0).fill("Mai")
    expect(console.locator("#template-preview")).to_have_text("Hello Mai, your order {{2}} is ready.")
    fields.nth(1).fill("A-1042")
    expect(console.locator("#template-preview")).to_have_text("Hello Mai, your order A-1042 is ready.")
    console.locator("#btn-send-template").click()

    expect(console.locator(".msg-operator .bubble").last).to_contain_text("Hello Mai, your order A-1042 is ready.")
    sent = Message.objects.get(conversation=conversation, author_kind=Message.Author.OPERATOR)
    assert sent.template == {"name": "order_ready", "language": "en_US", "parameters": ["Mai", "A-1042"]}
    assert sent.author_id == olga.pk
