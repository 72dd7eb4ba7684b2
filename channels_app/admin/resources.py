"""django-import-export resources: canned replies and holidays (CSV, XLSX); the audit log (export only)."""

from __future__ import annotations

import json

from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from channels_app.models import AuditEvent, CannedReply, CannedReplyList, Holiday, OpenChannel


class CannedReplyListWidget(ForeignKeyWidget):
    """Imports name the list; an unknown name creates the list."""

    def clean(self, value, row=None, **kwargs):
        if not value:
            return None
        reply_list, _ = CannedReplyList.objects.get_or_create(name=str(value).strip())
        return reply_list


class CannedReplyResource(resources.ModelResource):
    reply_list = fields.Field(
        attribute="reply_list", column_name="list", widget=CannedReplyListWidget(CannedReplyList, field="name")
    )

    class Meta:
        model = CannedReply
        fields = ("reply_list", "shortcut", "title", "text")
        import_id_fields = ("reply_list", "shortcut")
        skip_unchanged = True
        report_skipped = True


class HolidayResource(resources.ModelResource):
    open_channel = fields.Field(
        attribute="open_channel", column_name="open_channel", widget=ForeignKeyWidget(OpenChannel, field="name")
    )

    class Meta:
        model = Holiday
        fields = ("open_channel", "date", "name")
        import_id_fields = ("open_channel", "date")
        skip_unchanged = True
        report_skipped = True


class AuditEventResource(resources.ModelResource):
    """The audit log as administrators export it (issue 19): ids and plain facts, no names but the actor's."""

    open_channel = fields.Field(
        attribute="open_channel", column_name="open_channel", widget=ForeignKeyWidget(OpenChannel, field="name")
    )

    class Meta:
        model = AuditEvent
        fields = (
            "id",
            "at",
            "actor_name",
            "action",
            "open_channel",
            "client_id_ref",
            "contact_id_ref",
            "conversation_id_ref",
            "detail",
        )
        export_order = fields

    def dehydrate_detail(self, event: AuditEvent) -> str:
        return json.dumps(event.detail, sort_keys=True)
