"""The open channel's change page: its settings grouped into the product's tabs, its queue, hours and connectors.

The queue editor lives in ``admin/queue_members.py``, the working-hours grid in ``admin/working_hours.py``.

Each fieldset and inline carries a ``tab-<slug>`` class; the template
``admin/channels_app/openchannel/change_form.html`` turns them into a tab bar
(and, without JavaScript, they simply stack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.core.validators import MinValueValidator
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportModelAdmin

from channels_app import models as m
from channels_app.admin.connector import ConnectorInline
from channels_app.admin.queue_members import QueueMemberInline, queue_editor_texts
from channels_app.admin.resources import HolidayResource
from channels_app.admin.working_hours import HolidayInline, WorkingPeriodInline, working_hours_texts
from channels_app.engine.attachments import human_size, storage_used
from channels_app.engine.retention import retention_change_record
from contact_center.admin_scoping import ChannelScopedAdmin

if TYPE_CHECKING:
    # django-stubs-ext is a development requirement: it names types only, nothing imports it at run time.
    from django_stubs_ext import WithAnnotations


class _OpenChannelCounts(TypedDict):
    """What OpenChannelAdmin.get_queryset() annotates each channel of the change list with."""

    queue_count: int
    open_count: int
    stored_bytes: int


OPEN_CHANNEL_TABS: tuple[tuple[str, str | Promise], ...] = (
    ("queue", _("Queue")),
    ("connectors", _("Connectors")),
    ("crm", _("CRM")),
    ("working-hours", _("Working hours")),
    ("agreement", _("Agreement")),
    ("automatic-actions", _("Automatic actions")),
    ("quality", _("Quality")),
    ("chatbot", _("Chatbot")),
    ("files", _("Files")),
    ("live-chat", _("Live chat")),
    ("kpi", _("KPI")),
    ("privacy", _("Privacy")),
    ("other", _("Other")),
)


def tab(slug: str) -> list[str]:
    return [f"tab-{slug}"]


@admin.register(m.OpenChannel)
class OpenChannelAdmin(ChannelScopedAdmin):
    open_channel_paths = ("pk",)
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
        "files_stored",
    )
    list_filter = ("is_active", "distribution_mode", "working_hours_enabled", "language", "chatbot_enabled")
    search_fields = ("name", "display_name", "connectors__account_id")
    filter_horizontal = ("kpi_notify_users", "supervisors")
    inlines = (QueueMemberInline, WorkingPeriodInline, HolidayInline, ConnectorInline)
    readonly_fields = ("files_stored",)
    change_list_template = "admin/channels_app/openchannel/change_list.html"
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
                    ("offline_when_inactive", "offline_after_minutes"),
                    "require_clocked_in",
                    "always_monitor_availability",
                    ("chat_limit_enabled", "chat_limit", "chat_limit_exclusion"),
                    "transfer_to_unavailable_after_warning",
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
                    "rating_answers",
                    "rating_thanks_text",
                ),
            },
        ),
        (_("Chatbot"), {"classes": tab("chatbot"), "fields": ("chatbot_enabled", "chatbot")}),
        (
            _("Files"),
            {
                "classes": tab("files"),
                "fields": (
                    "max_file_megabytes",
                    "accepts_images",
                    "accepts_documents",
                    "accepts_audio",
                    "accepts_video",
                    "accepts_archives",
                    "files_stored",
                ),
            },
        ),
        (
            _("Live chat"),
            {
                "classes": tab("live-chat"),
                "description": _("What the website chat asks a visitor before the chat, and when nobody can answer."),
                "fields": (
                    "prechat_name",
                    "prechat_email",
                    "prechat_phone",
                    "offline_form_enabled",
                    "offline_form_intro",
                ),
            },
        ),
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
        (_("Privacy"), {"classes": tab("privacy"), "fields": ("retention_days",)}),
        (_("Other"), {"classes": tab("other"), "fields": ("name", "is_active", "language", "supervisors")}),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        """A number's range is checked once, by the model's validators, whose messages give the whole range
        in plain words ("between 60 (1 minute) and 43200 (12 hours)"), not Django's "greater than or equal to 0"."""
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and any(isinstance(v, MinValueValidator) for v in db_field.validators):
            field.validators = [v for v in field.validators if not isinstance(v, MinValueValidator)]
        return field

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                queue_count=Count("queue_members", distinct=True),
                open_count=Count("conversations", filter=Q(conversations__status__in=m.OPEN_STATUSES), distinct=True),
                stored_bytes=Coalesce(
                    Subquery(
                        m.Attachment.objects.stored()
                        .filter(message__conversation__open_channel=OuterRef("pk"))
                        .values("message__conversation__open_channel")
                        .annotate(total=Sum("size"))
                        .values("total")[:1]
                    ),
                    0,
                ),
            )
            .prefetch_related("connectors")
        )

    @admin.display(description=_("queue"), ordering="queue_count")
    def queue_size(self, obj: WithAnnotations[m.OpenChannel, _OpenChannelCounts]) -> int:
        return obj.queue_count

    @admin.display(description=_("open conversations"), ordering="open_count")
    def open_conversations(self, obj: WithAnnotations[m.OpenChannel, _OpenChannelCounts]) -> int:
        return obj.open_count

    @admin.display(description=_("files stored"))
    def files_stored(self, obj: m.OpenChannel) -> str:
        stored = getattr(obj, "stored_bytes", None)
        if stored is None:  # the add page, or an object not read through get_queryset()
            stored = storage_used([obj.pk]) if obj.pk else 0
        return human_size(int(stored))

    def changelist_view(self, request, extra_context=None):
        """Above the list: the bytes stored in every open channel the viewer may see (a storage total)."""
        # The scoped rows without this list's counts and totals: only their ids are needed here.
        readable = super().get_queryset(request).values_list("pk", flat=True)
        extra_context = {**(extra_context or {}), "files_stored_total": human_size(storage_used(list(readable)))}
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("sources"))
    def sources(self, obj: m.OpenChannel) -> str:
        return ", ".join(connector.get_kind_display() for connector in obj.connectors.all()) or "—"

    def save_model(self, request, obj: m.OpenChannel, form, change: bool) -> None:
        """Issue 19: a changed retention goes to the audit log, in the admin's transaction."""
        old_days = form.initial.get("retention_days") if change else None
        super().save_model(request, obj, form, change)
        if "retention_days" in form.changed_data:
            retention_change_record(open_channel=obj, old_days=old_days, actor=request.user, now=timezone.now())

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("name", m.OpenChannel.next_default_name())
        return initial

    def render_change_form(self, request, context, *args, **kwargs):
        context["open_channel_tabs"] = OPEN_CHANNEL_TABS
        # The queue editor's and the working-hours grid's words, translated here for their scripts.
        context["open_channel_editor_texts"] = {"queue": queue_editor_texts(), "hours": working_hours_texts()}
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


@admin.register(m.Holiday)
class HolidayAdmin(ChannelScopedAdmin, ImportExportModelAdmin):
    open_channel_paths = ("open_channel",)
    resource_classes = [HolidayResource]
    list_display = ("date", "name", "open_channel")
    list_filter = (("open_channel", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name",)
    date_hierarchy = "date"
