"""The one place that decides this site's public address (the widget snippet, webhook URLs, links out).

``SITE_URL`` wins when it is configured, that is, set to anything but the development default: behind a
proxy the request's own host may not be what the world sees. Otherwise a page that has a request builds the
address from it (its scheme, host and port), so ``make run`` on another port, or a machine reached by its
name, shows addresses that work. Without a request (a task, a command), it is ``SITE_URL``.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def site_url(request: HttpRequest | None = None) -> str:
    """``scheme://host[:port]`` without a trailing slash."""
    configured = str(settings.SITE_URL).rstrip("/")
    if request is None or configured != settings.SITE_URL_DEFAULT.rstrip("/"):
        return configured
    return f"{request.scheme}://{request.get_host()}"
