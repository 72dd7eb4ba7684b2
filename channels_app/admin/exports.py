"""Data exports (issue 19, point 1): read-only, for administrators only; the page of one shows its progress
(reloading while it is prepared) and, while ready, the download link. Exports are made by the "Export personal
data" action of the clients' and the CRM contacts' lists (``contact_center.admin_exports``)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from channels_app import models as m
from contact_center.admin_scoping import AdministratorsReadOnlyAdmin


@admin.register(m.DataExport)
class DataExportAdmin(AdministratorsReadOnlyAdmin):
    change_form_template = "admin/channels_app/dataexport/change_form.html"
    list_display = ("__str__", "subject", "status", "progress", "download", "requested_by", "created_at", "expires_at")
    list_filter = ("status",)
    list_select_related = ("client__connector", "contact", "requested_by")
    fields = (
        "public_id", "subject", "status", "progress_bar", "download", "size", "error", "requested_by", "created_at",
        "finished_at", "expires_at",
    )  # fmt: skip
    readonly_fields = fields

    @admin.display(description=_("whose data"))
    def subject(self, export: m.DataExport) -> str:
        if export.client_id is not None:
            url = reverse("admin:channels_app_client_change", args=[export.client_id])
            return format_html('<a href="{}">{} #{}</a>', url, _("client"), export.client_id)
        if export.contact_id is not None:
            url = reverse("admin:crm_contact_change", args=[export.contact_id])
            return format_html('<a href="{}">{} #{}</a>', url, _("CRM contact"), export.contact_id)
        return "—"  # erased since

    @admin.display(description=_("progress"))
    def progress_bar(self, export: m.DataExport) -> str:
        return format_html(
            '<progress max="100" value="{}" data-export-progress>{}%</progress> {}%',
            export.progress,
            export.progress,
            export.progress,
        )

    @admin.display(description=_("download"))
    def download(self, export: m.DataExport) -> str:
        if export.status != m.DataExport.Status.READY:
            return "—"
        return format_html('<a href="{}" data-export-download>{}</a>', export.download_url, _("Download the archive"))
