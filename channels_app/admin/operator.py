"""Operators' profiles and absences (Q5, Q6, Q10, Q12)."""

from __future__ import annotations

from django.contrib import admin

from channels_app import models as m
from contact_center.admin_scoping import ChannelScopedAdmin


@admin.register(m.OperatorProfile)
class OperatorProfileAdmin(ChannelScopedAdmin):
    open_channel_paths = ("user__queue_memberships__open_channel",)
    list_display = ("public_name", "user", "is_online", "clocked_in", "on_break", "last_activity_at")
    list_filter = ("is_online", "clocked_in", "on_break", "user__is_active")
    search_fields = ("display_name", "user__username", "user__first_name", "user__last_name")
    readonly_fields = ("console_heartbeat_at", "last_activity_at", "is_online", "clocked_in_at", "break_started_at")
    autocomplete_fields = ("user",)


@admin.register(m.LeavePeriod)
class LeavePeriodAdmin(ChannelScopedAdmin):
    open_channel_paths = ("operator__queue_memberships__open_channel",)
    related_open_channel_paths = {"operator": ("queue_memberships__open_channel",)}
    list_display = ("operator", "starts_at", "ends_at", "reason")
    list_filter = (("operator", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("operator__username", "reason")
    date_hierarchy = "starts_at"
    autocomplete_fields = ("operator",)
