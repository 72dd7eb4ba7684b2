"""Administrators' REST endpoints to erase a client's or a CRM contact's personal data (issue 19, point 2).

``POST /api/privacy/clients/<id>/erase/`` and ``POST /api/privacy/contacts/<id>/erase/``: 200 with what was erased
(counts, ``already_erased`` on a repeated call), 404 for an unknown id, 409 while a conversation of the client is
open, 403 for anybody but an administrator. The work is :mod:`channels_app.engine.erasure`'s.
"""

from __future__ import annotations

from dataclasses import asdict

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.engine.erasure import ErasureResult, client_erase, contact_erase
from channels_app.privacy.permissions import IsAdministrator


class ErasedContentSerializer(serializers.Serializer):
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField()
    files = serializers.IntegerField()
    notes = serializers.IntegerField()
    notifications = serializers.IntegerField()


class ErasureSerializer(serializers.Serializer):
    client_ids = serializers.ListField(child=serializers.IntegerField())
    contact_id = serializers.IntegerField(allow_null=True)
    already_erased = serializers.BooleanField()
    clients = serializers.IntegerField()
    content = ErasedContentSerializer()
    inbound_updates = serializers.IntegerField()
    leads = serializers.IntegerField()
    contacts = serializers.IntegerField()
    crm = serializers.CharField(help_text="What happened to the CRM contact and leads: anonymise, delete or nothing.")


REFUSED = inline_serializer("ErasureRefused", {"detail": serializers.CharField()})
RESPONSES = {200: ErasureSerializer, 403: REFUSED, 404: REFUSED, 409: REFUSED}


def _answer(result: ErasureResult) -> Response:
    return Response(ErasureSerializer(asdict(result)).data)


class PrivacyView(APIView):
    permission_classes = [IsAdministrator]


class ClientEraseView(PrivacyView):
    @extend_schema(request=None, responses=RESPONSES, summary="Erase a client's personal data (cannot be undone)")
    def post(self, request: Request, client_id: int) -> Response:
        return _answer(client_erase(client_id=client_id, actor=request.user, now=timezone.now()))


class ContactEraseView(PrivacyView):
    @extend_schema(
        request=None,
        responses=RESPONSES,
        summary="Erase a CRM contact's personal data and every client linked to it (cannot be undone)",
    )
    def post(self, request: Request, contact_id: int) -> Response:
        return _answer(contact_erase(contact_id=contact_id, actor=request.user, now=timezone.now()))
