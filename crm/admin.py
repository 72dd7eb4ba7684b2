"""Admin pages of the CRM: contacts (C1, C4) and leads with their conversation logs (C2, C3, O2)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from channels_app.engine import audit
from channels_app.engine.erasure import ErasureResult, contact_erase
from channels_app.engine.file_links import attachments_of
from channels_app.models import Conversation, operator_display_name
from contact_center import admin_exports
from contact_center.admin_erasure import ErasesPersonalData
from contact_center.admin_scoping import ChannelScopedAdmin
from crm.models import Contact, Lead
from crm.selectors import lead_conversation_logs

# Who may be made responsible for a contact or a lead: the people of the viewer's channels, operators and supervisors.
RESPONSIBLE_PATHS = ("queue_memberships__open_channel", "supervised_open_channels")


@admin.register(Contact)
class ContactAdmin(ErasesPersonalData, ChannelScopedAdmin):
    # A contact belongs to the open channels its clients wrote to and its leads came from.
    open_channel_paths = ("clients__connector__open_channel", "leads__open_channel")
    related_open_channel_paths = {"responsible": RESPONSIBLE_PATHS}
    list_display = ("full_name", "phone", "email", "responsible", "created_at")
    list_filter = (("responsible", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("full_name", "phone", "phone_digits", "email")
    raw_id_fields = ("responsible",)
    readonly_fields = ("created_at", "linked_clients")
    actions = ("export_personal_data", "erase_personal_data")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return admin_exports.may_export(request)

    @admin.action(description=admin_exports.ACTION_DESCRIPTION, permissions=["export"])
    def export_personal_data(self, request: HttpRequest, queryset: QuerySet[Contact]):
        """Issue 19: the data of every client linked to each selected contact, across sources, as an archive."""
        return admin_exports.export_selected(self, request, queryset, subject="contact")

    @staticmethod
    def erase_by_id(pk: int, actor) -> ErasureResult:
        return contact_erase(contact_id=pk, actor=actor, now=timezone.now())

    @admin.display(description=_("clients in the open channels"))
    def linked_clients(self, contact: Contact) -> SafeString | str:
        clients = contact.clients.select_related("connector").order_by("id")
        if not clients:
            return "—"
        return format_html_join(
            "",
            "<div>{} — {} {}</div>",
            ((c.connector.get_kind_display(), c.external_id, c.name) for c in clients),
        )


@admin.register(Lead)
class LeadAdmin(ChannelScopedAdmin):
    open_channel_paths = ("open_channel",)
    related_open_channel_paths = {"responsible": RESPONSIBLE_PATHS}
    list_display = ("title", "full_name", "source", "status", "responsible", "open_channel", "created_at")
    list_filter = ("status", "source", ("open_channel", admin.RelatedOnlyFieldListFilter))
    search_fields = ("title", "full_name", "phone", "email", "contact__full_name")
    raw_id_fields = ("contact", "responsible")
    list_select_related = ("responsible", "open_channel")
    readonly_fields = ("created_at", "transcript")

    class Media:
        css = {"all": ["files/attachments.css"]}

    def change_view(self, request, object_id: str, form_url: str = "", extra_context=None):
        """The page shows the lead's conversation log: a reader outside their own work is recorded in the audit
        log, once per conversation."""
        lead = self.get_object(request, object_id) if request.method == "GET" else None
        if lead is not None:
            now = timezone.now()
            for conversation in Conversation.objects.filter(lead=lead).order_by("pk"):
                audit.transcript_opened(user=request.user, conversation=conversation, now=now)
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("conversation log"))
    def transcript(self, lead: Lead) -> SafeString | str | Promise:
        if lead.pk is None:
            return "—"
        logs = lead_conversation_logs(lead)
        if not logs:
            return _("No conversations yet.")
        return format_html_join("", "{}", ((self._conversation_html(log),) for log in logs))

    @staticmethod
    def _conversation_html(log) -> SafeString:
        conversation = log.conversation
        header = format_html(
            "<h3>Conversation #{} — {} — {} UTC — {}</h3>",
            conversation.pk,
            conversation.connector.get_kind_display(),
            f"{conversation.created_at:%Y-%m-%d %H:%M}",
            conversation.get_status_display(),
        )
        lines = format_html_join(
            "",
            '<div class="transcript-line"><small>{}</small> <strong>{}</strong>: {}{}</div>',
            (
                (
                    f"{message.created_at:%Y-%m-%d %H:%M:%S}",
                    _author_label(message, conversation),
                    message.text,
                    _attachments_html(attachments_of(message)),
                )
                for message in log.messages
            ),
        )
        return format_html('<div class="lead-transcript">{}{}</div>', header, lines)


def _author_label(message, conversation) -> str:
    if message.author_kind == "client":
        return str(conversation.client)
    if message.author_kind == "operator" and message.author is not None:
        return operator_display_name(message.author)
    return message.get_author_kind_display()


def _attachments_html(attachments) -> SafeString:
    """The message's files as every conversation page draws them: thumbnails, players, name, size and link."""
    return render_to_string("includes/attachments.html", {"attachments": attachments})
