"""django-import-export resources: canned replies and holidays (CSV, XLSX)."""

from __future__ import annotations

from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from channels_app.models import CannedReply, CannedReplyList, Holiday, OpenChannel


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
