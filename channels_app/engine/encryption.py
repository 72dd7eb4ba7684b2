"""Secrets at rest (issue 13): rewriting every stored secret under the current key, the middle step of a rotation.

A rotation (README, "Secrets at rest and key rotation"): the new key becomes ``FIELD_ENCRYPTION_KEY`` and the old
one moves to ``FIELD_ENCRYPTION_KEY_FALLBACKS``, every process restarts; :func:`secrets_reencrypt` (``manage.py
reencrypt_secrets``) rewrites each value still encrypted with an old key; once :func:`secrets_under_old_keys` finds
none (``manage.py reencrypt_secrets --check``), the old key can go.

Every model field that is an :class:`~channels_app.models.encryption.EncryptedSecretField` is covered, found in the
app registry, so a secret added later is rotated without a change here. The ciphertexts are read as they are stored
(cast to text, so the field does not decrypt them) to tell which key they were written with.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast

from channels_app.models.encryption import (
    EncryptedSecretField,
    UndecryptableSecret,
    current_key_fernet,
    secrets_fernet,
)


@dataclass(frozen=True)
class SecretsCount:
    stored: int  # non-empty secrets in the database
    under_old_keys: int  # of those, encrypted with a key other than FIELD_ENCRYPTION_KEY (before a rewrite)


def encrypted_fields() -> list[tuple[type[models.Model], tuple[str, ...]]]:
    """Each model with encrypted fields, and the names of those fields."""
    found = []
    for model in apps.get_models():
        names = tuple(field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedSecretField))
        if names:
            found.append((model, names))
    return found


def secrets_reencrypt() -> SecretsCount:
    """Rewrite under ``FIELD_ENCRYPTION_KEY`` every secret still encrypted with a fallback key.

    1. Lock every row that holds a secret (an administrator saving a connector meanwhile waits, and its new
       value is written under the current key anyway).
    2. Leave the values the current key decrypts: running this twice rewrites nothing the second time.
    3. Decrypt the others with the fallbacks and store the plaintext again: the field encrypts it with the
       current key.

    One transaction: a value no key decrypts raises :class:`UndecryptableSecret` and nothing is changed.
    """
    current = current_key_fernet()
    stored = rewritten = 0
    with transaction.atomic():
        for model, names, pk, ciphertexts in _stored_ciphertexts(lock=True):
            plaintexts = {}
            for name, ciphertext in zip(names, ciphertexts, strict=True):
                stored += 1
                if not _decrypts(current, ciphertext):
                    plaintexts[name] = _decrypt_with_any_key(model, name, pk, ciphertext)
            if plaintexts:
                model._default_manager.filter(pk=pk).update(**plaintexts)
                rewritten += len(plaintexts)
    return SecretsCount(stored=stored, under_old_keys=rewritten)


def secrets_under_old_keys() -> SecretsCount:
    """How many stored secrets the current key alone cannot decrypt (a read: nothing is changed)."""
    current = current_key_fernet()
    stored = old = 0
    for _model, _names, _pk, ciphertexts in _stored_ciphertexts(lock=False):
        stored += len(ciphertexts)
        old += sum(not _decrypts(current, ciphertext) for ciphertext in ciphertexts)
    return SecretsCount(stored=stored, under_old_keys=old)


def _stored_ciphertexts(*, lock: bool) -> Iterator[tuple[type[models.Model], tuple[str, ...], object, list[str]]]:
    """(model, names, pk, ciphertexts) of every row with at least one secret; an empty secret (stored as an empty
    string) is left out, and ``names`` matches ``ciphertexts``."""
    for model, all_names in encrypted_fields():
        raw = {f"raw_{name}": Cast(name, output_field=models.TextField()) for name in all_names}
        rows = model._default_manager.annotate(**raw).order_by("pk")
        if lock:
            rows = rows.select_for_update(of=("self",))
        for row in rows.values("pk", *raw):
            present = [(name, row[f"raw_{name}"]) for name in all_names if row[f"raw_{name}"]]
            if present:
                names, ciphertexts = zip(*present, strict=True)
                yield model, tuple(names), row["pk"], list(ciphertexts)


def _decrypts(fernet: Fernet, ciphertext: str) -> bool:
    try:
        fernet.decrypt(ciphertext.encode())
    except InvalidToken:
        return False
    return True


def _decrypt_with_any_key(model: type[models.Model], name: str, pk: object, ciphertext: str) -> str:
    try:
        return secrets_fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            f"{model.__name__} {pk}: {name} decrypts with neither FIELD_ENCRYPTION_KEY nor"
            " FIELD_ENCRYPTION_KEY_FALLBACKS; put the key it was encrypted with back in FIELD_ENCRYPTION_KEY_FALLBACKS."
            " Nothing was changed."
        ) from None
