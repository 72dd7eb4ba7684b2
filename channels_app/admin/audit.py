"""The audit log of access to personal data (issue 19): read-only, for administrators only, exportable.

Nobody adds, changes or deletes an event here, a superuser neither: the log is written by the services doing what
it records (:mod:`channels_app.engine.audit`). Supervisors do not see it at all, not even their own channels' rows:
it records what supervisors did.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from channels_app import models as m
from channels_app.admin.resources import AuditEventResource
from channels_app.engine import access
from contact_center.admin_scoping import AdministratorsReadOnlyAdmin


@admin.register(m.AuditEvent)
class AuditEventAdmin(ExportMixin, AdministratorsReadOnlyAdmin):
    resource_classes = [AuditEventResource]
    export_formats = [CSV, XLSX]
    list_display = (
        "at",
        "actor_name",
        "action",
        "open_channel",
        "client_id_ref",
        "contact_id_ref",
        "conversation_id_ref",
        "detail_text",
    )
    list_filter = ("action", "at", ("actor", admin.RelatedOnlyFieldListFilter))
    # Ids only: the log keeps no client's name to search by (an erasure must not leave one behind).
    search_fields = ("=client_id_ref", "=conversation_id_ref", "=contact_id_ref", "actor_name")
    date_hierarchy = "at"
    list_select_related = ("open_channel",)
    readonly_fields = [field.name for field in m.AuditEvent._meta.fields]
    show_full_result_count = False

    def has_export_permission(self, request: HttpRequest) -> bool:
        return access.is_administrator(request.user)

    def get_search_results(self, request, queryset, search_term):
        # "=id" lookups on number columns: a search that is not a number finds nothing instead of failing.
        term = search_term.strip()
        if term and not term.isdigit():
            return queryset.filter(actor_name__icontains=term), False
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("details"))
    def detail_text(self, event: m.AuditEvent) -> str:
        # Zero counts left out: an erasure's dozen figures would make every row several lines high.
        return ", ".join(f"{key}: {value}" for key, value in sorted(event.detail.items()) if value not in (0, "", None))
