"""The admin's "Export personal data" action, shared by the clients' page (``channels_app.admin``) and the CRM
contacts' page (``crm.admin``), which may not import each other: it lives with the project's admin site, as
``admin_scoping`` does. The work is :func:`channels_app.engine.exports.export_request`'s."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy, ngettext

from channels_app.engine import access, exports
from channels_app.engine.errors import ServiceError

ACTION_DESCRIPTION = gettext_lazy("Export personal data")


def may_export(request: HttpRequest) -> bool:
    """The action is offered to administrators only (``has_export_permission`` of the model admins)."""
    return access.is_administrator(request.user)


def export_selected(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, *, subject: str
) -> HttpResponseRedirect | None:
    """One export per selected row (``subject``: "client" or "contact"); one row opens its export's page,
    several the list of exports."""
    created = []
    now = timezone.now()
    for pk in queryset.values_list("pk", flat=True):
        try:
            created.append(exports.export_request(actor=request.user, now=now, **{f"{subject}_id": pk}))
        except ServiceError as refusal:
            model_admin.message_user(request, str(refusal), messages.ERROR)
            return None
    if len(created) == 1:
        return HttpResponseRedirect(reverse("admin:channels_app_dataexport_change", args=[created[0].pk]))
    model_admin.message_user(
        request,
        ngettext("%(count)d export is being prepared.", "%(count)d exports are being prepared.", len(created))
        % {"count": len(created)},
        messages.SUCCESS,
    )
    return HttpResponseRedirect(reverse("admin:channels_app_dataexport_changelist"))
