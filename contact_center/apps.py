"""The admin app with the project's site (see :mod:`contact_center.admin_site`) as its default site."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "contact_center.admin_site.ContactCenterAdminSite"
