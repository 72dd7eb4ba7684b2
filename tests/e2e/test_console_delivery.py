"""Issue 15.5 in Debian's Chromium against a real uvicorn server and Celery worker: a reply the (fake) Telegram
refused shows at once as failed with Telegram's reason and a Retry button; once Telegram accepts again, Retry
sends it and the console says "Sent" live. Telegram got the text exactly once successfully.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels_app.models import Message
from tests.e2e import test_console_files
from tests.e2e.harness import wait_for

# The fixtures of the files test: Olga has taken Mai's Telegram conversation, on screen in her console.
support = test_console_files.support
telegram_chat = test_console_files.telegram_chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKED = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}
TEXT = "Your replacement kettle ships tomorrow."


def test_a_refused_reply_shows_failed_with_the_reason_and_retry_sends_it_once(telegram_chat, fake_provider):
    console = telegram_chat.console
    fake_provider.fail("/sendMessage", 403, BLOCKED)  # the next send only: then Telegram accepts again

    console.locator("#reply").fill(TEXT)
    console.locator("#reply").press("Enter")
    reply = wait_for(lambda: Message.objects.filter(author_kind="operator", text=TEXT).first())
    item = console.locator(f"[data-message-id='{reply.pk}']")
    notice = "Not delivered: Telegram sendMessage failed (403): Forbidden: bot was blocked by the user"
    expect(item.locator(".delivery-failed")).to_have_text(notice, timeout=15_000)
    retry = item.get_by_role("button", name="Send this message again")
    expect(retry).to_be_visible()
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).delivery == "failed")

    retry.click()

    sent = item.locator("[data-delivery='sent']")
    expect(sent).to_have_attribute("aria-label", "Sent", timeout=15_000)
    expect(sent).to_contain_text("Sent")
    expect(item.locator(".delivery-failed")).to_have_count(0)
    reply.refresh_from_db()
    assert (reply.delivery, reply.delivery_error, reply.delivery_parts_sent) == ("sent", "", 1)
    calls = [call for call in fake_provider.calls("/sendMessage") if TEXT in str(call.json.get("text", ""))]
    assert len(calls) == 2  # the refused one, then the one Telegram took: the client got it once
