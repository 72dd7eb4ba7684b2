"""Issue 15, point 3, in Chromium: a long conversation opens on its latest messages, older ones load as the
operator (or the visitor) scrolls up without the view jumping, and a link to an old message opens around it."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from channels_app.engine.conversations import message_send_by_operator
from channels_app.engine.inbound import message_receive
from channels_app.engine.offers import offer_accept
from channels_app.models import Conversation, Message, Offer
from tests.e2e.harness import in_worker, publish_to_server
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def support(settings, cc_server):
    channel = OpenChannelFactory(name="Website support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    livechat = ConnectorFactory(open_channel=channel, public_key="support-site-key")
    publish_to_server(settings, cc_server)
    return SimpleNamespace(channel=channel, olga=olga, livechat=livechat)


def long_conversation(support, visitor_id: str, count: int) -> Conversation:
    """``count`` earlier messages "Message 0".."Message <count-1>", a minute apart, then the client's "Latest
    question", held by Olga."""

    def seed() -> Conversation:
        received = message_receive(
            connector=support.livechat,
            external_user_id=visitor_id,
            text="Latest question",
            source_message_id=None,
            now=timezone.now(),
        )
        conversation = received.conversation
        start = timezone.now() - timedelta(days=2)
        Message.objects.bulk_create(
            Message(
                conversation=conversation,
                connector=support.livechat,
                author_kind=Message.Author.CLIENT if index % 2 else Message.Author.OPERATOR,
                author=None if index % 2 else support.olga,
                delivery=Message.Delivery.RECEIVED if index % 2 else Message.Delivery.SENT,
                text=f"Message {index}",
                created_at=start + timedelta(minutes=index),
            )
            for index in range(count)
        )
        offer = Offer.objects.get(conversation=conversation, operator=support.olga, status=Offer.Status.PENDING)
        return offer_accept(offer_id=offer.pk, operator=support.olga, now=timezone.now())

    return in_worker(seed)


