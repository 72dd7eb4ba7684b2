"""Values several aggregates share: durations, languages, and the generators of secrets and keys."""

from __future__ import annotations

import secrets

from django.db import models

ONE_MINUTE = 60
TWELVE_HOURS = 12 * 60 * 60


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_public_key() -> str:
    return secrets.token_urlsafe(16)


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    POLISH = "pl", "Polski"
    VIETNAMESE = "vi", "Tiếng Việt"
