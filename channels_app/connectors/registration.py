"""O5: binding a messenger connector's webhook to this site's address."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.urls import reverse

from channels_app.connectors.base import RegistrationResult
from channels_app.connectors.registry import get_source
from channels_app.connectors.webhooks import PROVIDER_BY_KIND
from channels_app.models import Connector


def webhook_url(connector: Connector, site_url: str | None = None) -> str:
    """Where the connector's provider posts its updates: ``<site>/webhooks/<provider>/<connector id>/``."""
    base = (site_url or settings.SITE_URL).rstrip("/")
    return base + reverse(f"webhook-{PROVIDER_BY_KIND[connector.kind]}", args=[connector.pk])


def connector_webhook_register(*, connector: Connector, site_url: str, now: datetime) -> RegistrationResult:
    """Register the connector's webhook for ``site_url`` and record the URL, the time and any error on it.

    Telegram is registered through its API; Meta and Zalo bind callback URLs in
    their dashboards, so their result says to paste the URL (``automatic`` false).
    """
    url = webhook_url(connector, site_url)
    source = get_source(connector.kind)
    if source is None:
        raise ValueError(f"{connector.get_kind_display()} connectors have no webhook.")
    result = source.register_webhook(connector, url)
    connector.webhook_url = url
    connector.last_error = "" if result.ok else result.detail
    fields = ["webhook_url", "last_error"]
    if result.ok:
        connector.webhook_registered_at = now
        fields.append("webhook_registered_at")
    connector.save(update_fields=fields)
    return result
