"""Connectors (S1–S3) and the webhook deliveries they received."""

from __future__ import annotations

from django.contrib import admin
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from channels_app import models as m
from channels_app.admin.credentials import WriteOnlyCredentialsAdmin
from channels_app.connectors.registration import connector_registration_after_save, webhook_url
from channels_app.livechat.snippet import livechat_snippet
from contact_center.admin_scoping import ChannelScopedAdmin


class WhatsAppTemplateInline(admin.TabularInline):
    """S2: the approved templates an operator may send on this WhatsApp number once the 24-hour window closed."""

    model = m.WhatsAppTemplate
    extra = 1
    fields = ("name", "language", "body", "is_active")


@admin.register(m.Connector)
class ConnectorAdmin(WriteOnlyCredentialsAdmin, ChannelScopedAdmin):
    open_channel_paths = ("open_channel",)
    list_display = (
        "__str__",
        "kind",
        "account_id",
        "open_channel",
        "is_active",
        "reachability_status",
        "registration_state",
        "registration_checked_at",
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
        "widget_snippet",
        "webhook_url",
        "registration_state",
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
    readonly_fields = (*registration_fields, "token_refresh_error", *reachability_fields)
    fieldsets = (
        (None, {"fields": ("open_channel", "kind", "account_id", "business_account_id", "name", "is_active")}),
        (_("Credentials"), {"fields": ("access_token", "app_secret", "verify_token", "webhook_secret")}),
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
        (_("Webhook and widget"), {"fields": registration_fields}),
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

    def get_fieldsets(self, request, obj: m.Connector | None = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or obj.kind == m.ConnectorKind.LIVECHAT:
            # Nothing to reach yet, or no provider at all (the website chat): no reachability section.
            return [
                (name, options) for name, options in fieldsets if tuple(options["fields"]) != self.reachability_fields
            ]
        return fieldsets

    def get_inlines(self, request, obj: m.Connector | None):
        # Templates exist on WhatsApp only; a connector being added has no kind yet.
        return (WhatsAppTemplateInline,) if obj is not None and obj.kind == m.ConnectorKind.WHATSAPP else ()

    def save_model(self, request, obj: m.Connector, form, change: bool) -> None:
        """O5: a new connector, or one whose account or credentials changed, is registered in the background."""
        before = m.Connector.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        connector_registration_after_save(before=before, connector=obj)

    @admin.display(description=_("provider"), ordering="reachability")
    def reachability_status(self, obj: m.Connector) -> str:
        """Issue 21: in words, not only a colour: reachable, unreachable since when, or testing recovery."""
        if not obj.pk or obj.kind == m.ConnectorKind.LIVECHAT:
            return "—"  # the website chat has no provider to reach
        if not obj.is_unreachable:
            return format_html('<span style="color:#1e7e34">✓ {}</span>', gettext("reachable"))
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
        return format_html('<strong style="color:#b3261e">✖ {}</strong>', words)

    @admin.display(description=_("webhook address"))
    def webhook_endpoint(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind == m.ConnectorKind.LIVECHAT:
            return "—"
        return webhook_url(obj)

    @admin.display(description=_("website snippet"))
    def widget_snippet(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind != m.ConnectorKind.LIVECHAT:
            return "—"
        return format_html(
            '<textarea readonly rows="6" cols="90" onclick="this.select()">{}</textarea>', livechat_snippet(obj)
        )


@admin.register(m.InboundUpdate)
class InboundUpdateAdmin(ChannelScopedAdmin):
    open_channel_paths = ("connector__open_channel",)
    list_display = ("update_id", "connector", "state", "received_at", "processed_at")
    list_filter = ("state", "connector__kind")
    search_fields = ("update_id",)
    readonly_fields = ("connector", "update_id", "payload", "received_at", "state", "processed_at", "error")

    def has_add_permission(self, request) -> bool:
        return False
