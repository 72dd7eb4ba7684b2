"""History and search in the operator console, in Debian's Chromium against a real uvicorn server (issue 15).

Olga finds last week's closed conversation by a Polish word typed without diacritics ("fakture" for
"fakturę"), sees the word marked in the result, opens it, and lands on that message (highlighted, in view) in a
read-only conversation; the client card lists the client's other conversation, which opens from there. Another
channel's conversation with the same word is never found.
"""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from channels_app.models import Conversation, ConversationStatus, Message
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

INVOICE = "Dzień dobry, proszę o fakturę za zamówienie 4471, na firmę."


def closed_conversation(connector, client, *, days_ago: int, texts: list[str]) -> Conversation:
    created = timezone.now() - timedelta(days=days_ago)
    conversation = ConversationFactory(
        client=client,
        connector=connector,
        open_channel=connector.open_channel,
        status=ConversationStatus.CLOSED,
        created_at=created,
        closed_at=created + timedelta(hours=1),
        last_message_at=created + timedelta(minutes=len(texts)),
    )
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            connector=connector,
            author_kind=Message.Author.CLIENT if index % 2 == 0 else Message.Author.OPERATOR,
            text=text,
            created_at=created + timedelta(minutes=index),
        )
        for index, text in enumerate(texts)
    )
    return conversation


@pytest.fixture
def last_week(cc_server):
    def seed():
        channel = OpenChannelFactory(name="Sklep", welcome_enabled=False)
        olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
        QueueMemberFactory(open_channel=channel, operator=olga, position=0)
        livechat = ConnectorFactory(open_channel=channel, public_key="shop-site-key")
        client = ClientFactory(connector=livechat, name="Jan Kowalski")
        # Enough talk before and after the invoice that it has to be scrolled to.
        chatter = [f"Wiadomość numer {n} o dostawie." for n in range(40)]
        invoice = closed_conversation(livechat, client, days_ago=7, texts=[*chatter[:30], INVOICE, *chatter[30:]])
        earlier = closed_conversation(livechat, client, days_ago=20, texts=["Pytanie o zwrot."])
        elsewhere = OpenChannelFactory(name="Hurt")
        other = ConnectorFactory(open_channel=elsewhere, public_key="wholesale-key")
        closed_conversation(other, ClientFactory(connector=other), days_ago=7, texts=[INVOICE])
        message = Message.objects.get(conversation=invoice, text=INVOICE)
        return SimpleNamespace(olga=olga, invoice=invoice, earlier=earlier, message=message)

    return in_worker(seed)


def open_console(new_context, user) -> Page:
    page = new_context(user).new_page()
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def test_an_operator_finds_last_weeks_conversation_by_a_word_without_diacritics(new_context, last_week):
    console = open_console(new_context, last_week.olga)
    console.locator("#tab-history").click()
    console.locator("#history-q").fill("fakture")

    results = console.locator("#history-results .history-item")
    expect(results).to_have_count(1)  # not the other channel's conversation with the same words
    hit = results.first
    expect(hit).to_have_attribute("data-conversation-id", str(last_week.invoice.pk))
    expect(hit.locator("mark")).to_have_text("fakturę")
    expect(hit).to_contain_text("Jan Kowalski")

    hit.click()
    expect(console).to_have_url(
        f"{console.url.split('#')[0]}#conversation={last_week.invoice.pk}&message={last_week.message.pk}"
    )
    message = console.locator(f"#messages [data-message-id='{last_week.message.pk}']")
    expect(message).to_have_class(re.compile(r"\bis-highlighted\b"))
    expect(message).to_be_in_viewport()
    expect(message).to_contain_text(INVOICE)
    # Closed: read-only.
    expect(console.locator("#reply")).to_be_disabled()
    expect(console.locator("#btn-close")).to_be_hidden()

    # The client card lists both of the client's conversations, newest first; the older one opens from there.
    timeline = console.locator("#client-timeline a")
    expect(timeline).to_have_count(2)
    expect(timeline.first).to_have_attribute("href", f"#conversation={last_week.invoice.pk}")
    timeline.nth(1).click()
    expect(console.locator("#messages")).to_contain_text("Pytanie o zwrot.")
