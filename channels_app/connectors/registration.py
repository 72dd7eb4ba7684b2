"""O5: binding a messenger connector's webhook to this site's address, by the command or in the background.

Telegram (``setWebhook``), Messenger (the page's app subscription) and WhatsApp
(the business account's app subscription with our URL as its callback) are
registered through their APIs. Zalo has none, so its result says exactly what
to do by hand. Every attempt leaves its outcome on the connector
(``registration_state``, ``registration_detail``, ``registration_checked_at``),
which the admin shows.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from channels_app.connectors.base import IdentityResult, RegistrationResult
from channels_app.connectors.registry import MESSENGER_KINDS, get_source
from channels_app.connectors.webhooks import PROVIDER_BY_KIND
from channels_app.engine import jobs
from channels_app.models import Connector, RegistrationState

# A change to any of these may change what the provider must be told, so saving it registers again.
REGISTRATION_FIELDS = (
    "kind",
    "account_id",
    "business_account_id",
    "is_active",
    "access_token",
    "app_secret",
    "verify_token",
    "webhook_secret",
)


def webhook_url(connector: Connector, site_url: str | None = None) -> str:
    """Where the connector's provider posts its updates: ``<site>/webhooks/<provider>/<connector id>/``.

    ``site_url`` is the site's address as :func:`contact_center.site_address.site_url` decides it (a page passes
    its request's); without it, ``SITE_URL``."""
    base = (site_url or settings.SITE_URL).rstrip("/")
    return base + reverse(f"webhook-{PROVIDER_BY_KIND[connector.kind]}", args=[connector.pk])


def registration_state(result: RegistrationResult) -> RegistrationState:
    """Done; a person must act (the detail says how); or failed (the detail says why)."""
    if not result.automatic:
        return RegistrationState.BY_HAND
    return RegistrationState.REGISTERED if result.ok else RegistrationState.FAILED


def connector_webhook_register(*, connector: Connector, site_url: str, now: datetime) -> RegistrationResult:
    """Register the connector's webhook for ``site_url`` and record the URL, the outcome and the time on it.

    The provider is called outside any transaction (it may take seconds); the
    outcome is written in one update of the connector's own columns.
    """
    url = webhook_url(connector, site_url)
    source = get_source(connector.kind)
    if source is None:
        raise ValueError(f"{connector.get_kind_display()} connectors have no webhook.")
    result = source.register_webhook(connector, url)
    connector.webhook_url = url
    connector.registration_state = registration_state(result)
    connector.registration_detail = result.detail
    connector.registration_checked_at = now
    fields = ["webhook_url", "registration_state", "registration_detail", "registration_checked_at"]
    if result.ok:
        connector.webhook_registered_at = now
        fields.append("webhook_registered_at")
    connector.save(update_fields=fields)
    return result


def connector_identify(*, connector: Connector) -> IdentityResult:
    """The admin's *Test connection*: who the provider says the stored credentials belong to. Reads only; the
    provider is asked outside any transaction. A connector without a provider (live chat) raises ValueError."""
    source = get_source(connector.kind)
    if source is None:
        raise ValueError(f"{connector.get_kind_display()} connectors have no provider to test.")
    return source.identify(connector)


def connector_webhook_register_by_id(*, connector_id: int, now: datetime, site_url: str | None = None) -> str:
    """The background registration (the task's body): the connector as it is now, for ``site_url`` (the
    address of the admin page that saved it) or ``settings.SITE_URL``.

    A connector deleted, switched off or turned into live chat since it was
    queued has nothing to register; its state is left as it is.
    """
    connector = Connector.objects.filter(pk=connector_id, is_active=True, kind__in=MESSENGER_KINDS).first()
    if connector is None:
        return "skipped"
    connector_webhook_register(connector=connector, site_url=site_url or settings.SITE_URL, now=now)
    return str(connector.registration_state)


def registration_needed(before: Connector | None, after: Connector) -> bool:
    """Whether saving ``after`` (``before`` is the stored row, None for a new one) must register it again:
    an active messenger connector that is new or whose account, credentials or tokens changed."""
    if not after.is_active or after.kind not in MESSENGER_KINDS:
        return False
    if before is None:
        return True
    return any(getattr(before, name) != getattr(after, name) for name in REGISTRATION_FIELDS)


def connector_registration_after_save(
    *, before: Connector | None, connector: Connector, site_url: str | None = None
) -> bool:
    """After an admin save: when :func:`registration_needed`, mark the connector as registering and queue its
    registration (for ``site_url``, the saving page's address, when given) for after the save commits (the
    provider is never called inside the admin's transaction). Says whether it queued."""
    if not registration_needed(before, connector):
        return False
    connector.registration_state = RegistrationState.PENDING
    connector.registration_detail = ""
    connector.save(update_fields=["registration_state", "registration_detail"])
    args = (connector.pk, site_url) if site_url else (connector.pk,)
    transaction.on_commit(partial(jobs.enqueue, jobs.REGISTER_WEBHOOK, *args))
    return True
