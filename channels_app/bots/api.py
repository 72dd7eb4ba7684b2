"""REST API for external chatbots (B1): reply to the client and hand over, in the OpenAPI schema.

The credential is the chatbot's API token: ``Authorization: Bearer <token>``.
A bot acts only on conversations of open channels that use it (else 403) and
only while it holds them, i.e. the status is ``bot`` (else 409). The events
the bot receives, and how they are signed, are described in
:mod:`channels_app.bots.external`.
"""

from __future__ import annotations

import logging

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.bots import services as bot_services
from channels_app.bots.external import SIGNATURE_HEADER, TIMESTAMP_HEADER
from channels_app.models import MESSAGE_TEXT_MAX_LENGTH, Chatbot

logger = logging.getLogger(__name__)

BOT_API_TAG = "chatbots"


class ChatbotTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <Chatbot.api_token>``; ``request.auth`` is the :class:`Chatbot`."""

    keyword = b"bearer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Send the header as “Authorization: Bearer <API token>”.")
        try:
            token = parts[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The API token is not valid.") from None
        chatbot = Chatbot.objects.filter(api_token=token).first()
        if chatbot is None:
            raise exceptions.AuthenticationFailed("The API token is not valid.")
        return (None, chatbot)

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="chatbots"'


class ChatbotTokenScheme(OpenApiAuthenticationExtension):
    target_class = "channels_app.bots.api.ChatbotTokenAuthentication"
    name = "chatbotToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The chatbot's API token, shown on its page in the admin.",
        }


def authenticated_chatbot(request: Request) -> Chatbot:
    """The chatbot ChatbotTokenAuthentication put in ``request.auth``; a request without one is refused (401)."""
    chatbot = request.auth
    if not isinstance(chatbot, Chatbot):
        raise exceptions.NotAuthenticated("Send the chatbot's API token as “Authorization: Bearer <API token>”.")
    return chatbot


class IsActiveChatbot(BasePermission):
    message = "This chatbot is switched off."

    def has_permission(self, request, view) -> bool:
        return authenticated_chatbot(request).is_active


class BotReplyRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MESSAGE_TEXT_MAX_LENGTH, help_text="The text sent to the client.")
    idempotency_key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=40,
        help_text="Optional. A repeated request with the same key returns the first message (200) "
        "instead of sending the text again.",
    )


class BotMessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


class BotHandoverRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=bot_services.MAX_REASON_LENGTH,
        help_text="Optional. Kept in the conversation's history.",
    )


class BotHandoverSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    status = serializers.CharField(help_text="“queued”, or already “offered” when an operator was found at once.")


class BotApiErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


ERROR_RESPONSES = {
    400: OpenApiResponse(BotApiErrorSerializer, description="Invalid input."),
    401: OpenApiResponse(BotApiErrorSerializer, description="Missing or invalid API token."),
    403: OpenApiResponse(
        BotApiErrorSerializer,
        description="The chatbot is switched off, or the conversation's open channel does not use it.",
    ),
    404: OpenApiResponse(BotApiErrorSerializer, description="No such conversation."),
    409: OpenApiResponse(
        BotApiErrorSerializer, description="The chatbot no longer holds the conversation (handed over)."
    ),
}

EVENTS_NOTE = (
    f"Events come to the bot's URL as signed POSTs: `{SIGNATURE_HEADER}: sha256=<hex>` is the HMAC-SHA256 of the "
    f"raw body keyed by the signing secret, `{TIMESTAMP_HEADER}` repeats the body's `sent_at` (reject old or "
    "mismatched ones). The bot may answer in the response body with "
    '`{"texts": ["…"], "handover": false}`, or later through this endpoint.'
)


class BotApiView(APIView):
    authentication_classes = [ChatbotTokenAuthentication]
    permission_classes = [IsActiveChatbot]


class BotConversationMessagesView(BotApiView):
    @extend_schema(
        tags=[BOT_API_TAG],
        summary="The chatbot answers the client (B1)",
        description=EVENTS_NOTE,
        request=BotReplyRequestSerializer,
        responses={
            201: BotMessageSerializer,
            200: OpenApiResponse(BotMessageSerializer, description="Repeated idempotency key: the first message."),
            **ERROR_RESPONSES,
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = BotReplyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message, created = bot_services.bot_api_message_send(
            chatbot=authenticated_chatbot(request),
            conversation_id=conversation_id,
            text=serializer.validated_data["text"],
            idempotency_key=serializer.validated_data.get("idempotency_key", ""),
            now=timezone.now(),
        )
        body = BotMessageSerializer(
            {
                "id": message.pk,
                "conversation_id": message.conversation_id,
                "text": message.text,
                "created_at": message.created_at,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class BotConversationHandoverView(BotApiView):
    @extend_schema(
        tags=[BOT_API_TAG],
        summary="The chatbot hands the conversation over to the operators (B1)",
        description="After the hand-over the chatbot receives no more events of this conversation and can no "
        "longer write in it.",
        request=BotHandoverRequestSerializer,
        responses={200: BotHandoverSerializer, **ERROR_RESPONSES},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        serializer = BotHandoverRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        conversation = bot_services.bot_api_handover(
            chatbot=authenticated_chatbot(request),
            conversation_id=conversation_id,
            reason=serializer.validated_data.get("reason", ""),
            now=timezone.now(),
        )
        conversation.refresh_from_db(fields=["status"])
        return Response(BotHandoverSerializer({"conversation_id": conversation.pk, "status": conversation.status}).data)
