"""Issue 21: the console's lists and conversation say whether the conversation's source answers now, so the
operator sees why replies wait (``source_unreachable_since``; the ``connector.reachability`` event updates it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app.models import Connector, OperatorProfile, Reachability
from tests.channels_app.console.test_api import accepted, as_user, quiet_channel_layer, support, visitor_writes

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["quiet_channel_layer", "support"]  # fixtures of the console API tests

LISTS = "/api/console/conversations/"


def unreachable(connector: Connector, since) -> None:
    Connector.objects.filter(pk=connector.pk).update(
        reachability=Reachability.UNREACHABLE, unreachable_since=since, transport_error="Bad Gateway"
    )


def test_rows_and_detail_say_the_source_answers(client, support):
    conversation = accepted(visitor_writes(support.connector, "visitor-a", "Hi").conversation, support.olga)
    as_user(client, support.olga)
    row = client.get(LISTS).json()["mine"][0]
    detail = client.get(f"/api/conversations/{conversation.pk}/").json()
    for payload in (row, detail):
        assert payload["connector_id"] == support.connector.pk
        assert payload["source_name"] == "Website live chat"
        assert payload["source_unreachable_since"] is None


def test_rows_and_detail_say_since_when_the_source_is_not_answering(client, support):
    mine = accepted(visitor_writes(support.connector, "visitor-a", "Hi").conversation, support.olga)
    OperatorProfile.objects.filter(user=support.olga).update(is_online=False, console_heartbeat_at=None)
    waiting = visitor_writes(support.connector, "visitor-b", "Anyone?").conversation
    since = timezone.now() - timedelta(minutes=4)
    unreachable(support.connector, since)

    as_user(client, support.olga)
    lists = client.get(LISTS).json()
    assert [row["id"] for row in lists["mine"]] == [mine.pk]
    assert [row["id"] for row in lists["queued"]] == [waiting.pk]
    for row in (lists["mine"][0], lists["queued"][0]):
        assert row["source_unreachable_since"] == since.isoformat().replace("+00:00", "Z")
    detail = client.get(f"/api/conversations/{mine.pk}/").json()
    assert detail["source_unreachable_since"] == since.isoformat().replace("+00:00", "Z")

    # Testing recovery is still not answering: replies keep waiting until the test succeeds.
    Connector.objects.filter(pk=support.connector.pk).update(reachability=Reachability.PROBING)
    assert client.get(f"/api/conversations/{mine.pk}/").json()["source_unreachable_since"] is not None


def test_the_source_state_costs_no_query_per_row(client, support):
    OperatorProfile.objects.filter(user=support.olga).update(is_online=False, console_heartbeat_at=None)
    visitor_writes(support.connector, "visitor-1", "One")
    as_user(client, support.olga)
    client.get(LISTS)  # the session and the operator's profile are warm
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(LISTS).json()["queued"]) == 1
    for number in range(2, 5):
        visitor_writes(support.connector, f"visitor-{number}", "More")
    with CaptureQueriesContext(connection) as four:
        assert len(client.get(LISTS).json()["queued"]) == 4
    assert len(four) == len(one), "\n".join(q["sql"][:200] for q in four.captured_queries)
