"""REST endpoints of the console's History (issue 15): search, its filters' choices, and the client's timeline.

Thin: parse the parameters (:func:`channels_app.engine.search.parse_search`, a bad one is a 400), call the
selector, shape the answer. Everything is scoped to the conversations the viewer may see
(:func:`channels_app.engine.access.conversations_seen_by`); a conversation the viewer may not see is a 404.
A snippet is plain text with the offsets of its matches: the console marks them with text nodes.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from channels_app.console.access import visible_conversation
from channels_app.console.api import ConsoleView
from channels_app.engine import search
from channels_app.engine.access import channel_scope
from channels_app.models import ConnectorKind, ConversationStatus, OpenChannel, operator_display_name
from channels_app.policy import search_text


class BriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class SnippetSerializer(serializers.Serializer):
    text = serializers.CharField(help_text="Plain text around the first match (never markup).")
    highlights = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField(), min_length=2, max_length=2),
        help_text="[start, end) offsets into ``text`` of each matching word, in order.",
    )


class HistoryRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    client_name = serializers.CharField()
    open_channel = BriefSerializer()
    # Declared fields leave the class (DRF's metaclass); the stubs cannot tell (see console.api).
    source = serializers.CharField()  # type: ignore[assignment]
    source_label = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    is_open = serializers.BooleanField()
    is_unprocessed = serializers.BooleanField(help_text="Missed: nobody answered in time.")
    operator_name = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    at = serializers.DateTimeField(help_text="The matching message's time, or the conversation's last activity.")
    message_id = serializers.IntegerField(allow_null=True, help_text="The latest matching message, to open at.")
    snippet = SnippetSerializer(allow_null=True)


class HistoryPageSerializer(serializers.Serializer):
    results = HistoryRowSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as ``cursor`` for the next page.")


class ChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    # A declared field leaves the class (DRF's metaclass); the stubs take it for Field.label.
    label = serializers.CharField()  # type: ignore[assignment]


class HistoryFiltersSerializer(serializers.Serializer):
    open_channels = BriefSerializer(many=True)
    operators = BriefSerializer(many=True)
    sources = ChoiceSerializer(many=True)
    statuses = ChoiceSerializer(many=True)


class TimelineSerializer(serializers.Serializer):
    client_id = serializers.IntegerField()
    conversations = HistoryRowSerializer(many=True)


ID = {"type": "integer", "minimum": 1, "maximum": 2**62}
DAY = {"type": "string", "format": "date"}
SEARCH_PARAMETERS = [
    OpenApiParameter(
        "q",
        {"type": "string", "maxLength": search_text.QUERY_MAX_LENGTH},
        description="Words (diacritics and case do not matter; the last is also a prefix; the first 8 count).",
    ),
    OpenApiParameter("open_channel", ID),
    OpenApiParameter("operator", ID, description="The operator holding (or who last held) the conversation."),
    OpenApiParameter("source", str, enum=list(ConnectorKind.values)),
    OpenApiParameter(
        "status", str, enum=[*search.STATUS_GROUPS, *ConversationStatus.values], description="open, closed or one."
    ),
    OpenApiParameter("from", DAY, description="First local day the conversation was created on."),
    OpenApiParameter("to", DAY, description="Last local day."),
    OpenApiParameter("missed", bool, description="Only conversations nobody answered in time."),
    OpenApiParameter(
        "cursor",
        {"type": "string", "pattern": search.CURSOR_PATTERN},
        description="``next_cursor`` of the previous page.",
    ),
]


class HistoryView(ConsoleView):
    @extend_schema(
        parameters=SEARCH_PARAMETERS,
        responses=HistoryPageSerializer,
        summary="Search the conversations I may see, newest first (History)",
    )
    def get(self, request: Request) -> Response:
        filters, cursor = search.parse_search(request.query_params)
        page = search.search_conversations(request.user, filters, cursor=cursor)
        rows = [
            search.hit_row(hit.conversation, at=hit.at, message_id=hit.message_id, snippet=hit.snippet)
            for hit in page.hits
        ]
        return Response(HistoryPageSerializer({"results": rows, "next_cursor": page.next_cursor}).data)


def history_filters(user) -> dict:
    """The choices of the History's filters: the channels the viewer reads and the operators of their queues."""
    scope = channel_scope(user)
    channels = OpenChannel.objects.all() if scope.everything else OpenChannel.objects.filter(pk__in=scope.readable)
    channels = channels.order_by("name", "id")
    users = (
        get_user_model()
        .objects.filter(queue_memberships__open_channel__in=channels)
        .select_related("operator_profile")
        .distinct()
    )
    operators = sorted(({"id": user.pk, "name": operator_display_name(user)} for user in users), key=_by_name)
    return {
        "open_channels": [{"id": channel.pk, "name": channel.name} for channel in channels],
        "operators": operators,
        "sources": [{"value": value, "label": str(label)} for value, label in ConnectorKind.choices],
        "statuses": [{"value": value, "label": str(label)} for value, label in ConversationStatus.choices],
    }


def _by_name(row: dict) -> str:
    return str(row["name"]).lower()


class HistoryFiltersView(ConsoleView):
    @extend_schema(responses=HistoryFiltersSerializer, summary="The History's filter choices")
    def get(self, request: Request) -> Response:
        return Response(HistoryFiltersSerializer(history_filters(request.user)).data)


class ConversationTimelineView(ConsoleView):
    @extend_schema(
        responses=TimelineSerializer,
        summary="Every conversation of this conversation's client and of their CRM contact, newest first",
    )
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = visible_conversation(request.user, conversation_id)
        client = conversation.client
        rows = [
            search.hit_row(item, at=item.at, message_id=None, snippet=None)  # type: ignore[attr-defined]
            for item in search.client_timeline(request.user, client)
        ]
        return Response(TimelineSerializer({"client_id": client.pk, "conversations": rows}).data)
