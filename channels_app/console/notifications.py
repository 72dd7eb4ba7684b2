"""REST endpoints of notifications and private notes (issue 15), for the console and the supervisors' pages.

==================================================  =====================================================
``GET  /api/notifications/?before=&unread=``         the person's own notifications, newest first, a page
``POST /api/notifications/<id>/read/``               one marked read (another person's id: 404)
``POST /api/notifications/read-all/``                all marked read
``POST /api/conversations/<id>/notes/`` {text}       a private note (``@name`` mentions a colleague)
``GET  /api/conversations/<id>/mention-candidates/`` whom a note in it may mention, by display name
==================================================  =====================================================

Notifications are scoped to ``request.user`` alone (:mod:`channels_app.engine.notifications`), so any signed-in
person may use those three; notes and their candidates need the console and a conversation the person may read.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.console.access import UsesConsole, visible_conversation
from channels_app.console.i18n import InOperatorLanguage
from channels_app.engine import events, notes, notifications
from channels_app.engine.errors import ServiceError
from channels_app.models import TYPED_TEXT_MAX_LENGTH, Notification, operator_display_name
from channels_app.web import optional_query_int

NOTE_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"
# The largest id PostgreSQL's bigint holds: a larger ?before= is documented away rather than overflowing.
ID_MAX = 2**63 - 1
NOT_YOURS = inline_serializer("NotificationNotFound", {"detail": serializers.CharField()})


class NotificationSerializer(serializers.Serializer):
    """Same keys as the ``notification.created`` event's ``notification``."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Notification.Kind.choices)
    conversation_id = serializers.IntegerField()
    client_name = serializers.CharField(allow_blank=True)
    message_id = serializers.IntegerField(allow_null=True)
    note_id = serializers.IntegerField(allow_null=True)
    text = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


class NotificationPageSerializer(serializers.Serializer):
    results = NotificationSerializer(many=True)
    unread = serializers.IntegerField(help_text="Unread notifications in all, not only on this page.")
    next_before = serializers.IntegerField(allow_null=True, help_text="Ask ?before= this id for the next page.")


class ReadAllSerializer(serializers.Serializer):
    marked = serializers.IntegerField()
    unread = serializers.IntegerField()


class ConsoleNoteInputSerializer(serializers.Serializer):
    # Something besides white space, and no NUL (PostgreSQL's text cannot hold it): the pattern documents both, so a
    # request the schema accepts is one the service stores.
    text = serializers.CharField(
        max_length=TYPED_TEXT_MAX_LENGTH,
        validators=[RegexValidator(NOTE_PATTERN, message="Write the note first.")],
        help_text="@<display name> mentions a colleague who may read the conversation.",
    )


class MentionCandidateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SignedIn(IsAuthenticated):
    message = "Sign in first."

    def has_permission(self, request, view) -> bool:
        return bool(super().has_permission(request, view) and request.user.is_active)


class NotificationsView(InOperatorLanguage, APIView):
    permission_classes = [SignedIn]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "before",
                {"type": "integer", "minimum": 0, "maximum": ID_MAX},
                description="Only notifications older than this id (the next page).",
            ),
            OpenApiParameter(
                "unread", {"type": "integer", "minimum": 0, "maximum": ID_MAX}, description="1: only the unread ones."
            ),
        ],
        responses={200: NotificationPageSerializer},
        summary="My notifications, newest first",
    )
    def get(self, request: Request) -> Response:
        before_id = optional_query_int(request.query_params.get("before"), "before")
        unread = optional_query_int(request.query_params.get("unread"), "unread")
        if before_id is not None and before_id > ID_MAX:
            raise ServiceError(_("“before” is not a notification id."))
        page = notifications.notifications_page(request.user, before_id=before_id, unread_only=bool(unread))
        return Response(
            {
                "results": [notifications.notification_payload(item) for item in page.items],
                "unread": page.unread,
                "next_before": page.next_before,
            }
        )


class NotificationReadView(InOperatorLanguage, APIView):
    permission_classes = [SignedIn]

    @extend_schema(
        request=None,
        responses={200: NotificationSerializer, 404: NOT_YOURS},
        summary="Mark one notification read (another person's id: 404)",
    )
    def post(self, request: Request, notification_id: int) -> Response:
        notification = notifications.notification_read(
            user=request.user, notification_id=notification_id, now=timezone.now()
        )
        return Response(notifications.notification_payload(notification))


class NotificationsReadAllView(InOperatorLanguage, APIView):
    permission_classes = [SignedIn]

    @extend_schema(request=None, responses={200: ReadAllSerializer}, summary="Mark all my notifications read")
    def post(self, request: Request) -> Response:
        marked = notifications.notifications_read_all(user=request.user, now=timezone.now())
        return Response({"marked": marked, "unread": notifications.unread_count(request.user)})


class ConversationNotesView(InOperatorLanguage, APIView):
    permission_classes = [UsesConsole]

    @extend_schema(
        request=ConsoleNoteInputSerializer,
        responses={201: inline_serializer("ConsoleNote", {"id": serializers.IntegerField()})},
        summary="Leave a private note (never sent to the client); @name mentions a colleague",
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        note_input = ConsoleNoteInputSerializer(data=request.data)
        note_input.is_valid(raise_exception=True)
        note = notes.note_add(
            conversation_id=conversation.pk,
            author=request.user,
            text=note_input.validated_data["text"],
            now=timezone.now(),
        )
        return Response(events.note_created(note)["note"], status=status.HTTP_201_CREATED)


class MentionCandidatesView(InOperatorLanguage, APIView):
    permission_classes = [UsesConsole]

    @extend_schema(responses={200: MentionCandidateSerializer(many=True)}, summary="Whom a note may mention")
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        return Response(
            [
                {"id": user.pk, "name": operator_display_name(user)}
                for user in notes.mention_candidates(conversation)
                if user.pk != request.user.pk
            ]
        )
