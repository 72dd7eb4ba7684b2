"""Issue 19, point 1: administrators export a client's or a CRM contact's data (:mod:`channels_app.engine.exports`).

=================================================  ===========================================================
``POST /api/privacy/exports/`` {client | contact}   queue an export: 202 with its state
``GET  /api/privacy/exports/<uuid>/``               its state: status, progress, the download link when ready
``GET  /privacy/exports/<uuid>/download/``          the ZIP (administrators; 409 not ready, 410 expired)
=================================================  ===========================================================

Administrators only: anybody else signed in gets 403 (the download page sends nobody signed in to the admin's
sign-in). The admin's "Export personal data" actions call the same service.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.engine import exports
from channels_app.engine.errors import NotAllowed, ServiceError
from channels_app.models import DataExport
from channels_app.privacy.permissions import IsAdministrator

# The largest id PostgreSQL's bigint holds: a larger one is refused as invalid rather than overflowing.
ID_MAX = 2**63 - 1
EXPIRED_TEXT = gettext_lazy("This export has expired: ask for a new one.")
NOT_FOUND = inline_serializer("DataExportNotFound", {"detail": serializers.CharField()})


class ExportRequestSerializer(serializers.Serializer):
    client = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX, help_text="A client's id.")
    contact = serializers.IntegerField(
        required=False, min_value=1, max_value=ID_MAX, help_text="A CRM contact's id (every client linked to it)."
    )

    def validate(self, attrs):
        if ("client" in attrs) == ("contact" in attrs):
            raise serializers.ValidationError(_("Choose one: a client or a CRM contact."))
        return attrs


class ExportStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=DataExport.Status.choices)
    progress = serializers.IntegerField(min_value=0, max_value=100)
    download_url = serializers.CharField(allow_null=True, help_text="While ready: where the ZIP downloads.")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When the download link expires.")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, when it did.")


def export_state(export: DataExport) -> dict:
    return {
        "id": str(export.public_id),
        "status": export.status,
        "progress": export.progress,
        "download_url": export.download_url if export.status == DataExport.Status.READY else None,
        "expires_at": export.expires_at.isoformat() if export.expires_at is not None else None,
        "error": export.error,
    }


class ExportsView(APIView):
    permission_classes = [IsAdministrator]

    @extend_schema(
        request=ExportRequestSerializer,
        responses={202: ExportStateSerializer, 404: NOT_FOUND},
        summary="Export a client's or a CRM contact's personal data (administrators)",
    )
    def post(self, request: Request) -> Response:
        given = ExportRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        export = exports.export_request(
            actor=request.user,
            client_id=given.validated_data.get("client"),
            contact_id=given.validated_data.get("contact"),
            now=timezone.now(),
        )
        export.refresh_from_db()  # an eager build (tests, CELERY_TASK_ALWAYS_EAGER) may have finished already
        return Response(export_state(export), status=status.HTTP_202_ACCEPTED)


class ExportDetailView(APIView):
    permission_classes = [IsAdministrator]

    @extend_schema(responses={200: ExportStateSerializer, 404: NOT_FOUND}, summary="A data export's state")
    def get(self, request: Request, public_id) -> Response:
        return Response(export_state(exports.export_get(actor=request.user, public_id=public_id)))


@require_safe
def export_download(request: HttpRequest, public_id) -> HttpResponseBase:
    """The archive as an attachment, streamed from storage; every download is in the audit log."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    try:
        export = exports.export_download(actor=request.user, public_id=public_id, now=timezone.now())
    except NotAllowed as refusal:
        raise PermissionDenied(str(refusal)) from None
    except ServiceError as refusal:
        return HttpResponse(str(refusal), status=refusal.status_code, content_type="text/plain; charset=utf-8")
    try:
        handle = default_storage.open(export.file, "rb")
    except OSError:
        # Swept between the check and the read: as expired.
        return HttpResponse(str(EXPIRED_TEXT), status=410, content_type="text/plain; charset=utf-8")
    response = FileResponse(
        handle, as_attachment=True, filename=f"data-export-{export.public_id}.zip", content_type="application/zip"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
