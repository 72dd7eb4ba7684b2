"""Issue 13: rewrite every stored secret under the current FIELD_ENCRYPTION_KEY (the middle step of a key rotation).

Run it after the new key became ``FIELD_ENCRYPTION_KEY``, with the old one in ``FIELD_ENCRYPTION_KEY_FALLBACKS``,
and every process restarted. ``--check`` changes nothing and fails while a secret is still encrypted with an old
key: once it passes, the old key can leave ``FIELD_ENCRYPTION_KEY_FALLBACKS``.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from channels_app.engine.encryption import secrets_reencrypt, secrets_under_old_keys
from channels_app.models.encryption import UndecryptableSecret


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with FIELD_ENCRYPTION_KEY (key rotation); --check only counts."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing; fail if a secret is still encrypted with a key of FIELD_ENCRYPTION_KEY_FALLBACKS.",
        )

    def handle(self, *args, check: bool = False, **options) -> None:
        if check:
            count = secrets_under_old_keys()
            if count.under_old_keys:
                raise CommandError(
                    f"{count.under_old_keys} of {count.stored} stored secrets are still encrypted with an old key:"
                    " run `manage.py reencrypt_secrets` before removing it from FIELD_ENCRYPTION_KEY_FALLBACKS."
                )
            self.stdout.write(f"All {count.stored} stored secrets are encrypted with FIELD_ENCRYPTION_KEY.")
            return
        try:
            count = secrets_reencrypt()
        except UndecryptableSecret as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Re-encrypted {count.under_old_keys} of {count.stored} stored secrets with FIELD_ENCRYPTION_KEY;"
                " the others already were."
            )
        )
