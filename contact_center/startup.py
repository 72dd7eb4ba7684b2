"""The entry points' first step: load the settings, or stop with their refusal in one line.

Settings refuse to load when the product would run unsafely (``DEBUG`` off without a ``SECRET_KEY`` of its own)
or is misconfigured; the message says what to set. ``manage.py`` and the ASGI application (``uvicorn``) print
it and exit with status 1, instead of burying it under a traceback.

``manage.py`` reads the settings (for that refusal, then to start the embedded servers) before Django's command
line would apply ``--settings``; :func:`use_settings_option` applies it first, so the settings a command names are
the ones checked, started and used.
"""

from __future__ import annotations

import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser, handle_default_options


def use_settings_option(argv: list[str]) -> None:
    """Apply ``--settings`` and ``--pythonpath`` from a ``manage.py`` command line, read as Django reads them
    (``ManagementUtility.execute``), before anything reads the settings."""
    parser = CommandParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--settings")
    parser.add_argument("--pythonpath")
    parser.add_argument("args", nargs="*")
    try:
        options, _ = parser.parse_known_args(argv[2:])
    except CommandError:
        return  # Django's own parsing reports a malformed command line
    handle_default_options(options)


def load_settings_or_exit() -> None:
    from django.conf import settings

    try:
        settings.DEBUG  # noqa: B018 -- reading one setting imports the settings module
    except ImproperlyConfigured as refusal:
        sys.stderr.write(f"Refusing to start: {refusal}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None
