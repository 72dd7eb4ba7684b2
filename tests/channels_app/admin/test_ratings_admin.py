"""The client ratings' list reads its rows in a fixed number of queries, however many rows it shows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels_app import models as m
from tests.factories import ConversationFactory, OperatorFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/channels_app/clientrating/"


def rate(count: int) -> None:
    for _ in range(count):
        m.ClientRating.objects.create(
            conversation=ConversationFactory(),
            operator=OperatorFactory(),
            value=m.ClientRating.Value.LIKE,
            rated_at=timezone.now(),
        )


def queries_for_the_list(admin_client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    return len(queries)


def test_the_client_ratings_list_does_not_query_once_per_row(admin_client):
    rate(2)
    with_two = queries_for_the_list(admin_client)
    rate(5)
    assert queries_for_the_list(admin_client) == with_two
