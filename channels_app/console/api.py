"""REST endpoints of the operator console (in the OpenAPI schema).

Reads serve the first load and every re-sync after a dropped socket: the
database is the truth, the websocket only says "something changed". Writes
that are not conversation actions (status, lead) live here too; conversation
actions go over the console socket (:mod:`channels_app.console.consumer`).

Access: :mod:`channels_app.console.access`. A conversation the operator may
not see is answered 404, so ids of other channels' conversations reveal nothing.
"""

from __future__ import annotations

from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.console.access import UsesConsole, visible_conversation
from channels_app.console.i18n import InOperatorLanguage
from channels_app.engine import audit, availability, events, notes, selectors
from channels_app.engine import operators as operator_services
from channels_app.engine.attachments import (
    file_limits_payload,
    file_store_upload,
    forget_stored,
    refuse_oversized_upload,
)
from channels_app.engine.conversations import message_send_by_operator
from channels_app.engine.errors import NotAllowed
from channels_app.models import (
    TYPED_TEXT_MAX_LENGTH,
    Attachment,
    CannedReply,
    Client,
    ClientRating,
    ConnectorKind,
    ConsentRecord,
    Conversation,
    ConversationStatus,
    Message,
    Offer,
    OpenChannel,
    OperatorAvailability,
    OperatorProfile,
    QueueMember,
    WhatsAppTemplate,
    operator_display_name,
)
from channels_app.policy import files, message_templates, messaging_window
from channels_app.web import optional_query_int, uploaded_file_and_text
from crm.services import lead_create_for_conversation

# --- serializers (shape of the answers; also the OpenAPI schema) ------------------------------------------


class OpenChannelBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class OfferBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class ConsoleConversationSerializer(serializers.Serializer):
    """One row of the console's lists."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    is_unprocessed = serializers.BooleanField()
    is_offline_request = serializers.BooleanField(help_text="Left through the website chat's offline form.")
    open_channel = OpenChannelBriefSerializer()
    client_name = serializers.CharField()
    operator_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    last_message_text = serializers.CharField(allow_blank=True)
    last_message_author = serializers.CharField(allow_blank=True)
    last_message_file = serializers.CharField(
        allow_blank=True, help_text="The name of the last message's first file (the preview of a file-only message)."
    )
    offer = OfferBriefSerializer(allow_null=True)
    connector_id = serializers.IntegerField(help_text="Matches ``connector.reachability`` events.")
    source_name = serializers.CharField(help_text="The source, in the viewer's words (Telegram, Zalo…).")
    source_unreachable_since = serializers.DateTimeField(
        allow_null=True,
        help_text="Since when the source has not answered (replies wait and go out when it answers); null: it answers.",
    )


class ConsoleListsSerializer(serializers.Serializer):
    server_time = serializers.DateTimeField()
    offered = ConsoleConversationSerializer(many=True)
    mine = ConsoleConversationSerializer(many=True)
    queued = ConsoleConversationSerializer(many=True)


class MessageSerializer(serializers.Serializer):
    """Same keys as the ``message.created`` event, so the console renders both alike."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author_kind = serializers.CharField()
    author_id = serializers.IntegerField(allow_null=True)
    author_name = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    attachments = serializers.ListField(child=serializers.DictField())
    system_key = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    delivery = serializers.CharField()
    delivery_error = serializers.CharField(allow_blank=True)
    delivery_delayed = serializers.BooleanField(help_text="Queued after a failure that may pass: retried for a while.")
    delivery_retry_until = serializers.DateTimeField(
        allow_null=True, help_text="When the sender stops retrying it (then failed)."
    )
    button = serializers.JSONField(
        allow_null=True, help_text='A button the client pressed: {"payload": its data} (the text is its title); null.'
    )
    edited_at = serializers.DateTimeField(allow_null=True, help_text="The client edited it in the messenger.")
    earlier_texts = serializers.ListField(child=serializers.CharField(allow_blank=True), help_text="Before the edits.")
    deleted_at = serializers.DateTimeField(allow_null=True, help_text="The client deleted it in the messenger.")


class OperatorFileUploadSerializer(serializers.Serializer):
    """The upload's form (documentation: the view reads it itself, so every refusal is one ``detail``)."""

    file = serializers.FileField(use_url=False)
    text = serializers.CharField(required=False, allow_blank=True, max_length=TYPED_TEXT_MAX_LENGTH)


class MessagesSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    messages = MessageSerializer(many=True)
    has_older = serializers.BooleanField(help_text="Older messages exist before the first one of this page.")
    has_newer = serializers.BooleanField(help_text="Newer messages exist after the last one of this page.")


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    full_name = serializers.CharField()
    responsible = serializers.CharField(allow_blank=True)


class ConsentSerializer(serializers.Serializer):
    form = serializers.CharField()
    accepted_at = serializers.DateTimeField()
    withdrawn_at = serializers.DateTimeField(allow_null=True)


class ClientCardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    username = serializers.CharField(allow_blank=True)
    phone = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    unverified_email = serializers.CharField(
        allow_blank=True, help_text="Typed by a live-chat visitor and not confirmed yet: not used to reach them."
    )
    # DRF's metaclass takes declared fields off the class, so this does not shadow Field.source; the stubs cannot
    # tell (djangorestframework-stubs issue #158, fields named like Field attributes).
    source = serializers.CharField()  # type: ignore[assignment]
    can_be_contacted = serializers.BooleanField()
    contact = ContactSerializer(allow_null=True)
    conversations_count = serializers.IntegerField()
    consents = ConsentSerializer(many=True)


class CannedReplySerializer(serializers.Serializer):
    shortcut = serializers.CharField()
    title = serializers.CharField(allow_blank=True)
    text = serializers.CharField()


class LeadBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()


class NoteSerializer(serializers.Serializer):
    """Same keys as the ``note.created`` event."""

    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author_id = serializers.IntegerField(allow_null=True)
    author_name = serializers.CharField(allow_blank=True)
    text = serializers.CharField()
    mentions = serializers.ListField(
        child=serializers.DictField(), help_text="The colleagues its @names mention: {id, name}."
    )
    created_at = serializers.DateTimeField()


class FileLimitsSerializer(serializers.Serializer):
    max_bytes = serializers.IntegerField()
    max_size_text = serializers.CharField()
    groups = serializers.ListField(child=serializers.ChoiceField(choices=files.FILE_GROUPS))
    groups_text = serializers.CharField(allow_blank=True, help_text="The allowed groups in the operator's words.")
    accept = serializers.CharField(allow_blank=True, help_text="For the file input's accept attribute.")


class WhatsAppTemplateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    language = serializers.CharField()
    body = serializers.CharField(help_text="The approved body, with {{1}}, {{2}}… where the texts go.")
    parameter_count = serializers.IntegerField()


class ConversationDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    is_unprocessed = serializers.BooleanField()
    is_offline_request = serializers.BooleanField(help_text="Left through the website chat's offline form.")
    open_channel = OpenChannelBriefSerializer()
    operator_id = serializers.IntegerField(allow_null=True)
    operator_name = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    rating = serializers.CharField(allow_blank=True)
    offer = OfferBriefSerializer(allow_null=True)
    can_reply = serializers.BooleanField()
    can_close = serializers.BooleanField()
    can_transfer = serializers.BooleanField()
    can_take = serializers.BooleanField(
        help_text="Waiting in the queue of an open channel the viewer works in, not offered to them: they may take it."
    )
    client = ClientCardSerializer()
    lead = LeadBriefSerializer(allow_null=True)
    canned_replies = CannedReplySerializer(many=True)
    connector_kind = serializers.CharField(help_text="The source: livechat, telegram, facebook, whatsapp or zalo.")
    connector_id = serializers.IntegerField(help_text="Matches ``connector.reachability`` events.")
    source_name = serializers.CharField(help_text="The source, in the viewer's words (Telegram, Zalo…).")
    source_unreachable_since = serializers.DateTimeField(
        allow_null=True,
        help_text="Since when the source has not answered (replies wait and go out when it answers); null: it answers.",
    )
    reply_window_closed = serializers.BooleanField(
        help_text="Meta's 24-hour window has closed (S2): no reply goes out; on WhatsApp a template still may."
    )
    whatsapp_templates = WhatsAppTemplateSerializer(
        many=True, help_text="A WhatsApp conversation's active message templates (S2); empty on other sources."
    )
    file_limits = FileLimitsSerializer(help_text="What this conversation's open channel accepts as a file.")
    notes = NoteSerializer(
        many=True, help_text="Private notes of operators and supervisors; never shown to the client."
    )


class OperatorStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_online = serializers.BooleanField()
    clocked_in = serializers.BooleanField()
    clocked_in_at = serializers.DateTimeField(allow_null=True)
    on_break = serializers.BooleanField()
    break_started_at = serializers.DateTimeField(allow_null=True)
    availability = serializers.ChoiceField(
        choices=OperatorAvailability.values, help_text="The operator's own choice: available, away or offline."
    )
    receiving = serializers.BooleanField(help_text="At least one of their channels would offer them a chat now.")
    reasons = serializers.ListField(
        child=serializers.CharField(), help_text="Why new chats are not offered (in some or all channels), in words."
    )
    clock_in_required = serializers.BooleanField(
        help_text="One of their channels routes only to clocked-in operators: the console shows clock-in and breaks."
    )


class ConsoleStateSerializer(serializers.Serializer):
    server_time = serializers.DateTimeField()
    operator = OperatorStateSerializer()
    open_channels = OpenChannelBriefSerializer(many=True)


class StatusActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(
        choices=["clock_in", "clock_out", "break_start", "break_end", *OperatorAvailability.values]
    )


class TransferOperatorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    is_online = serializers.BooleanField()
    presence = serializers.ChoiceField(
        choices=["online", "away", "offline"], help_text="What colleagues see: online, away (chosen) or offline."
    )
    open_channel = serializers.CharField()
    available = serializers.BooleanField(help_text="Routing would give them this conversation now (Q5, Q6, Q8).")
    unavailable_reason = serializers.CharField(help_text="Why not, in plain words; empty when available.")
    load = serializers.IntegerField(help_text="Conversations counting toward the channel's chat limit (Q8).")
    chat_limit = serializers.IntegerField(allow_null=True, help_text="The channel's chat limit; null when off.")


class TransferTargetsSerializer(serializers.Serializer):
    operators = TransferOperatorSerializer(many=True)
    open_channels = OpenChannelBriefSerializer(many=True)


# --- builders ---------------------------------------------------------------------------------------------


def message_payload(message: Message) -> dict:
    """The same shape as the ``message.created`` event's message (files and delivery included)."""
    return events.message_created(message)["message"]


def _with_last_message(conversations):
    latest = Message.objects.filter(conversation=OuterRef("pk")).order_by("-created_at", "-id")
    first_file = Attachment.objects.filter(message_id=OuterRef("last_message_id")).order_by("id")
    return conversations.annotate(
        last_text=Subquery(latest.values("text")[:1]),
        last_author=Subquery(latest.values("author_kind")[:1]),
        last_message_id=Subquery(latest.values("id")[:1]),
    ).annotate(last_file=Subquery(first_file.values("name")[:1]))


def source_state(conversation: Conversation) -> dict:
    """Issue 21: the conversation's source and whether it answers now (rows and detail alike; the connector comes
    with the conversation's ``select_related``). The ``connector.reachability`` event updates it live."""
    connector = conversation.connector
    return {
        "connector_id": connector.pk,
        "source_name": connector.get_kind_display(),
        "source_unreachable_since": connector.unreachable_since if connector.is_unreachable else None,
    }


def _list_row(conversation: Conversation, offer: dict | None = None) -> dict:
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "is_unprocessed": conversation.is_unprocessed,
        "is_offline_request": conversation.is_offline_request,
        "open_channel": {"id": conversation.open_channel_id, "name": conversation.open_channel.name},
        "client_name": str(conversation.client),
        "operator_id": conversation.operator_id,
        "created_at": conversation.created_at,
        "last_message_at": conversation.last_message_at,
        "last_message_text": (getattr(conversation, "last_text", "") or "")[:140],
        "last_message_author": getattr(conversation, "last_author", "") or "",
        "last_message_file": getattr(conversation, "last_file", "") or "",
        "offer": offer,
        **source_state(conversation),
    }


