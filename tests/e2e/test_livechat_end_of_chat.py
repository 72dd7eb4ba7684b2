"""The end of a chat and the length of a message in the website widget (issue 20), in Debian's Chromium.

One rating prompt (the channel's request, above its buttons) and one thank-you; a counter near the length limit and
no silent cut of a long paste; the launcher hidden while the chat is open.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import FrameLocator, Page, expect

from channels_app.models import TYPED_TEXT_MAX_LENGTH, ClientRating, Message
from tests.e2e.harness import in_worker, publish_to_server
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REQUEST = "How was our help today?"
THANKS = "Thanks, that helps us a lot!"


@pytest.fixture
def channel(settings, cc_server):
    channel = OpenChannelFactory(
        name="Website support",
        welcome_enabled=False,
        close_message_enabled=False,
        rating_enabled=True,
        rating_request_text=REQUEST,
        rating_thanks_text=THANKS,
    )
    olga = OperatorFactory(username="olga", first_name="Olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    ConnectorFactory(open_channel=channel, public_key="end-of-chat-key")
    channel.olga = olga
    publish_to_server(settings, cc_server)  # Olga's answer and close (made here) reach the widget's socket
    return channel


def open_widget(new_context) -> tuple[Page, FrameLocator]:
    page = new_context().new_page()
    page.goto("/livechat/demo/end-of-chat-key/")
    page.locator("button.launcher").click()
    chat = page.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    return page, chat


def visitor_writes(chat: FrameLocator, text: str) -> None:
    chat.locator("#text").fill(text)
    chat.locator("#text").press("Enter")
    expect(chat.locator(".msg-client:not(.is-pending) .bubble", has_text=text)).to_be_visible()


def olga_answers_and_closes(channel) -> None:
    """Olga accepts the visitor's conversation, answers and closes it (through the services, as her console does)."""
    from channels_app.engine.conversations import conversation_close_by_operator, message_send_by_operator
    from channels_app.models import Conversation

    def run() -> None:
        conversation = Conversation.objects.get(open_channel=channel)
        olga = channel.olga
        message_send_by_operator(conversation_id=conversation.pk, operator=olga, text="Done!", now=timezone.now())
        conversation_close_by_operator(conversation_id=conversation.pk, operator=olga, now=timezone.now())

    in_worker(run)


def test_R1_the_visitor_is_asked_once_and_thanked_once(new_context, channel):
    _, chat = open_widget(new_context)
    visitor_writes(chat, "Where is my parcel?")
    olga_answers_and_closes(channel)

    # One prompt: the channel's request above the buttons, not also a line of the thread.
    expect(chat.locator("#rating")).to_be_visible()
    expect(chat.locator("#rating-prompt")).to_have_text(REQUEST)
    expect(chat.locator("#messages")).not_to_contain_text(REQUEST)
    assert Message.objects.filter(system_key="rating_request", text=REQUEST).count() == 1  # messengers still get it

    chat.locator("#rate-like").click()
    expect(chat.locator("#rating")).to_be_hidden()
    # One thank-you: the channel's message in the thread; the ended line and the notes do not say it again.
    expect(chat.locator(".msg-system .bubble", has_text=THANKS)).to_have_count(1)
    expect(chat.locator("#ended")).to_have_text("The conversation has ended. Write again to start a new conversation.")
    expect(chat.locator("#transcript-note")).to_be_hidden()
    assert chat.locator("body").inner_text().count(THANKS) == 1
    assert ClientRating.objects.get().value == "like"


def test_R1_a_channel_without_a_thanks_text_is_thanked_by_the_widget_once(new_context, channel):
    channel.rating_thanks_text = ""
    channel.save()
    _, chat = open_widget(new_context)
    visitor_writes(chat, "Hello")
    olga_answers_and_closes(channel)

    chat.locator("#rate-dislike").click()
    expect(chat.locator("#ended")).to_have_text("Thank you for your feedback! Write again to start a new conversation.")
    assert chat.locator("body").inner_text().count("Thank you for your feedback!") == 1
    assert ClientRating.objects.get().value == "dislike"


def test_a_counter_near_the_limit_and_a_long_paste_is_not_cut_or_sent(new_context, channel):
    _, chat = open_widget(new_context)
    text = chat.locator("#text")

    text.fill("x" * 3_000)  # below 80 % of 4,000: no counter
    expect(chat.locator("#counter")).to_be_hidden()
    text.fill("x" * 3_950)
    expect(chat.locator("#counter")).to_have_text("3,950 / 4,000")
    expect(chat.locator("#counter")).not_to_have_class("chat-counter is-over")
    expect(chat.locator("#send")).to_be_enabled()

    # A 5,600-character paste stays whole in the box; the counter turns red, a note says the rule, nothing is sent.
    pasted = "y" * 5_600
    text.fill("")
    text.focus()
    chat.locator("body").evaluate("(_, value) => document.execCommand('insertText', false, value)", pasted)
    expect(text).to_have_value(pasted)
    expect(chat.locator("#counter")).to_have_text("5,600 / 4,000")
    expect(chat.locator("#counter")).to_have_class("chat-counter is-over")
    expect(chat.locator("#too-long")).to_have_text(
        "Your message is too long: at most 4,000 characters. Shorten it or send it in parts."
    )
    expect(chat.locator("#send")).to_be_disabled()
    text.press("Enter")
    expect(chat.locator(".msg-client")).to_have_count(0)
    expect(text).to_have_value(pasted)

    # Shortened to the limit, it goes.
    text.fill("z" * TYPED_TEXT_MAX_LENGTH)
    expect(chat.locator("#too-long")).to_be_hidden()
    text.press("Enter")
    expect(chat.locator(".msg-client:not(.is-pending)")).to_have_count(1)
    assert len(Message.objects.get(author_kind="client").text) == TYPED_TEXT_MAX_LENGTH


def test_the_launcher_hides_while_the_chat_is_open(new_context, channel):
    page, chat = open_widget(new_context)
    launcher = page.locator("button.launcher")
    expect(launcher).to_be_hidden()
    chat.locator("#minimize").click()
    expect(launcher).to_be_visible()
    expect(launcher).to_be_focused()

    launcher.click()
    expect(launcher).to_be_hidden()
    chat.locator("#text").press("Escape")
    expect(launcher).to_be_visible()
