"""REST endpoints of the live-chat widget (in the OpenAPI schema): the visitor's state, sending a file, the
transcript e-mail.

The signed visitor token in the URL is the credential (:mod:`channels_app.livechat.visitors`).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.engine.attachments import refuse_oversized_upload
from channels_app.engine.consent import consent_withdraw
from channels_app.livechat.payloads import visitor_conversation_payload, visitor_messages, visitor_send_answer
from channels_app.livechat.services import livechat_message_send, livechat_transcript_send
from channels_app.livechat.visitor_forms import (
    details_form_needed,
    details_missing,
    livechat_details_give,
    livechat_offline_request,
    offline_form_shown,
)
from channels_app.livechat.visitors import (
    consent_needed,
    livechat_connector_for_token,
    visitor_client,
    visitor_conversation,
    visitor_sockets_follow,
)
from channels_app.models import TYPED_TEXT_MAX_LENGTH, ConsentWithdrawnVia
from channels_app.web import optional_query_int, uploaded_file_and_text


class VisitorMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField()
    author_name = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    attachments = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()
    edited = serializers.BooleanField(help_text="The client edited it (in a messenger).")
    deleted = serializers.BooleanField(help_text="The client deleted it: no text and no files are sent.")


class VisitorIdentitySerializer(serializers.Serializer):
    name = serializers.CharField()
    photo_url = serializers.CharField(allow_blank=True)


class VisitorConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    is_open = serializers.BooleanField()
    awaiting_rating = serializers.BooleanField()
    operator = VisitorIdentitySerializer(allow_null=True)


class VisitorStateSerializer(serializers.Serializer):
    server_time = serializers.DateTimeField()
    consent_needed = serializers.BooleanField()
    details_needed = serializers.BooleanField(help_text="Show the pre-chat form before the visitor writes.")
    offline_form = serializers.ChoiceField(
        choices=["", "closed", "busy"],
        allow_blank=True,
        help_text="Show the offline form instead of the chat: “closed” (outside working hours), “busy” (nobody "
        "can answer now), or “” (chat as usual).",
    )
    conversation = VisitorConversationSerializer(allow_null=True)
    messages = VisitorMessageSerializer(many=True)
    has_older = serializers.BooleanField(help_text="Older messages exist: ask again with ``before`` the first one.")


class TranscriptRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class VisitorFileUploadSerializer(serializers.Serializer):
    """The multipart form (documentation only: the view reads it itself, so every refusal is one ``detail``)."""

    file = serializers.FileField()
    text = serializers.CharField(required=False, allow_blank=True, max_length=TYPED_TEXT_MAX_LENGTH)
    client_message_id = serializers.CharField(
        required=False,
        min_length=8,
        max_length=64,
        help_text="The widget's id for this message (8 to 64 letters, digits, “-” or “_”): sent again, it is one.",
    )


class VisitorDetailsSerializer(serializers.Serializer):
    """The pre-chat form (documentation: the service checks it against the open channel's settings)."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)


class VisitorOfflineSerializer(VisitorDetailsSerializer):
    message = serializers.CharField(max_length=TYPED_TEXT_MAX_LENGTH)


FORM_REFUSED = inline_serializer(
    "FormRefused",
    {"detail": serializers.CharField(), "fields": serializers.DictField(child=serializers.CharField(), required=False)},
)


class VisitorSendAnswerSerializer(serializers.Serializer):
    client_id = serializers.CharField(allow_null=True)
    message = VisitorMessageSerializer()
    conversation = VisitorConversationSerializer()


class LivechatView(APIView):
    """Visitor endpoints: the signed token in the URL is the credential, so no session and no CSRF cookie."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class LivechatStateView(LivechatView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", {"type": "integer", "minimum": 0}, description="Only messages with a larger id (re-sync)."
            ),
            OpenApiParameter(
                "before", {"type": "integer", "minimum": 0}, description="The page just older than this message."
            ),
        ],
        responses=VisitorStateSerializer,
        summary="The visitor's conversation and its messages",
    )
    def get(self, request: Request, token: str) -> Response:
        connector, visitor = livechat_connector_for_token(token)
        after_id = optional_query_int(request.query_params.get("after"), "after")
        before_id = optional_query_int(request.query_params.get("before"), "before")
        client = visitor_client(connector, visitor.visitor_id)
        conversation = visitor_conversation(client)
        now = timezone.now()
        messages, has_older = visitor_messages(conversation, after_id=after_id, before_id=before_id)
        body = {
            "server_time": now,
            "consent_needed": consent_needed(connector, client),
            "details_needed": details_form_needed(connector.open_channel, client, conversation),
            "offline_form": offline_form_shown(connector.open_channel, conversation, now),
            "conversation": visitor_conversation_payload(conversation),
            "messages": messages,
            "has_older": has_older,
        }
        response = Response(VisitorStateSerializer(body).data)
        response["Cache-Control"] = "no-store"
        return response


class LivechatTranscriptView(LivechatView):
    @extend_schema(
        request=TranscriptRequestSerializer,
        responses={
            202: inline_serializer(
                "TranscriptQueued",
                {
                    "email": serializers.EmailField(),
                    "confirmation_sent": serializers.BooleanField(
                        help_text="The mail also carries a link to confirm the address (not yet the client's)."
                    ),
                },
            ),
            409: inline_serializer("TranscriptRefused", {"detail": serializers.CharField()}),
            429: inline_serializer("TranscriptTooSoon", {"detail": serializers.CharField()}),
        },
        summary="E-mail the visitor the transcript, in the open channel's language (O3)",
    )
    def post(self, request: Request, token: str) -> Response:
        """Limited per visitor, per client address and per recipient, charged only when a mail goes out; the
        typed address stays unconfirmed (see the service)."""
        connector, visitor = livechat_connector_for_token(token)
        serializer = TranscriptRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        email = serializer.validated_data["email"]
        sent = livechat_transcript_send(
            connector=connector,
            visitor_id=visitor.visitor_id,
            email=email,
            client_address=_client_address(request),
            now=timezone.now(),
        )
        return Response({"email": email, "confirmation_sent": sent.confirmation_sent}, status=status.HTTP_202_ACCEPTED)


class LivechatFileView(LivechatView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": VisitorFileUploadSerializer},
        responses={
            201: VisitorSendAnswerSerializer,
            400: inline_serializer("FileRefused", {"detail": serializers.CharField()}),
            409: inline_serializer("ConsentNeeded", {"detail": serializers.CharField()}),
            413: inline_serializer("FileTooLarge", {"detail": serializers.CharField()}),
            429: inline_serializer("TooFast", {"detail": serializers.CharField()}),
        },
        summary="Send a file (with an optional text) as the visitor's message",
    )
    def post(self, request: Request, token: str) -> Response:
        """The socket's ``send`` with a file: consent first, the same rate limits, the open channel's file limits.

        A body larger than the channel's limit is refused by its declared length, before it is parsed; the
        service checks the file itself. Every socket of the visitor is told when the message started a new
        conversation (``livechat.conversation``), as after a ``send``.
        """
        connector, visitor = livechat_connector_for_token(token)
        limits = connector.open_channel.file_limits
        refuse_oversized_upload(request.META.get("CONTENT_LENGTH"), limits)
        upload, text = uploaded_file_and_text(request)
        client_message_id = request.data.get("client_message_id") or None
        conversation_before = visitor_conversation(visitor_client(connector, visitor.visitor_id))
        result = livechat_message_send(
            connector=connector,
            visitor_id=visitor.visitor_id,
            client_address=_client_address(request),
            text=text,
            client_message_id=client_message_id,
            upload=upload,
            now=timezone.now(),
        )
        if conversation_before is None or conversation_before.pk != result.conversation.pk:
            visitor_sockets_follow(connector.pk, visitor.visitor_id, result.conversation.pk)
        return Response(visitor_send_answer(result, client_message_id), status=status.HTTP_201_CREATED)


def _form_body(request: Request) -> dict:
    """A form's JSON object; any other body (a list, a string) is refused like a malformed one."""
    if not isinstance(request.data, dict):
        raise ParseError("The body must be a JSON object.")
    return request.data


def _client_address(request: Request) -> str:
    """The address the per-address rate limits count (REMOTE_ADDR: uvicorn has put the forwarded one there when
    the proxy is trusted)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


class LivechatDetailsView(LivechatView):
    @extend_schema(
        request=VisitorDetailsSerializer,
        responses={
            200: inline_serializer("DetailsGiven", {"details_needed": serializers.BooleanField()}),
            400: FORM_REFUSED,
            409: inline_serializer("DetailsRefused", {"detail": serializers.CharField()}),
            429: inline_serializer("DetailsTooOften", {"detail": serializers.CharField()}),
        },
        summary="The pre-chat form: the visitor's name, e-mail and phone, as the open channel asks",
    )
    def post(self, request: Request, token: str) -> Response:
        """A missing required or malformed field is a 400 naming each field, and stores nothing; the e-mail is
        kept unconfirmed (it finds no CRM contact until confirmed, but a lead may carry it)."""
        connector, visitor = livechat_connector_for_token(token)
        client = livechat_details_give(
            connector=connector,
            visitor_id=visitor.visitor_id,
            client_address=_client_address(request),
            data=_form_body(request),
            now=timezone.now(),
        )
        # The form is done even when an optional-only form was left empty: only a missing required detail counts.
        return Response({"details_needed": bool(details_missing(connector.open_channel, client))})


class LivechatOfflineView(LivechatView):
    @extend_schema(
        request=VisitorOfflineSerializer,
        responses={
            201: VisitorSendAnswerSerializer,
            400: FORM_REFUSED,
            409: inline_serializer("OfflineRefused", {"detail": serializers.CharField()}),
            429: inline_serializer("OfflineTooOften", {"detail": serializers.CharField()}),
        },
        summary="The offline form: a message left outside working hours or when nobody can answer",
    )
    def post(self, request: Request, token: str) -> Response:
        """Becomes a conversation marked as an offline request, queued for when the channel opens or an operator
        is free (decision 0017); every socket of the visitor follows it."""
        connector, visitor = livechat_connector_for_token(token)
        result = livechat_offline_request(
            connector=connector,
            visitor_id=visitor.visitor_id,
            client_address=_client_address(request),
            data=_form_body(request),
            now=timezone.now(),
        )
        visitor_sockets_follow(connector.pk, visitor.visitor_id, result.conversation.pk)
        return Response(visitor_send_answer(result, None), status=status.HTTP_201_CREATED)


class LivechatConsentWithdrawView(LivechatView):
    @extend_schema(
        request=None,
        responses=inline_serializer(
            "VisitorConsentWithdrawn",
            {
                "withdrawn": serializers.BooleanField(help_text="A consent was withdrawn now (false: none was left)."),
                "conversation_continues": serializers.BooleanField(
                    help_text="The open conversation goes on; the next one asks for consent again."
                ),
            },
        ),
        summary="The visitor withdraws their consent to the personal-data notice (A1)",
    )
    def post(self, request: Request, token: str) -> Response:
        """Recorded with the time and the widget as its source; idempotent."""
        connector, visitor = livechat_connector_for_token(token)
        client = visitor_client(connector, visitor.visitor_id)
        if client is None:  # never wrote nor agreed: nothing to withdraw
            return Response({"withdrawn": False, "conversation_continues": False})
        result = consent_withdraw(client_id=client.pk, actor=None, via=ConsentWithdrawnVia.WIDGET, now=timezone.now())
        return Response({"withdrawn": result.withdrawn > 0, "conversation_continues": result.continuing is not None})
