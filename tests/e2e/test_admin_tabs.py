"""The open channel's settings tabs work for a person in a real browser (Chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels_app.admin.open_channel import OPEN_CHANNEL_TABS
from tests.factories import ConnectorFactory, OpenChannelFactory, QueueMemberFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def logged_in_admin(page, live_server):
    UserFactory(username="ada", is_superuser=True, password="tabs-pass-123")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "tabs-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    return page


def test_admin_switches_between_tabs_and_saves_a_setting(logged_in_admin, live_server):
    page = logged_in_admin
    channel = OpenChannelFactory(name="Support")
    QueueMemberFactory(open_channel=channel)
    ConnectorFactory(open_channel=channel)
    page.goto(f"{live_server.url}/admin/channels_app/openchannel/{channel.pk}/change/")

    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(len(OPEN_CHANNEL_TABS))
    expect(page.get_by_role("tab", name="Queue")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#id_distribution_mode")).to_be_visible()
    expect(page.locator("#id_time_zone")).to_be_hidden()

    page.get_by_role("tab", name="Working hours").click()
    expect(page.locator("#id_time_zone")).to_be_visible()
    expect(page.locator("#id_distribution_mode")).to_be_hidden()
    expect(page.locator("#working_periods-group")).to_be_visible()
    expect(page.locator("#queue_members-group")).to_be_hidden()

    page.get_by_role("tab", name="KPI").click()
    page.check("#id_kpi_initial_enabled")
    page.fill("#id_kpi_initial_target_seconds", "120")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    channel.refresh_from_db()
    assert channel.kpi_initial_enabled and channel.kpi_initial_target_seconds == 120


def test_a_rejected_save_opens_the_tab_with_the_error(logged_in_admin, live_server):
    page = logged_in_admin
    channel = OpenChannelFactory(name="Support")
    page.goto(f"{live_server.url}/admin/channels_app/openchannel/{channel.pk}/change/")
    page.select_option("#id_distribution_mode", "in_order")
    page.get_by_role("tab", name="Automatic actions").click()
    page.select_option("#id_no_answer_action", "requeue")
    page.get_by_role("tab", name="Queue").click()
    page.click("input[name=_continue]")

    expect(page.get_by_role("tab", name="Automatic actions")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Automatic actions")).to_have_class("has-errors")
    expect(page.get_by_text("allowed only with the Evenly distribution.")).to_be_visible()
    channel.refresh_from_db()
    assert channel.distribution_mode == "evenly"
