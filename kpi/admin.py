"""Admin views of the KPI rows: read-only records and misses (they are recomputed, never typed in)."""

from django.contrib import admin

from contact_center.admin_scoping import ChannelScopedAdmin
from kpi.models import KpiMiss, ResponseRecord, SupervisorRating


class ReadOnlyAdmin(ChannelScopedAdmin):
    """Rows of the open channels the viewer reads (every one to an administrator), never typed in."""

    open_channel_paths = ("open_channel",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ResponseRecord)
class ResponseRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "conversation",
        "kind",
        "waiting_since",
        "operator",
        "response_seconds",
        "target_seconds",
        "is_miss",
    )
    list_filter = ("kind", "is_miss", ("open_channel", admin.RelatedOnlyFieldListFilter), "working_hours_only")
    date_hierarchy = "waiting_since"
    raw_id_fields = ("conversation", "client_message", "response_message", "operator")
    list_select_related = ("conversation__client", "operator")
    search_fields = ("conversation__id",)
    show_full_result_count = False


@admin.register(KpiMiss)
class KpiMissAdmin(ReadOnlyAdmin):
    list_display = ("conversation", "kind", "operator", "open_channel", "detected_at", "notified_at")
    list_filter = ("kind", ("open_channel", admin.RelatedOnlyFieldListFilter))
    date_hierarchy = "detected_at"
    raw_id_fields = ("response_record", "conversation", "operator")
    list_select_related = ("conversation__client", "operator", "open_channel")


@admin.register(SupervisorRating)
class SupervisorRatingAdmin(ChannelScopedAdmin):
    open_channel_paths = ("conversation__open_channel",)
    related_open_channel_paths = {
        "operator": ("queue_memberships__open_channel",),
        "supervisor": ("supervised_open_channels",),
    }
    list_display = ("conversation", "operator", "supervisor", "score", "created_at")
    list_filter = ("score",)
    date_hierarchy = "created_at"
    raw_id_fields = ("conversation", "operator", "supervisor")
    list_select_related = ("conversation__client", "operator", "supervisor")
