"""Issue 7: the operator switches the console to Polish and to Vietnamese in Chromium.

The template's labels come from Django's catalogs, the script's (connection
state, presence buttons) from the JavaScriptCatalog served in the operator's
language; the choice is kept on the operator's profile, not in the browser.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from channels_app.models import OperatorProfile
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS = {
    "en": {"offered": "Offered to me", "mine": "My conversations", "connected": "Connected", "clock": "Clock out"},
    "pl": {"offered": "Oferowane mi", "mine": "Moje rozmowy", "connected": "Połączono", "clock": "Zakończ pracę"},
    "vi": {
        "offered": "Được mời cho tôi",
        "mine": "Cuộc trò chuyện của tôi",
        "connected": "Đã kết nối",
        "clock": "Tan ca",
    },
}


@pytest.fixture
def olga():
    channel = OpenChannelFactory(name="Website support")
    olga = OperatorFactory(username="olga", first_name="Olga", last_name="Nowak")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    ConnectorFactory(open_channel=channel, public_key="i18n-site-key")
    return olga


def expect_console_in(page: Page, language: str) -> None:
    labels = LABELS[language]
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("[data-list='offered'] h2")).to_contain_text(labels["offered"])
    expect(page.locator("[data-list='mine'] h2")).to_contain_text(labels["mine"])
    # Set by console.js once the socket is open: proves the script's catalog is in the same language.
    expect(page.locator("#connection .label")).to_have_text(labels["connected"])
    expect(page.locator("#btn-clock")).to_have_text(labels["clock"])
    expect(page.locator("#console-language")).to_have_value(language)


def test_console_switches_to_polish_then_vietnamese_and_remembers_it(new_context, olga):
    page = new_context(olga).new_page()
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")
    expect_console_in(page, "en")

    page.locator("#console-language").select_option("pl")
    page.wait_for_url("**/console/")
    expect_console_in(page, "pl")
    assert OperatorProfile.objects.get(user=olga).language == "pl"

    page.locator("#console-language").select_option("vi")
    page.wait_for_url("**/console/")
    expect_console_in(page, "vi")

    # The choice belongs to the operator: a new browser (another computer) opens the console in Vietnamese.
    other = new_context(olga).new_page()
    other.goto("/console/")
    expect_console_in(other, "vi")
