"""What open channels use: consent forms (A1), canned replies (M5) and chatbots (B1, B2)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.db.models import Count
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from channels_app import models as m
from channels_app.admin.resources import CannedReplyResource
from contact_center.admin_scoping import ChannelScopedAdmin


class ConsentFormVersionInline(admin.TabularInline):
    model = m.ConsentFormVersion
    extra = 0
    can_delete = False
    fields = ("number", "created_at", "text")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.ConsentForm)
class ConsentFormAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "language", "updated_at")
    list_filter = ("language",)
    search_fields = ("name", "text")
    readonly_fields = ("version",)
    inlines = (ConsentFormVersionInline,)


@admin.register(m.ConsentRecord)
class ConsentRecordAdmin(ChannelScopedAdmin):
    open_channel_paths = ("client__connector__open_channel",)
    list_display = ("client", "form_version", "source", "accepted_at", "withdrawal")
    list_filter = ("source", "form_version__form", ("withdrawn_at", admin.EmptyFieldListFilter), "withdrawn_via")
    search_fields = ("client__name", "client__external_id")
    readonly_fields = (
        "client",
        "form_version",
        "conversation",
        "source",
        "accepted_at",
        "withdrawn_at",
        "withdrawn_via",
        "withdrawn_by",
        "withdrawn_in",
    )

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("withdrawn"), ordering="withdrawn_at")
    def withdrawal(self, record: m.ConsentRecord) -> str:
        """A withdrawn consent reads as such at a glance: when, and through whom."""
        if record.withdrawn_at is None:
            return "—"
        return format_html(
            '<strong style="color:#b3261e">{}</strong> {} ({})',
            _("Withdrawn"),
            record.withdrawn_at.strftime("%Y-%m-%d %H:%M"),
            record.get_withdrawn_via_display(),
        )


class CannedReplyInline(admin.TabularInline):
    model = m.CannedReply
    extra = 1
    fields = ("shortcut", "title", "text")


@admin.register(m.CannedReplyList)
class CannedReplyListAdmin(admin.ModelAdmin):
    list_display = ("name", "reply_count")
    search_fields = ("name",)
    inlines = (CannedReplyInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(reply_total=Count("replies"))

    @admin.display(description=_("replies"), ordering="reply_total")
    def reply_count(self, obj) -> int:
        return obj.reply_total


@admin.register(m.CannedReply)
class CannedReplyAdmin(ImportExportModelAdmin):
    resource_classes = [CannedReplyResource]
    list_display = ("shortcut", "title", "reply_list")
    list_filter = ("reply_list",)
    search_fields = ("shortcut", "title", "text")


class ChatbotRuleInline(admin.TabularInline):
    model = m.ChatbotRule
    extra = 1


@admin.register(m.Chatbot)
class ChatbotAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "is_active", "supports_open_channels")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    inlines = (ChatbotRuleInline,)
    readonly_fields = ("signing_secret", "api_token", "integration_help")
    fieldsets = (
        (None, {"fields": ("name", "kind", "is_active", "supports_open_channels")}),
        (
            _("Conversation"),
            {"fields": ("greeting", "handover_keywords", "max_unmatched", "handover_text")},
        ),
        (
            _("External bot"),
            {"fields": ("endpoint_url", "timeout_seconds", "signing_secret", "api_token", "integration_help")},
        ),
    )

    @admin.display(description=_("how to integrate"))
    def integration_help(self, bot: m.Chatbot) -> str:
        # The sentence is translated; the header names, URLs and the wildcard stay code.
        return format_html(
            gettext(
                "Events are POSTed to the bot URL with {signature} and {timestamp}. The bot replies in its response "
                "or calls {messages} and {handover} with {authorization} (see {docs}). Keywords are comma-separated; "
                "{wildcard} matches every word starting with {word}."
            ),
            signature=format_html(
                "<code>X-Bot-Signature: sha256=&lt;{}&gt;</code>",
                _("hex HMAC-SHA256 of the raw body keyed by the signing secret"),
            ),
            timestamp=mark_safe("<code>X-Bot-Timestamp</code>"),
            messages=format_html("<code>POST {}/api/bots/conversations/&lt;id&gt;/messages/</code>", settings.SITE_URL),
            handover=mark_safe("<code>…/handover/</code>"),
            authorization=format_html("<code>Authorization: Bearer &lt;{}&gt;</code>", _("API token")),
            docs=format_html('<a href="/api/docs/">{}</a>', _("the API docs")),
            wildcard=format_html("<code>{}*</code>", _("word")),
            word=format_html("<code>{}</code>", _("word")),
        )
