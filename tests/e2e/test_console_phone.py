"""The console on any screen, availability and offers (issue 20, points 5 to 7), in Debian's Chromium.

A phone (390×844) shows one pane at a time: the offer is accepted from the banner in one click, the reply
goes out, and "← Conversations" goes back to the list; at 1280×720 nothing overflows. The A key accepts the
banner's offer, but not while the operator types. Away: no offer reaches the operator, their chat stays, the
console says why; Available again: the waiting chat is offered at once. "Enable sound" shows until the browser
lets the page play. A transfer to an offline colleague asks first.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from channels_app.engine.inbound import message_receive
from channels_app.models import Conversation, ConversationStatus, Message, Offer, OperatorProfile
from tests.e2e.harness import in_worker, publish_to_server, wait_for
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 720}

# What the page's own layout overflows by (0: nothing sticks out to the right).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll("body *")].filter((node) => {
    const box = node.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.right > width + 1;
  });
  return { scroll: document.documentElement.scrollWidth - width, out: out.map((node) => node.id || node.className) };
}"""

# Headless Chromium lets every page play sound; a desktop browser waits for a click or a key (the autoplay
# rule). This makes the page's AudioContext behave like the desktop's.
AUTOPLAY_RULE = """(() => {
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    constructor(...args) { super(...args); this.allowed = false; }
    get state() { return this.allowed ? super.state : "suspended"; }
    resume() {
      if (navigator.userActivation.hasBeenActive && !this.allowed) {
        this.allowed = true;
        this.dispatchEvent(new Event("statechange"));
      }
      return super.resume();
    }
  };
})();"""


@pytest.fixture
def support(settings, cc_server):
    """Olga, then Piotr, in the queue of "Website support" (Strictly in order), with a live chat."""
    channel = OpenChannelFactory(
        name="Website support",
        welcome_enabled=False,
        distribution_mode="in_order",
        transfer_to_unavailable_after_warning=True,
    )
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    piotr = OperatorFactory(username="piotr", first_name="Piotr", last_name="Zieliński")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    livechat = ConnectorFactory(open_channel=channel, public_key="support-site-key")
    publish_to_server(settings, cc_server)
    return SimpleNamespace(channel=channel, olga=olga, piotr=piotr, livechat=livechat)


def open_console(new_context, user, viewport=None, init_script: str | None = None) -> Page:
    page = new_context(user).new_page()
    if viewport:
        page.set_viewport_size(viewport)
    if init_script:
        page.add_init_script(init_script)
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def client_writes(connector, visitor_id: str, text: str) -> Conversation:
    return message_receive(
        connector=connector, external_user_id=visitor_id, text=text, source_message_id=None, now=timezone.now()
    ).conversation


def pending_offer(conversation) -> Offer:
    return wait_for(lambda: Offer.objects.filter(conversation=conversation, status=Offer.Status.PENDING).first())


def assert_nothing_overflows(page: Page) -> None:
    overflow = page.evaluate(OVERFLOW)
    assert overflow == {"scroll": 0, "out": []}, overflow


