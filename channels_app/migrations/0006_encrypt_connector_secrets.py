"""Issue 13: the connectors' access tokens and app secrets are stored encrypted.

1. The two columns become text (Fernet ciphertext is longer than the plaintext).
2. Every stored value is encrypted with FIELD_ENCRYPTION_KEY; an empty one stays empty.

Reversible: going back decrypts (with FIELD_ENCRYPTION_KEY or a fallback), then the columns become
``varchar`` again. The values are read and written with raw SQL and the keys are read from the
settings here, so this migration keeps working whatever later becomes of the model field's code.
"""

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from django.db import migrations

import channels_app.models.encryption

SECRET_COLUMNS = ("access_token", "app_secret")


def _fernet() -> MultiFernet:
    keys = [settings.FIELD_ENCRYPTION_KEY, *settings.FIELD_ENCRYPTION_KEY_FALLBACKS]
    return MultiFernet([Fernet(key) for key in keys])


def _rewrite(apps, schema_editor, transform) -> None:
    table = schema_editor.quote_name(apps.get_model("channels_app", "Connector")._meta.db_table)
    columns = ", ".join(schema_editor.quote_name(column) for column in SECRET_COLUMNS)
    assignments = ", ".join(f"{schema_editor.quote_name(column)} = %s" for column in SECRET_COLUMNS)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {columns} FROM {table}")  # noqa: S608 (names from the model, quoted)
        for pk, *values in cursor.fetchall():
            cursor.execute(
                f"UPDATE {table} SET {assignments} WHERE id = %s",  # noqa: S608 (names from the model, quoted)
                [*(transform(value) for value in values), pk],
            )


def encrypt_existing(apps, schema_editor) -> None:
    fernet = _fernet()
    _rewrite(apps, schema_editor, lambda value: fernet.encrypt(value.encode()).decode() if value else "")


def decrypt_existing(apps, schema_editor) -> None:
    fernet = _fernet()
    _rewrite(apps, schema_editor, lambda value: fernet.decrypt(value.encode()).decode() if value else "")


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0005_supervisors_and_unverified_email"),
    ]

    operations = [
        migrations.AlterField(
            model_name="connector",
            name="access_token",
            field=channels_app.models.encryption.EncryptedSecretField(
                blank=True, max_length=512, verbose_name="access token"
            ),
        ),
        migrations.AlterField(
            model_name="connector",
            name="app_secret",
            field=channels_app.models.encryption.EncryptedSecretField(
                blank=True, help_text="Meta / Zalo app secret.", max_length=256, verbose_name="app secret"
            ),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
    ]