def console_lists(user) -> dict:
    """The three lists of the console: offered to me, mine, and waiting in the queues of my open channels."""
    offered, mine = [], []
    now = timezone.now()
    # An offer past its deadline can no longer be accepted; the sweep passes it on within seconds.
    pending_offers = {
        offer.conversation_id: {"id": offer.pk, "expires_at": offer.expires_at}
        for offer in selectors.pending_offers_for(user).filter(expires_at__gt=now)
    }
    for conversation in _with_last_message(selectors.conversations_for_console(user)):
        if conversation.status == ConversationStatus.OFFERED:
            offer = pending_offers.get(conversation.pk)
            if offer is not None:
                offered.append(_list_row(conversation, offer))
        else:
            mine.append(_list_row(conversation))
    channel_ids = list(selectors.operator_open_channels(user).values_list("id", flat=True))
    waiting = (
        Conversation.objects.filter(open_channel_id__in=channel_ids, status=ConversationStatus.QUEUED)
        .select_related("client__connector", "connector", "open_channel")
        .order_by("queued_at", "id")
    )
    queued = [_list_row(conversation) for conversation in _with_last_message(waiting)[:200]]
    offered.sort(key=lambda row: row["offer"]["expires_at"])
    return {"server_time": now, "offered": offered, "mine": mine, "queued": queued}


def client_card(client: Client) -> dict:
    contact = client.contact
    consents = ConsentRecord.objects.filter(client=client).select_related("form_version__form")[:5]
    return {
        "id": client.pk,
        "name": str(client),
        "username": client.username,
        "phone": client.phone,
        "email": client.email,
        "unverified_email": client.unverified_email,
        "source": client.connector.get_kind_display(),
        "can_be_contacted": client.can_be_contacted,
        "contact": {
            "id": contact.pk,
            "full_name": contact.full_name,
            "responsible": operator_display_name(contact.responsible) if contact.responsible else "",
        }
        if contact is not None
        else None,
        "conversations_count": client.conversations.count(),
        "consents": [
            {"form": str(record.form_version), "accepted_at": record.accepted_at, "withdrawn_at": record.withdrawn_at}
            for record in consents
        ],
    }


def may_reply(user, conversation: Conversation, offer: Offer | None) -> bool:
    """The console offers the reply box (and the paper clip) to the holder, or to whom it is offered."""
    holds = conversation.operator_id == user.pk and conversation.status == ConversationStatus.ACTIVE
    return holds or offer is not None


def may_take(user, conversation: Conversation, offer: Offer | None) -> bool:
    """The console offers "Take" on a conversation waiting in one of the viewer's queues (the service decides)."""
    waiting = conversation.status in (ConversationStatus.QUEUED, ConversationStatus.OFFERED)
    return (
        waiting
        and offer is None
        and selectors.operator_open_channels(user).filter(pk=conversation.open_channel_id).exists()
    )


def whatsapp_templates_payload(conversation: Conversation) -> list[dict]:
    """S2: the active templates of a WhatsApp conversation's number, with how many texts each needs."""
    if conversation.connector.kind != ConnectorKind.WHATSAPP:
        return []
    return [
        {
            "id": template.pk,
            "name": template.name,
            "language": template.language,
            "body": template.body,
            "parameter_count": message_templates.parameter_count(template.body),
        }
        for template in WhatsAppTemplate.objects.filter(connector_id=conversation.connector_id, is_active=True)
    ]


