"""Issue 13: connector credentials are stored encrypted with FIELD_ENCRYPTION_KEY, and the key can be rotated.

The database column holds Fernet ciphertext (read here with raw SQL); the model reads the plaintext, so the
connectors and everything else that reads ``access_token`` / ``app_secret`` works as before.
"""

from __future__ import annotations

import hashlib
import hmac
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from channels_app.connectors.registry import source_for
from channels_app.engine.encryption import secrets_reencrypt, secrets_under_old_keys
from channels_app.models import Connector, ConnectorKind
from channels_app.models.encryption import UndecryptableSecret
from tests.factories import ConnectorFactory

TOKEN = "7000001:AAbotTOKEN-secret"
APP_SECRET = "meta-app-secret-0123456789"

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def stored(connector: Connector) -> tuple[str, str]:
    """The two columns as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, app_secret FROM channels_app_connector WHERE id = %s", [connector.pk])
        return cursor.fetchone()


def decrypts_with(key: str, ciphertext: str) -> str:
    return Fernet(key).decrypt(ciphertext.encode()).decode()


@pytest.fixture
def old_key(settings):
    settings.FIELD_ENCRYPTION_KEY = OLD_KEY
    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = []
    return settings


@pytest.mark.django_db
def test_the_columns_hold_ciphertext_and_the_model_reads_the_plaintext(settings):
    connector = ConnectorFactory(kind=ConnectorKind.FACEBOOK, access_token=TOKEN, app_secret=APP_SECRET)
    raw_token, raw_secret = stored(connector)
    assert TOKEN not in raw_token and APP_SECRET not in raw_secret
    assert decrypts_with(settings.FIELD_ENCRYPTION_KEY, raw_token) == TOKEN
    assert decrypts_with(settings.FIELD_ENCRYPTION_KEY, raw_secret) == APP_SECRET
    loaded = Connector.objects.get(pk=connector.pk)
    assert (loaded.access_token, loaded.app_secret) == (TOKEN, APP_SECRET)
    # What the Meta source computes with the secret is unchanged: the signature it verifies.
    body = b'{"object": "page", "entry": []}'
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert source_for(loaded.kind).verify(loaded, {"X-Hub-Signature-256": signature}, body)


@pytest.mark.django_db
def test_an_empty_secret_is_stored_empty_and_read_as_an_empty_string():
    connector = ConnectorFactory(kind=ConnectorKind.LIVECHAT, access_token="", app_secret="")
    assert stored(connector) == ("", "")
    loaded = Connector.objects.get(pk=connector.pk)
    assert (loaded.access_token, loaded.app_secret) == ("", "")


@pytest.mark.django_db
def test_a_secret_no_configured_key_decrypts_is_an_error_that_names_the_setting(old_key, settings):
    connector = ConnectorFactory(kind=ConnectorKind.TELEGRAM, access_token=TOKEN)
    settings.FIELD_ENCRYPTION_KEY = NEW_KEY  # the old key dropped without re-encrypting first
    with pytest.raises(UndecryptableSecret, match="FIELD_ENCRYPTION_KEY_FALLBACKS"):
        Connector.objects.get(pk=connector.pk)


@pytest.mark.django_db
def test_rotation_re_encrypts_every_secret_with_the_new_key_while_the_old_one_still_decrypts(old_key, settings):
    """1. New key first, old one in the fallbacks: old ciphertext still reads. 2. reencrypt_secrets rewrites it.
    3. The old key can go: everything reads with the new key alone."""
    first = ConnectorFactory(kind=ConnectorKind.TELEGRAM, access_token=TOKEN)
    second = ConnectorFactory(kind=ConnectorKind.FACEBOOK, access_token="EAAGpageTOKEN", app_secret=APP_SECRET)
    old_ciphertexts = stored(first) + stored(second)

    settings.FIELD_ENCRYPTION_KEY, settings.FIELD_ENCRYPTION_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert Connector.objects.get(pk=first.pk).access_token == TOKEN  # old ciphertext, old key listed
    with pytest.raises(CommandError, match="3 of 3 stored secrets are still encrypted with an old key"):
        call_command("reencrypt_secrets", "--check")

    output = StringIO()
    call_command("reencrypt_secrets", stdout=output)
    assert "Re-encrypted 3 of 3 stored secrets" in output.getvalue()
    new_token, _ = stored(first)
    second_token, second_secret = stored(second)
    assert new_token not in old_ciphertexts
    assert decrypts_with(NEW_KEY, new_token) == TOKEN
    assert decrypts_with(NEW_KEY, second_token) == "EAAGpageTOKEN"
    assert decrypts_with(NEW_KEY, second_secret) == APP_SECRET
    assert stored(first)[1] == ""  # an empty secret stays empty

    output = StringIO()
    call_command("reencrypt_secrets", "--check", stdout=output)
    assert "All 3 stored secrets are encrypted with FIELD_ENCRYPTION_KEY." in output.getvalue()
    assert secrets_reencrypt().under_old_keys == 0  # a second run rewrites nothing

    settings.FIELD_ENCRYPTION_KEY_FALLBACKS = []
    loaded = Connector.objects.get(pk=second.pk)
    assert (loaded.access_token, loaded.app_secret) == ("EAAGpageTOKEN", APP_SECRET)


@pytest.mark.django_db
def test_rotation_without_the_old_key_changes_nothing_and_says_which_key_is_missing(old_key, settings):
    connector = ConnectorFactory(kind=ConnectorKind.TELEGRAM, access_token=TOKEN)
    before = stored(connector)
    settings.FIELD_ENCRYPTION_KEY, settings.FIELD_ENCRYPTION_KEY_FALLBACKS = NEW_KEY, []
    with pytest.raises(CommandError, match=f"Connector {connector.pk}: access_token decrypts with neither"):
        call_command("reencrypt_secrets")
    assert stored(connector) == before
    assert secrets_under_old_keys().under_old_keys == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_plaintext_and_going_back_decrypts_it():
    """0006 on a database that holds plaintext credentials (as every installation before it did), and back."""
    before = [("channels_app", "0005_supervisors_and_unverified_email")]
    encrypted = [("channels_app", "0006_encrypt_connector_secrets")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(before)
        old_apps = executor.loader.project_state(before).apps
        channel = old_apps.get_model("channels_app", "OpenChannel").objects.create(name="Legacy")
        legacy = old_apps.get_model("channels_app", "Connector").objects.create(
            open_channel=channel, kind="telegram", account_id="legacy-bot", access_token=TOKEN, app_secret=""
        )
        assert stored(legacy) == (TOKEN, "")

        executor = MigrationExecutor(connection)
        executor.migrate(encrypted)
        raw_token, raw_secret = stored(legacy)
        assert raw_token != TOKEN and raw_secret == ""
        # Only the column 0006 has: the model of today has columns added by later migrations.
        assert Connector.objects.only("access_token").get(pk=legacy.pk).access_token == TOKEN

        executor = MigrationExecutor(connection)
        executor.migrate(before)
        assert stored(legacy) == (TOKEN, "")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    assert Connector.objects.get(pk=legacy.pk).access_token == TOKEN
