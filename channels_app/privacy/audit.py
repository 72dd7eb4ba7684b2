"""The audit log over REST, for administrators (issue 19): ``GET /api/privacy/audit/``, newest first, paged.

Filters: ``action`` (one of :class:`~channels_app.models.AuditAction`), ``since`` / ``until`` (ISO 8601 date-times;
without a zone they are UTC; ``since`` included, ``until`` excluded), ``actor`` (a user id); ``limit`` (1 to
:data:`MAX_LIMIT`, default :data:`DEFAULT_LIMIT`) and ``offset``. Every bad parameter is a 400 naming it.
Supervisors and operators get 403: the log records what they did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.engine.errors import ServiceError
from channels_app.models import AuditAction, AuditEvent
from channels_app.privacy.permissions import IsAdministrator
from channels_app.web import optional_query_int

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_name = serializers.CharField(allow_blank=True, help_text="Empty for the system (a retention sweep).")
    action = serializers.ChoiceField(choices=AuditAction.choices)
    open_channel_id = serializers.IntegerField(allow_null=True)
    client_id = serializers.IntegerField(allow_null=True, source="client_id_ref")
    contact_id = serializers.IntegerField(allow_null=True, source="contact_id_ref")
    conversation_id = serializers.IntegerField(allow_null=True, source="conversation_id_ref")
    detail = serializers.DictField(help_text="Plain facts: counts, ids, settings; never a name or a text.")


class AuditPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="How many events match the filters.")
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = AuditEventSerializer(many=True)


def _query_datetime(value: str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:
        parsed = None
    if parsed is None:
        raise ServiceError(_("“%(name)s” must be a date and time such as 2026-01-31T09:00:00Z.") % {"name": name})
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _query_choice(value: str | None, name: str, choices: list[str]) -> str | None:
    if value is None or value == "":
        return None
    if value not in choices:
        raise ServiceError(_("“%(name)s” must be one of: %(choices)s.") % {"name": name, "choices": ", ".join(choices)})
    return value


class AuditLogView(APIView):
    permission_classes = [IsAdministrator]

    @extend_schema(
        parameters=[
            OpenApiParameter("action", {"type": "string", "enum": list(AuditAction.values)}, description="One kind."),
            OpenApiParameter("since", {"type": "string", "format": "date-time"}, description="From (included)."),
            OpenApiParameter("until", {"type": "string", "format": "date-time"}, description="To (excluded)."),
            OpenApiParameter("actor", {"type": "integer", "minimum": 0}, description="Who did it (a user id)."),
            OpenApiParameter(
                "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, description="Events per page."
            ),
            OpenApiParameter("offset", {"type": "integer", "minimum": 0}, description="Events to skip."),
        ],
        responses=AuditPageSerializer,
        summary="The audit log of access to personal data, newest first (administrators)",
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        action = _query_choice(params.get("action"), "action", list(AuditAction.values))
        since = _query_datetime(params.get("since"), "since")
        until = _query_datetime(params.get("until"), "until")
        actor = optional_query_int(params.get("actor"), "actor")
        limit = optional_query_int(params.get("limit"), "limit")
        offset = optional_query_int(params.get("offset"), "offset") or 0
        if limit is None:
            limit = DEFAULT_LIMIT
        elif not 1 <= limit <= MAX_LIMIT:
            raise ServiceError(_("“limit” must be between 1 and %(max)d.") % {"max": MAX_LIMIT})
        if since and until and since > until:
            raise ServiceError(_("“since” must not be after “until”."))
        events = AuditEvent.objects.all()
        if action:
            events = events.filter(action=action)
        if since:
            events = events.filter(at__gte=since)
        if until:
            events = events.filter(at__lt=until)
        if actor is not None:
            events = events.filter(actor_id=actor)
        events = events.order_by("-at", "-id")
        body = {
            "count": events.count(),
            "limit": limit,
            "offset": offset,
            "results": list(events[offset : offset + limit]),
        }
        return Response(AuditPageSerializer(body).data)
