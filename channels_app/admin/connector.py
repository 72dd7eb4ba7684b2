"""Connectors (S1–S3) and the webhook deliveries they received.

The connector's own page is where a connector is set up (issue 20): only its source's fields
(:mod:`channels_app.admin.connector_fields`), secrets write-only (:mod:`channels_app.admin.credentials`), and two
buttons that ask the provider now: *Test connection* (its identity endpoint) and *Register webhook*. The open
channel's *Connectors* tab (:class:`ConnectorInline`) lists them with a link here.
"""

from __future__ import annotations

from contextvars import ContextVar

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from channels_app import models as m
from channels_app.admin import connector_fields
from channels_app.admin.credentials import WriteOnlyCredentialsAdmin
from channels_app.connectors.registration import (
    connector_identify,
    connector_registration_after_save,
    connector_webhook_register,
    webhook_url,
)
from channels_app.connectors.registry import MESSENGER_KINDS
from channels_app.livechat.snippet import livechat_snippet
from contact_center.admin_scoping import ChannelScopedAdmin
from contact_center.site_address import site_url

# The address of the page being drawn (contact_center.site_address), for the read-only webhook and snippet fields.
PAGE_SITE_URL: ContextVar[str | None] = ContextVar("connector_admin_site_url", default=None)

OK_STYLE = "color:#1e7e34"
WARN_STYLE = "color:#8a5300"
ERROR_STYLE = "color:#b3261e"


class WhatsAppTemplateInline(admin.TabularInline):
    """S2: the approved templates an operator may send on this WhatsApp number once the 24-hour window closed."""

    model = m.WhatsAppTemplate
    extra = 1
    fields = ("name", "language", "body", "is_active")


def registration_words(connector: m.Connector) -> str:
    """The webhook's registration in words and colour: green when done, amber when a person must act, red
    when it failed; "—" for the website chat, which has no webhook."""
    if connector.kind == m.ConnectorKind.LIVECHAT:
        return "—"
    state = connector.registration_state
    label = m.RegistrationState(state).label
    if state == m.RegistrationState.REGISTERED:
        return format_html('<span style="{}">✓ {}</span>', OK_STYLE, label)
    if state == m.RegistrationState.FAILED:
        return format_html('<strong style="{}">✖ {}</strong>', ERROR_STYLE, label)
    if state == m.RegistrationState.BY_HAND:
        return format_html('<span style="{}">! {}</span>', WARN_STYLE, label)
    return str(label)


