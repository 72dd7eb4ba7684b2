"""The admin shows each person only the open channels they read (every one to an administrator), in its lists
and in the choices of its forms.

Shared by every app's admin: ``channels_app.admin``, ``crm.admin`` and ``kpi.admin`` (crm and kpi may not import
``channels_app.admin``, so it lives with the project's admin site). The rule itself is ``engine.access``'s.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from channels_app.engine import access


class ChannelScopedAdmin(admin.ModelAdmin):
    """Lists and opens only the rows of the signed-in person's open channels; a row of another channel is
    answered as if it did not exist. ``open_channel_paths`` lead from a row to its open channel.

    A form's related-row choices are cut the same way, so a posted id of another channel's row is refused as
    "not one of the available choices": a related model whose admin is channel-scoped uses that admin's paths;
    ``related_open_channel_paths`` gives the paths of the others (users, by field name)."""

    open_channel_paths: ClassVar[tuple[str, ...]]
    related_open_channel_paths: ClassVar[dict[str, tuple[str, ...]]] = {}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        return access.restrict_to_channels(super().get_queryset(request), request.user, *self.open_channel_paths)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scope_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scope_choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        if "queryset" in kwargs:
            return
        related = db_field.remote_field.model
        paths = self.related_open_channel_paths.get(db_field.name)
        if paths is None:
            related_admin = self.admin_site._registry.get(related)
            if not isinstance(related_admin, ChannelScopedAdmin):
                return
            paths = related_admin.open_channel_paths
        kwargs["queryset"] = access.restrict_to_channels(related._default_manager.all(), request.user, *paths)


class AdministratorsReadOnlyAdmin(admin.ModelAdmin):
    """A record of personal-data handling (the audit log, data exports): administrators read it, whatever the
    Django permissions say, and nobody (a superuser included) adds, changes or deletes a row."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.is_administrator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.is_administrator(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
