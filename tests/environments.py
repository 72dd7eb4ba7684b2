"""Environments for the product's own processes that tests start (manage.py, uvicorn)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def without_debug_or_keys(*, env_file: Path) -> dict[str, str]:
    """The tests' environment with DEBUG and every key unset, and ``env_file`` (absent) read instead of a
    developer's .env: the product as a fresh production machine would first start it."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY_FALLBACKS"}
    }
    environment.update(ENV_FILE=str(env_file), DJANGO_SETTINGS_MODULE="contact_center.settings")
    return environment


def production_like(*, env_file: Path, **extra: str) -> dict[str, str]:
    """DEBUG off with keys of its own (fresh for every call), then ``extra``."""
    return {
        **without_debug_or_keys(env_file=env_file),
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        **extra,
    }
