"""The console's "Consent withdrawn" button (A1, issue 19): a messenger client who asks in words to withdraw their
consent has it recorded by the operator who can see their conversation, on their behalf."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from channels_app.console.access import visible_conversation
from channels_app.console.api import ConsoleView
from channels_app.engine.consent import consent_withdraw
from channels_app.models import ConsentWithdrawnVia


class ConsentWithdrawnSerializer(serializers.Serializer):
    withdrawn = serializers.IntegerField(help_text="How many consent records were withdrawn now (0: none was left).")
    conversation_continues = serializers.BooleanField(
        help_text="The open conversation goes on; the client's next one asks for consent again."
    )


class ConversationConsentWithdrawView(ConsoleView):
    @extend_schema(
        request=None,
        responses={
            200: ConsentWithdrawnSerializer,
            404: inline_serializer("NoConversation", {"detail": serializers.CharField()}),
        },
        summary="Record that the conversation's client withdrew their consent (A1), on their behalf",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        """Anyone who may see the conversation may record it (the client asked them); idempotent."""
        conversation = visible_conversation(request.user, conversation_id)
        result = consent_withdraw(
            client_id=conversation.client_id, actor=request.user, via=ConsentWithdrawnVia.OPERATOR, now=timezone.now()
        )
        body = {"withdrawn": result.withdrawn, "conversation_continues": result.continuing is not None}
        return Response(ConsentWithdrawnSerializer(body).data)
