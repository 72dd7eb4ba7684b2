"""Issue 21, point 4: with the inbound queue past INBOUND_QUEUE_LIMIT, both webhook doors still store and answer
every delivery but hand none to processing; the connector sweep catches up, in order, once the queue is shorter."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.connectors import processing
from channels_app.models import InboundUpdate, Message
from tests.channels_app.connectors.test_telegram import SECRET_HEADER, text_update
from tests.channels_app.connectors.test_webhooks_in_web import enqueued, post_telegram, telegram  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inbound_backlog(settings, tasks_waiting):
    """Eleven tasks wait in the inbound queue; the limit is ten."""
    settings.INBOUND_QUEUE_LIMIT = 10
    tasks_waiting("inbound", 11)
    return tasks_waiting


def states(connector) -> dict[str, str]:
    return dict(InboundUpdate.objects.filter(connector=connector).values_list("update_id", "state"))


def test_issue21_the_django_door_stores_and_answers_but_hands_nothing_over(client, telegram, enqueued, inbound_backlog):  # noqa: F811
    response = client.post(
        f"/webhooks/telegram/{telegram.pk}/",
        data=json.dumps(text_update(update_id=7001, message_id=1)),
        content_type="application/json",
        **{SECRET_HEADER: telegram.webhook_secret},
    )
    assert (response.status_code, response.json()["stored"]) == (200, 1)
    assert states(telegram) == {"7001": "pending"}
    assert enqueued == []


async def test_issue21_the_asgi_door_stores_and_answers_but_processes_nothing(
    asgi_client,
    telegram,  # noqa: F811
    enqueued,  # noqa: F811
    inbound_backlog,
):
    answer = await post_telegram(asgi_client, telegram, text_update(update_id=7002, message_id=2))
    assert (answer.status_code, answer.json()["stored"]) == (200, 1)
    rows = InboundUpdate.objects.filter(connector_id=telegram.pk).values_list("update_id", "state")
    assert [row async for row in rows] == [("7002", "pending")]
    assert not await Message.objects.filter(connector_id=telegram.pk).aexists()
    assert enqueued == []


def test_issue21_the_sweep_waits_for_a_shorter_queue_then_hands_the_backlog_over_in_order(
    client,
    telegram,  # noqa: F811
    enqueued,  # noqa: F811
    inbound_backlog,
):
    for number in range(1, 6):
        response = client.post(
            f"/webhooks/telegram/{telegram.pk}/",
            data=json.dumps(text_update(update_id=7100 + number, message_id=number, text=f"message {number}")),
            content_type="application/json",
            **{SECRET_HEADER: telegram.webhook_secret},
        )
        assert response.status_code == 200
    later = timezone.now() + processing.PENDING_UPDATE_GRACE + timedelta(seconds=1)
    assert processing.connectors_sweep(now=later).updates == {}, "the queue is still too long"

    inbound_backlog("inbound", 0)  # the workers caught up
    work = processing.connectors_sweep(now=later)
    assert work.updates == {telegram.pk: ["7101", "7102", "7103", "7104", "7105"]}
    processing.inbound_updates_process(connector_id=telegram.pk, update_ids=work.updates[telegram.pk], now=later)
    texts = (
        Message.objects.filter(connector=telegram, author_kind="client").order_by("pk").values_list("text", flat=True)
    )
    assert list(texts) == [f"message {number}" for number in range(1, 6)]
    assert set(states(telegram).values()) == {"processed"}


def test_issue21_no_limit_and_a_broker_that_does_not_answer_pause_nothing(settings, tasks_waiting):
    tasks_waiting("inbound", 50)
    settings.INBOUND_QUEUE_LIMIT = 0
    assert not processing.intake_paused()
    settings.INBOUND_QUEUE_LIMIT = 10
    assert processing.intake_paused()
    processing.inbound_queue.forget()
    from contact_center.celery import app as celery_app

    saved = celery_app.conf.broker_url
    celery_app.conf.broker_url = "redis+socket:///nonexistent/redis.sock"
    try:
        assert not processing.intake_paused()
    finally:
        celery_app.conf.broker_url = saved
