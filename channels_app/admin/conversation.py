"""Conversations with everything that happened to them, clients, and client ratings (read-only audit pages)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app import models as m
from channels_app.engine import access, audit
from channels_app.engine.consent import consent_withdraw
from channels_app.engine.erasure import ErasureResult, client_erase
from channels_app.engine.file_links import attachments_of
from contact_center import admin_exports
from contact_center.admin_erasure import ErasesPersonalData
from contact_center.admin_scoping import ChannelScopedAdmin


class MessageInline(admin.TabularInline):
    model = m.Message
    extra = 0
    can_delete = False
    fields = ("created_at", "author_kind", "author", "text", "files", "delivery", "delivery_error")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet[m.Message]:
        # Two queries for the files of every message, not one per message.
        return super().get_queryset(request).select_related("author").prefetch_related("attachments")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("files"))
    def files(self, message: m.Message) -> SafeString:
        return render_to_string("includes/attachments.html", {"attachments": attachments_of(message)})


class OfferInline(admin.TabularInline):
    model = m.Offer
    extra = 0
    can_delete = False
    fields = ("created_at", "operator", "status", "expires_at", "resolved_at")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RoutingDecisionInline(admin.TabularInline):
    """Why the conversation went to whom: every operator considered and why each was skipped."""

    model = m.RoutingDecision
    extra = 0
    can_delete = False
    fields = ("created_at", "trigger", "mode", "outcome", "chosen_operators", "reasons")
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name_plural = _("Routing decisions (who was considered and why)")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("chosen"))
    def chosen_operators(self, decision: m.RoutingDecision) -> str:
        names = {c.get("operator_id"): c.get("name") for c in decision.candidates}
        return ", ".join(str(names.get(operator_id, operator_id)) for operator_id in decision.chosen) or "—"

    @admin.display(description=_("operators considered"))
    def reasons(self, decision: m.RoutingDecision) -> str:
        if not decision.candidates:
            return "—"
        return format_html(
            "<ul style='margin:0;padding-left:1em'>{}</ul>",
            format_html_join(
                "",
                "<li>{}: {}</li>",
                (
                    (
                        candidate.get("name", candidate.get("operator_id")),
                        "eligible" if candidate.get("eligible") else ", ".join(candidate.get("reasons", [])),
                    )
                    for candidate in decision.candidates
                ),
            ),
        )


class StatusChangeInline(admin.TabularInline):
    model = m.StatusChange
    extra = 0
    can_delete = False
    fields = ("at", "from_status", "to_status", "operator", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(m.Conversation)
class ConversationAdmin(ChannelScopedAdmin):
    open_channel_paths = ("open_channel",)
    list_display = (
        "id",
        "client",
        "open_channel",
        "status",
        "operator",
        "is_unprocessed",
        "created_at",
        "last_message_at",
    )
    list_filter = (
        "status",
        "is_unprocessed",
        ("open_channel", admin.RelatedOnlyFieldListFilter),
        "connector__kind",
        "closed_by",
    )
    search_fields = ("=id", "client__name", "client__username", "client__external_id", "operator__username")
    date_hierarchy = "created_at"
    list_select_related = ("client", "client__connector", "open_channel", "operator")
    inlines = (MessageInline, OfferInline, RoutingDecisionInline, StatusChangeInline)
    readonly_fields = [field.name for field in m.Conversation._meta.fields] + ["files"]

    class Media:
        css = {"all": ["files/attachments.css"]}

    def has_add_permission(self, request) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The page shows the transcript: a reader outside their own work is recorded in the audit log."""
        conversation = self.get_object(request, object_id) if request.method == "GET" else None
        if conversation is not None:
            audit.transcript_opened(user=request.user, conversation=conversation, now=timezone.now())
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("files"))
    def files(self, conversation: m.Conversation) -> SafeString | str:
        """Every file of the conversation in one place, oldest first, with who sent it and when.

        Files are seen through their conversation (there is no admin of their
        own); deleting the conversation deletes them and their bytes.
        """
        if conversation.pk is None:
            return "—"
        attachments = list(
            m.Attachment.objects.filter(message__conversation=conversation)
            .select_related("message")
            .order_by("created_at", "id")
        )
        if not attachments:
            return "—"
        return render_to_string("admin/channels_app/conversation/files.html", {"attachments": attachments})


@admin.register(m.Client)
class ClientAdmin(ErasesPersonalData, ChannelScopedAdmin):
    open_channel_paths = ("connector__open_channel",)
    list_display = ("__str__", "connector", "external_id", "phone", "email", "contact", "created_at", "erased_at")
    list_filter = ("connector__kind",)
    search_fields = ("name", "username", "external_id", "phone", "email")
    raw_id_fields = ("contact",)
    list_select_related = ("connector", "contact")
    readonly_fields = ("erased_at",)
    actions = ("export_personal_data", "erase_personal_data", "withdraw_consent")

    def has_export_permission(self, request: HttpRequest) -> bool:
        return admin_exports.may_export(request)

    @admin.action(description=admin_exports.ACTION_DESCRIPTION, permissions=["export"])
    def export_personal_data(self, request: HttpRequest, queryset: QuerySet[m.Client]):
        """Issue 19: every selected client's data as an archive; the export's page shows its progress."""
        return admin_exports.export_selected(self, request, queryset, subject="client")

    @staticmethod
    def erase_by_id(pk: int, actor) -> ErasureResult:
        return client_erase(client_id=pk, actor=actor, now=timezone.now())

    def has_withdraw_consent_permission(self, request: HttpRequest) -> bool:
        return access.is_administrator(request.user)

    @admin.action(
        description=_("Record that the selected clients withdrew their consent"), permissions=["withdraw_consent"]
    )
    def withdraw_consent(self, request: HttpRequest, queryset: QuerySet[m.Client]) -> None:
        """A1 (issue 19): asked by the client through another way (a letter, a call); their open conversation
        continues, the next one asks for consent again."""
        now = timezone.now()
        withdrawn = 0
        for client_id in queryset.values_list("pk", flat=True):
            result = consent_withdraw(client_id=client_id, actor=request.user, via=m.ConsentWithdrawnVia.ADMIN, now=now)
            withdrawn += 1 if result.withdrawn else 0
        self.message_user(
            request,
            ngettext("Consent withdrawn for %(count)d client.", "Consent withdrawn for %(count)d clients.", withdrawn)
            % {"count": withdrawn},
        )


@admin.register(m.ClientRating)
class ClientRatingAdmin(ChannelScopedAdmin):
    open_channel_paths = ("conversation__open_channel",)
    list_display = ("conversation_link", "operator", "value", "rated_at")
    list_select_related = ("operator",)  # the link needs only conversation_id
    list_filter = ("value",)
    readonly_fields = ("conversation", "operator", "value", "rated_at")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description=_("conversation"))
    def conversation_link(self, rating: m.ClientRating) -> str:
        url = reverse("admin:channels_app_conversation_change", args=[rating.conversation_id])
        return format_html('<a href="{}">#{}</a>', url, rating.conversation_id)
