"""Connectors (S1–S3) and the webhook deliveries they received."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html
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
        "registration_state",
        "registration_checked_at",
    )
    list_filter = ("kind", "is_active", "registration_state", ("open_channel", admin.RelatedOnlyFieldListFilter))
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
    readonly_fields = (*registration_fields, "token_refresh_error")
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
    )

    def get_inlines(self, request, obj: m.Connector | None):
        # Templates exist on WhatsApp only; a connector being added has no kind yet.
        return (WhatsAppTemplateInline,) if obj is not None and obj.kind == m.ConnectorKind.WHATSAPP else ()

    def save_model(self, request, obj: m.Connector, form, change: bool) -> None:
        """O5: a new connector, or one whose account or credentials changed, is registered in the background."""
        before = m.Connector.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        connector_registration_after_save(before=before, connector=obj)

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