def open_console(new_context, user, hash_part: str = "") -> Page:
    page = new_context(user).new_page()
    page.goto(f"/console/{hash_part}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def top_of(page: Page, text: str, frame_scope: str = "document") -> float:
    return page.evaluate(
        """([text]) => [...document.querySelectorAll('#messages .text')]
            .find((node) => node.textContent === text).getBoundingClientRect().top""",
        [text],
    )


def test_a_long_conversation_opens_at_its_end_loads_older_in_place_and_links_open_around(new_context, support):
    conversation = long_conversation(support, "visitor-long", 500)
    ids = dict(Message.objects.filter(conversation=conversation).values_list("text", "id"))
    console = open_console(new_context, support.olga)
    console.locator(f".conv-item[data-conversation-id='{conversation.pk}']").first.click()

    messages = console.locator("#messages")
    rows = console.locator("#messages [data-message-id]")
    # The latest 200: "Message 301".."Message 499" and the client's latest question, scrolled to the bottom.
    expect(rows).to_have_count(200)
    expect(console.locator("#messages .text", has_text="Latest question")).to_be_in_viewport()
    expect(console.locator("#messages .text").first).to_have_text("Message 301")
    expect(console.locator("#messages [data-paging='older']")).to_be_attached()

    # Scrolling to the top loads the 200 before, and "Message 301" stays where it was on screen.
    before = console.evaluate(
        """() => {
            const list = document.getElementById('messages');
            list.scrollTop = 0;
            return [...list.querySelectorAll('.text')].find((node) => node.textContent === 'Message 301')
                .getBoundingClientRect().top;
        }"""
    )
    expect(rows).to_have_count(400)
    assert abs(top_of(console, "Message 301") - before) <= 2, "the view jumped when older messages came in"
    expect(console.locator("#messages .text").first).to_have_text("Message 101")
    # And again to the first message: no "older" row is left.
    messages.evaluate("(list) => { list.scrollTop = 0; }")
    expect(rows).to_have_count(501)
    expect(console.locator("#messages [data-paging='older']")).to_have_count(0)
    expect(console.locator("#messages .text").first).to_have_text("Message 0")

    # A link to an old message (a search result, a notification) opens the page around it, highlighted.
    fresh = open_console(new_context, support.olga, f"#conversation={conversation.pk}&message={ids['Message 40']}")
    linked = fresh.locator(f"#messages [data-message-id='{ids['Message 40']}']")
    expect(linked).to_have_class("msg msg-operator is-highlighted")
    expect(linked).to_be_in_viewport()
    fresh_rows = fresh.locator("#messages [data-message-id]")
    expect(fresh_rows).to_have_count(200)  # Message 0..39 before it, then it and the 160 after
    expect(fresh.locator("#messages .text", has_text="Latest question")).to_have_count(0)
    expect(fresh.locator("#messages [data-paging='newer']")).to_be_attached()
    # Scrolling down loads the newer pages until the live end.
    for expected in (400, 501):
        fresh.locator("#messages").evaluate("(list) => { list.scrollTop = list.scrollHeight; }")
        expect(fresh_rows).to_have_count(expected)
    expect(fresh.locator("#messages [data-paging='newer']")).to_have_count(0)
    expect(fresh.locator("#messages .text", has_text="Latest question")).to_be_visible()


def test_the_widget_opens_on_the_latest_messages_and_loads_earlier_ones_on_scroll(new_context, support):
    from tests.e2e.test_console_livechat import open_widget_as

    conversation = long_conversation(support, "visitor-returning", 300)
    _page, chat = open_widget_as(new_context, support.livechat, "visitor-returning")
    rows = chat.locator("#messages .msg[data-message-id]")
    expect(rows).to_have_count(200)
    expect(chat.locator("#messages .bubble", has_text="Latest question")).to_be_in_viewport()
    expect(chat.locator(".chat-paging")).to_be_attached()
    chat.locator("#messages").evaluate("(list) => { list.scrollTop = 0; }")
    expect(rows).to_have_count(301)
    expect(chat.locator(".chat-paging")).to_have_count(0)
    expect(chat.locator("#messages .bubble").first).to_have_text("Message 0")

    # A reply arriving while the visitor reads the first messages does not pull the view down to it.
    first = chat.locator("#messages .bubble", has_text="Message 0")
    first.scroll_into_view_if_needed()
    expect(first).to_be_in_viewport()
    in_worker(
        lambda: message_send_by_operator(
            conversation_id=conversation.pk, operator=support.olga, text="A reply below", now=timezone.now()
        )
    )
    expect(chat.locator("#messages .bubble", has_text="A reply below")).to_be_attached()
    expect(first).to_be_in_viewport()
    expect(chat.locator("#messages .bubble", has_text="A reply below")).not_to_be_in_viewport()


def test_a_clients_edit_and_deletion_in_the_messenger_redraw_the_message_live(new_context, support):
    from channels_app.engine.inbound import message_delete, message_edit

    telegram = in_worker(
        lambda: ConnectorFactory(open_channel=support.channel, kind="telegram", account_id="support-bot")
    )

    def client_writes_twice() -> Conversation:
        for source_id, text in (("tg-1", "I want 2 kettles"), ("tg-2", "My card is 4111 1111")):
            received = message_receive(
                connector=telegram, external_user_id="tg-anna", text=text, source_message_id=source_id,
                now=timezone.now(), client_name="Anna",
            )  # fmt: skip
        offer = Offer.objects.get(conversation=received.conversation, status=Offer.Status.PENDING)
        return offer_accept(offer_id=offer.pk, operator=support.olga, now=timezone.now())

    conversation = in_worker(client_writes_twice)
    console = open_console(new_context, support.olga, f"#conversation={conversation.pk}")
    expect(console.locator("#messages .text", has_text="I want 2 kettles")).to_be_visible()

    in_worker(
        lambda: message_edit(connector=telegram, source_message_id="tg-1", text="I want 3 kettles", now=timezone.now())
    )
    edited = console.locator("#messages .msg", has_text="I want 3 kettles")
    expect(edited.locator(".change.is-edited")).to_contain_text("Edited at")
    expect(edited.locator(".change.is-edited")).to_have_attribute("title", "Before: I want 2 kettles")

    in_worker(lambda: message_delete(connector=telegram, source_message_id="tg-2", now=timezone.now()))
    deleted = console.locator("#messages .msg", has_text="My card is 4111 1111")
    expect(deleted).to_have_class("msg msg-client is-deleted")
    expect(deleted.locator(".change.is-deleted")).to_contain_text("Deleted by the client at")
