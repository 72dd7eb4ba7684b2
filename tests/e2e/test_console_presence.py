"""Q6 in Chromium (issue 16, point 5): the console's heartbeat says the tab is visible, and that keeps a reader
online however long ago they last pressed a key."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import OperatorProfile
from tests.factories import ConnectorFactory, OpenChannelFactory, OperatorFactory, QueueMemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _profile_where(user, predicate, timeout: float = 15) -> OperatorProfile:
    """The operator's profile once ``predicate`` holds (the server writes it from the browser's heartbeat)."""
    deadline = time.monotonic() + timeout
    while True:
        profile = OperatorProfile.objects.get(user=user)
        if predicate(profile) or time.monotonic() > deadline:
            return profile
        time.sleep(0.05)


def test_Q6_a_reader_whose_console_tab_is_visible_is_online_without_pressing_anything(new_context):
    channel = OpenChannelFactory(name="Website support", welcome_enabled=False)
    olga = OperatorFactory(username="olga", first_name="Olga")
    QueueMemberFactory(open_channel=channel, operator=olga, position=0)
    ConnectorFactory(open_channel=channel)

    page = new_context(olga).new_page()
    # Keep a copy of every heartbeat the console sends (Playwright's own frame listener delays the socket's close).
    page.add_init_script(
        """const send = WebSocket.prototype.send;
        window.sentHeartbeats = [];
        WebSocket.prototype.send = function (data) {
          const frame = JSON.parse(data);
          if (frame.action === "heartbeat") window.sentHeartbeats.push(frame);
          return send.call(this, data);
        };"""
    )
    page.goto("/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "open")

    # Twenty minutes without input (channel: offline after 10): the sweep took Olga offline.
    idle_since = timezone.now() - timedelta(minutes=20)
    OperatorProfile.objects.filter(user=olga).update(last_activity_at=idle_since, is_online=False)

    # She looks at the tab again: the browser says it is visible, and the console pings at once.
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    profile = _profile_where(olga, lambda p: p.is_online)
    assert profile.is_online and profile.last_activity_at > idle_since
    heartbeats = page.evaluate("window.sentHeartbeats")
    assert len(heartbeats) >= 2 and all(frame["visible"] is True for frame in heartbeats)  # on open, on return
