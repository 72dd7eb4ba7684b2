"""Secrets at rest: model fields stored Fernet-encrypted with the key of ``FIELD_ENCRYPTION_KEY``.

The field is jazzband's ``EncryptedCharField`` (django-fernet-encrypted-fields) with two changes:

* **Its own key.** The library derives its key from ``SECRET_KEY`` (and a salt). Ours come from
  ``FIELD_ENCRYPTION_KEY`` (encrypts; decrypts) and ``FIELD_ENCRYPTION_KEY_FALLBACKS`` (decrypt only, during a
  rotation), so rotating ``SECRET_KEY`` after a leak never makes the stored credentials unreadable, and a
  database dump together with ``SECRET_KEY`` still reveals none. The keys are read on every use (a settings
  lookup and a cached ``MultiFernet``), so a test that changes them is heard at once.
* **Loud failure.** The library hands back the ciphertext itself when no key decrypts it; a connector would
  then send that ciphertext to its provider as a token. Here reading such a row raises
  :class:`UndecryptableSecret`, which names the setting to fix.

An empty value is stored as an empty string, not encrypted (the library would store NULL): the column stays
NOT NULL, and a look at the table tells which secrets are set without revealing any.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    # The library has no type information: to the type checker, the field is the CharField it extends.
    from django.db.models import CharField as EncryptedCharField
else:
    from encrypted_fields.fields import EncryptedCharField


class UndecryptableSecret(ImproperlyConfigured):
    """A stored secret decrypts with none of the configured keys (a key was dropped from the fallbacks too soon)."""


def encryption_keys() -> tuple[str, ...]:
    """The current key first (it encrypts), then the fallbacks (they only decrypt)."""
    return (settings.FIELD_ENCRYPTION_KEY, *settings.FIELD_ENCRYPTION_KEY_FALLBACKS)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def secrets_fernet() -> MultiFernet:
    """Encrypts with ``FIELD_ENCRYPTION_KEY``; decrypts with it or any of ``FIELD_ENCRYPTION_KEY_FALLBACKS``."""
    return _fernet(encryption_keys())


def current_key_fernet() -> Fernet:
    """The current key alone: what a value already rotated to it decrypts with."""
    return Fernet(settings.FIELD_ENCRYPTION_KEY)


class EncryptedSecretField(EncryptedCharField):
    """A text column holding Fernet ciphertext (an empty string when empty); the model sees the plaintext string.

    ``max_length`` limits the plaintext (forms, ``full_clean``); the column is unbounded text, since the
    ciphertext is longer (a third more, plus about 100 characters). A lookup by value never matches (every
    encryption of one value differs), except for the empty string.
    """

    # The library caches both per field instance; read from the settings on each use instead (see the module).
    @property
    def keys(self) -> list[bytes]:
        return [key.encode() for key in encryption_keys()]

    @property
    def f(self) -> MultiFernet:
        return secrets_fernet()

    def get_prep_value(self, value: Any) -> str:
        return super().get_prep_value(value) or ""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        if not value:
            return ""
        try:
            return self.f.decrypt(value.encode()).decode()
        except InvalidToken:
            raise UndecryptableSecret(
                f"{self.model.__name__}.{self.name}: a stored value decrypts with neither FIELD_ENCRYPTION_KEY nor"
                " FIELD_ENCRYPTION_KEY_FALLBACKS. Put the key it was encrypted with back in"
                " FIELD_ENCRYPTION_KEY_FALLBACKS, then run `manage.py reencrypt_secrets`."
            ) from None
