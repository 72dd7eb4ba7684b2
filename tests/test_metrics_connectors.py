"""Issue 21: ``/metrics`` says, per connector, whether its provider is answering (read at scrape from PostgreSQL)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from channels_app.connectors import circuit
from channels_app.models import Connector, ConnectorKind
from tests.factories import ConnectorFactory
from tests.test_metrics import bot, scrape, token, value

__all__ = ["bot", "token"]  # fixtures of the metrics tests

UNREACHABLE = "contact_center_connector_unreachable"


@pytest.mark.django_db(transaction=True)
def test_a_connector_is_unreachable_in_the_metrics_while_its_breaker_is_open(token, bot, open_channel, settings):
    settings.CONNECTOR_BREAKER_FAILURES = 2
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    zalo = ConnectorFactory(open_channel=open_channel, kind=ConnectorKind.ZALO, account_id="oa-21")
    switched_off = ConnectorFactory(open_channel=open_channel, kind=ConnectorKind.FACEBOOK, is_active=False)
    telegram = {"connector_kind": "telegram", "connector_id": str(bot.pk)}

    samples = scrape()
    assert (UNREACHABLE, tuple(sorted(telegram.items()))) in samples  # shown at 0: "answers", not "no data"
    assert value(samples, UNREACHABLE, **telegram) == 0

    now = timezone.now()
    circuit.transport_failed(connector_id=bot.pk, error="ConnectError: refused", now=now)
    assert value(scrape(), UNREACHABLE, **telegram) == 0  # one failure is not an outage
    circuit.transport_failed(connector_id=bot.pk, error="ConnectError: refused", now=now)
    samples = scrape()
    assert value(samples, UNREACHABLE, **telegram) == 1
    assert value(samples, UNREACHABLE, connector_kind="zalo", connector_id=str(zalo.pk)) == 0
    # The website chat has no provider, and a switched-off connector sends nothing: neither is listed.
    livechat = Connector.objects.get(open_channel=open_channel, kind=ConnectorKind.LIVECHAT)
    listed = {dict(labels)["connector_id"] for name, labels in samples if name == UNREACHABLE}
    assert str(livechat.pk) not in listed and str(switched_off.pk) not in listed

    circuit.transport_succeeded(connector=Connector.objects.get(pk=bot.pk), now=timezone.now())
    assert value(scrape(), UNREACHABLE, **telegram) == 0