def test_on_a_phone_the_console_accepts_in_one_click_shows_the_conversation_and_sends_a_reply(new_context, support):
    console = open_console(new_context, support.olga, PHONE)
    assert_nothing_overflows(console)
    expect(console.locator(".lists")).to_be_visible()
    expect(console.locator(".conversation")).to_be_hidden()  # one pane at a time
    expect(console.locator("#btn-menu")).to_be_visible()  # the secondary controls fold into a menu
    expect(console.get_by_role("button", name="Sign out")).to_be_hidden()

    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-phone", "Where is my parcel?"))
    offer = pending_offer(conversation)
    assert offer.operator_id == support.olga.pk
    banner = console.locator("#offer-banner")
    expect(banner).to_be_visible()
    assert_nothing_overflows(console)

    # One click: accepted, and the conversation takes the screen.
    banner.get_by_role("button", name="Accept").click()
    expect(banner).to_be_hidden()
    wait_for(lambda: Conversation.objects.filter(pk=conversation.pk, status=ConversationStatus.ACTIVE).first())
    expect(console.locator(".conversation")).to_be_visible()
    expect(console.locator(".lists")).to_be_hidden()
    expect(console.locator("#messages")).to_contain_text("Where is my parcel?")
    reply = console.locator("#reply")
    expect(reply).to_be_enabled()
    assert reply.bounding_box()["width"] > 200  # a reply box, not one letter per line
    assert_nothing_overflows(console)

    reply.fill("It left our warehouse this morning.")
    console.get_by_role("button", name="Send").click()
    expect(console.locator("#messages .msg-operator")).to_contain_text("It left our warehouse this morning.")
    sent = wait_for(lambda: Message.objects.filter(conversation=conversation, author_kind="operator").first())
    assert sent.text == "It left our warehouse this morning."

    # The client card is a pane of its own, and back.
    console.get_by_role("button", name="Client card").click()
    expect(console.locator("#client-card")).to_be_visible()
    expect(console.locator(".conversation")).to_be_hidden()
    console.get_by_role("button", name="← Conversation").click()
    expect(console.locator(".conversation")).to_be_visible()

    # Back to the list: the conversation is among mine.
    console.get_by_role("button", name="← Conversations").click()
    expect(console.locator(".lists")).to_be_visible()
    expect(console.locator(".conversation")).to_be_hidden()
    expect(console.locator(f"#list-mine [data-conversation-id='{conversation.pk}']")).to_be_visible()

    # The menu holds what the bar has no room for.
    console.get_by_role("button", name="Menu").click()
    expect(console.get_by_role("button", name="Sign out")).to_be_visible()
    assert_nothing_overflows(console)


def test_at_1280_by_720_nothing_overflows_with_a_conversation_open(new_context, support):
    console = open_console(new_context, support.olga, LAPTOP)
    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-laptop", "Hello there"))
    pending_offer(conversation)
    console.locator("#offer-banner").get_by_role("button", name="Accept").click()
    expect(console.locator("#conv-meta")).to_contain_text("With you")
    for pane in (".lists", ".conversation", "#client-card"):
        expect(console.locator(pane)).to_be_visible()  # three columns side by side
    expect(console.locator(".pane-nav").first).to_be_hidden()
    assert_nothing_overflows(console)


def test_the_a_key_accepts_the_offer_but_not_while_typing_a_reply(new_context, support):
    console = open_console(new_context, support.olga)
    expect(console.locator("#offer-banner-hint")).to_be_hidden()
    first = in_worker(lambda: client_writes(support.livechat, "visitor-key-1", "First"))
    pending_offer(first)
    expect(console.locator("#offer-banner")).to_be_visible()
    expect(console.locator("#offer-banner-hint")).to_contain_text("to accept")
    console.locator("h2", has_text="My conversations").click()  # focus on the page, not in a field
    console.keyboard.press("a")
    wait_for(lambda: Conversation.objects.filter(pk=first.pk, operator=support.olga, status="active").first())
    expect(console.locator("#conv-meta")).to_contain_text("With you")
    expect(console.locator("#reply")).to_be_focused()

    # Typing in the reply box: the letter goes into the reply, the new offer stays pending.
    second = in_worker(lambda: client_writes(support.livechat, "visitor-key-2", "Second"))
    offer = pending_offer(second)
    expect(console.locator("#offer-banner")).to_be_visible()
    console.locator("#reply").press("a")
    expect(console.locator("#reply")).to_have_value("a")
    console.wait_for_timeout(500)
    offer.refresh_from_db()
    assert offer.status == Offer.Status.PENDING


