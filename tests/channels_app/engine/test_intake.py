"""The inbound path's raw SQL (decision 0033): the rows it reads are the instances the ORM would build, and the
writes it makes without save() skip no receiver."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_save, pre_save
from django.utils import timezone

from channels_app.engine import intake
from channels_app.engine.messages import _CONVERSATION, _MESSAGE
from channels_app.models import Connector, ConnectorKind, Conversation, InboundUpdate, Message
from tests.factories import ConnectorFactory

pytestmark = pytest.mark.django_db


def test_the_webhook_connector_is_the_orm_one_with_its_channel_and_decrypted_secrets():
    connector = ConnectorFactory(kind=ConnectorKind.TELEGRAM, app_secret="s3cret")
    found = intake.connector_for_webhook(connector.pk, [ConnectorKind.TELEGRAM])
    expected = Connector.objects.get(pk=connector.pk)
    assert found is not None
    assert found.webhook_secret == expected.webhook_secret and found.app_secret == "s3cret"
    assert found.open_channel.name == expected.open_channel.name
    assert "access_token" in found.get_deferred_fields()
    assert found.access_token == expected.access_token  # loaded on access, decrypted


def test_the_webhook_connector_must_be_active_and_of_the_kind():
    connector = ConnectorFactory(kind=ConnectorKind.TELEGRAM)
    assert intake.connector_for_webhook(connector.pk, [ConnectorKind.ZALO]) is None
    Connector.objects.filter(pk=connector.pk).update(is_active=False)
    assert intake.connector_for_webhook(connector.pk, [ConnectorKind.TELEGRAM]) is None


def test_pending_updates_claim_and_finish():
    connector = ConnectorFactory(kind=ConnectorKind.TELEGRAM)
    now = timezone.now()
    pending = InboundUpdate.objects.create(connector=connector, update_id="1", payload={"a": [1]}, received_at=now)
    InboundUpdate.objects.create(connector=connector, update_id="2", payload={}, received_at=now, state="processed")
    [update] = intake.pending_updates(connector.pk, ["1", "2", "3"])
    assert update.pk == pending.pk and update.payload == {"a": [1]} and update.received_at == now
    assert intake.update_claim(update.pk)
    intake.update_finish(update, state=InboundUpdate.State.PROCESSED, error="", now=now)
    update.refresh_from_db()
    assert (update.state, update.processed_at) == ("processed", now)
    assert not intake.update_claim(update.pk)  # no longer pending
    assert intake.pending_updates(connector.pk, ["1"]) == []


@pytest.mark.parametrize("model", [Message, Conversation])
def test_no_receiver_listens_to_the_saves_written_without_save(model):
    assert _MESSAGE.model is Message and _CONVERSATION.model is Conversation
    assert not pre_save.has_listeners(model) and not post_save.has_listeners(model)
