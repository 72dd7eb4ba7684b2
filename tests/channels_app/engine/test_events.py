"""Events reach the per-operator and per-conversation groups after commit, never after a rollback."""

from __future__ import annotations

import logging

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from channels_app.engine import events
from channels_app.models import DistributionMode
from tests.channels_app.engine_support import *  # noqa: F403
from tests.channels_app.engine_support import make_channel, make_operator

pytestmark = pytest.mark.django_db


def test_offered_operators_and_the_conversation_group_hear_of_a_new_conversation(engine):
    olga, piotr = make_operator("olga"), make_operator("piotr")
    channel = make_channel([olga, piotr], distribution_mode=DistributionMode.ALL_AT_ONCE)
    conversation = engine.receive(channel, "anna", "Where is my parcel?")
    for operator in (olga, piotr):
        (offered,) = engine.events(f"operator.{operator.pk}", "offer.created")
        assert offered["conversation_id"] == conversation.pk
        assert offered["conversation"]["client_name"] == str(conversation.client)
    group = f"conversation.{conversation.pk}"
    assert next(event["message"]["text"] for event in engine.events(group, "message.created")) == "Where is my parcel?"
    assert engine.events(group, "conversation.status")[-1]["status"] == "offered"


def test_events_of_a_rolled_back_transaction_are_never_sent(engine):
    class Boom(Exception):
        pass

    with engine._capture(execute=True), pytest.raises(Boom), transaction.atomic():
        events.publish(["operator.1"], {"type": "offer.created"})
        raise Boom
    with engine._capture(execute=True), transaction.atomic():
        with pytest.raises(Boom), transaction.atomic():
            events.publish(["operator.1"], {"type": "inner"})
            raise Boom
        events.publish(["operator.1"], {"type": "outer"})
    assert [event["type"] for event in engine.events("operator.1")] == ["outer"]


def test_events_arrive_through_the_channel_layer_as_event_forward(engine, settings):
    layer = get_channel_layer()
    channel_name = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("operator.7", channel_name)
    with engine._capture(execute=True), transaction.atomic():
        events.publish(["operator.7"], {"type": "conversation.closed", "conversation_id": 3})
    assert events.flush()
    message = async_to_sync(layer.receive)(channel_name)
    assert message == {"type": "event.forward", "event": {"type": "conversation.closed", "conversation_id": 3}}


def test_a_failing_channel_layer_is_logged_and_never_breaks_the_service(engine, settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "contact_center.channel_layer.RedisEventsChannelLayer",
            "CONFIG": {"hosts": [{"address": "unix:///nonexistent/redis.sock"}]},
        }
    }
    olga = make_operator("olga")
    channel = make_channel([olga])
    with caplog.at_level(logging.ERROR, logger="channels_app.engine.events"):
        conversation = engine.receive(channel)
        assert events.flush(timeout=10)
    assert conversation.status == "offered"
    assert "Could not send" in caplog.text
