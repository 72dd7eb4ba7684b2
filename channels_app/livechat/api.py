"""REST endpoints of the live-chat widget (in the OpenAPI schema): the visitor's state, the transcript e-mail.

The signed visitor token in the URL is the credential (:mod:`channels_app.livechat.visitors`).
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.livechat.payloads import visitor_conversation_payload, visitor_messages
from channels_app.livechat.services import livechat_transcript_send
from channels_app.livechat.visitors import (
    consent_needed,
    livechat_connector_for_token,
    visitor_client,
    visitor_conversation,
)
from channels_app.web import optional_query_int


class VisitorMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = serializers.CharField()
    author_name = serializers.CharField(allow_blank=True)
    text = serializers.CharField(allow_blank=True)
    attachments = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


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
    conversation = VisitorConversationSerializer(allow_null=True)
    messages = VisitorMessageSerializer(many=True)


class TranscriptRequestSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class LivechatView(APIView):
    """Visitor endpoints: the signed token in the URL is the credential, so no session and no CSRF cookie."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class LivechatStateView(LivechatView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", {"type": "integer", "minimum": 0}, description="Only messages with a larger id (re-sync)."
            )
        ],
        responses=VisitorStateSerializer,
        summary="The visitor's conversation and its messages",
    )
    def get(self, request: Request, token: str) -> Response:
        connector, visitor = livechat_connector_for_token(token)
        after_id = optional_query_int(request.query_params.get("after"), "after")
        client = visitor_client(connector, visitor.visitor_id)
        conversation = visitor_conversation(client)
        body = {
            "server_time": timezone.now(),
            "consent_needed": consent_needed(connector, client),
            "conversation": visitor_conversation_payload(conversation),
            "messages": visitor_messages(conversation, after_id=after_id),
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
            client_address=request.META.get("REMOTE_ADDR") or "unknown",
            now=timezone.now(),
        )
        return Response({"email": email, "confirmation_sent": sent.confirmation_sent}, status=status.HTTP_202_ACCEPTED)
