"""Issue 19, A1 in Chromium: a visitor withdraws their consent from the widget; the chat goes on, and once the
conversation ends the widget asks for the notice again."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import AuditAction, AuditEvent, ConsentForm, ConsentRecord
from tests.e2e.harness import in_worker
from tests.e2e.test_console_livechat import (  # noqa: F401 -- support is a fixture
    active_conversation,
    open_console,
    open_conversation,
    open_widget_as,
    support,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_A1_visitor_withdraws_consent_the_chat_continues_and_the_next_one_asks_again(new_context, support):  # noqa: F811
    from channels_app.livechat.services import livechat_consent_record

    channel, connector, olga = support.channel, support.connector, support.olga

    def ask_for_consent_and_agree() -> None:
        channel.consent_required = True
        channel.consent_form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages.")
        channel.save()
        livechat_consent_record(connector=connector, visitor_id="visitor-withdraw", now=timezone.now())

    in_worker(ask_for_consent_and_agree)
    conversation = active_conversation(connector, olga, "visitor-withdraw", "Hello")

    _, chat = open_widget_as(new_context, connector, "visitor-withdraw")
    expect(chat.locator("#consent")).to_be_hidden()
    chat.locator("#withdraw-open").click()
    expect(chat.locator("#withdraw-question")).to_contain_text("Withdraw your consent")
    chat.locator("#withdraw-no").click()
    expect(chat.locator("#withdraw-confirm")).to_be_hidden()
    assert ConsentRecord.objects.get().withdrawn_at is None  # cancelled: nothing recorded

    chat.locator("#withdraw-open").click()
    chat.locator("#withdraw-yes").click()
    expect(chat.locator("#withdrawn-note")).to_have_text(
        "You withdrew your consent. This conversation continues; your next one will ask for it again."
    )
    expect(chat.locator("#withdraw-open")).to_be_hidden()
    expect(chat.locator("#text")).to_be_enabled()  # the conversation goes on
    record = ConsentRecord.objects.get()
    assert (record.withdrawn_via, record.withdrawn_in_id) == ("widget", conversation.pk)
    assert AuditEvent.objects.filter(action=AuditAction.CONSENT_WITHDRAWN, client_id_ref=record.client_id).exists()

    console = open_console(new_context, olga)
    open_conversation(console, conversation)
    # The client card says the consent was withdrawn; its button is gone (nothing is left to withdraw).
    expect(console.locator("#client-facts")).to_contain_text("withdrawn")
    expect(console.locator("#btn-consent-withdraw")).to_be_hidden()
    console.locator("#btn-close").click()
    expect(chat.locator("#consent")).to_be_visible()  # the next conversation asks for the notice again
    expect(chat.locator("#text")).to_be_disabled()


def test_A1_operator_records_a_messenger_clients_withdrawal_from_the_client_card(new_context, support):  # noqa: F811
    from channels_app.livechat.services import livechat_consent_record

    channel, connector, olga = support.channel, support.connector, support.olga

    def ask_for_consent_and_agree() -> None:
        channel.consent_required = True
        channel.consent_form = ConsentForm.objects.create(name="Privacy notice", text="We keep your messages.")
        channel.save()
        livechat_consent_record(connector=connector, visitor_id="visitor-asks", now=timezone.now())

    in_worker(ask_for_consent_and_agree)
    conversation = active_conversation(connector, olga, "visitor-asks", "Please forget my consent")
    console = open_console(new_context, olga)
    open_conversation(console, conversation)
    console.once("dialog", lambda dialog: dialog.accept())
    console.locator("#btn-consent-withdraw").click()
    expect(console.locator("#consent-withdraw-note")).to_have_text(
        "Consent withdrawn. This conversation continues; the next one asks again."
    )
    expect(console.locator("#btn-consent-withdraw")).to_be_hidden()
    record = ConsentRecord.objects.get()
    assert (record.withdrawn_via, record.withdrawn_by_id) == ("operator", olga.pk)
