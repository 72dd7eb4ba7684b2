"""The open channel's queue editor and working-hours grid in a real browser (Chromium), issue 20 points 1 and 2."""

from __future__ import annotations

from datetime import time

import pytest
from playwright.sync_api import expect

from channels_app import models as m
from tests.factories import OpenChannelFactory, OperatorFactory, QueueMemberFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def logged_in_admin(page, live_server):
    UserFactory(username="ada", is_superuser=True, password="editors-pass-123")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "ada")
    page.fill("#id_password", "editors-pass-123")
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    assert not errors, f"uncaught script errors: {errors}"


def queue_of(channel: m.OpenChannel) -> list[tuple[int, str]]:
    return [(member.position, member.operator.username) for member in channel.queue_members.order_by("position")]


def test_Q1_the_queue_is_reordered_by_keyboard_and_the_saved_positions_follow(logged_in_admin, live_server):
    page = logged_in_admin
    channel = OpenChannelFactory(name="Support", distribution_mode="in_order")
    for position, (username, name) in enumerate((("olga", "Olga N."), ("piotr", "Piotr K."), ("quynh", "Quynh N."))):
        QueueMemberFactory(
            open_channel=channel,
            operator=OperatorFactory(username=username, profile__display_name=name),
            position=position * 10,  # spaced as an old form may have left them
        )
    page.goto(f"{live_server.url}/admin/channels_app/openchannel/{channel.pk}/change/")

    rows = page.locator("#queue_members-group tbody tr.form-row:not(.empty-form)")
    expect(rows.locator(".qe-number")).to_have_text(["1", "2", "3"])
    expect(page.locator("input[name='queue_members-0-position']")).to_be_hidden()

    # Quynh to the top with the keyboard: focus her handle, ArrowUp twice.
    handle = page.get_by_role("button", name="Move Quynh N.: drag, or press the up and down arrow keys")
    handle.focus()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(handle).to_be_focused()
    expect(page.locator(".oc-live")).to_have_text("Quynh N. is now number 1 of 3.")
    expect(rows.locator("select[name$='-operator'] option:checked")).to_have_text(
        ["Quynh N. (quynh) · online", "Olga N. (olga) · online", "Piotr K. (piotr) · online"]
    )
    # And Olga below Piotr with the "Move down" button.
    rows.nth(1).get_by_role("button", name="Move down").click()

    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert queue_of(channel) == [(1, "quynh"), (2, "piotr"), (3, "olga")]
    expect(rows.locator(".qe-number")).to_have_text(["1", "2", "3"])


def test_Q1_a_new_member_joins_at_the_end_and_only_operators_are_offered(logged_in_admin, live_server):
    page = logged_in_admin
    channel = OpenChannelFactory(name="Support")
    QueueMemberFactory(open_channel=channel, operator=OperatorFactory(username="olga"), position=0)
    OperatorFactory(username="piotr", first_name="Piotr", last_name="Kowalski", profile__is_online=False)
    page.goto(f"{live_server.url}/admin/channels_app/openchannel/{channel.pk}/change/")

    page.get_by_role("button", name="Add another Queue member").click()
    picker = page.locator("select[name='queue_members-1-operator']")
    offered = picker.locator("option").all_text_contents()
    assert "Piotr Kowalski (piotr) · offline" in offered
    assert not [label for label in offered if "ada" in label], "the administrator does not operate"
    picker.select_option(label="Piotr Kowalski (piotr) · offline")
    expect(page.locator("#queue_members-group .qe-number")).to_have_text(["1", "2"])
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_be_visible()
    assert queue_of(channel) == [(1, "olga"), (2, "piotr")]


