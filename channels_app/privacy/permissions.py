"""Who may use the privacy endpoints: administrators only (a supervisor's own team included: exporting, erasing
and reading the audit log are the data controller's acts, not a team lead's)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission

from channels_app.engine import access


class IsAdministrator(BasePermission):
    message = gettext_lazy("Only administrators manage personal data and its audit log.")

    def has_permission(self, request, view) -> bool:
        return access.is_administrator(request.user)
