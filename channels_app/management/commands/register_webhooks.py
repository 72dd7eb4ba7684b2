"""O5: bind every active messenger connector's webhook to the site's current domain.

Run it after the domain (``SITE_URL``) changes. Telegram is registered through
``setWebhook`` with the connector's secret token, a Messenger page is
subscribed to the app, and a WhatsApp business account is subscribed to the
app with our URL as its callback; Zalo has no API for it, so its line says
exactly what to do by hand. Each connector's ``webhook_url`` and outcome
(``registration_state``, ``registration_detail``, ``registration_checked_at``)
are stored, and one line per connector is printed. Only failures make the
command fail; a step left to do by hand does not.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from channels_app.connectors.registration import connector_webhook_register
from channels_app.connectors.registry import MESSENGER_KINDS
from channels_app.models import Connector, RegistrationState


class Command(BaseCommand):
    help = "Register every active messenger connector's webhook for SITE_URL (O5) and print each result."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site-url", help="Use this base URL instead of settings.SITE_URL.")
        parser.add_argument("--connector", type=int, action="append", help="Only this connector id (repeatable).")

    def handle(self, *args, site_url: str | None = None, connector: list[int] | None = None, **options) -> None:
        site_url = (site_url or settings.SITE_URL).rstrip("/")
        if not site_url.startswith(("http://", "https://")):
            raise CommandError(f"The site URL must start with http:// or https://, not {site_url!r}.")
        connectors = Connector.objects.filter(is_active=True, kind__in=MESSENGER_KINDS).order_by("pk")
        if connector:
            connectors = connectors.filter(pk__in=connector)
        failures = 0
        count = 0
        for item in connectors:
            count += 1
            failures += self._register(item, site_url) == RegistrationState.FAILED
        if count == 0:
            self.stdout.write("No active messenger connectors to register.")
        elif failures:
            raise CommandError(f"{failures} of {count} connectors could not be registered; see the lines above.")

    def _register(self, connector: Connector, site_url: str) -> str:
        result = connector_webhook_register(connector=connector, site_url=site_url, now=timezone.now())
        url = connector.webhook_url
        label = f"{connector.get_kind_display()} #{connector.pk} ({connector})"
        state = connector.registration_state
        if state == RegistrationState.FAILED:
            self.stdout.write(self.style.ERROR(f"FAILED      {label}: {url} — {result.detail}"))
        elif state == RegistrationState.BY_HAND:
            self.stdout.write(self.style.WARNING(f"by hand     {label}: {url} — {result.detail}"))
        else:
            self.stdout.write(self.style.SUCCESS(f"registered  {label}: {url} — {result.detail}"))
        return state
