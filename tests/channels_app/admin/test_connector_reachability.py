"""Issue 21: the connector list and page say, in words, whether the provider answers (the circuit breaker)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app import models as m
from tests.factories import ConnectorFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/channels_app/connector/"


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def telegram(open_channel):
    return ConnectorFactory(open_channel=open_channel, kind=m.ConnectorKind.TELEGRAM, account_id="7000021")


def status_cell(page: str, connector: m.Connector) -> str:
    """The list's reachability cell of the connector's row."""
    rows = [row for row in page.split("<tr") if f"/connector/{connector.pk}/change/" in row]
    assert len(rows) == 1, page[:2000]
    cell = re.search(r'<td class="field-reachability_status">(.*?)</td>', rows[0], re.S)
    assert cell, rows[0]
    return cell.group(1)


def test_a_reachable_connector_is_listed_green_in_words_with_no_error_mark(admin_client, telegram):
    cell = status_cell(admin_client.get(LIST_URL).content.decode(), telegram)
    assert "reachable" in cell
    assert "✓" in cell
    assert "✖" not in cell and "unreachable" not in cell


def test_an_unreachable_connector_is_listed_red_since_when_and_its_page_shows_why(admin_client, telegram):
    since = timezone.now() - timedelta(minutes=7)
    m.Connector.objects.filter(pk=telegram.pk).update(
        reachability=m.Reachability.UNREACHABLE,
        transport_failures=5,
        transport_error="Telegram sendMessage failed (502): Bad Gateway",
        unreachable_since=since,
        next_probe_at=timezone.now() + timedelta(seconds=30),
    )
    cell = status_cell(admin_client.get(LIST_URL).content.decode(), telegram)
    assert "unreachable since" in cell
    assert "#b3261e" in cell  # red, besides the words

    page = admin_client.get(f"{LIST_URL}{telegram.pk}/change/").content.decode()
    assert "Provider reachability" in page
    assert "Telegram sendMessage failed (502): Bad Gateway" in page
    assert "failures in a row" in page.lower() and "next recovery test" in page.lower()
    # Read-only: the breaker is the sender's to write, never a form field.
    assert 'name="transport_failures"' not in page and 'name="reachability"' not in page

    only_unreachable = admin_client.get(LIST_URL, {"reachability__exact": "unreachable"}).content.decode()
    assert f"/connector/{telegram.pk}/change/" in only_unreachable


def test_a_connector_testing_recovery_says_so(admin_client, telegram):
    m.Connector.objects.filter(pk=telegram.pk).update(
        reachability=m.Reachability.PROBING, unreachable_since=timezone.now() - timedelta(minutes=2)
    )
    cell = status_cell(admin_client.get(LIST_URL).content.decode(), telegram)
    assert "testing recovery" in cell and "unreachable since" in cell


def test_the_website_chat_has_no_provider_to_reach(admin_client, open_channel):
    livechat = m.Connector.objects.get(open_channel=open_channel, kind=m.ConnectorKind.LIVECHAT)
    cell = status_cell(admin_client.get(LIST_URL).content.decode(), livechat)
    assert "reachable" not in cell
    for url in (f"{LIST_URL}{livechat.pk}/change/", f"{LIST_URL}add/"):
        assert "Provider reachability" not in admin_client.get(url).content.decode()