def test_away_gets_no_offers_keeps_its_chat_and_says_why(new_context, support):
    support.channel.distribution_mode = "evenly"
    support.channel.save(update_fields=["distribution_mode"])
    OperatorProfile.objects.filter(user=support.piotr).update(availability="offline")
    console = open_console(new_context, support.olga)
    note = console.locator("#availability-note")
    expect(note).to_be_hidden()  # nothing in the way
    held = in_worker(lambda: client_writes(support.livechat, "visitor-held", "Hi"))
    pending_offer(held)
    console.locator("#offer-banner").get_by_role("button", name="Accept").click()
    expect(console.locator("#conv-meta")).to_contain_text("With you")

    console.locator("#availability").select_option("away")
    expect(note).to_be_visible()
    expect(note).to_contain_text("You are Away")
    assert wait_for(lambda: OperatorProfile.objects.filter(user=support.olga, availability="away").first())

    waiting = in_worker(lambda: client_writes(support.livechat, "visitor-waits", "Anyone?"))
    assert Conversation.objects.get(pk=waiting.pk).status == ConversationStatus.QUEUED
    decision = waiting.routing_decisions.get()
    olga_entry = next(entry for entry in decision.candidates if entry["operator_id"] == support.olga.pk)
    assert "set to away" in olga_entry["reasons"]
    # Her chat stays hers, and she still answers it.
    assert Conversation.objects.get(pk=held.pk).operator_id == support.olga.pk
    console.locator("#reply").fill("Still with you")
    console.locator("#reply").press("Enter")
    wait_for(lambda: Message.objects.filter(conversation=held, author_kind="operator").first())
    expect(console.locator(f"#list-queued [data-conversation-id='{waiting.pk}']")).to_be_visible()

    # Available again: the waiting chat is offered at once and the note goes.
    console.locator("#availability").select_option("available")
    expect(console.locator("#offer-banner")).to_be_visible()
    assert pending_offer(waiting).operator_id == support.olga.pk
    expect(note).to_be_hidden()


def test_clock_in_shows_only_where_a_channel_requires_it_and_the_console_says_so(new_context, support):
    OperatorProfile.objects.filter(user=support.olga).update(clocked_in=False)
    console = open_console(new_context, support.olga)
    expect(console.locator("#btn-clock")).to_be_hidden()  # this channel does not ask for it
    expect(console.locator("#availability-note")).to_be_hidden()

    support.channel.require_clocked_in = True
    support.channel.save(update_fields=["require_clocked_in"])
    console.reload()
    expect(console.locator("#btn-clock")).to_be_visible()
    expect(console.locator("#btn-break")).to_be_hidden()  # a break only once clocked in
    note = console.locator("#availability-note")
    expect(note).to_contain_text("Clock in to receive conversations in Website support.")
    console.locator("#btn-clock").click()
    expect(note).to_be_hidden()
    console.locator("#btn-break").click()
    expect(note).to_contain_text("You are on a break.")


def test_enable_sound_shows_until_the_browser_allows_sound(new_context, support):
    console = open_console(new_context, support.olga, init_script=AUTOPLAY_RULE)
    prompt = console.locator("#sound-prompt")
    expect(prompt).to_be_visible()
    prompt.get_by_role("button", name="Enable sound").click()
    expect(prompt).to_be_hidden()


def test_a_transfer_to_an_offline_colleague_is_marked_and_asked_first(new_context, support):
    OperatorProfile.objects.filter(user=support.piotr).update(console_heartbeat_at=None, is_online=False)
    console = open_console(new_context, support.olga)
    conversation = in_worker(lambda: client_writes(support.livechat, "visitor-transfer", "Transfer me"))
    pending_offer(conversation)
    console.locator("#offer-banner").get_by_role("button", name="Accept").click()
    expect(console.locator("#conv-meta")).to_contain_text("With you")

    console.locator("#btn-transfer").click()
    option = console.locator(f"#transfer-operator option[value='{support.piotr.pk}']")
    expect(option).to_have_text("Piotr Zieliński — Offline · 0 chats ⚠")
    console.locator("#transfer-operator").select_option(str(support.piotr.pk))

    questions = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    console.once("dialog", lambda dialog: answer(dialog, False))
    console.locator("#transfer-panel").get_by_role("button", name="Transfer").click()
    wait_for(lambda: questions)
    assert questions == ["Piotr Zieliński is offline. Transfer anyway?"]
    console.wait_for_timeout(300)
    assert Conversation.objects.get(pk=conversation.pk).operator_id == support.olga.pk  # cancelled: nothing moved

    console.once("dialog", lambda dialog: answer(dialog, True))
    console.locator("#transfer-panel").get_by_role("button", name="Transfer").click()
    wait_for(lambda: Conversation.objects.filter(pk=conversation.pk, operator=support.piotr).first())
    assert len(questions) == 2  # asked once, not again by the server
