"""REST endpoints of the supervisor's actions on a conversation (the wallboard and the conversation page use them).

Each parses its input, checks the ``kpi.view_kpi`` permission, calls one engine service, and answers the
conversation's new state. The services decide who may act (:func:`channels_app.engine.access.supervises`); a
conversation the supervisor may not read is answered 404, as everywhere, so ids reveal nothing.

===============================================  ===========================================================
``POST …/take-over/``                             the supervisor holds it from now on (then answers it in
                                                  the console)
``POST …/reassign/`` {to_operator_id}             to an operator of the channel's queue
``POST …/reassign/`` {to_open_channel_id}         to another open channel's queue
``POST …/reassign/`` {to_queue: true}             back to its own queue, routed again at once
``POST …/close/``                                 closed, as an operator's close (M3, R1)
``POST …/notes/`` {text}                          a private note for the operators (never to the client)
===============================================  ===========================================================
"""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.engine import access, notes
from channels_app.engine import conversations as conversation_services
from channels_app.engine.errors import NotFound
from channels_app.models import Conversation


class SeesKpi(BasePermission):
    message = "Only supervisors use these actions."

    def has_permission(self, request, view) -> bool:
        return bool(request.user.is_authenticated and request.user.has_perm("kpi.view_kpi"))


class ConversationStateSerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField()
    status = serializers.CharField()
    operator_id = serializers.IntegerField(allow_null=True)
    open_channel_id = serializers.IntegerField()
    console_url = serializers.CharField(help_text="Where the conversation opens in the console.")


class ReassignSerializer(serializers.Serializer):
    to_operator_id = serializers.IntegerField(required=False, min_value=1)
    to_open_channel_id = serializers.IntegerField(required=False, min_value=1)
    to_queue = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        chosen = [name for name in ("to_operator_id", "to_open_channel_id") if attrs.get(name) is not None]
        if attrs.get("to_queue"):
            chosen.append("to_queue")
        if len(chosen) != 1:
            raise serializers.ValidationError("Choose one: an operator, an open channel, or back to the queue.")
        return attrs


class NoteInputSerializer(serializers.Serializer):
    # Blank and overlong notes are refused by the service (engine.notes), with the limit in its message.
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


class SupervisorNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author_name = serializers.CharField()
    text = serializers.CharField()
    created_at = serializers.DateTimeField()


def _supervised(user, conversation_id: int) -> None:
    """404 unless ``user`` supervises the conversation's channel (checked again, under lock, by the service)."""
    conversation = Conversation.objects.filter(pk=conversation_id).only("open_channel_id").first()
    if conversation is None or not access.supervises(user, conversation.open_channel_id):
        raise NotFound(_("This conversation does not exist."))


def _state(conversation: Conversation) -> dict:
    return {
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "operator_id": conversation.operator_id,
        "open_channel_id": conversation.open_channel_id,
        "console_url": f"{reverse('console')}#conversation={conversation.pk}",
    }


class SupervisorActionView(APIView):
    permission_classes = [SeesKpi]


class TakeOverView(SupervisorActionView):
    @extend_schema(request=None, responses={200: ConversationStateSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        _supervised(request.user, conversation_id)
        conversation = conversation_services.conversation_take_over(
            conversation_id=conversation_id, supervisor=request.user, now=timezone.now()
        )
        return Response(_state(conversation))


class ReassignView(SupervisorActionView):
    @extend_schema(request=ReassignSerializer, responses={200: ConversationStateSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        _supervised(request.user, conversation_id)
        target = ReassignSerializer(data=request.data)
        target.is_valid(raise_exception=True)
        now = timezone.now()
        if target.validated_data.get("to_queue"):
            conversation = conversation_services.conversation_return_to_queue(
                conversation_id=conversation_id, supervisor=request.user, now=now
            )
        else:
            conversation = conversation_services.conversation_transfer(
                conversation_id=conversation_id,
                operator=request.user,
                now=now,
                to_operator_id=target.validated_data.get("to_operator_id"),
                to_open_channel_id=target.validated_data.get("to_open_channel_id"),
            )
        return Response(_state(conversation))


class CloseView(SupervisorActionView):
    @extend_schema(request=None, responses={200: ConversationStateSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        _supervised(request.user, conversation_id)
        conversation = conversation_services.conversation_close_by_operator(
            conversation_id=conversation_id, operator=request.user, now=timezone.now()
        )
        return Response(_state(conversation))


class NotesView(SupervisorActionView):
    @extend_schema(
        request=NoteInputSerializer,
        responses={
            201: SupervisorNoteSerializer,
            400: inline_serializer("NoteRefused", {"detail": serializers.CharField()}),
        },
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        _supervised(request.user, conversation_id)
        note_input = NoteInputSerializer(data=request.data)
        note_input.is_valid(raise_exception=True)
        note = notes.note_add(
            conversation_id=conversation_id,
            author=request.user,
            text=note_input.validated_data["text"],
            now=timezone.now(),
        )
        return Response(SupervisorNoteSerializer(note).data, status=status.HTTP_201_CREATED)