def conversation_detail(user, conversation: Conversation) -> dict:
    now = timezone.now()
    offer = selectors.pending_offers_for(user).filter(conversation=conversation).first()
    holds = conversation.operator_id == user.pk and conversation.status == ConversationStatus.ACTIVE
    # M5: the canned replies of the list this conversation's open channel uses.
    canned = [
        {"shortcut": reply.shortcut, "title": reply.title, "text": reply.text}
        for reply in CannedReply.objects.filter(reply_list_id=conversation.open_channel.canned_reply_list_id)
    ]
    rating = ClientRating.objects.filter(conversation=conversation).first()
    lead = conversation.lead
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "status_label": conversation.get_status_display(),
        "is_unprocessed": conversation.is_unprocessed,
        "is_offline_request": conversation.is_offline_request,
        "open_channel": {"id": conversation.open_channel_id, "name": conversation.open_channel.name},
        "operator_id": conversation.operator_id,
        "operator_name": operator_display_name(conversation.operator) if conversation.operator else "",
        "created_at": conversation.created_at,
        "closed_at": conversation.closed_at,
        "rating": rating.value if rating else "",
        "offer": {"id": offer.pk, "expires_at": offer.expires_at} if offer else None,
        "can_reply": may_reply(user, conversation, offer),
        "can_close": holds,
        "can_transfer": holds,
        "can_take": may_take(user, conversation, offer),
        "client": client_card(conversation.client),
        "lead": {"id": lead.pk, "title": lead.title} if lead else None,
        "canned_replies": canned,
        "connector_kind": conversation.connector.kind,
        **source_state(conversation),
        # S2: after Meta's 24-hour window only a WhatsApp template may go out (Messenger takes nothing).
        "reply_window_closed": not messaging_window.may_reply_freely(
            kind=conversation.connector.kind, last_client_message_at=conversation.last_client_message_at, now=now
        ),
        "whatsapp_templates": whatsapp_templates_payload(conversation),
        "file_limits": file_limits_payload(conversation.open_channel.file_limits),
        "notes": [events.note_created(note)["note"] for note in notes.conversation_notes(conversation.pk)],
    }


# --- console ----------------------------------------------------------------------------------------------


class ConsoleView(InOperatorLanguage, APIView):
    permission_classes = [UsesConsole]


def console_state(user) -> dict:
    profile = OperatorProfile.objects.filter(user_id=user.pk).first() or OperatorProfile(user=user)
    now = timezone.now()
    own = availability.own_availability(user, now)
    return {
        "server_time": now,
        "operator": {
            "id": user.pk,
            "name": operator_display_name(user),
            "is_online": profile.is_online,
            "clocked_in": profile.clocked_in,
            "clocked_in_at": profile.clocked_in_at,
            "on_break": profile.on_break,
            "break_started_at": profile.break_started_at,
            "availability": own.chosen,
            "receiving": own.receiving,
            "reasons": list(own.reasons),
            "clock_in_required": own.clock_in_required,
        },
        "open_channels": [{"id": c.pk, "name": c.name} for c in selectors.operator_open_channels(user)],
    }


class ConsoleStateView(ConsoleView):
    @extend_schema(responses=ConsoleStateSerializer, summary="The operator's status and open channels")
    def get(self, request: Request) -> Response:
        return Response(ConsoleStateSerializer(console_state(request.user)).data)


class ConsoleConversationsView(ConsoleView):
    @extend_schema(responses=ConsoleListsSerializer, summary="Offered to me, mine, and waiting in my queues")
    def get(self, request: Request) -> Response:
        return Response(ConsoleListsSerializer(console_lists(request.user)).data)


def _availability_action(value: str):
    def choose(*, operator, now) -> None:
        operator_services.operator_availability_set(operator=operator, availability=value, now=now)

    return choose


class ConsoleStatusView(ConsoleView):
    ACTIONS = {
        "clock_in": operator_services.operator_clock_in,
        "clock_out": operator_services.operator_clock_out,
        "break_start": operator_services.operator_break_start,
        "break_end": operator_services.operator_break_end,
        # Issue 20: the operator's own Available / Away / Offline, whatever their clock-in.
        **{value: _availability_action(value) for value in OperatorAvailability.values},
    }

    @extend_schema(
        request=StatusActionSerializer,
        responses={
            200: ConsoleStateSerializer,
            409: inline_serializer("StatusRefused", {"detail": serializers.CharField()}),
        },
        summary="Clock in or out, start or end a break (Q5); be available, away or offline",
    )
    def post(self, request: Request) -> Response:
        serializer = StatusActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.ACTIONS[serializer.validated_data["action"]](operator=request.user, now=timezone.now())
        return Response(ConsoleStateSerializer(console_state(request.user)).data)


class ConversationDetailView(ConsoleView):
    @extend_schema(responses=ConversationDetailSerializer, summary="A conversation with its client card")
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        return Response(ConversationDetailSerializer(conversation_detail(request.user, conversation)).data)


def _message_position_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, {"type": "integer", "minimum": 0}, description=description)


