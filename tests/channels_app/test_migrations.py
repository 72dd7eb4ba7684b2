"""Data migrations that change what existing rows mean, run forwards and backwards on the real database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("channels_app", "0006_encrypt_connector_secrets")]
AFTER = [("channels_app", "0007_livechat_typed_emails_unconfirmed")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_issue13_addresses_visitors_typed_before_become_unconfirmed_and_providers_addresses_stay():
    apps = _migrate(BEFORE)
    OpenChannel = apps.get_model("channels_app", "OpenChannel")
    Connector = apps.get_model("channels_app", "Connector")
    Client = apps.get_model("channels_app", "Client")
    channel = OpenChannel.objects.create(name="Support")
    widget = Connector.objects.create(open_channel=channel, kind="livechat", account_id="site", public_key="k1")
    whatsapp = Connector.objects.create(open_channel=channel, kind="whatsapp", account_id="4860", public_key="k2")
    typed = Client.objects.create(connector=widget, external_id="visitor", email="someone@example.com")
    provided = Client.objects.create(connector=whatsapp, external_id="48600", email="from-provider@example.com")
    try:
        apps = _migrate(AFTER)
        Client = apps.get_model("channels_app", "Client")
        assert Client.objects.filter(pk=typed.pk).values_list("email", "unverified_email").get() == (
            "",
            "someone@example.com",
        )
        assert Client.objects.get(pk=provided.pk).email == "from-provider@example.com"

        apps = _migrate(BEFORE)
        Client = apps.get_model("channels_app", "Client")
        assert Client.objects.get(pk=typed.pk).email == "someone@example.com"
    finally:
        _migrate([("channels_app", "0007_livechat_typed_emails_unconfirmed")])
        leaf = MigrationExecutor(connection).loader.graph.leaf_nodes()
        _migrate(leaf)
