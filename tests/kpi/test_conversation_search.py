"""Issue 15: the KPI conversation list has the console's search (the same engine selector, the same scope)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kpi.services import responses_record
from tests.kpi.conftest import minutes

PERIOD = {"start": "2026-03-01", "end": "2026-03-31"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(start_chat, operators):
    olga = operators[0]
    invoice = start_chat(olga)
    invoice.client(minutes(0), "Poproszę fakturę na firmę")
    invoice.operator(olga, minutes(1), "Oczywiście")
    other = start_chat(olga)
    other.client(minutes(5), "Gdzie jest moja paczka?")
    for chat in (invoice, other):
        responses_record(conversation_id=chat.conversation.pk, now=minutes(120))
    return {"invoice": invoice.conversation, "other": other.conversation}


def listed(response) -> list[int]:
    return [conversation.pk for conversation in response.context["page"].object_list]


def test_a_supervisor_finds_a_conversation_by_a_word_without_diacritics(client, kpi_channel, supervisor, chats):
    client.force_login(supervisor)
    response = client.get(reverse("kpi:conversations"), {**PERIOD, "q": "fakture"})
    assert response.status_code == 200
    assert listed(response) == [chats["invoice"].pk]
    # The pager keeps the words.
    assert "q=fakture" in response.context["query"]
    assert sorted(listed(client.get(reverse("kpi:conversations"), PERIOD))) == sorted(
        [chats["invoice"].pk, chats["other"].pk]
    )
    assert 'name="q"' in response.content.decode()


def test_a_too_long_search_is_400(client, kpi_channel, supervisor, chats):
    client.force_login(supervisor)
    assert client.get(reverse("kpi:conversations"), {**PERIOD, "q": "x" * 201}).status_code == 400
