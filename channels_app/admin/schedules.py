"""Celery beat's schedules (django-celery-beat's admin pages) are for superusers only.

A periodic task names any registered task and its arguments and runs it as the worker: whoever edits it runs
code with every right the workers have. The pages stay django-celery-beat's own; only who may see them changes,
whatever permissions a group holds.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule


class SuperusersOnly:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


class PeriodicTaskAdmin(SuperusersOnly, beat_admin.PeriodicTaskAdmin):
    pass


class IntervalScheduleAdmin(SuperusersOnly, beat_admin.IntervalScheduleAdmin):
    pass


class CrontabScheduleAdmin(SuperusersOnly, beat_admin.CrontabScheduleAdmin):
    pass


class SolarScheduleAdmin(SuperusersOnly, beat_admin.SolarScheduleAdmin):
    pass


class ClockedScheduleAdmin(SuperusersOnly, beat_admin.ClockedScheduleAdmin):
    pass


SCHEDULE_ADMINS: dict[type, type[admin.ModelAdmin]] = {
    PeriodicTask: PeriodicTaskAdmin,
    IntervalSchedule: IntervalScheduleAdmin,
    CrontabSchedule: CrontabScheduleAdmin,
    SolarSchedule: SolarScheduleAdmin,
    ClockedSchedule: ClockedScheduleAdmin,
}

for model, model_admin in SCHEDULE_ADMINS.items():
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
