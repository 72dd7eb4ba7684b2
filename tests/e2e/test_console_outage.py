"""Issue 21 in Debian's Chromium against a real uvicorn server: Telegram stops answering (HTTP 502).

The operator's reply is retried until the connector's circuit breaker opens; the console then shows it
"Delayed" with Telegram's error and until when it is retried (not "Sending…"), and a banner in the
conversation says Telegram is not answering and that replies wait. A reply written meanwhile waits too.
Telegram answers again; the recovery test (beat's probe, run here by the test) sends the waiting replies in
order, each exactly once, and the console shows them sent and the banner gone, live.

The server runs Celery tasks inline, so the first reply's retries follow each other at once; the default
breaker (five transport failures in a row) opens on the fifth. Beat does not run here: the test makes the
recovery test due, as the probe interval passing would, and runs the probe in the test process (eager Celery,
the fake provider, the server's channel layer), as a worker would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.connectors import circuit, processing
from channels_app.models import Connector, Message, Reachability
from tests.e2e import test_console_files, test_wallboard
from tests.e2e.harness import in_worker, publish_to_server, wait_for

support = test_console_files.support
telegram_chat = test_console_files.telegram_chat
floor = test_wallboard.floor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BAD_GATEWAY = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
FIRST = "Your refund was approved this morning."
SECOND = "You will get a tracking number by e-mail."
SHOTS = Path("/tmp/shots21")


def test_an_outage_shows_delayed_replies_and_a_banner_then_they_go_out_in_order_once(
    telegram_chat, fake_provider, settings, eager_celery
):
    console, bot = telegram_chat.console, telegram_chat.bot
    console.set_viewport_size({"width": 1280, "height": 720})
    fake_provider.fail("/sendMessage", 502, BAD_GATEWAY, times=settings.CONNECTOR_BREAKER_FAILURES)

    console.locator("#reply").fill(FIRST)
    console.locator("#reply").press("Enter")
    first = wait_for(lambda: Message.objects.filter(author_kind="operator", text=FIRST).first())
    assert wait_for(lambda: Connector.objects.get(pk=bot.pk).is_unreachable, timeout=20)

    item = console.locator(f"[data-message-id='{first.pk}']")
    delayed = item.locator("[data-delivery='delayed']")
    expect(delayed).to_contain_text("Delayed", timeout=15_000)
    # In the operator's words while Telegram is down; the provider's own error in the tooltip.
    expect(delayed).to_contain_text("Telegram is not answering; the message will be sent when it answers again.")
    expect(delayed).to_have_attribute("title", re.compile(r"Telegram sendMessage failed \(502\): Bad Gateway"))
    expect(delayed).to_contain_text("retrying until")
    expect(item).not_to_contain_text("Sending…")
    banner = console.locator("#outage-banner")
    expect(banner).to_be_visible()
    expect(banner).to_have_attribute("role", "status")
    expect(banner).to_contain_text("Telegram has not answered since")
    expect(banner).to_contain_text("Your replies wait and go out, in order, when it answers again.")
    row = console.locator(f".conv-item[data-conversation-id='{telegram_chat.conversation.pk}']")
    expect(row.locator(".tag-outage")).to_have_text("Telegram not answering")

    # Written during the outage: it waits behind the first, without calling Telegram.
    console.locator("#reply").fill(SECOND)
    console.locator("#reply").press("Enter")
    second = wait_for(lambda: Message.objects.filter(author_kind="operator", text=SECOND).first())
    waiting = console.locator(f"[data-message-id='{second.pk}'] [data-delivery='delayed']")
    expect(waiting).to_contain_text("Delayed")
    expect(waiting).to_contain_text("Telegram is not answering; the message will be sent when it answers again.")
    SHOTS.mkdir(parents=True, exist_ok=True)
    console.screenshot(path=str(SHOTS / "console-outage.png"))
    calls_during = len(fake_provider.calls("/sendMessage"))
    assert Message.objects.get(pk=second.pk).delivery == "queued"

    # Telegram answers again; the recovery test falls due and beat's probe sends what waited.
    fake_provider.use_in(settings)
    Connector.objects.filter(pk=bot.pk).update(next_probe_at=timezone.now())
    in_worker(lambda: processing.connectors_probe(now=timezone.now()))

    for message in (first, second):
        sent = console.locator(f"[data-message-id='{message.pk}'] [data-delivery='sent']")
        expect(sent).to_have_attribute("aria-label", "Sent", timeout=15_000)
    expect(banner).to_be_hidden()
    expect(console.locator(".tag-outage")).to_have_count(0)
    console.screenshot(path=str(SHOTS / "console-recovered.png"))

    assert Connector.objects.get(pk=bot.pk).is_unreachable is False
    texts = [str(call.json.get("text", "")) for call in fake_provider.calls("/sendMessage")[calls_during:]]
    taken = [reply for text in texts for reply in (FIRST, SECOND) if reply in text]  # the text has a name line
    assert taken == [FIRST, SECOND]  # in order, each once
    assert [Message.objects.get(pk=m.pk).delivery for m in (first, second)] == ["sent", "sent"]


def test_the_wallboard_names_a_source_that_is_not_answering_until_it_answers(new_context, cc_server, floor, settings):
    publish_to_server(settings, cc_server)
    Connector.objects.filter(pk=floor.telegram.pk).update(
        reachability=Reachability.UNREACHABLE, unreachable_since=timezone.now(), transport_error="Bad Gateway"
    )
    rita = test_wallboard.open_wallboard(new_context, floor.rita)
    rita.set_viewport_size({"width": 1280, "height": 720})
    outage = rita.locator("section.board", has_text="Website support").locator(".outage")
    expect(outage).to_contain_text("Telegram is not answering; replies wait.")
    expect(outage).to_have_attribute("role", "status")
    SHOTS.mkdir(parents=True, exist_ok=True)
    rita.screenshot(path=str(SHOTS / "wallboard-outage.png"))

    in_worker(
        lambda: circuit.transport_succeeded(connector=Connector.objects.get(pk=floor.telegram.pk), now=timezone.now())
    )
    expect(outage).to_have_count(0)
