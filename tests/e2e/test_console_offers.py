"""Offer and queue actions in the console, in Debian's Chromium against a real uvicorn server (issue 15, point 7).

Two operators' consoles side by side: Olga declines the offer from the banner and it reaches Piotr at once
(Strictly in order, Q3); an operator takes a conversation waiting in "Waiting in my queues" and holds it.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from channels_app.engine.inbound import message_receive
from channels_app.models import Conversation, ConversationStatus, DistributionMode, Offer
from tests.e2e.harness import in_worker, publish_to_server, wait_for
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def support(settings, cc_server):
    """Olga, then Piotr, in the queue of "Website support" (Strictly in order), with a live chat."""
    channel = OpenChannelFactory(
        name="Website support", welcome_enabled=False, distribution_mode=DistributionMode.STRICTLY_IN_ORDER
    )
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    piotr = OperatorFactory(username="piotr", first_name="Piotr", last_name="Zieliński")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    livechat = ConnectorFactory(open_channel=channel, public_key="support-site-key")
    publish_to_server(settings, cc_server)
    return SimpleNamespace(channel=channel, olga=olga, piotr=piotr, livechat=livechat)


def open_console(new_context, user) -> Page:
    page = new_context(user).new_page()
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def client_writes(connector, visitor_id: str, text: str) -> Conversation:
    return message_receive(
        connector=connector, external_user_id=visitor_id, text=text, source_message_id=None, now=timezone.now()
    ).conversation


def test_Q3_declining_from_the_banner_moves_the_offer_to_the_next_operator_at_once(new_context, support):
    olga_console = open_console(new_context, support.olga)
    piotr_console = open_console(new_context, support.piotr)

    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-decline", "Where is my parcel?"))
    first = wait_for(lambda: Offer.objects.filter(conversation=conversation, status=Offer.Status.PENDING).first())
    assert first.operator_id == support.olga.pk  # first in order

    banner = olga_console.locator("#offer-banner")
    expect(banner).to_be_visible()
    banner.get_by_role("button", name="Decline").click()

    expect(banner).to_be_hidden()
    expect(olga_console.locator(f"#list-offered [data-conversation-id='{conversation.pk}']")).to_have_count(0)
    # Piotr is offered it at once (not when Olga's offer would have run out).
    expect(piotr_console.locator(f"#list-offered [data-conversation-id='{conversation.pk}']")).to_be_visible()
    expect(piotr_console.locator("#offer-banner")).to_be_visible()
    second = wait_for(
        lambda: Offer.objects.filter(conversation=conversation, operator=support.piotr, status="pending").first()
    )
    first.refresh_from_db()
    assert first.status == Offer.Status.DECLINED
    assert second.created_at - first.resolved_at < first.expires_at - first.created_at

    # Piotr declines from the conversation's header: everyone was tried, so a new round starts with Olga.
    piotr_console.locator(f"#list-offered [data-conversation-id='{conversation.pk}']").click()
    piotr_console.locator("#btn-decline").click()
    expect(piotr_console.locator("#conversation-view")).to_be_hidden()
    expect(olga_console.locator(f"#list-offered [data-conversation-id='{conversation.pk}']")).to_be_visible()


def test_an_operator_takes_a_waiting_conversation_from_the_queue_list(new_context, support):
    # Out of hours (the channel never opens): routing leaves it waiting; an operator may still take it.
    support.channel.working_hours_enabled = True
    support.channel.save(update_fields=["working_hours_enabled"])
    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-take", "Anyone there?"))
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.QUEUED

    console = open_console(new_context, support.piotr)
    row = console.locator(f"#list-queued [data-conversation-id='{conversation.pk}']")
    expect(row).to_be_visible()
    row.get_by_role("button", name="Take").click()

    expect(console.locator(f"#list-mine [data-conversation-id='{conversation.pk}']")).to_be_visible()
    expect(row).to_have_count(0)
    expect(console.locator("#conv-meta")).to_contain_text("With you")
    expect(console.locator("#reply")).to_be_enabled()
    expect(console.locator("#btn-take")).to_be_hidden()
    taken = wait_for(lambda: Conversation.objects.filter(pk=conversation.pk, status=ConversationStatus.ACTIVE).first())
    assert taken.operator_id == support.piotr.pk
