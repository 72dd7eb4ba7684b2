"""The admin's "Erase personal data" action (issue 19), shared by the clients' page (``channels_app.admin``) and
the CRM contacts' page (``crm.admin``): a confirmation page saying what goes and that it cannot be undone, then the
engine's service for each selected row. Administrators only: the action is not offered to anybody else.

Lives with the project's admin site, as :mod:`contact_center.admin_scoping`, because crm may not import
``channels_app.admin``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from channels_app.engine import access
from channels_app.engine.erasure import CRM_DELETE, ErasureResult, crm_mode
from channels_app.engine.errors import ServiceError


class ErasesPersonalData(admin.ModelAdmin):
    """Mix-in: ``erase_personal_data`` in ``actions``; :meth:`erase_by_id` calls the service for one row."""

    @staticmethod
    def erase_by_id(pk: int, actor: Any) -> ErasureResult:
        raise NotImplementedError

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return access.is_administrator(request.user)

    @admin.action(description=gettext_lazy("Erase personal data"), permissions=["erase"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": _("Erase personal data"),
                "opts": self.model._meta,
                "queryset": queryset,
                "crm_delete": crm_mode() == CRM_DELETE,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/erase_confirmation.html", context)
        erased = 0
        for pk in list(queryset.values_list("pk", flat=True)):
            try:
                self.erase_by_id(pk, request.user)
            except ServiceError as refusal:
                self.message_user(request, f"#{pk}: {refusal}", messages.ERROR)
            else:
                erased += 1
        if erased:
            self.message_user(
                request,
                ngettext("Personal data of %(count)d row erased.", "Personal data of %(count)d rows erased.", erased)
                % {"count": erased},
                messages.SUCCESS,
            )
        return None
