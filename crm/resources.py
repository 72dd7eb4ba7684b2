"""django-import-export resources: contacts and leads (CSV, XLSX)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from crm.models import Contact, Lead


def _responsible_field() -> fields.Field:
    # Users are exchanged by username: ids differ between installations.
    return fields.Field(
        attribute="responsible", column_name="responsible", widget=ForeignKeyWidget(get_user_model(), "username")
    )


class ContactResource(resources.ModelResource):
    responsible = _responsible_field()

    class Meta:
        model = Contact
        fields = ("id", "full_name", "phone", "email", "responsible")
        skip_unchanged = True
        report_skipped = True


class LeadResource(resources.ModelResource):
    responsible = _responsible_field()

    class Meta:
        model = Lead
        fields = ("id", "title", "full_name", "phone", "email", "source", "status", "responsible")
        skip_unchanged = True
        report_skipped = True
