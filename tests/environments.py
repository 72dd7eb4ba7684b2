"""Environments for the product's own processes that tests start (manage.py, uvicorn)."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

from cryptography.fernet import Fernet

PROJECT_DIR = Path(__file__).resolve().parent.parent


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


def with_project_settings(**variables: str) -> dict[str, str]:
    """The tests' environment with the product's own settings module, then ``variables``."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "contact_center.settings", **variables}


def run_in_project(command: list[str], environment: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``command`` in the project's folder with ``environment``; its output captured, its exit code returned."""
    return subprocess.run(
        command, cwd=PROJECT_DIR, env=environment, capture_output=True, text=True, timeout=120, check=False
    )
