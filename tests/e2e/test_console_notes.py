"""Private notes with @mentions and the notifications bell, in Debian's Chromium against a real uvicorn server
(issue 15).

Olga writes a note in a live-chat conversation and mentions Piotr by the name the console shows him by: his
console's bell counts it at once, it is still there after a reload, and it opens the conversation. The visitor's
widget never shows the note, neither on its page nor in a frame of its socket; in a Telegram conversation no
sendMessage to the (fake) provider ever carries a note, while the reply written after it does go out.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import FrameLocator, Page, expect

from channels_app.engine.offers import offer_accept
from channels_app.models import ConversationNote, Notification, Offer, OperatorProfile
from tests.e2e.harness import in_worker, publish_to_server, wait_for
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "VIP: offer her the 20% voucher"


@pytest.fixture
def support(settings, cc_server):
    """Olga and Piotr Kowalski in "Website support" (live chat and a Telegram bot); Piotr offline, so Olga is
    offered every conversation."""
    channel = OpenChannelFactory(name="Website support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    piotr = OperatorFactory(username="piotr", first_name="Piotr", last_name="Kowalski")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    OperatorProfile.objects.filter(user=piotr).update(is_online=False, console_heartbeat_at=None)
    livechat = ConnectorFactory(open_channel=channel, public_key="notes-site-key")
    telegram = ConnectorFactory(
        open_channel=channel,
        kind="telegram",
        account_id="notes-bot",
        access_token="123456:bot-token",
        webhook_secret="telegram-webhook-secret",
    )
    publish_to_server(settings, cc_server)
    return SimpleNamespace(channel=channel, olga=olga, piotr=piotr, livechat=livechat, telegram=telegram)


def open_console(new_context, user) -> Page:
    page = new_context(user).new_page()
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def open_widget(new_context, connector) -> tuple[Page, FrameLocator, list[str]]:
    page = new_context().new_page()
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda payload: frames.append(str(payload))))
    page.goto(f"/livechat/demo/{connector.public_key}/")
    page.locator("button.launcher").click()
    chat = page.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    return page, chat, frames


def accept_offer(operator):
    offer = wait_for(lambda: Offer.objects.filter(operator=operator, status=Offer.Status.PENDING).first())
    return in_worker(lambda: offer_accept(offer_id=offer.pk, operator=operator, now=timezone.now()))


def open_conversation(console: Page, conversation) -> None:
    console.locator(f".conv-item[data-conversation-id='{conversation.pk}']").first.click()
    expect(console.locator("#conversation-view")).to_be_visible()


def write_note_mentioning_piotr(console: Page, rest: str) -> None:
    note = console.locator("#note-input")
    note.click()
    note.press_sequentially("@Pio")
    expect(console.locator("#mention-suggestions button")).to_have_text(["Piotr Kowalski"])
    note.press("Enter")  # takes the suggestion
    expect(note).to_have_value("@Piotr Kowalski ")
    note.press_sequentially(rest)
    note.press("Enter")  # saves the note
    expect(note).to_have_value("")


def test_a_mention_notifies_piotr_until_read_and_the_visitor_never_sees_the_note(new_context, support):
    widget_page, chat, widget_frames = open_widget(new_context, support.livechat)
    chat.locator("#text").fill("Hi, my order 1234 is late")
    chat.locator("#text").press("Enter")
    conversation = accept_offer(support.olga)
    olga = open_console(new_context, support.olga)
    open_conversation(olga, conversation)
    piotr = open_console(new_context, support.piotr)
    expect(piotr.locator("#notifications-count")).to_be_hidden()

    write_note_mentioning_piotr(olga, SECRET)

    # Olga sees the note as a note, the mention highlighted; it is kept, with whom it mentions.
    shown = olga.locator("#messages .msg-note")
    expect(shown.locator(".bubble")).to_have_text(f"@Piotr Kowalski {SECRET}")
    expect(shown.locator(".mention")).to_have_text("@Piotr Kowalski")
    note = ConversationNote.objects.get()
    assert list(note.mentioned.values_list("username", flat=True)) == ["piotr"]

    # Piotr's bell counts it at once, and still after a reload.
    expect(piotr.locator("#notifications-count")).to_have_text("1")
    piotr.reload()
    expect(piotr.locator("#connection")).to_have_attribute("data-state", "open")
    expect(piotr.locator("#notifications-count")).to_have_text("1")
    piotr.locator("#btn-notifications").click()
    item = piotr.locator("#notifications-list li.is-unread")
    expect(item).to_have_count(1)
    expect(item.locator("strong")).to_have_text("You were mentioned in a note")
    item.click()
    # It opens the conversation, with the note in it, and is read now.
    expect(piotr.locator("#conversation-view")).to_be_visible()
    expect(piotr.locator("#messages .msg-note .mention")).to_have_text("@Piotr Kowalski")
    expect(piotr.locator("#notifications-count")).to_be_hidden()
    assert wait_for(lambda: Notification.objects.filter(recipient=support.piotr, read_at__isnull=False).exists())
    piotr.reload()
    expect(piotr.locator("#connection")).to_have_attribute("data-state", "open")
    expect(piotr.locator("#notifications-count")).to_be_hidden()

    # A reply after the note reaches the visitor; the note never did, on the page or on its socket.
    olga.locator("#reply").fill("Your parcel leaves today.")
    olga.locator("#reply").press("Enter")
    expect(chat.locator(".msg-operator .bubble")).to_have_text(["Your parcel leaves today."])
    assert "voucher" not in chat.locator("body").inner_text()
    assert "voucher" not in widget_page.content()
    assert widget_frames, "the widget's socket was watched"
    assert any("Your parcel leaves today." in frame for frame in widget_frames)
    assert not [frame for frame in widget_frames if "voucher" in frame or "note" in json.loads(frame).get("type", "")]


def test_a_note_in_a_telegram_conversation_never_reaches_the_provider(new_context, support, cc_server, fake_provider):
    bot = support.telegram
    chat = {"id": 4242, "type": "private", "first_name": "Mai"}
    update = {"message_id": 1, "date": 1_764_000_000, "chat": chat, "from": {"id": 4242, "is_bot": False}, "text": "Hi"}
    response = httpx.post(
        f"{cc_server.url}/webhooks/telegram/{bot.pk}/",
        json={"update_id": 1, "message": update},
        headers={"X-Telegram-Bot-Api-Secret-Token": bot.webhook_secret},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    conversation = accept_offer(support.olga)
    olga = open_console(new_context, support.olga)
    open_conversation(olga, conversation)

    write_note_mentioning_piotr(olga, SECRET)
    expect(olga.locator("#messages .msg-note .bubble")).to_have_text(f"@Piotr Kowalski {SECRET}")
    olga.locator("#reply").fill("We are on it.")
    olga.locator("#reply").press("Enter")

    sent = wait_for(
        lambda: [call.json for call in fake_provider.calls("sendMessage") if "We are on it." in call.body.decode()],
        timeout=20,
    )
    assert sent and sent[0]["chat_id"] in (4242, "4242")
    assert not [call for call in fake_provider.requests if b"voucher" in call.body]
