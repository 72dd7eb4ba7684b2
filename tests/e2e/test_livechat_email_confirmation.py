"""In Chromium: a visitor asks for the transcript, is told a confirmation link was sent, and confirms their address
through the page the link opens (issue 13: contact data the client proved, C1, C2)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from channels_app.models import Client
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_mailbox(cc_server):
    """The server is shared by the session: leave no mail behind for tests that count what they were sent."""
    yield
    for path in cc_server.mail_dir.glob("*") if cc_server.mail_dir.exists() else ():
        path.unlink()


def test_the_widget_says_a_confirmation_link_was_sent_and_the_link_confirms_only_on_the_button(
    new_context, cc_server, own_mailbox
):
    channel = OpenChannelFactory(name="Garden shop", welcome_enabled=False)
    QueueMemberFactory(open_channel=channel, operator=OperatorFactory(username="olga"), position=0)
    connector = ConnectorFactory(open_channel=channel, public_key="garden-site-key")
    recipient = "marta.confirm@example.com"

    visitor = new_context().new_page()
    visitor.goto(f"/livechat/demo/{connector.public_key}/")
    visitor.locator("button.launcher").click()
    chat = visitor.frame_locator("iframe[title='Live chat']")
    expect(chat.locator("#connection")).to_be_hidden()
    chat.locator("#text").fill("Do you sell seeds?")
    chat.locator("#text").press("Enter")
    expect(chat.locator(".msg-client:not(.is-pending) .bubble", has_text="Do you sell seeds?")).to_be_visible()

    chat.locator("#transcript-open").click()
    chat.locator("#transcript-email").fill(recipient)
    chat.locator("#transcript-send").click()
    expect(chat.locator("#transcript-note")).to_have_text(f"The transcript is on its way to {recipient}.")
    expect(chat.locator("#email-confirm-note")).to_have_text(
        "The e-mail also has a link to confirm your address: open it so that we can contact you there."
    )
    client = Client.objects.get(connector=connector)
    assert (client.email, client.unverified_email) == ("", recipient)

    (mail,) = [mail for mail in cc_server.sent_mails() if mail["To"] == recipient]
    link = re.search(r"http://\S+/livechat/confirm-email/\S+/", mail.get_content()).group(0)
    owner = new_context().new_page()
    owner.goto(link)
    expect(owner.locator("#page-heading")).to_have_text("Confirm your e-mail address")
    expect(owner.locator(".chat-title")).to_have_text("Garden shop")
    client.refresh_from_db()
    assert client.email == "", "opening the link confirms nothing by itself"

    owner.locator("#confirm").click()
    expect(owner.locator("#page-heading")).to_have_text("Address confirmed")
    expect(owner.locator("#page-text")).to_have_text(f"Thank you. Garden shop may now contact you at {recipient}.")
    client.refresh_from_db()
    assert (client.email, client.unverified_email) == (recipient, "")