@admin.register(m.Connector)
class ConnectorAdmin(WriteOnlyCredentialsAdmin, ChannelScopedAdmin):
    open_channel_paths = ("open_channel",)
    change_form_template = "admin/channels_app/connector/change_form.html"
    list_display = (
        "__str__",
        "kind",
        "account_id",
        "open_channel",
        "is_active",
        "reachability_status",
        "registration_status",
    )
    list_filter = (
        "kind",
        "is_active",
        "reachability",
        "registration_state",
        ("open_channel", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("account_id", "name", "open_channel__name")
    registration_fields = (
        "webhook_endpoint",
        "registration_status",
        "registration_detail",
        "registration_checked_at",
        "webhook_registered_at",
    )
    # Issue 21: the circuit breaker of outbound sends, written only by channels_app.connectors.circuit.
    reachability_fields = (
        "reachability_status",
        "unreachable_since",
        "transport_failures",
        "transport_error",
        "next_probe_at",
    )
    readonly_fields = (
        *registration_fields,
        "widget_snippet",
        "public_key",
        "token_refresh_error",
        *reachability_fields,
    )
    # Every field any source has; get_fieldsets keeps the connector's source's (on the add page, a script does).
    fieldsets = (
        (None, {"fields": ("open_channel", "kind", "account_id", "business_account_id", "name", "is_active")}),
        (_("Credentials"), {"fields": ("access_token", "app_secret", "verify_token")}),
        (
            _("Zalo access token refresh"),
            {
                "fields": (
                    "refresh_token",
                    "access_token_expires_at",
                    "oauth_app_id",
                    "oauth_app_secret",
                    "token_refresh_error",
                )
            },
        ),
        (_("Website widget"), {"fields": ("widget_snippet", "public_key")}),
        (_("Webhook"), {"fields": registration_fields}),
        (
            _("Provider reachability"),
            {
                "fields": reachability_fields,
                "description": _(
                    "After repeated failures to reach the provider, replies wait without calling it; one is sent "
                    "now and then to test whether it answers again, and the waiting replies then go out in order."
                ),
            },
        ),
    )
    # What the add page shows before the connector exists: the fields a person types (the verify token, the
    # widget key and the webhook secret are generated; the rest is written by the product).
    add_fields = (
        "open_channel",
        "kind",
        "account_id",
        "name",
        "is_active",
        *(name for name in connector_fields.PROVIDER_FIELDS if name != "verify_token"),
    )

    def get_fieldsets(self, request, obj: m.Connector | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            keep = set(self.add_fields)
        else:
            keep = {"open_channel", "kind", "account_id", "name", "is_active", *connector_fields.fields_of(obj.kind)}
            keep.update(self._generated_fields(obj))
        shown = []
        for title, options in fieldsets:
            fields = [entry for entry in options["fields"] if self._base_name(entry) in keep]
            if fields:
                shown.append((title, {**options, "fields": fields}))
        return shown

    @staticmethod
    def _base_name(entry) -> str:
        # The credentials mixin lays a secret out as (its input, its "remove" box), or as its "<name>_state".
        name = entry[0] if isinstance(entry, tuple) else entry
        return name.removesuffix("_state")

    def _generated_fields(self, obj: m.Connector) -> tuple[str, ...]:
        """The read-only fields of a stored connector of this source."""
        if obj.kind == m.ConnectorKind.LIVECHAT:
            return ("widget_snippet", "public_key")
        refresh = ("token_refresh_error",) if obj.kind == m.ConnectorKind.ZALO else ()
        return (*refresh, *self.registration_fields, *self.reachability_fields)

    def get_readonly_fields(self, request, obj: m.Connector | None = None):
        readonly = super().get_readonly_fields(request, obj)
        # The source of a stored connector is fixed: its fields, webhook and clients belong to it.
        return (*readonly, "kind") if obj is not None else readonly

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("kind", "")
        return initial

    def get_inlines(self, request, obj: m.Connector | None):
        # Templates exist on WhatsApp only; a connector being added has no kind yet.
        return (WhatsAppTemplateInline,) if obj is not None and obj.kind == m.ConnectorKind.WHATSAPP else ()

    def save_model(self, request, obj: m.Connector, form, change: bool) -> None:
        """O5: a new connector, or one whose account or credentials changed, is registered in the background
        for the address this page was opened at (or the configured one)."""
        before = m.Connector.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        connector_registration_after_save(before=before, connector=obj, site_url=site_url(request))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["connector_kind_fields"] = connector_fields.kind_fields_json()
        context["connector_asks_provider"] = bool(
            obj is not None and obj.kind in MESSENGER_KINDS and self.has_change_permission(request, obj)
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- the buttons: ask the provider now ---

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="channels_app_connector_test_connection",
            ),
            path(
                "<path:object_id>/register-webhook/",
                self.admin_site.admin_view(self.register_webhook_view),
                name="channels_app_connector_register_webhook",
            ),
        ]
        return own + super().get_urls()

    def _connector_to_ask(self, request: HttpRequest, object_id: str) -> m.Connector | HttpResponse:
        """The connector, if the person may change it and it has a provider: 404 for one not theirs (or none),
        403 without the right to change it, 400 for the website chat."""
        connector = self.get_object(request, unquote(object_id))
        if connector is None:
            raise Http404(gettext("No such connector."))
        if not self.has_change_permission(request, connector):
            raise PermissionDenied
        if connector.kind not in MESSENGER_KINDS:
            return HttpResponseBadRequest(gettext("The website live chat has no provider to ask."))
        return connector

    def _back_to(self, connector: m.Connector) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:channels_app_connector_change", args=[connector.pk]))

    @method_decorator(require_POST)
    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Ask the provider's identity endpoint who the stored token belongs to, and say it on the page."""
        connector = self._connector_to_ask(request, object_id)
        if isinstance(connector, HttpResponse):
            return connector
        result = connector_identify(connector=connector)
        level = messages.SUCCESS if result.ok else messages.ERROR
        self.message_user(request, gettext("Test connection: %(result)s") % {"result": result.detail}, level)
        return self._back_to(connector)

    @method_decorator(require_POST)
    def register_webhook_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Run the webhook registration now, for this page's address, and say how it went."""
        connector = self._connector_to_ask(request, object_id)
        if isinstance(connector, HttpResponse):
            return connector
        result = connector_webhook_register(connector=connector, site_url=site_url(request), now=timezone.now())
        if result.ok:
            level, words = messages.SUCCESS, gettext("Webhook registered at %(url)s.") % {"url": connector.webhook_url}
        elif not result.automatic:
            level, words = messages.WARNING, gettext("Webhook: to do by hand.")
        else:
            level, words = messages.ERROR, gettext("Webhook registration failed.")
        self.message_user(request, f"{words} {result.detail}".strip(), level)
        return self._back_to(connector)

    # --- what the page and the list show ---

    @admin.display(description=_("provider"), ordering="reachability")
    def reachability_status(self, obj: m.Connector) -> str:
        """Issue 21: in words, not only a colour: reachable, unreachable since when, or testing recovery."""
        if not obj.pk or obj.kind == m.ConnectorKind.LIVECHAT:
            return "—"  # the website chat has no provider to reach
        if not obj.is_unreachable:
            return format_html('<span style="{}">✓ {}</span>', OK_STYLE, gettext("reachable"))
        since = (
            formats.date_format(timezone.localtime(obj.unreachable_since), "SHORT_DATETIME_FORMAT")
            if obj.unreachable_since
            else ""
        )
        if obj.reachability == m.Reachability.PROBING:
            words = gettext("testing recovery (unreachable since %(time)s)") if since else gettext("testing recovery")
        else:
            words = gettext("unreachable since %(time)s") if since else gettext("unreachable")
        words = words % {"time": since} if since else words
        return format_html('<strong style="{}">✖ {}</strong>', ERROR_STYLE, words)

    @admin.display(description=_("registration"), ordering="registration_state")
    def registration_status(self, obj: m.Connector) -> str:
        return registration_words(obj) if obj.pk else "—"

    @admin.display(description=_("webhook address"))
    def webhook_endpoint(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind == m.ConnectorKind.LIVECHAT:
            return "—"
        return webhook_url(obj, self._site_url)

    @admin.display(description=_("website snippet"))
    def widget_snippet(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind != m.ConnectorKind.LIVECHAT:
            return "—"
        return format_html(
            '<textarea readonly rows="6" cols="90" onclick="this.select()">{}</textarea>',
            livechat_snippet(obj, base_url=self._site_url),
        )

    @property
    def _site_url(self) -> str | None:
        return PAGE_SITE_URL.get()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The read-only displays above get no request: the address they build from is set for this page (a
        # context variable, so concurrent pages of one admin object do not share it).
        token = PAGE_SITE_URL.set(site_url(request))
        try:
            response = super().change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()  # the fields are drawn now, while the address is set
            return response
        finally:
            PAGE_SITE_URL.reset(token)


@admin.register(m.InboundUpdate)
class InboundUpdateAdmin(ChannelScopedAdmin):
    open_channel_paths = ("connector__open_channel",)
    list_display = ("update_id", "connector", "state", "received_at", "processed_at")
    list_filter = ("state", "connector__kind")
    search_fields = ("update_id",)
    readonly_fields = ("connector", "update_id", "payload", "received_at", "state", "processed_at", "error")

    def has_add_permission(self, request) -> bool:
        return False


class ConnectorInline(admin.TabularInline):
    """The open channel's *Connectors* tab: its connectors, each with its state and a link to its own page,
    where it is set up, tested and registered; and a link to add one (issue 20). Nothing is edited here."""

    model = m.Connector
    template = "admin/channels_app/connector/inline_list.html"
    extra = 0
    can_delete = False
    fields = ("kind", "account_id", "name", "is_active", "registration_status", "provider_status", "set_up_link")
    readonly_fields = fields
    classes = ["tab-connectors"]
    verbose_name_plural = _("Connectors")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        # Whoever sees the open channel sees which connectors it has; the linked page asks its own permissions.
        return True

    @admin.display(description=_("registration"))
    def registration_status(self, obj: m.Connector) -> str:
        return registration_words(obj) if obj.pk else "—"

    @admin.display(description=_("provider"))
    def provider_status(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind == m.ConnectorKind.LIVECHAT:
            return "—"
        if obj.is_unreachable:
            return format_html('<strong style="{}">✖ {}</strong>', ERROR_STYLE, obj.get_reachability_display())
        return format_html('<span style="{}">✓ {}</span>', OK_STYLE, obj.get_reachability_display())

    @admin.display(description=_("set-up"))
    def set_up_link(self, obj: m.Connector) -> str:
        if not obj.pk:
            return ""
        url = reverse("admin:channels_app_connector_change", args=[obj.pk])
        if obj.kind == m.ConnectorKind.LIVECHAT:
            words = gettext("Open: settings and the website snippet")
        else:
            words = gettext("Open: credentials, test connection, webhook")
        return format_html('<a href="{}">{}</a>', url, words)
