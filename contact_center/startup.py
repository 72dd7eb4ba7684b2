"""The entry points' first step: load the settings, or stop with their refusal in one line.

Settings refuse to load when the product would run unsafely (``DEBUG`` off without a ``SECRET_KEY`` of its own)
or is misconfigured; the message says what to set. ``manage.py`` and the ASGI application (``uvicorn``) print
it and exit with status 1, instead of burying it under a traceback.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    from django.conf import settings

    try:
        settings.DEBUG  # noqa: B018 -- reading one setting imports the settings module
    except ImproperlyConfigured as refusal:
        sys.stderr.write(f"Refusing to start: {refusal}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None
