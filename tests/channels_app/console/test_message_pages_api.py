"""Issue 15, point 3 over REST: the console's messages endpoint pages (latest, before, around) and refuses bad
positions with a 400 and another team's conversation with a 404."""

from __future__ import annotations

import pytest

from channels_app.livechat.visitors import visitor_token_issue
from tests.channels_app.console import test_api
from tests.channels_app.console.test_api import accepted, as_user, visitor_writes

# The console API tests' teams and quiet channel layer, shared rather than copied.
quiet_channel_layer = test_api.quiet_channel_layer
support = test_api.support
sales = test_api.sales

pytestmark = pytest.mark.django_db(transaction=True)


def _conversation_of(support, count: int):
    first = visitor_writes(support.connector, "visitor-a", "m0").conversation
    for index in range(1, count):
        visitor_writes(support.connector, "visitor-a", f"m{index}")
    return accepted(first, support.olga)


def test_the_messages_endpoint_pages_latest_before_and_around(client, support, monkeypatch):
    monkeypatch.setattr("channels_app.engine.selectors.HISTORY_PAGE", 4)
    conversation = _conversation_of(support, 10)
    as_user(client, support.olga)
    url = f"/api/conversations/{conversation.pk}/messages/"

    latest = client.get(url).json()
    assert [m["text"] for m in latest["messages"]] == ["m6", "m7", "m8", "m9"]
    assert (latest["has_older"], latest["has_newer"]) == (True, False)
    older = client.get(f"{url}?before={latest['messages'][0]['id']}").json()
    assert [m["text"] for m in older["messages"]] == ["m2", "m3", "m4", "m5"]
    assert (older["has_older"], older["has_newer"]) == (True, True)
    around = client.get(f"{url}?around={older['messages'][1]['id']}").json()
    assert [m["text"] for m in around["messages"]] == ["m1", "m2", "m3", "m4"]
    newer = client.get(f"{url}?newer_than={around['messages'][-1]['id']}").json()
    assert [m["text"] for m in newer["messages"]] == ["m5", "m6", "m7", "m8"]
    assert newer["has_newer"] is True


def test_bad_positions_are_a_400_and_change_nothing(client, support, sales):
    conversation = _conversation_of(support, 2)
    elsewhere = visitor_writes(sales.connector, "visitor-b", "Sales secret").conversation
    foreign_id = elsewhere.messages.get().pk
    as_user(client, support.olga)
    url = f"/api/conversations/{conversation.pk}/messages/"
    refused = ["before=yesterday", "around=-3", "around=999999999", "before=1&around=1"]
    refused += [f"{position}={foreign_id}" for position in ("before", "around", "newer_than")]
    for query in refused:
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400, query
        assert response.json()["detail"]
        assert "Sales secret" not in response.content.decode()


def test_another_teams_conversation_is_a_404_whatever_the_position(client, support, sales):
    elsewhere = visitor_writes(sales.connector, "visitor-b", "Sales secret").conversation
    message_id = elsewhere.messages.get().pk
    as_user(client, support.olga)
    for query in ("", f"?before={message_id}", f"?around={message_id}"):
        response = client.get(f"/api/conversations/{elsewhere.pk}/messages/{query}")
        assert response.status_code == 404, query


def test_the_widget_opens_on_the_latest_page_and_pages_older_ones(client, support, sales, monkeypatch):
    monkeypatch.setattr("channels_app.engine.selectors.HISTORY_PAGE", 4)
    conversation = _conversation_of(support, 6)
    elsewhere = visitor_writes(sales.connector, "visitor-b", "Sales secret").conversation
    token = visitor_token_issue(connector=support.connector, visitor_id="visitor-a")

    latest = client.get(f"/api/livechat/{token}/").json()
    assert [m["text"] for m in latest["messages"]] == ["m2", "m3", "m4", "m5"]
    assert latest["has_older"] is True
    older = client.get(f"/api/livechat/{token}/?before={latest['messages'][0]['id']}").json()
    assert [m["text"] for m in older["messages"]] == ["m0", "m1"]
    assert older["has_older"] is False
    for query in ("before=soon", f"before={elsewhere.messages.get().pk}"):
        refused = client.get(f"/api/livechat/{token}/?{query}")
        assert refused.status_code == 400, query
        assert "Sales secret" not in refused.content.decode()
    assert conversation.messages.count() == 6
