"""The project's Django admin site: it opens by role (``access.uses_admin``), never by ``is_staff``.

It is the default site (``contact_center.apps.AdminConfig``), so ``django.contrib.admin.site`` and every
``@admin.register`` use it. It lives outside ``channels_app.admin``: the default site is built lazily on first
use, which happens while that package registers its models; building it from there re-entered the package
and lost registrations.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from channels_app.engine import access


class ContactCenterAdminSite(admin.AdminSite):
    site_header = _("Open Channels contact center")
    site_title = _("Contact center admin")
    index_title = _("Administration")

    def has_permission(self, request: HttpRequest) -> bool:
        """Active administrators and supervisors of an open channel; anyone else is sent to the sign-in page."""
        return access.uses_admin(request.user)