class ConversationMessagesView(ConsoleView):
    @extend_schema(
        parameters=[
            _message_position_parameter("after", "Only messages with a larger id (re-sync, the next newer page)."),
            _message_position_parameter("before", "The page of messages just older than this one (scrolling up)."),
            _message_position_parameter("around", "This message with a page around it (a link to a message)."),
            _message_position_parameter("newer_than", "The page of messages just newer than this one."),
        ],
        responses=MessagesSerializer,
        summary="A page of the conversation's messages (O2): the latest, or before, around or after a message",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        params = request.query_params
        after_id = optional_query_int(params.get("after"), "after")
        before_id = optional_query_int(params.get("before"), "before")
        around_id = optional_query_int(params.get("around"), "around")
        newer_than_id = optional_query_int(params.get("newer_than"), "newer_than")
        if after_id is None and before_id is None and newer_than_id is None:
            # Opening the conversation (its latest page, or the page around a linked message) is the look the
            # audit log records; scrolling and re-syncs after a reconnect are the same look and cost nothing.
            audit.transcript_opened(user=request.user, conversation=conversation, now=timezone.now())
        page = selectors.conversation_messages(
            conversation.pk, after_id=after_id, before_id=before_id, around_id=around_id, newer_than_id=newer_than_id
        )
        body = {
            "conversation_id": conversation.pk,
            "messages": [message_payload(m) for m in page.messages],
            "has_older": page.has_older,
            "has_newer": page.has_newer,
        }
        return Response(MessagesSerializer(body).data)


class ConversationFilesView(ConsoleView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": OperatorFileUploadSerializer},
        responses={201: MessageSerializer},
        summary="Send the client a file, with an optional text (the operator holding the conversation)",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        offer = selectors.pending_offers_for(request.user).filter(conversation=conversation).first()
        # Asked before a byte is stored; the service asks again, under its locks.
        if not may_reply(request.user, conversation, offer):
            raise NotAllowed(_("This conversation is not assigned to you."))
        open_channel = conversation.open_channel
        refuse_oversized_upload(request.META.get("CONTENT_LENGTH"), open_channel.file_limits)
        upload, text = uploaded_file_and_text(request)
        incoming = file_store_upload(
            open_channel=open_channel, upload=upload, name=upload.name or "", mime_type=upload.content_type or ""
        )
        try:
            message = message_send_by_operator(
                conversation_id=conversation.pk, operator=request.user, text=text, files=[incoming], now=timezone.now()
            )
        except BaseException:
            forget_stored([incoming])  # the message was refused: its file has no row to point at it
            raise
        return Response(MessageSerializer(message_payload(message)).data, status=status.HTTP_201_CREATED)


class ConversationTransferTargetsView(ConsoleView):
    @extend_schema(responses=TransferTargetsSerializer, summary="Who and where a conversation can be transferred to")
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        members = (
            QueueMember.objects.filter(open_channel_id=conversation.open_channel_id, operator__is_active=True)
            .exclude(operator_id=request.user.pk)
            .select_related("operator__operator_profile", "open_channel")
            .order_by("position", "id")
        )
        channel = conversation.open_channel
        found = availability.availability_for([member.operator for member in members], channel, timezone.now())
        operators = []
        for member in members:
            facts = found[member.operator_id]
            operators.append(
                {
                    "id": member.operator_id,
                    "name": facts.name,
                    "is_online": facts.online,
                    "presence": facts.presence,
                    "open_channel": member.open_channel.name,
                    "available": facts.available,
                    "unavailable_reason": facts.explain(channel),
                    "load": facts.load,
                    "chat_limit": facts.chat_limit,
                }
            )
        channels = OpenChannel.objects.filter(is_active=True).exclude(pk=conversation.open_channel_id)
        body = {"operators": operators, "open_channels": [{"id": c.pk, "name": c.name} for c in channels]}
        return Response(TransferTargetsSerializer(body).data)


class ConversationLeadView(ConsoleView):
    @extend_schema(
        request=None,
        responses={
            201: LeadBriefSerializer,
            409: inline_serializer("LeadRefused", {"detail": serializers.CharField()}),
        },
        summary="Create a lead from the conversation (C2 manual)",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        lead = lead_create_for_conversation(conversation_id=conversation.pk, operator=request.user, now=timezone.now())
        return Response(LeadBriefSerializer({"id": lead.pk, "title": lead.title}).data, status=status.HTTP_201_CREATED)
