"""Issue 20 in Debian's Chromium against a real uvicorn server: a connector is set up on its own page.

The open channel's Connectors tab links to it; the add page shows only the chosen source's fields; *Test
connection* asks the (fake) provider and says who the token belongs to, that the provider refused it, or that it
could not be reached.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from tests.factories import ConnectorFactory, OpenChannelFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(new_context):
    ada = UserFactory(username="ada-connectors", first_name="Ada")
    ada.groups.add(Group.objects.get(name="Administrators"))
    page = new_context(ada).new_page()
    page.set_viewport_size({"width": 1280, "height": 720})
    return page


def test_test_connection_shows_success_a_refusal_and_an_unreachable_provider(admin_page, fake_provider):
    page = admin_page
    channel = OpenChannelFactory(name="Support")
    bot = ConnectorFactory(open_channel=channel, kind="telegram", account_id="7000001", access_token="7000001:AAt")

    page.goto(f"/admin/channels_app/openchannel/{channel.pk}/change/")
    page.get_by_role("tab", name="Connectors").click()
    page.get_by_role("link", name="Open: credentials, test connection, webhook").click()
    expect(page).to_have_url(re.compile(rf"/admin/channels_app/connector/{bot.pk}/change/$"))
    expect(page.locator("input[name=app_secret]")).to_have_count(0)  # a Telegram bot has only its token
    expect(page.locator("input[name=access_token]")).to_have_value("")  # write-only

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".messagelist .success")).to_have_text("Test connection: Connected to @demo_bot (Demo bot).")

    fake_provider.fail("/getMe", 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator(".messagelist .error")).to_have_text(
        "Test connection: The provider refused the token: 401 Unauthorized"
    )

    fake_provider.refuse_connections()
    try:
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator(".messagelist .error")).to_contain_text("Test connection: Could not reach 127.0.0.1:")
    finally:
        fake_provider.accept_connections()

    page.get_by_role("button", name="Register webhook").click()
    expect(page.locator(".messagelist .success")).to_contain_text(f"/webhooks/telegram/{bot.pk}/")
    assert fake_provider.calls("/setWebhook")


def test_the_add_page_shows_the_chosen_sources_fields(admin_page):
    page = admin_page
    channel = OpenChannelFactory(name="Support")
    page.goto(f"/admin/channels_app/connector/add/?open_channel={channel.pk}")
    page.select_option("#id_kind", "telegram")
    expect(page.locator("#id_access_token")).to_be_visible()
    expect(page.locator("label[for=id_access_token]")).to_have_text("Bot token:")
    expect(page.locator("#id_app_secret")).to_be_hidden()
    expect(page.locator("#id_oauth_app_id")).to_be_hidden()
    page.select_option("#id_kind", "whatsapp")
    expect(page.locator("#id_business_account_id")).to_be_visible()
    expect(page.locator("#id_app_secret")).to_be_visible()
    page.select_option("#id_kind", "livechat")
    expect(page.locator("#id_access_token")).to_be_hidden()
    expect(page.locator("#id_account_id_helptext")).to_contain_text("generated for you")
