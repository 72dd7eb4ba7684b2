"""In Chromium: the website chat's forms (issue 15, point 8).

A visitor fills the pre-chat form (checked in the browser, then by the server) and becomes a lead carrying that
e-mail on a channel that creates leads automatically (C2); a visitor on a channel out of hours (H2) fills the
offline form instead of the chat, and the conversation exists marked as an offline request.
"""

from __future__ import annotations

from datetime import time

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import Client, Conversation, LeadCreation, WorkingPeriod
from crm.models import Lead
from tests.e2e.harness import wait_for
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_widget(new_context, public_key: str):
    visitor = new_context().new_page()
    visitor.goto(f"/livechat/demo/{public_key}/")
    visitor.locator("button.launcher").click()
    chat = visitor.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    return chat


def test_C2_a_visitor_who_fills_the_pre_chat_email_becomes_a_lead(new_context, cc_server):
    channel = OpenChannelFactory(
        name="Garden shop",
        welcome_enabled=False,
        lead_creation=LeadCreation.AUTOMATIC,
        prechat_name="optional",
        prechat_email="required",
    )
    QueueMemberFactory(open_channel=channel, operator=OperatorFactory(username="olga"), position=0)
    connector = ConnectorFactory(open_channel=channel, public_key="garden-forms-key")

    chat = open_widget(new_context, connector.public_key)
    form = chat.locator("#prechat-form")
    expect(form).to_be_visible()
    expect(chat.locator("#composer")).to_be_hidden()
    expect(form.get_by_label("Your name (optional)")).to_be_visible()

    # The browser checks first: nothing reaches the server.
    form.get_by_role("button", name="Start the chat").click()
    expect(chat.locator("#prechat-email-error")).to_have_text("Please fill this in.")
    expect(form.get_by_label("Your e-mail")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("Your e-mail").fill("marta@")
    form.get_by_role("button", name="Start the chat").click()
    expect(chat.locator("#prechat-email-error")).to_have_text("Enter an e-mail address such as name@example.com.")
    assert not Client.objects.filter(connector=connector).exists()

    form.get_by_label("Your name (optional)").fill("Marta Ogrodnik")
    form.get_by_label("Your e-mail").fill("marta.lead@example.com")
    form.get_by_role("button", name="Start the chat").click()
    expect(form).to_be_hidden()
    expect(chat.locator("#composer")).to_be_visible()

    chat.locator("#text").fill("Do you sell tulip bulbs?")
    chat.locator("#text").press("Enter")
    expect(chat.locator(".msg-client:not(.is-pending) .bubble", has_text="Do you sell tulip bulbs?")).to_be_visible()

    lead = wait_for(lambda: Lead.objects.select_related("contact").filter(email="marta.lead@example.com").first())
    assert lead.full_name == "Marta Ogrodnik"
    assert lead.open_channel_id == channel.pk
    client = Client.objects.get(connector=connector)
    assert client.contact_id == lead.contact_id
    assert (client.name, client.email, client.unverified_email) == ("Marta Ogrodnik", "", "marta.lead@example.com")
    # The contact is found by nothing typed: the address waits for its owner's confirmation (C1).
    assert (lead.contact.full_name, lead.contact.email) == ("Marta Ogrodnik", "")


def test_H2_a_visitor_out_of_hours_leaves_an_offline_request(new_context, cc_server):
    channel = OpenChannelFactory(
        name="Night shop", welcome_enabled=False, offline_form_enabled=True, working_hours_enabled=True
    )
    # Open one minute a day, twelve hours from now: closed whenever this test runs.
    opening = time(hour=(timezone.now().hour + 12) % 24)
    for weekday in range(7):
        WorkingPeriod.objects.create(open_channel=channel, weekday=weekday, start=opening, end=time(opening.hour, 1))
    QueueMemberFactory(open_channel=channel, operator=OperatorFactory(username="nina"), position=0)
    connector = ConnectorFactory(open_channel=channel, public_key="night-forms-key")

    chat = open_widget(new_context, connector.public_key)
    form = chat.locator("#offline-form")
    expect(form).to_be_visible()
    expect(chat.locator("#offline-intro")).to_have_text(
        "We are closed right now. Leave a message and how to reach you, and we will answer when we open."
    )
    expect(chat.locator("#composer")).to_be_hidden()

    form.get_by_label("Your message").fill("Please call me about a wedding bouquet.")
    form.get_by_role("button", name="Send the message").click()
    expect(chat.locator("#offline-email-error")).to_have_text(
        "Give an e-mail or a phone number so that we can answer you."
    )
    form.get_by_label("Your name (optional)").fill("Piotr")
    form.get_by_label("Your phone (optional)").fill("+48 600 700 800")
    form.get_by_role("button", name="Send the message").click()

    expect(chat.locator("#offline-sent")).to_have_text(
        "Thank you! We have your message and will answer you as soon as we can."
    )
    expect(form).to_be_hidden()
    expect(chat.locator(".msg-client .bubble", has_text="Please call me about a wedding bouquet.")).to_be_visible()

    conversation = wait_for(lambda: Conversation.objects.filter(open_channel=channel).first())
    assert conversation.is_offline_request
    assert conversation.operator_id is None and not conversation.offers.exists(), "nobody is offered it while closed"
    assert conversation.messages.filter(text="Please call me about a wedding bouquet.").exists()
    assert (conversation.client.name, conversation.client.phone) == ("Piotr", "+48 600 700 800")


def test_the_offline_forms_message_is_never_cut_and_counts_near_its_limit(new_context, cc_server):
    """Issue 20: a paste longer than the limit stays whole in the box, the counter says by how much, and the form
    refuses it until shortened (the browser's maxlength would have cut it silently)."""
    channel = OpenChannelFactory(name="Empty shop", welcome_enabled=False, offline_form_enabled=True)
    connector = ConnectorFactory(open_channel=channel, public_key="empty-forms-key")
    limit = 4000

    chat = open_widget(new_context, connector.public_key)
    form = chat.locator("#offline-form")
    expect(form).to_be_visible()
    box = form.get_by_label("Your message")
    counter = chat.locator("#offline-message-counter")
    box.fill("x" * 3000)
    expect(counter).to_be_hidden()
    box.fill("x" * 5600)
    assert len(box.input_value()) == 5600, "nothing is cut"
    expect(counter).to_have_text("5,600 / 4,000")
    expect(counter).to_have_class("chat-counter form-counter is-over")
    form.get_by_label("Your e-mail").fill("ewa@example.com")
    form.get_by_role("button", name="Send the message").click()
    expect(chat.locator("#offline-message-error")).to_have_text(f"This is too long: at most {limit:,} characters.")
    assert not Conversation.objects.filter(open_channel=channel).exists()

    box.fill("y" * limit)
    expect(counter).not_to_have_class("chat-counter form-counter is-over")
    form.get_by_role("button", name="Send the message").click()
    expect(chat.locator("#offline-sent")).to_be_visible()
    conversation = wait_for(lambda: Conversation.objects.filter(open_channel=channel).first())
    assert conversation.messages.filter(text="y" * limit).exists(), "stored whole"
