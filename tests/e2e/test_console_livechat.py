"""The operator console and the website live chat in Debian's Chromium, against a real uvicorn server.

A visitor on a website (the demo page embedding the snippet) and an operator
in the console are two browser contexts, as two people on two computers.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from django.db import connection
from playwright.sync_api import FrameLocator, Page, expect

from channels_app.models import (
    CannedReply,
    CannedReplyList,
    ClientRating,
    Conversation,
    ConversationStatus,
    Message,
    OperatorProfile,
)
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def support():
    """“Website support”: Olga and Piotr in the queue, canned replies, a live-chat connector."""
    replies = CannedReplyList.objects.create(name="Standard replies")
    CannedReply.objects.create(reply_list=replies, shortcut="hello", title="Greeting", text="Hello! How can I help?")
    CannedReply.objects.create(reply_list=replies, shortcut="hours", text="We are open 9:00 to 17:00.")
    channel = OpenChannelFactory(name="Website support", welcome_enabled=False, canned_reply_list=replies)
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    piotr = OperatorFactory(username="piotr", first_name="Piotr", last_name="Kowalski")
    OperatorProfile.objects.filter(user=olga).update(display_name="Olga N.")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    QueueMemberFactory(open_channel=channel, operator=piotr, position=1)
    # Piotr is offline until his console connects, so new conversations go to Olga.
    OperatorProfile.objects.filter(user=piotr).update(is_online=False, console_heartbeat_at=None)
    connector = ConnectorFactory(open_channel=channel, public_key="support-site-key")
    return SimpleNamespace(channel=channel, connector=connector, olga=olga, piotr=piotr)


def open_console(new_context, user) -> Page:
    page = new_context(user).new_page()
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    return page


def open_widget(new_context, connector) -> tuple[Page, FrameLocator]:
    page = new_context().new_page()
    page.goto(f"/livechat/demo/{connector.public_key}/")
    page.locator("button.launcher").click()
    chat = page.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    return page, chat


def visitor_writes(chat: FrameLocator, text: str) -> None:
    chat.locator("#text").fill(text)
    chat.locator("#text").press("Enter")
    expect(chat.locator(".msg-client:not(.is-pending) .bubble", has_text=text)).to_be_visible()


def offered_item(console: Page):
    return console.locator("#list-offered .conv-item")


def test_S1_Q2_R1_visitor_writes_operator_accepts_replies_closes_and_visitor_rates(new_context, support):
    connector, olga = support.connector, support.olga
    console = open_console(new_context, olga)
    _, chat = open_widget(new_context, connector)
    expect(chat.locator("#header-title")).to_have_text("Website support")  # O1

    visitor_writes(chat, "Hi, where is my parcel?")

    # The offer shows at once: in the list with a countdown, in a banner, with a sound.
    expect(offered_item(console)).to_have_count(1)
    expect(offered_item(console).locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    expect(console.locator("#offer-banner")).to_be_visible()
    expect(console.locator("body")).to_have_attribute("data-offer-cues", "1")
    expect(console).to_have_title(re.compile(r"^\(1\) New chat"))

    offered_item(console).click()
    expect(console.locator("#messages .msg-client .bubble")).to_have_text(["Hi, where is my parcel?"])
    console.locator("#btn-accept").click()
    expect(console.locator("#list-mine .conv-item")).to_have_count(1)
    expect(console.locator("#btn-accept")).to_be_hidden()
    expect(chat.locator("#header-subtitle")).to_have_text("Olga N.")  # Q12

    console.locator("#reply").fill("It is on its way and arrives tomorrow.")
    console.locator("#reply").press("Enter")
    expect(chat.locator(".msg-operator .bubble")).to_have_text(["It is on its way and arrives tomorrow."])
    expect(chat.locator(".msg-operator .who")).to_have_text(["Olga N."])

    visitor_writes(chat, "Thank you!")
    expect(console.locator("#messages .msg-client .bubble")).to_have_text(["Hi, where is my parcel?", "Thank you!"])

    console.locator("#btn-close").click()
    expect(chat.locator("#rating")).to_be_visible()
    chat.locator("#rate-like").click()
    expect(chat.locator("#rating")).to_be_hidden()
    # One thank-you (issue 20): the channel's message in the thread, not repeated below it.
    expect(chat.locator(".msg-system .bubble", has_text="Thank you for your feedback!")).to_have_count(1)
    expect(chat.locator("#ended")).not_to_contain_text("Thank you for your feedback!")

    conversation = Conversation.objects.get()
    assert ClientRating.objects.get(conversation=conversation).value == "like"
    assert conversation.status == ConversationStatus.CLOSED  # R2: closed as soon as the client rated
    assert list(conversation.messages.filter(author_kind="client").values_list("text", flat=True)) == [
        "Hi, where is my parcel?",
        "Thank you!",
    ]


# --- helpers for conversations that already run ------------------------------------------------------


def active_conversation(connector, operator, visitor_id: str, text: str) -> Conversation:
    """A visitor's conversation that ``operator`` has accepted, made through the services.

    Run in a worker thread: Playwright's event loop in this thread would stop the
    services from sending their after-commit events.
    """
    from django.utils import timezone

    from channels_app.engine.inbound import message_receive
    from channels_app.engine.offers import offer_accept
    from channels_app.models import Offer

    def make() -> Conversation:
        try:
            received = message_receive(
                connector=connector, external_user_id=visitor_id, text=text, source_message_id=None, now=timezone.now()
            )
            offer = Offer.objects.get(
                conversation=received.conversation, operator=operator, status=Offer.Status.PENDING
            )
            return offer_accept(offer_id=offer.pk, operator=operator, now=timezone.now())
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(make).result()


def open_widget_as(new_context, connector, visitor_id: str) -> tuple[Page, FrameLocator]:
    """The widget of a returning visitor (their token already in the browser's storage)."""
    from channels_app.livechat.visitors import visitor_token_issue

    token = visitor_token_issue(connector=connector, visitor_id=visitor_id)
    context = new_context()
    # Init scripts run in every frame, some of which (about:blank) have no storage.
    context.add_init_script(
        f"try {{ localStorage.setItem('open-channels-chat:{connector.public_key}:token', '{token}') }} catch {{}}"
    )
    page = context.new_page()
    page.goto(f"/livechat/demo/{connector.public_key}/")
    page.locator("button.launcher").click()
    chat = page.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    return page, chat


def open_conversation(console: Page, conversation: Conversation) -> None:
    console.locator(f".conv-item[data-conversation-id='{conversation.pk}']").first.click()
    expect(console.locator("#conversation-view")).to_be_visible()


# --- canned replies, transfer ------------------------------------------------------------------------


def test_M5_operator_inserts_a_canned_reply_by_its_shortcut(new_context, support):
    """M5: the open channel's canned replies are offered as the operator types /shortcut."""
    connector, olga = support.connector, support.olga
    conversation = active_conversation(connector, olga, "visitor-canned", "Hi there")
    console = open_console(new_context, olga)
    _, chat = open_widget_as(new_context, connector, "visitor-canned")
    open_conversation(console, conversation)

    console.locator("#reply").press_sequentially("/hel")
    expect(console.locator("#canned-suggestions .canned-option")).to_have_count(1)
    expect(console.locator("#canned-suggestions .shortcut")).to_have_text(["/hello"])
    console.locator("#reply").press("Tab")
    expect(console.locator("#reply")).to_have_value("Hello! How can I help?")
    console.locator("#reply").press("Enter")

    expect(chat.locator(".msg-operator .bubble")).to_have_text(["Hello! How can I help?"])
    assert Message.objects.filter(conversation=conversation, author_kind="operator").get().text == (
        "Hello! How can I help?"
    )


def test_Q13_operator_transfers_to_another_operator(new_context, support):
    connector, olga, piotr = support.connector, support.olga, support.piotr
    conversation = active_conversation(connector, olga, "visitor-transfer", "I need Piotr")
    olga_console = open_console(new_context, olga)
    piotr_console = open_console(new_context, piotr)
    _, chat = open_widget_as(new_context, connector, "visitor-transfer")
    expect(chat.locator("#header-subtitle")).to_have_text("Olga N.")
    open_conversation(olga_console, conversation)

    olga_console.locator("#btn-transfer").click()
    olga_console.locator("#transfer-operator").select_option(label="Piotr Kowalski — Online · 0 chats")
    olga_console.locator("#transfer-panel button[type=submit]").click()

    expect(olga_console.locator("#list-mine .conv-item")).to_have_count(0)
    expect(piotr_console.locator(f"#list-mine [data-conversation-id='{conversation.pk}']")).to_be_visible()
    expect(chat.locator("#header-subtitle")).to_have_text("Piotr Kowalski")  # Q12: the new operator
    conversation.refresh_from_db()
    assert conversation.operator_id == piotr.pk

    open_conversation(piotr_console, conversation)
    piotr_console.locator("#reply").fill("Piotr here, how can I help?")
    piotr_console.locator("#reply").press("Enter")
    expect(chat.locator(".msg-operator .bubble")).to_have_text(["Piotr here, how can I help?"])


def test_Q13_transfer_to_an_offline_colleague_is_marked_warned_and_confirmed(new_context, support):
    """The list marks Piotr offline; with the channel's warning setting the console asks, then transfers."""
    channel, connector, olga, piotr = support.channel, support.connector, support.olga, support.piotr
    channel.transfer_to_unavailable_after_warning = True
    channel.save()  # Piotr stays offline: his console is not open (see the fixture)
    conversation = active_conversation(connector, olga, "visitor-late", "Is Piotr there?")
    olga_console = open_console(new_context, olga)
    open_conversation(olga_console, conversation)

    olga_console.locator("#btn-transfer").click()
    olga_console.locator("#transfer-operator").select_option(label="Piotr Kowalski — Offline · 0 chats ⚠")
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    olga_console.on("dialog", accept)
    olga_console.locator("#transfer-panel button[type=submit]").click()

    expect(olga_console.locator("#list-mine .conv-item")).to_have_count(0)
    assert dialogs == ["Piotr Kowalski is offline. Transfer anyway?"]
    conversation.refresh_from_db()
    assert conversation.operator_id == piotr.pk


def test_Q13_operator_transfers_to_another_open_channel(new_context, support):
    connector, olga = support.connector, support.olga
    sales = OpenChannelFactory(name="Sales", welcome_enabled=False)
    stan = OperatorFactory(username="stan", first_name="Stan", last_name="Sales")
    QueueMemberFactory(open_channel=sales, operator=stan, position=0)
    conversation = active_conversation(connector, olga, "visitor-buyer", "I want to buy 40 trees")
    olga_console = open_console(new_context, olga)
    stan_console = open_console(new_context, stan)
    open_conversation(olga_console, conversation)

    olga_console.locator("#btn-transfer").click()
    olga_console.locator("#transfer-channel").select_option(label="Sales")
    olga_console.locator("#transfer-panel button[type=submit]").click()

    expect(stan_console.locator(f"#list-offered [data-conversation-id='{conversation.pk}']")).to_be_visible()
    expect(stan_console.locator("#offer-banner")).to_be_visible()
    expect(olga_console.locator("#list-mine .conv-item")).to_have_count(0)
    conversation.refresh_from_db()
    assert conversation.open_channel_id == sales.pk


def test_C2_create_lead_button_says_why_an_anonymous_visitor_cannot_become_a_lead(new_context, support):
    channel, connector, olga = support.channel, support.connector, support.olga
    channel.lead_creation = "manual"
    channel.save()
    conversation = active_conversation(connector, olga, "visitor-anonymous", "Just browsing")
    console = open_console(new_context, olga)
    open_conversation(console, conversation)
    expect(console.locator("#client-facts")).to_contain_text("No phone or e-mail")

    console.locator("#btn-lead").click()
    expect(console.locator("#lead-note")).to_have_text(
        "This visitor left no phone number or e-mail, so they cannot be contacted again: "
        "ask for one before creating a lead."
    )
    expect(console.locator("#btn-lead")).to_be_disabled()
    conversation.refresh_from_db()
    assert conversation.lead_id is None


def test_K2_a_missed_response_target_shows_as_a_notification(new_context, support, cc_server):
    """The KPI engine sends ``kpi.miss`` to the operator's group from any process; the console shows it."""
    from asgiref.sync import async_to_sync
    from channels_redis.core import RedisChannelLayer
    from django.conf import settings

    olga = support.olga
    console = open_console(new_context, olga)
    server_layer = RedisChannelLayer(
        hosts=[{"address": settings.REDIS_URL}], prefix=cc_server.environment["CHANNEL_LAYER_PREFIX"]
    )
    event = {
        "type": "kpi.miss",
        "text": "Olga N. missed the response time target in conversation #7.",
        "conversation_id": 7,
    }

    def send() -> None:
        async_to_sync(server_layer.group_send)(f"operator.{olga.pk}", {"type": "event.forward", "event": event})

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(send).result()
    toast = console.locator(".toast-kpi")
    expect(toast).to_contain_text("Response-time target missed")
    expect(toast).to_contain_text("Olga N. missed the response time target in conversation #7.")


# --- security ----------------------------------------------------------------------------------------


def test_a_script_in_a_message_is_shown_as_text_and_never_runs(new_context, support):
    connector, olga = support.connector, support.olga
    conversation = active_conversation(connector, olga, "visitor-xss", "Hello")
    console = open_console(new_context, olga)
    visitor, chat = open_widget_as(new_context, connector, "visitor-xss")
    open_conversation(console, conversation)

    attack = '<script>window.pwned = "console"</script><img src=x onerror="window.pwned = \'img\'">'
    visitor_writes(chat, attack)
    expect(console.locator("#messages .msg-client .bubble").last).to_have_text(attack)
    assert console.locator("#messages img").count() == 0
    assert console.evaluate("window.pwned") is None

    reply = "<b>bold?</b><script>parent.pwned = 'widget'</script>"
    console.locator("#reply").fill(reply)
    console.locator("#reply").press("Enter")
    expect(chat.locator(".msg-operator .bubble")).to_have_text([reply])
    assert chat.locator(".msg-operator b").count() == 0
    assert visitor.evaluate("window.pwned") is None
    # The client's name is text too, in the lists and on the card.
    Conversation.objects.filter(pk=conversation.pk).update()
    assert console.locator("#client-name").inner_text() == str(conversation.client)


def test_operator_of_another_open_channel_sees_nothing(new_context, support):
    connector, olga = support.connector, support.olga
    sales = OpenChannelFactory(name="Sales", welcome_enabled=False)
    stan = OperatorFactory(username="stan", first_name="Stan")
    QueueMemberFactory(open_channel=sales, operator=stan, position=0)
    stan_console = open_console(new_context, stan)
    olga_console = open_console(new_context, olga)
    _, chat = open_widget(new_context, connector)

    visitor_writes(chat, "A question for Support only")
    expect(offered_item(olga_console)).to_have_count(1)
    conversation = Conversation.objects.get()

    stan_console.reload()
    expect(stan_console.locator("#connection")).to_have_attribute("data-state", "open")
    for kind in ("offered", "mine", "queued"):
        expect(stan_console.locator(f"#list-{kind} .conv-item")).to_have_count(0)
    expect(stan_console.locator("#my-channels .chip")).to_have_text(["Sales"])
    for path in (f"/api/conversations/{conversation.pk}/", f"/api/conversations/{conversation.pk}/messages/"):
        response = stan_console.request.get(path)
        assert response.status == 404, path
        assert "A question for Support only" not in response.text()
    watched = stan_console.evaluate(
        f"window.openChannelsConsole.socket.request('watch', {{conversation_id: {conversation.pk}}})"
        ".then(() => 'allowed', (error) => error.message)"
    )
    assert watched == "This conversation does not exist."


# --- reconnecting ------------------------------------------------------------------------------------


def test_console_and_widget_reconnect_after_a_dropped_socket_and_lose_nothing(new_context, support):
    """Network gone on one side, messages written meanwhile on the other: after the reconnect both
    sides show everything, once, in order."""
    connector, olga = support.connector, support.olga
    conversation = active_conversation(connector, olga, "visitor-tunnel", "Entering a tunnel")
    console = open_console(new_context, olga)
    visitor, chat = open_widget_as(new_context, connector, "visitor-tunnel")
    open_conversation(console, conversation)

    # 1. The operator's network drops; the visitor writes twice meanwhile.
    console.context.set_offline(True)
    console.evaluate("window.openChannelsConsole.socket.drop()")
    expect(console.locator("#connection")).to_have_attribute("data-state", re.compile("closed|connecting"))
    visitor_writes(chat, "Are you still there?")
    visitor_writes(chat, "Hello??")
    expect(console.locator("#messages .msg-client .bubble")).to_have_count(1)
    console.context.set_offline(False)
    expect(console.locator("#connection")).to_have_attribute("data-state", "open")
    expect(console.locator("#messages .msg-client .bubble")).to_have_text(
        ["Entering a tunnel", "Are you still there?", "Hello??"]
    )

    # 2. The visitor's network drops; both sides write meanwhile.
    visitor.context.set_offline(True)
    chat_frame = next(frame for frame in visitor.frames if "/livechat/frame/" in frame.url)
    chat_frame.evaluate("window.openChannelsChat.socket.drop()")
    expect(chat.locator("#connection")).to_be_visible()
    chat.locator("#text").fill("Written in the tunnel")
    chat.locator("#text").press("Enter")
    expect(chat.locator(".msg-client.is-pending .bubble")).to_have_text(["Written in the tunnel"])
    console.locator("#reply").fill("Yes, I am here.")
    console.locator("#reply").press("Enter")
    expect(console.locator("#messages .msg-operator:not(.is-pending) .bubble")).to_have_text(["Yes, I am here."])
    visitor.context.set_offline(False)
    expect(chat.locator("#connection")).to_be_hidden()
    expect(chat.locator(".msg-client.is-pending")).to_have_count(0)
    expect(chat.locator(".msg-client .bubble")).to_have_text(
        ["Entering a tunnel", "Are you still there?", "Hello??", "Written in the tunnel"]
    )
    expect(chat.locator(".msg-operator .bubble")).to_have_text(["Yes, I am here."])
    expect(console.locator("#messages .msg-client .bubble").last).to_have_text("Written in the tunnel")

    texts = list(conversation.messages.order_by("created_at", "id").values_list("text", flat=True))
    assert texts == [
        "Entering a tunnel",
        "Are you still there?",
        "Hello??",
        "Yes, I am here.",
        "Written in the tunnel",
    ]


# --- the widget's own features ---------------------------------------------------------------------------


def test_A1_H2_O3_polish_widget_asks_consent_shows_hours_and_mails_the_transcript(new_context, support, cc_server):
    from channels_app.models import ConsentForm, ConsentRecord

    channel, connector = support.channel, support.connector
    channel.language = "pl"
    channel.consent_required = True
    channel.consent_form = ConsentForm.objects.create(
        name="Informacja o danych osobowych", text="Administratorem danych jest Green Valley sp. z o.o.", language="pl"
    )
    channel.working_hours_enabled = True  # and no opening period at all: closed right now
    channel.out_of_hours_text = "Odpowiemy w dni robocze od 9:00."
    channel.save()

    visitor, chat = open_widget(new_context, connector)
    expect(visitor.locator("button.launcher")).to_have_text("Napisz do nas")
    expect(chat.locator("#out-of-hours")).to_have_text("Odpowiemy w dni robocze od 9:00.")
    expect(chat.locator("#consent")).to_be_visible()
    expect(chat.locator("#consent-text")).to_have_text("Administratorem danych jest Green Valley sp. z o.o.")
    expect(chat.locator("#text")).to_be_disabled()

    chat.locator("#consent-accept").click()
    expect(chat.locator("#consent")).to_be_hidden()
    visitor_writes(chat, "Czy wysyłacie do Gdańska?")
    record = ConsentRecord.objects.get()
    assert (record.source, record.form_version.number) == ("livechat", 1)

    chat.locator("#transcript-open").click()
    expect(chat.locator("#transcript-open")).to_have_text("Wyślij mi zapis rozmowy e-mailem")
    chat.locator("#transcript-email").fill("jan@example.com")
    chat.locator("#transcript-send").click()
    expect(chat.locator("#transcript-note")).to_have_text("Zapis rozmowy został wysłany na adres jan@example.com.")
    (mail,) = cc_server.sent_mails()
    assert mail["To"] == "jan@example.com"
    assert mail["Subject"] == "Twoja rozmowa z Website support"
    assert "Ty: Czy wysyłacie do Gdańska?" in mail.get_content()