def test_H1_the_grid_copies_monday_to_the_weekdays_and_saves_the_periods(logged_in_admin, live_server):
    page = logged_in_admin
    channel = OpenChannelFactory(name="Support", time_zone="Europe/Warsaw", working_hours_enabled=True)
    m.WorkingPeriod.objects.create(open_channel=channel, weekday=5, start=time(10), end=time(14))
    page.goto(f"{live_server.url}/admin/channels_app/openchannel/{channel.pk}/change/#tab-working-hours")

    grid = page.locator(".wh-grid")
    expect(grid.get_by_text("Times in Europe/Warsaw")).to_be_visible()
    expect(page.locator("#working_periods-group table:not(.wh-table)")).to_be_hidden()
    saturday = grid.locator("tr[data-day='5']")
    expect(saturday.locator(".wh-start")).to_have_value("10:00")

    # Monday 09:00–13:00 and 14:00–17:30: open the day (09:00–17:00 by default), then a lunch break.
    grid.get_by_role("checkbox", name="Monday: Open").check()
    monday = grid.locator("tr[data-day='0']")
    monday.locator(".wh-end").first.fill("13:00")
    monday.get_by_role("button", name="Monday: Add a period").click()
    monday.locator(".wh-start").nth(1).fill("14:00")
    monday.locator(".wh-end").nth(1).fill("17:30")
    grid.get_by_role("button", name="Copy Monday to weekdays").click()
    expect(grid.locator("tr[data-day='4'] .wh-end").nth(1)).to_have_value("17:30")
    expect(grid.locator("tr[data-day='5'] .wh-start")).to_have_value("10:00")  # Saturday is no weekday

    # The zone named follows the Time zone field.
    page.select_option("#id_time_zone", "Asia/Ho_Chi_Minh")
    expect(grid.get_by_text("Times in Asia/Ho_Chi_Minh")).to_be_visible()
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist .success")).to_be_visible()
    stored = sorted(
        (period.weekday, f"{period.start:%H:%M}", f"{period.end:%H:%M}") for period in channel.working_periods.all()
    )
    weekdays = [(day, start, end) for day in range(5) for start, end in (("09:00", "13:00"), ("14:00", "17:30"))]
    assert stored == [*weekdays, (5, "10:00", "14:00")]
    # Reloaded, the grid shows what was stored; closing a day deletes its rows.
    page.locator("[data-tab='working-hours']").click()
    expect(grid.locator("tr[data-day='2'] .wh-start")).to_have_count(2)
    grid.get_by_role("checkbox", name="Saturday: Open").uncheck()
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert not channel.working_periods.filter(weekday=5).exists()
    assert channel.working_periods.count() == 10


def test_H1_a_period_closing_before_it_opens_is_marked_and_not_sent(logged_in_admin, live_server):
    page = logged_in_admin
    channel = OpenChannelFactory(name="Support")
    page.goto(f"{live_server.url}/admin/channels_app/openchannel/{channel.pk}/change/#tab-working-hours")
    grid = page.locator(".wh-grid")
    grid.get_by_role("checkbox", name="Tuesday: Open").check()
    grid.locator("tr[data-day='1'] .wh-end").fill("08:00")
    page.keyboard.press("Tab")
    expect(grid.locator("tr[data-day='1'] .wh-end")).to_have_attribute("aria-invalid", "true")
    grid.locator("tr[data-day='1'] .wh-start").fill("9.5")
    page.keyboard.press("Tab")
    expect(grid.locator("tr[data-day='1'] .wh-start")).to_have_attribute("aria-invalid", "true")
    grid.locator("tr[data-day='1'] .wh-start").fill("7")
    page.keyboard.press("Tab")
    expect(grid.locator("tr[data-day='1'] .wh-start")).to_have_value("07:00")
    expect(grid.locator("tr[data-day='1'] .wh-start")).to_have_attribute("aria-invalid", "false")
    grid.locator("tr[data-day='1'] .wh-end").fill("06:30")
    page.click("input[name=_continue]")
    expect(page.get_by_role("tab", name="Working hours")).to_have_attribute("aria-selected", "true")
    assert not channel.working_periods.exists()
