"""Django admin for open channels and everything they own.

The open channel's change page groups its settings into the product's tabs
(Queue, CRM, Working hours, Agreement, Automatic actions, Quality, Chatbot,
KPI, Other). Each fieldset and inline carries a ``tab-<slug>`` class; the
template ``admin/channels_app/openchannel/change_form.html`` turns them into a
tab bar (and, without JavaScript, they simply stack).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from channels_app import models as m
from channels_app.resources import CannedReplyResource, HolidayResource

OPEN_CHANNEL_TABS: tuple[tuple[str, str], ...] = (
    ("queue", _("Queue")),
    ("crm", _("CRM")),
    ("working-hours", _("Working hours")),
    ("agreement", _("Agreement")),
    ("automatic-actions", _("Automatic actions")),
    ("quality", _("Quality")),
    ("chatbot", _("Chatbot")),
    ("kpi", _("KPI")),
    ("other", _("Other")),
)


def tab(slug: str) -> list[str]:
    return [f"tab-{slug}"]


class QueueMemberFormSet(BaseInlineFormSet):
    """Q1: the queue may not hold more operators than the licence allows."""

    def clean(self) -> None:
        super().clean()
        limit = settings.MAX_QUEUE_OPERATORS
        kept = [
            form
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("operator")
        ]
        if limit and len(kept) > limit:
            raise ValidationError(
                _("The licence allows at most %(limit)d operators in a queue (Q1); this queue would have %(count)d.")
                % {"limit": limit, "count": len(kept)}
            )


class ConnectorFormSet(BaseInlineFormSet):
    """S3: at most one connector of each source per open channel, checked across the submitted rows."""

    def clean(self) -> None:
        # Before Django's own duplicate check, whose message ("Please correct the
        # duplicate data for kind") does not say which rule was broken.
        seen: set[str] = set()
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            kind = form.cleaned_data.get("kind")
            if kind in seen:
                raise ValidationError(
                    _("An open channel has at most one connector of each source (S3): %(kind)s appears twice.")
                    % {"kind": m.ConnectorKind(kind).label}
                )
            seen.add(kind)
        super().clean()


class QueueMemberInline(admin.TabularInline):
    model = m.QueueMember
    formset = QueueMemberFormSet
    extra = 0
    fields = ("position", "operator", "last_assigned_at")
    readonly_fields = ("last_assigned_at",)
    autocomplete_fields = ("operator",)
    ordering = ("position", "id")
    classes = tab("queue")
    verbose_name_plural = _("Queue (in order)")


class WorkingPeriodInline(admin.TabularInline):
    model = m.WorkingPeriod
    extra = 0
    classes = tab("working-hours")


class HolidayInline(admin.TabularInline):
    model = m.Holiday
    extra = 0
    classes = tab("working-hours")


class ConnectorInline(admin.StackedInline):
    model = m.Connector
    formset = ConnectorFormSet
    extra = 0
    fields = ("kind", "account_id", "name", "is_active", "access_token", "app_secret", "verify_token")
    classes = tab("other")
    show_change_link = True


@admin.register(m.OpenChannel)
class OpenChannelAdmin(admin.ModelAdmin):
    change_form_template = "admin/channels_app/openchannel/change_form.html"
    list_display = (
        "name",
        "is_active",
        "distribution_mode",
        "queue_size",
        "sources",
        "open_conversations",
        "working_hours_enabled",
        "language",
    )
    list_filter = ("is_active", "distribution_mode", "working_hours_enabled", "language", "chatbot_enabled")
    search_fields = ("name", "display_name", "connectors__account_id")
    filter_horizontal = ("kpi_notify_users",)
    inlines = (QueueMemberInline, WorkingPeriodInline, HolidayInline, ConnectorInline)
    fieldsets = (
        (
            _("Queue"),
            {
                "classes": tab("queue"),
                "fields": (
                    "distribution_mode",
                    "offer_timeout_seconds",
                    "unprocessed_after_seconds",
                    "check_online",
                    "offline_after_minutes",
                    "require_clocked_in",
                    "always_monitor_availability",
                    ("chat_limit_enabled", "chat_limit", "chat_limit_exclusion"),
                    "absent_return_after_days",
                    "auto_close_after_days",
                    "operator_identity",
                    ("display_name", "display_photo_url"),
                    "nobody_available_text",
                ),
            },
        ),
        (
            _("CRM"),
            {
                "classes": tab("crm"),
                "fields": (
                    "crm_enabled",
                    "lead_creation",
                    ("lead_source_mode", "lead_fixed_source"),
                    "route_to_responsible",
                    "responsible_follows_transfer",
                ),
            },
        ),
        (
            _("Working hours"),
            {
                "classes": tab("working-hours"),
                "fields": ("working_hours_enabled", "time_zone", "out_of_hours_reply_enabled", "out_of_hours_text"),
            },
        ),
        (_("Agreement"), {"classes": tab("agreement"), "fields": ("consent_required", "consent_form")}),
        (
            _("Automatic actions"),
            {
                "classes": tab("automatic-actions"),
                "fields": (
                    ("welcome_enabled", "welcome_text"),
                    ("no_answer_action", "no_answer_text"),
                    ("close_message_enabled", "close_text"),
                    "close_message_after_rating",
                    ("auto_close_action", "auto_close_text"),
                    "canned_reply_list",
                ),
            },
        ),
        (
            _("Quality"),
            {
                "classes": tab("quality"),
                "fields": (
                    "rating_enabled",
                    "rating_request_text",
                    "rating_timeout_minutes",
                    "close_on_rating",
                    "rating_thanks_text",
                ),
            },
        ),
        (_("Chatbot"), {"classes": tab("chatbot"), "fields": ("chatbot_enabled", "chatbot")}),
        (
            _("KPI"),
            {
                "classes": tab("kpi"),
                "fields": (
                    ("kpi_initial_enabled", "kpi_initial_target_seconds"),
                    ("kpi_subsequent_enabled", "kpi_subsequent_target_seconds"),
                    "kpi_working_hours_only",
                    "kpi_notify_users",
                    "kpi_miss_template",
                ),
            },
        ),
        (_("Other"), {"classes": tab("other"), "fields": ("name", "is_active", "language")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                queue_count=Count("queue_members", distinct=True),
                open_count=Count("conversations", filter=Q(conversations__status__in=m.OPEN_STATUSES), distinct=True),
            )
            .prefetch_related("connectors")
        )

    @admin.display(description=_("queue"), ordering="queue_count")
    def queue_size(self, obj: m.OpenChannel) -> int:
        return obj.queue_count

    @admin.display(description=_("open conversations"), ordering="open_count")
    def open_conversations(self, obj: m.OpenChannel) -> int:
        return obj.open_count

    @admin.display(description=_("sources"))
    def sources(self, obj: m.OpenChannel) -> str:
        return ", ".join(connector.get_kind_display() for connector in obj.connectors.all()) or "—"

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("name", m.OpenChannel.next_default_name())
        return initial

    def render_change_form(self, request, context, *args, **kwargs):
        context["open_channel_tabs"] = OPEN_CHANNEL_TABS
        return super().render_change_form(request, context, *args, **kwargs)

    # O4: configuring open channels takes the dedicated permission on top of Django's own.
    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and request.user.has_perm("channels_app.configure_openchannel")

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and request.user.has_perm(
            "channels_app.configure_openchannel"
        )

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and request.user.has_perm(
            "channels_app.configure_openchannel"
        )


@admin.register(m.Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "account_id", "open_channel", "is_active", "webhook_registered_at", "has_error")
    list_filter = ("kind", "is_active", "open_channel")
    search_fields = ("account_id", "name", "open_channel__name")
    readonly_fields = ("webhook_endpoint", "widget_snippet", "webhook_url", "webhook_registered_at", "last_error")
    fieldsets = (
        (None, {"fields": ("open_channel", "kind", "account_id", "name", "is_active")}),
        (_("Credentials"), {"fields": ("access_token", "app_secret", "verify_token", "webhook_secret")}),
        (
            _("Webhook and widget"),
            {"fields": ("webhook_endpoint", "widget_snippet", "webhook_url", "webhook_registered_at", "last_error")},
        ),
    )

    @admin.display(boolean=True, description=_("error"))
    def has_error(self, obj: m.Connector) -> bool:
        return bool(obj.last_error)

    @admin.display(description=_("webhook address"))
    def webhook_endpoint(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind == m.ConnectorKind.LIVECHAT:
            return "—"
        provider = {"telegram": "telegram", "facebook": "meta", "whatsapp": "meta", "zalo": "zalo"}[obj.kind]
        return f"{settings.SITE_URL}/webhooks/{provider}/{obj.pk}/"

    @admin.display(description=_("website snippet"))
    def widget_snippet(self, obj: m.Connector) -> str:
        if not obj.pk or obj.kind != m.ConnectorKind.LIVECHAT:
            return "—"
        from channels_app.widget import livechat_snippet

        return format_html(
            '<textarea readonly rows="6" cols="90" onclick="this.select()">{}</textarea>', livechat_snippet(obj)
        )


class MessageInline(admin.TabularInline):
    model = m.Message
    extra = 0
    can_delete = False
    fields = ("created_at", "author_kind", "author", "text", "delivery", "delivery_error")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class OfferInline(admin.TabularInline):
    model = m.Offer
    extra = 0
    can_delete = False
    fields = ("created_at", "operator", "status", "expires_at", "resolved_at")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RoutingDecisionInline(admin.TabularInline):
    """Why the conversation went to whom: every operator considered and why each was skipped."""

    model = m.RoutingDecision
    extra = 0
    can_delete = False
    fields = ("created_at", "trigger", "mode", "outcome", "chosen_operators", "reasons")
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name_plural = _("Routing decisions (who was considered and why)")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("chosen"))
    def chosen_operators(self, decision: m.RoutingDecision) -> str:
        names = {c.get("operator_id"): c.get("name") for c in decision.candidates}
        return ", ".join(str(names.get(operator_id, operator_id)) for operator_id in decision.chosen) or "—"

    @admin.display(description=_("operators considered"))
    def reasons(self, decision: m.RoutingDecision) -> str:
        if not decision.candidates:
            return "—"
        return format_html(
            "<ul style='margin:0;padding-left:1em'>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (
                        candidate.get("name", candidate.get("operator_id")),
                        "eligible" if candidate.get("eligible") else ", ".join(candidate.get("reasons", [])),
                    )
                    for candidate in decision.candidates
                ),
            ),
        )


class StatusChangeInline(admin.TabularInline):
    model = m.StatusChange
    extra = 0
    can_delete = False
    fields = ("at", "from_status", "to_status", "operator", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "client",
        "open_channel",
        "status",
        "operator",
        "is_unprocessed",
        "created_at",
        "last_message_at",
    )
    list_filter = ("status", "is_unprocessed", "open_channel", "connector__kind", "closed_by")
    search_fields = ("=id", "client__name", "client__username", "client__external_id", "operator__username")
    date_hierarchy = "created_at"
    list_select_related = ("client", "client__connector", "open_channel", "operator")
    inlines = (MessageInline, OfferInline, RoutingDecisionInline, StatusChangeInline)
    readonly_fields = [field.name for field in m.Conversation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(m.Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("__str__", "connector", "external_id", "phone", "email", "contact", "created_at")
    list_filter = ("connector__kind",)
    search_fields = ("name", "username", "external_id", "phone", "email")
    raw_id_fields = ("contact",)
    list_select_related = ("connector", "contact")


@admin.register(m.OperatorProfile)
class OperatorProfileAdmin(admin.ModelAdmin):
    list_display = ("public_name", "user", "is_online", "clocked_in", "on_break", "last_activity_at")
    list_filter = ("is_online", "clocked_in", "on_break", "user__is_active")
    search_fields = ("display_name", "user__username", "user__first_name", "user__last_name")
    readonly_fields = ("console_heartbeat_at", "last_activity_at", "is_online", "clocked_in_at", "break_started_at")
    autocomplete_fields = ("user",)


@admin.register(m.LeavePeriod)
class LeavePeriodAdmin(admin.ModelAdmin):
    list_display = ("operator", "starts_at", "ends_at", "reason")
    list_filter = ("operator",)
    search_fields = ("operator__username", "reason")
    date_hierarchy = "starts_at"
    autocomplete_fields = ("operator",)


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
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ("client", "form_version", "source", "accepted_at")
    list_filter = ("source", "form_version__form")
    search_fields = ("client__name", "client__external_id")
    readonly_fields = ("client", "form_version", "conversation", "source", "accepted_at")

    def has_add_permission(self, request) -> bool:
        return False


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


@admin.register(m.Holiday)
class HolidayAdmin(ImportExportModelAdmin):
    resource_classes = [HolidayResource]
    list_display = ("date", "name", "open_channel")
    list_filter = ("open_channel",)
    search_fields = ("name",)
    date_hierarchy = "date"


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
        return format_html(
            "Events are POSTed to the bot URL with <code>X-Bot-Signature: sha256=&lt;hex HMAC-SHA256 of the raw body"
            " keyed by the signing secret&gt;</code> and <code>X-Bot-Timestamp</code>. The bot replies in its"
            " response or calls <code>POST {}/api/bots/conversations/&lt;id&gt;/messages/</code> and"
            " <code>…/handover/</code> with <code>Authorization: Bearer &lt;API token&gt;</code>"
            ' (see <a href="/api/docs/">the API docs</a>). Keywords are comma-separated;'
            " <code>word*</code> matches every word starting with <code>word</code>.",
            settings.SITE_URL,
        )


@admin.register(m.InboundUpdate)
class InboundUpdateAdmin(admin.ModelAdmin):
    list_display = ("update_id", "connector", "state", "received_at", "processed_at")
    list_filter = ("state", "connector__kind")
    search_fields = ("update_id",)
    readonly_fields = ("connector", "update_id", "payload", "received_at", "state", "processed_at", "error")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(m.ClientRating)
class ClientRatingAdmin(admin.ModelAdmin):
    list_display = ("conversation_link", "operator", "value", "rated_at")
    list_filter = ("value",)
    readonly_fields = ("conversation", "operator", "value", "rated_at")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("conversation"))
    def conversation_link(self, rating: m.ClientRating) -> str:
        url = reverse("admin:channels_app_conversation_change", args=[rating.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, rating.conversation_id)
